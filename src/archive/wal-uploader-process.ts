// The daemon runs the WalUploader in child processes (`governor wal-uploader`), as the PostgreSQL OS user:
//  - what they write (file-storage objects, spool markers and claims) belongs to the same user as what
//    wal-push writes, which PostgreSQL runs; so each can read and replace the other's;
//  - compression (lz4 and zstd run in JavaScript/wasm, on the thread that calls them) never blocks the
//    daemon's event loop, where the lease is renewed;
//  - one child per core (at most upload_concurrency, at most MAX_PROCESSES) so that segments are
//    compressed in parallel: a child's compression uses one core. The children share the work
//    through the spool's claims (whoever claims a segment uploads it; the other moves on).
// Each child is restarted with a backoff when it exits on its own, and exits itself when the daemon is gone.

import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import { createInterface } from 'node:readline';
import type { GovernorConfig } from '../config/types.js';
import type { Logger } from '../log/logger.js';
import { resolvePgUser } from '../postgres/exec.js';

/** More processes than this gain nothing on the machines governor runs on and cost memory (~60 MB each). */
export const MAX_PROCESSES = 4;

/** How many uploader processes, and uploads at a time in each, for `uploadConcurrency` on `cores` cores. */
export function uploaderLayout(uploadConcurrency: number, cores: number): { processes: number; concurrency: number } {
  const total = Math.max(1, uploadConcurrency);
  const processes = Math.max(1, Math.min(total, cores, MAX_PROCESSES));
  return { processes, concurrency: Math.ceil(total / processes) };
}

export interface WalUploaderProcessOptions {
  config: GovernorConfig;
  /** argv prefix that starts governor again (src/cli/self.ts governorCommand()). */
  command: string[];
  /** Absolute path of the configuration file the child loads (same environment as the daemon). */
  configFile: string;
  logger: Logger;
  /** Receive the children's log lines (stderr) instead of passing them through to ours. */
  onLog?: (line: string) => void;
  /** Cores to use (default os.availableParallelism()). */
  cores?: number;
}

/** One child process slot: its process, and its own restart backoff. */
interface Slot {
  index: number;
  child: ChildProcess | null;
  restartDelayMs: number;
  restartTimer: NodeJS.Timeout | null;
}

export class WalUploaderProcess {
  private stopped = true;
  private readonly slots: Slot[];
  private readonly concurrency: number;

  constructor(private readonly options: WalUploaderProcessOptions) {
    if (!options.config.archive?.enabled) throw new Error('WalUploaderProcess: archive.enabled is false');
    if (!options.configFile.startsWith('/')) throw new Error(`WalUploaderProcess: config file path must be absolute, got ${options.configFile}`);
    const layout = uploaderLayout(options.config.archive.upload_concurrency, options.cores ?? os.availableParallelism());
    this.concurrency = layout.concurrency;
    this.slots = Array.from({ length: layout.processes }, (_, index) => ({ index, child: null, restartDelayMs: 1000, restartTimer: null }));
  }

  async start(): Promise<void> {
    if (!this.stopped) return;
    this.stopped = false;
    for (const slot of this.slots) await this.spawnChild(slot);
  }

  private async spawnChild(slot: Slot): Promise<void> {
    const { config, command, configFile, logger } = this.options;
    const user = await resolvePgUser(config.postgresql.run_as_user);
    const spool = config.archive!.spool_dir;
    if (user.uid !== undefined && user.gid !== undefined) {
      // Created here as root and handed over: the PostgreSQL user may not be able to create its parent.
      await fs.mkdir(spool, { recursive: true, mode: 0o750 });
      await fs.chown(spool, user.uid, user.gid);
    }
    if (this.stopped) return;
    const [file, ...args] = command;
    const child = spawn(file!, [...args, 'wal-uploader', '-c', configFile, '--concurrency', String(this.concurrency)], {
      uid: user.uid, gid: user.gid, cwd: '/', stdio: ['ignore', 'inherit', this.options.onLog ? 'pipe' : 'inherit'],
    });
    slot.child = child;
    if (this.options.onLog && child.stderr) createInterface({ input: child.stderr }).on('line', this.options.onLog);
    const startedAt = Date.now();
    child.once('error', (error) => logger.error(`could not start the WAL uploader: ${error.message}`));
    child.once('exit', (code, signal) => {
      slot.child = null;
      if (this.stopped) return;
      if (Date.now() - startedAt > 60_000) slot.restartDelayMs = 1000;
      logger.warn(`WAL uploader exited (code ${code}, signal ${signal}); restarting in ${slot.restartDelayMs / 1000} s`, { process: slot.index });
      slot.restartTimer = setTimeout(() => {
        slot.restartTimer = null;
        void this.spawnChild(slot).catch((error: Error) => logger.error(`could not restart the WAL uploader: ${error.message}`));
      }, slot.restartDelayMs);
      slot.restartDelayMs = Math.min(30_000, slot.restartDelayMs * 2);
    });
    logger.info('WAL uploader started', { pid: child.pid, user: user.name, process: slot.index, of: this.slots.length, concurrency: this.concurrency });
  }

  /** SIGTERM: the children finish their uploads in flight (up to timeoutMs, then SIGKILL). */
  async stop(timeoutMs = 30_000): Promise<void> {
    this.stopped = true;
    await Promise.all(this.slots.map(async (slot) => {
      if (slot.restartTimer) clearTimeout(slot.restartTimer);
      const child = slot.child;
      if (!child || child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      await exited;
      clearTimeout(timer);
    }));
  }

  /** PIDs of the running children. */
  get pids(): number[] {
    return this.slots.flatMap((slot) => (slot.child?.pid === undefined ? [] : [slot.child.pid]));
  }
}
