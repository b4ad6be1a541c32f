// /metrics: the member's state in Prometheus' text exposition format (version 0.0.4). Pure: the
// daemon gathers the facts (MetricsInput), this module names them and writes the text.

import type { ClusterView } from '../dcs/types.js';
import type { ArchiveHealth } from '../archive/archive-health.js';
import type { ArchiverStatus, PostgresStatus } from '../postgres/types.js';

export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export interface MetricSample {
  labels?: Record<string, string>;
  value: number;
}

export interface MetricFamily {
  name: string;
  help: string;
  type: 'gauge' | 'counter';
  samples: MetricSample[];
}

const METRIC_NAME_RE = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME_RE = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** HELP text: a backslash and a line feed are the only characters the format escapes there. */
export function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

/** A label value: backslash, double quote and line feed are escaped. */
export function escapeLabelValue(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** A sample value as Prometheus parses it (Go's ParseFloat): NaN, +Inf, -Inf or a decimal. */
export function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return Number.isInteger(value) ? String(value) : String(Math.round(value * 1000) / 1000);
}

function formatLabels(labels: Record<string, string> | undefined): string {
  const entries = Object.entries(labels ?? {});
  if (entries.length === 0) return '';
  for (const [name] of entries) {
    if (!LABEL_NAME_RE.test(name) || name.startsWith('__')) throw new Error(`invalid Prometheus label name ${JSON.stringify(name)}`);
  }
  return `{${entries.map(([name, value]) => `${name}="${escapeLabelValue(value)}"`).join(',')}}`;
}

/** The exposition text: each family's HELP and TYPE, then its samples; families without samples
 *  are left out. Throws on an invalid or repeated metric name (a programming error). */
export function renderExposition(families: MetricFamily[]): string {
  const seen = new Set<string>();
  const lines: string[] = [];
  for (const family of families) {
    if (!METRIC_NAME_RE.test(family.name)) throw new Error(`invalid Prometheus metric name ${JSON.stringify(family.name)}`);
    if (seen.has(family.name)) throw new Error(`metric ${family.name} rendered twice`);
    seen.add(family.name);
    if (family.samples.length === 0) continue;
    lines.push(`# HELP ${family.name} ${escapeHelp(family.help)}`);
    lines.push(`# TYPE ${family.name} ${family.type}`);
    for (const sample of family.samples) lines.push(`${family.name}${formatLabels(sample.labels)} ${formatValue(sample.value)}`);
  }
  return lines.join('\n') + '\n';
}

/** What the daemon knows at scrape time. Ages are seconds; null means unknown (the metric is left out). */
export interface MetricsInput {
  scope: string;
  member: string;
  version: string;
  pg: PostgresStatus | null;
  cluster: ClusterView | null;
  /** Holds the leader key and runs read-write. */
  isLeader: boolean;
  paused: boolean;
  lagBytes: number | null;
  leaderChanges: number;
  archiver: ArchiverStatus | null;
  /** The daemon's judgement of WAL archiving (archive-monitor.ts); null when archiving is off. */
  archive: ArchiveHealth | null;
  /** When the newest complete base backup finished, if archiving is on and it is known. */
  lastBackupAt: Date | null;
  dcsLastContactAgeSeconds: number | null;
  loopIterationAgeSeconds: number | null;
  /** Distinct invalid values met in etcd since start, by key ("members" for any member key). */
  dcsInvalidValues?: Record<string, number>;
  now: Date;
}

const ageSeconds = (now: Date, iso: string | null | undefined): number | null => {
  const at = iso ? Date.parse(iso) : NaN;
  return Number.isFinite(at) ? Math.max(0, (now.getTime() - at) / 1000) : null;
};

/** The metric families of one scrape. Every sample carries scope and name, as Patroni's do. */
export function collectMetrics(input: MetricsInput): MetricFamily[] {
  const labels = { scope: input.scope, name: input.member };
  const one = (value: number | null | undefined, extra: Record<string, string> = {}): MetricSample[] =>
    value === null || value === undefined || !Number.isFinite(value) ? [] : [{ labels: { ...labels, ...extra }, value }];
  const gauge = (name: string, help: string, samples: MetricSample[]): MetricFamily => ({ name, help, type: 'gauge', samples });
  const counter = (name: string, help: string, samples: MetricSample[]): MetricFamily => ({ name, help, type: 'counter', samples });
  const pg = input.pg;
  const accepting = Boolean(pg?.running && pg.accepting);
  const replica = accepting && pg!.inRecovery === true;
  const archiver = input.archiver;
  return [
    gauge('governor_info', 'Always 1; the labels say which governor version runs this member.', one(1, { version: input.version })),
    gauge('governor_master', '1 when this member holds the leader key and PostgreSQL runs read-write.', one(input.isLeader ? 1 : 0)),
    gauge('governor_replica', '1 when PostgreSQL runs here as a replica (in recovery).', one(replica ? 1 : 0)),
    gauge('governor_postgres_running', '1 when PostgreSQL accepts connections.', one(accepting ? 1 : 0)),
    gauge('governor_cluster_unlocked', '1 when no member holds the leader key (as of the last etcd read).', one(input.cluster ? (input.cluster.leader ? 0 : 1) : null)),
    gauge('governor_paused', '1 in maintenance mode (pause): no automatic failover, PostgreSQL left alone.', one(input.paused ? 1 : 0)),
    gauge('governor_pending_restart', '1 when a changed PostgreSQL parameter takes effect only after a restart.', one(pg?.running && pg.pendingRestart ? 1 : 0)),
    gauge('governor_timeline', 'PostgreSQL timeline of this member.', one(accepting ? pg!.timeline : null)),
    gauge('governor_wal_position_bytes', 'WAL position: write position on the master, received or replayed on a replica.', one(accepting ? pg!.walPosition : null)),
    gauge('governor_replication_lag_bytes', "Bytes this replica is behind the master's last published WAL position.", one(replica ? input.lagBytes : null)),
    gauge(
      'governor_postmaster_start_time_seconds',
      'When the running postmaster started, seconds since the Unix epoch.',
      one(pg?.postmasterStartTime ? Date.parse(pg.postmasterStartTime) / 1000 : null),
    ),
    counter('governor_leader_changes_total', 'Times this daemon saw the leader key move to another member since it started.', one(input.leaderChanges)),
    counter('governor_archiver_archived_total', 'WAL files archived successfully (pg_stat_archiver.archived_count).', one(archiver?.archivedCount)),
    counter('governor_archiver_failed_total', 'Failed attempts to archive WAL files (pg_stat_archiver.failed_count).', one(archiver?.failedCount)),
    gauge('governor_archiver_last_archived_age_seconds', 'Seconds since the last WAL file was archived.', one(ageSeconds(input.now, archiver?.lastArchivedAt))),
    gauge('governor_archiver_last_failed_age_seconds', 'Seconds since the last failed attempt to archive a WAL file (pg_stat_archiver.last_failed_time).', one(ageSeconds(input.now, archiver?.lastFailedAt))),
    ...archiveFamilies(input.archive, input.now, one),
    gauge(
      'governor_last_base_backup_age_seconds',
      'Seconds since the newest complete base backup in storage finished.',
      one(input.lastBackupAt ? Math.max(0, (input.now.getTime() - input.lastBackupAt.getTime()) / 1000) : null),
    ),
    gauge('governor_dcs_last_contact_age_seconds', 'Seconds since the cluster was last read from etcd.', one(input.dcsLastContactAgeSeconds)),
    gauge('governor_ha_loop_iteration_age_seconds', 'Seconds since the HA loop last finished an iteration.', one(input.loopIterationAgeSeconds)),
    counter(
      'governor_dcs_invalid_values_total',
      'Distinct invalid values read from etcd since start, by key (logged once each and ignored; an invalid config leaves the last valid one in force).',
      Object.entries(input.dcsInvalidValues ?? {})
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .flatMap(([key, count]) => one(count, { key })),
    ),
  ];
}

/** WAL archiving as the daemon judges it: failing or not, for how long, and the last error (as the
 *  labels of an info gauge, present only while failing, so a scrape shows why without a log search). */
function archiveFamilies(
  archive: ArchiveHealth | null, now: Date, one: (value: number | null | undefined, extra?: Record<string, string>) => MetricSample[],
): MetricFamily[] {
  const failing = archive?.failing === true;
  return [
    {
      name: 'governor_archive_failing', type: 'gauge',
      help: "1 while archive_command fails on this member (wal-push's last attempt or pg_stat_archiver's last attempt failed).",
      samples: one(archive ? (failing ? 1 : 0) : null),
    },
    {
      name: 'governor_archive_failing_seconds', type: 'gauge', help: 'Seconds since WAL archiving began failing (present while it fails).',
      samples: one(failing ? ageSeconds(now, archive?.since) : null),
    },
    {
      name: 'governor_archive_last_failure_age_seconds', type: 'gauge', help: 'Seconds since the last failed archive attempt (present while archiving fails).',
      samples: one(failing ? ageSeconds(now, archive?.lastFailureAt) : null),
    },
    {
      name: 'governor_archive_failure_info', type: 'gauge', help: 'Always 1 while archiving fails; the labels name the segment and the last error.',
      samples: one(failing ? 1 : null, { segment: archive?.segment ?? '', error: archive?.error ?? '' }),
    },
  ];
}
