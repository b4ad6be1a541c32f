// Scheduled base backups, run by the daemon: at each `archive.backup_schedule` slot (cron, UTC),
// if this member is the master, take a base backup and then apply retention
// (`archive.backup_num_to_retain`). One backup at a time; a slot that comes while a backup is
// still running is skipped. A failure is logged and the next slot tries again.
//
// The backup runs as a child process (`governor backup-push -c CONFIG`) so that compression and
// upload never compete with the HA loop for this process's event loop, and a crash of the backup
// cannot take the daemon with it. Retention runs in-process (a listing and a few deletes).

import { spawn } from 'node:child_process';
import path from 'node:path';
import { CronExpressionParser } from 'cron-parser';
import type { GovernorConfig } from '../config/types.js';
import type { Logger } from '../log/logger.js';
import { describePlan, deleteOldBackups } from './backup-delete.js';
import { archiveSettings } from './backup-push.js';
import { openStorage } from './storage/index.js';
import type { Storage } from './types.js';

/** The first slot of `cron` (5 or 6 fields, UTC) strictly after `after`. Throws on a bad expression. */
export function nextRun(cron: string, after: Date): Date {
  const expression = CronExpressionParser.parse(cron, { currentDate: after, tz: 'UTC' });
  const next = expression.next().toDate();
  // cron-parser returns the next slot strictly after currentDate (to the second).
  return next;
}

