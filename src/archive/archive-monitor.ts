// The daemon's watch on WAL archiving: every few seconds it reads wal-push's status file and, on the
// master, pg_stat_archiver, and judges them (archive-health.ts). /metrics and governorctl list show
// the last judgement; the log gets one line when archiving starts failing (with the error), one when
// the error changes, and one when it recovers.

import fs from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../log/logger.js';
import type { ArchiverStatus } from '../postgres/types.js';
import { ARCHIVE_OK, archiveErrorFromPostgresLog, archiveHealth, failureKey, type ArchiveHealth } from './archive-health.js';
import { archiveStatusUnreadable, readArchiveStatus } from './archive-status.js';

export interface ArchiveMonitorOptions {
  spoolDir: string;
  dataDir: string;
  logger: Logger;
  /** PostgreSQL runs as the master here (the daemon holds the leader key). */
  isPrimary(): boolean;
  archiverStatus(): Promise<ArchiverStatus | null>;
  /** The last lines of PostgreSQL's log. */
  postgresLogTail(lines: number): Promise<string>;
  intervalMs?: number;
}

export class ArchiveMonitor {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private last: ArchiveHealth = ARCHIVE_OK;
  /** When this monitor first saw the current failure (for failures whose start nobody recorded). */
  private failingSeenAt: string | null = null;
  private reportedError: string | null = null;
  private garbageLogged = false;

  constructor(private readonly options: ArchiveMonitorOptions) {}

  /** The last judgement, with `since` filled in from this monitor's own observation when unknown. */
  get health(): ArchiveHealth {
    return this.last;
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.check(), this.options.intervalMs ?? 2000);
    this.timer.unref();
    void this.check();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Observe and judge now (one check at a time; a caller during a check waits for it). */
  check(): Promise<void> {
    this.running ??= this.observe()
      .catch((error: Error) => this.options.logger.debug(`archive status check failed: ${error.message}`))
      .finally(() => { this.running = null; });
    return this.running;
  }

  private async observe(): Promise<void> {
    const { spoolDir, dataDir, logger } = this.options;
    const record = await readArchiveStatus(spoolDir);
    if (record === null && !this.garbageLogged && (await archiveStatusUnreadable(spoolDir))) {
      this.garbageLogged = true;
      logger.warn(`ignoring ${path.join(spoolDir, 'archive-status.json')}: not a well-formed archive status record`);
    }
    const primary = this.options.isPrimary();
    const archiver = primary ? await this.options.archiverStatus() : null;
    const segmentReady = record?.failing
      ? await fs.access(path.join(dataDir, 'pg_wal', 'archive_status', `${record.segment}.ready`)).then(() => true, () => false)
      : null;
    let health = archiveHealth({ record, archiver, primary, segmentReady });
    if (health.failing && health.source === 'pg_stat_archiver') {
      const tail = await this.options.postgresLogTail(200).catch(() => '');
      health = archiveHealth({ record, archiver, primary, segmentReady, postgresLogError: archiveErrorFromPostgresLog(tail) });
    }
    this.note(health, new Date());
  }

  private note(health: ArchiveHealth, now: Date): void {
    const { logger } = this.options;
    if (!health.failing) {
      if (this.last.failing) {
        const since = this.last.since ?? this.failingSeenAt;
        const seconds = since ? Math.round((now.getTime() - Date.parse(since)) / 1000) : null;
        logger.info('WAL archiving recovered', { segment: this.last.segment, failed_for_s: seconds });
      }
      this.failingSeenAt = null;
      this.reportedError = null;
      this.last = health;
      return;
    }
    this.failingSeenAt ??= now.toISOString();
    const filled = { ...health, since: health.since ?? this.failingSeenAt };
    if (failureKey(health) !== this.reportedError) {
      this.reportedError = failureKey(health);
      logger.error(`WAL archiving is failing: ${health.error}`, {
        segment: health.segment, since: filled.since, failures: health.failures, seen_by: health.source,
      });
    }
    this.last = filled;
  }
}
