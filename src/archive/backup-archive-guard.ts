// backup-push on a master ends only once PostgreSQL has archived the backup's last WAL segment
// (pg_backup_stop waits, printing "still waiting for all required WAL segments to be archived").
// When archiving fails that wait never ends. This guard watches, once a second, what the daemon
// watches (wal-push's status file, pg_stat_archiver) and whether the backup is in that wait
// (pg_stat_activity's BackupWaitWalArchive), and stops the backup with the archive error, or once the
// wait exceeds archive.backup_wal_timeout.

import fs from 'node:fs/promises';
import path from 'node:path';
import type pg from 'pg';
import type { GovernorConfig } from '../config/types.js';
import type { Logger } from '../log/logger.js';
import type { ArchiverStatus } from '../postgres/types.js';
import { archiveHealth } from './archive-health.js';
import { readArchiveStatus, type ArchiveStatusRecord } from './archive-status.js';

/** PostgreSQL's archiver tries a segment this many times in a row before it pauses (NUM_ARCHIVE_RETRIES):
 *  that many new failures is a failure, not a hiccup. */
export const FAILURES_BEFORE_ABORT = 3;

export interface GuardSample {
  archiver: ArchiverStatus | null;
  /** A backup waits for WAL archiving right now (pg_stat_activity.wait_event = 'BackupWaitWalArchive'). */
  waitingForArchive: boolean;
  record: ArchiveStatusRecord | null;
  /** The failed segment in the record still waits (.ready); null unknown. */
  segmentReady: boolean | null;
  /** Monotonic milliseconds. */
  atMs: number;
}

export interface GuardState {
  /** failed_count when the backup started; null when pg_stat_archiver could not be read then. */
  baselineFailed: number | null;
  /** When the backup started (ISO 8601), to count the status file's failures after it. */
  startedAt: string;
  waitingSinceMs: number | null;
}

/** Why the backup must stop now, or null; and the state for the next sample. Pure. */
export function guardVerdict(state: GuardState, sample: GuardSample, primary: boolean, timeoutSeconds: number): { reason: string | null; state: GuardState } {
  const next: GuardState = { ...state, waitingSinceMs: sample.waitingForArchive ? (state.waitingSinceMs ?? sample.atMs) : state.waitingSinceMs };
  const health = archiveHealth({ record: sample.record, archiver: sample.archiver, primary, segmentReady: sample.segmentReady });
  const record = sample.record;
  const newFailures = state.baselineFailed !== null && sample.archiver
    ? sample.archiver.failedCount - state.baselineFailed
    : record?.failing && Date.parse(record.at) >= Date.parse(state.startedAt) ? record.failures : 0;
  if (health.failing && newFailures >= FAILURES_BEFORE_ABORT) {
    return {
      reason: `WAL archiving is failing (${newFailures} failed attempts since this backup started), so PostgreSQL cannot finish the backup: ${health.error}. ` +
        'Fix archiving (governorctl list, the member\'s log), then run backup-push again',
      state: next,
    };
  }
  const waitedMs = next.waitingSinceMs === null ? 0 : sample.atMs - next.waitingSinceMs;
  if (waitedMs > timeoutSeconds * 1000) {
    const why = health.failing ? `the last archive error: ${health.error}` : 'archiving reports no error, but does not finish either (a hung archive_command or a slow storage)';
    return {
      reason: `PostgreSQL has waited ${Math.round(waitedMs / 1000)} s for this backup's WAL to be archived, longer than archive.backup_wal_timeout (${timeoutSeconds} s); ` +
        `${why}. Fix archiving or raise archive.backup_wal_timeout, then run backup-push again`,
      state: next,
    };
  }
  return { reason: null, state: next };
}

const SAMPLE_SQL = `SELECT archived_count, failed_count, last_archived_time, last_failed_time,
  EXISTS (SELECT 1 FROM pg_stat_activity WHERE wait_event = 'BackupWaitWalArchive') AS waiting
FROM pg_stat_archiver`;

interface SampleRow {
  archived_count: string;
  failed_count: string;
  last_archived_time: Date | null;
  last_failed_time: Date | null;
  waiting: boolean;
}

export interface ArchiveWaitGuardOptions {
  config: GovernorConfig;
  /** A new superuser connection to the local PostgreSQL (backup-push.ts localClient). */
  connect: () => pg.Client;
  /** The backup is taken on a master (a replica's backup does not wait for archiving). */
  primary: boolean;
  logger: Logger;
  intervalMs?: number;
  now?: () => number;
}

export class ArchiveWaitGuard {
  /** Set once the guard has decided the backup must stop. */
  reason: string | null = null;
  private client: pg.Client | null = null;
  private timer: NodeJS.Timeout | null = null;
  private state: GuardState | null = null;
  private readonly listeners = new Set<() => void>();
  private busy = false;

  constructor(private readonly options: ArchiveWaitGuardOptions) {}

  async start(): Promise<void> {
    const client = this.options.connect();
    try {
      await client.connect();
      this.client = client;
    } catch (error) {
      // Without a connection the guard sees only the status file; the backup itself reports the connection problem.
      this.options.logger.debug(`archive guard: no connection to PostgreSQL: ${(error as Error).message}`);
    }
    const first = await this.sample();
    this.state = { baselineFailed: first.archiver?.failedCount ?? null, startedAt: new Date().toISOString(), waitingSinceMs: null };
    this.timer = setInterval(() => void this.tick(), this.options.intervalMs ?? 1000);
    this.timer.unref();
  }

  /** Call `listener` when the guard stops the backup (at once if it already has); returns the unsubscribe. */
  onAbort(listener: () => void): () => void {
    if (this.reason !== null) listener();
    else this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.client?.end().catch(() => undefined);
    this.client = null;
  }

  private async sample(): Promise<GuardSample> {
    const { config } = this.options;
    let archiver: ArchiverStatus | null = null;
    let waitingForArchive = false;
    if (this.client) {
      const row = (await this.client.query<SampleRow>(SAMPLE_SQL).catch(() => null))?.rows[0];
      if (row) {
        const iso = (d: Date | null) => (d instanceof Date ? d.toISOString() : null);
        archiver = { archivedCount: Number(row.archived_count), failedCount: Number(row.failed_count), lastArchivedAt: iso(row.last_archived_time), lastFailedAt: iso(row.last_failed_time) };
        waitingForArchive = row.waiting === true;
      }
    }
    const record = await readArchiveStatus(config.archive!.spool_dir);
    const segmentReady = record?.failing
      ? await fs.access(path.join(config.postgresql.data_dir, 'pg_wal', 'archive_status', `${record.segment}.ready`)).then(() => true, () => false)
      : null;
    return { archiver, waitingForArchive, record, segmentReady, atMs: (this.options.now ?? performance.now.bind(performance))() };
  }

  private async tick(): Promise<void> {
    if (this.busy || this.reason !== null || !this.state) return;
    this.busy = true;
    try {
      const verdict = guardVerdict(this.state, await this.sample(), this.options.primary, this.options.config.archive!.backup_wal_timeout);
      this.state = verdict.state;
      if (verdict.reason !== null) {
        this.reason = verdict.reason;
        this.options.logger.error(`stopping the base backup: ${verdict.reason}`);
        for (const listener of this.listeners) listener();
        this.listeners.clear();
      }
    } finally {
      this.busy = false;
    }
  }
}