/** Whether `cron` parses; the error message otherwise. */
export function checkSchedule(cron: string): string | null {
  try {
    CronExpressionParser.parse(cron, { tz: 'UTC' });
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}

export interface BackupSchedulerOptions {
  config: GovernorConfig;
  /** The daemon's configuration file, passed to the `governor backup-push` child (null: the child
   *  reads the same environment, GOVERNOR_CONFIG or the default path, as the daemon did). */
  configFile: string | null;
  /** argv prefix that runs governor (governorCommand() from src/cli/self.ts). */
  governorArgv: string[];
  logger: Logger;
  /** Asked at each slot: only the master takes scheduled backups. */
  isMaster: () => boolean;
  /** Replace how a backup is taken (tests); default: the backup-push child process. */
  runBackup?: () => Promise<void>;
  /** Replace retention (tests); default: deleteOldBackups with backup_num_to_retain, confirmed. */
  applyRetention?: () => Promise<void>;
  /** Clock (tests). */
  now?: () => Date;
}

export interface SchedulerStatus {
  schedule: string | null;
  nextRunAt: Date | null;
  running: boolean;
  lastRun: { startedAt: Date; finishedAt: Date; ok: boolean; error?: string; skipped?: string } | null;
}

/** Longest single timer (setTimeout overflows above 2^31-1 ms): far slots are reached in steps. */
const MAX_TIMER_MS = 6 * 3600_000;

export class BackupScheduler {
  private timer: NodeJS.Timeout | null = null;
  private stopped = true;
  private current: Promise<void> | null = null;
  private child: ReturnType<typeof spawn> | null = null;
  private lastDue: Date | null = null;
  private readonly schedule: string | null;
  private readonly now: () => Date;
  readonly status: SchedulerStatus;

  constructor(private readonly options: BackupSchedulerOptions) {
    const archive = options.config.archive;
    this.schedule = archive?.enabled !== false && archive?.storage ? archive.backup_schedule ?? null : null;
    this.now = options.now ?? (() => new Date());
    this.status = { schedule: this.schedule, nextRunAt: null, running: false, lastRun: null };
    if (this.schedule) {
      const problem = checkSchedule(this.schedule);
      if (problem) throw new Error(`archive.backup_schedule ${JSON.stringify(this.schedule)}: ${problem}`);
    }
  }

  /** Start waiting for the next slot; no-op without a schedule. */
  start(): void {
    if (!this.schedule || !this.stopped) return;
    this.stopped = false;
    this.options.logger.info('scheduled base backups enabled', { schedule: this.schedule, timezone: 'UTC' });
    this.arm();
  }

  /** Stop the timer; a running backup child is asked to stop (SIGTERM) and awaited. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.status.nextRunAt = null;
    this.child?.kill('SIGTERM');
    await this.current?.catch(() => undefined);
  }

  private arm(): void {
    if (this.stopped || !this.schedule) return;
    // Strictly after the slot just served, even if its timer fired a hair early.
    const now = this.now();
    const after = this.lastDue && this.lastDue > now ? this.lastDue : now;
    const due = nextRun(this.schedule, after);
    this.status.nextRunAt = due;
    this.options.logger.debug('next scheduled base backup', { at: due.toISOString() });
    this.waitUntil(due);
  }

  private waitUntil(due: Date): void {
    const ms = due.getTime() - this.now().getTime();
    this.timer = setTimeout(() => {
      this.timer = null;
      if (this.stopped) return;
      if (due.getTime() - this.now().getTime() > 1000) {
        this.waitUntil(due);
        return;
      }
      this.lastDue = due;
      this.current = this.runSlot().finally(() => {
        this.current = null;
        this.arm();
      });
    }, Math.max(0, Math.min(ms, MAX_TIMER_MS)));
    this.timer.unref();
  }

  /** One slot: backup if master, then retention. Never throws. Exposed for tests. */
  async runSlot(): Promise<void> {
    const { logger } = this.options;
    const startedAt = this.now();
    if (!this.options.isMaster()) {
      logger.info('scheduled base backup skipped: this member is not the master');
      this.status.lastRun = { startedAt, finishedAt: startedAt, ok: true, skipped: 'not master' };
      return;
    }
    this.status.running = true;
    const t0 = Date.now();
    logger.info('scheduled base backup starting');
    try {
      await (this.options.runBackup ?? (() => this.backupChild()))();
      logger.info('scheduled base backup complete', { duration_s: Math.round((Date.now() - t0) / 100) / 10 });
      try {
        await (this.options.applyRetention ?? (() => this.retention()))();
      } catch (err) {
        logger.error(`retention after the scheduled base backup failed: ${(err as Error).message}`);
      }
      this.status.lastRun = { startedAt, finishedAt: this.now(), ok: true };
    } catch (err) {
      const message = (err as Error).message;
      logger.error(`scheduled base backup failed (the next slot retries): ${message}`, { duration_s: Math.round((Date.now() - t0) / 100) / 10 });
      this.status.lastRun = { startedAt, finishedAt: this.now(), ok: false, error: message };
    } finally {
      this.status.running = false;
    }
  }

  private backupChild(): Promise<void> {
    const [command, ...args] = this.options.governorArgv;
    return new Promise((resolve, reject) => {
      const configArgs = this.options.configFile ? ['-c', path.resolve(this.options.configFile)] : [];
      const child = spawn(command!, [...args, 'backup-push', ...configArgs], { stdio: ['ignore', 'ignore', 'pipe'], cwd: '/' });
      this.child = child;
      let tail = '';
      let partial = '';
      child.stderr!.setEncoding('utf8').on('data', (text: string) => {
        // The child logs JSON lines to stderr: pass whole lines through to the daemon's log stream,
        // so they never interleave with the daemon's own lines.
        partial += text;
        const end = partial.lastIndexOf('\n');
        if (end !== -1) {
          process.stderr.write(partial.slice(0, end + 1));
          partial = partial.slice(end + 1);
        }
        tail = (tail + text).slice(-2000);
      });
      child.once('error', (err) => {
        this.child = null;
        reject(new Error(`cannot run governor backup-push: ${err.message}`));
      });
      child.once('exit', (code, signal) => {
        this.child = null;
        if (partial) process.stderr.write(partial + '\n');
        if (code === 0) resolve();
        else {
          const last = tail.trim().split('\n').at(-1) ?? '';
          reject(new Error(`governor backup-push ${signal ? `was killed by ${signal}` : `exited with code ${code}`}${last ? `: ${last}` : ''}`));
        }
      });
    });
  }

  private async retention(): Promise<void> {
    const archive = archiveSettings(this.options.config);
    const storage: Storage = openStorage(archive, this.options.logger);
    const plan = await deleteOldBackups({ storage, retain: archive.backup_num_to_retain, confirm: true, logger: this.options.logger });
    this.options.logger.info('retention applied', { retain: plan.retain, summary: describePlan(plan) });
  }
}
