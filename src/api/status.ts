// Pure builders of the REST API's JSON documents and health verdicts (Patroni-compatible shapes).

import type { GovernorConfig } from '../config/types.js';
import type { ClusterView, Member } from '../dcs/types.js';
import { memberPostgresAddress } from '../ha/member.js';
import { GOVERNOR_VERSION } from '../version.js';
import type { DataDirReport, PostgresStatus, WalPositionNow } from '../postgres/types.js';

export interface StatusInput {
  config: GovernorConfig;
  pg: PostgresStatus | null;
  cluster: ClusterView | null;
  /** This member holds the leader key and runs read-write. */
  isLeader: boolean;
  paused: boolean;
}

export function statusDocument(input: StatusInput): Record<string, unknown> {
  const { config, pg, cluster } = input;
  const doc: Record<string, unknown> = {
    state: !pg?.running ? 'stopped' : pg.accepting ? 'running' : 'starting',
    role: pg?.accepting ? (pg.inRecovery ? 'replica' : 'master') : 'uninitialized',
    patroni: { version: GOVERNOR_VERSION, scope: config.scope, name: config.name, product: 'governor' },
    tags: config.tags,
    cluster_unlocked: cluster ? cluster.leader === null : undefined,
    dcs_last_seen: cluster ? Math.floor(Date.now() / 1000) : undefined,
  };
  if (pg?.postmasterStartTime) doc.postmaster_start_time = pg.postmasterStartTime;
  if (pg?.serverVersion) doc.server_version = pg.serverVersion;
  if (pg?.timeline) doc.timeline = pg.timeline;
  if (pg?.systemIdentifier) doc.database_system_identifier = pg.systemIdentifier;
  if (pg?.accepting && pg.inRecovery === false) {
    doc.xlog = { location: pg.walPosition };
    doc.replication = pg.replication.map((r) => ({
      application_name: r.applicationName,
      client_addr: r.clientAddr,
      state: r.state,
      sync_state: r.syncState,
      sent_location: r.sentLsn,
      write_location: r.writeLsn,
      flush_location: r.flushLsn,
      replay_location: r.replayLsn,
    }));
  } else if (pg?.accepting) {
    doc.xlog = { received_location: pg.receivedLsn, replayed_location: pg.replayedLsn, paused: false };
    if (pg.walReceiver) {
      doc.replication_state = pg.walReceiver.status;
      doc.upstream = pg.walReceiver.senderHost ? `${pg.walReceiver.senderHost}:${pg.walReceiver.senderPort}` : null;
    }
  }
  if (input.paused) doc.pause = true;
  if (pg?.running && pg.pendingRestart) doc.pending_restart = true;
  if (pg?.dataDirectory) doc.data_directory = dataDirectoryDocument(pg.dataDirectory);
  return doc;
}

/** The data directory in /patroni: what it holds, why governor leaves it alone, and the copies it
 *  moved aside (never deleted by governor). */
function dataDirectoryDocument(report: DataDirReport): Record<string, unknown> {
  const doc: Record<string, unknown> = { path: report.path, state: report.hold?.state ?? report.state };
  if (report.problem) doc.problem = report.problem;
  doc.moved_aside = report.movedAside.map((c) => ({ path: c.path, reason: c.reason, at: c.at }));
  return doc;
}

/** The HA loop's last observation with where WAL is now: a peer's leader race and a switchover's
 *  handover check compare positions from /patroni, which must not be a loop_wait old (an old,
 *  lower position of this member could let a member with less WAL win). Role follows the live
 *  answer too (a promotion since the last observation). */
export function withLiveWal(pg: PostgresStatus | null, live: WalPositionNow | null): PostgresStatus | null {
  if (!pg?.accepting || live === null) return pg;
  const demoted = live.inRecovery && pg.inRecovery === false;
  return {
    ...pg,
    inRecovery: live.inRecovery,
    walPosition: live.walPosition,
    receivedLsn: live.receivedLsn,
    replayedLsn: live.replayedLsn,
    replication: live.inRecovery ? [] : pg.replication,
    walReceiver: live.inRecovery && !demoted ? pg.walReceiver : null,
  };
}

/** Replication lag in bytes behind the master's last published position, or null if unknown. */
export function lagBytes(pg: PostgresStatus | null, cluster: ClusterView | null): number | null {
  if (!pg?.walPosition || cluster?.leaderOptime == null) return null;
  return Math.max(0, cluster.leaderOptime - pg.walPosition);
}

/** "10MB", "512kB", "1048576" → bytes; null when unparsable. */
export function parseByteSize(text: string): number | null {
  const match = /^(\d+(?:\.\d+)?)\s*(b|kb|mb|gb|tb)?$/i.exec(text.trim());
  if (!match) return null;
  const unit = (match[2] ?? 'b').toLowerCase();
  const factor = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3, tb: 1024 ** 4 }[unit]!;
  return Math.round(Number(match[1]) * factor);
}

export interface HealthInput extends StatusInput {
  /** ?lag= from the request, bytes. */
  maxLag: number | null;
}

export type HealthCheck = 'primary' | 'replica' | 'read-only' | 'health' | 'leader';

/** HTTP status for a health endpoint: 200 when the member fits the description, else 503. */
export function healthVerdict(check: HealthCheck, input: HealthInput): number {
  const pg = input.pg;
  const running = Boolean(pg?.running && pg.accepting);
  const replicaStreaming = running && pg!.inRecovery === true && pg!.walReceiver?.status === 'streaming';
  const withinLag = () => {
    if (input.maxLag === null) return true;
    const lag = lagBytes(pg, input.cluster);
    return lag !== null && lag <= input.maxLag;
  };
  switch (check) {
    case 'primary':
      return input.isLeader ? 200 : 503;
    case 'leader':
      return input.cluster?.leader?.name === input.config.name ? 200 : 503;
    case 'replica':
      return replicaStreaming && !input.config.tags.noloadbalance && withinLag() ? 200 : 503;
    case 'read-only':
      return input.isLeader || (replicaStreaming && withinLag()) ? 200 : 503;
    case 'health':
      return running ? 200 : 503;
  }
}

export function clusterDocument(cluster: ClusterView | null): Record<string, unknown> {
  if (!cluster) return { members: [], error: 'etcd unreachable' };
  const leaderName = cluster.leader?.name ?? null;
  const members = [...cluster.members]
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((m) => memberSummary(m, leaderName, cluster));
  const doc: Record<string, unknown> = { members };
  if (cluster.config?.pause) doc.pause = true;
  if (cluster.failover?.scheduled_at) doc.scheduled_switchover = { at: cluster.failover.scheduled_at, from: cluster.failover.leader, to: cluster.failover.member };
  return doc;
}

function memberSummary(m: Member, leaderName: string | null, cluster: ClusterView): Record<string, unknown> {
  let host: string | null = null;
  let port: number | null = null;
  try {
    ({ host, port } = memberPostgresAddress(m));
  } catch {
    // a foreign or garbled conn_url: show the member without an address
  }
  const isLeader = m.name === leaderName;
  const summary: Record<string, unknown> = {
    name: m.name,
    role: isLeader ? 'leader' : cluster.sync?.sync_standby === m.name ? 'sync_standby' : 'replica',
    state: m.state,
    api_url: m.api_url,
    host,
    port,
    timeline: m.timeline ?? null,
    tags: m.tags ?? {},
  };
  if (m.pending_restart) summary.pending_restart = true;
  if (m.pause) summary.pause = true;
  if (!isLeader) {
    const lag = cluster.leaderOptime != null && m.xlog_location != null ? Math.max(0, cluster.leaderOptime - m.xlog_location) : null;
    summary.lag = lag;
  }
  return summary;
}
