// The daemon runs the WalUploader in a child process (`governor wal-uploader`), as the PostgreSQL OS user:
//  - what it writes (file-storage objects, spool markers and claims) belongs to the same user as what
//    wal-push writes, which PostgreSQL runs; so each can read and replace the other's;
//  - compression (lz4 is plain JavaScript) never blocks the daemon's event loop, where the lease is renewed.
// The child is restarted with a backoff when it exits on its own, and exits itself when the daemon is gone.

import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import { createInterface } from 'node:readline';
import type { GovernorConfig } from '../config/types.js';
import type { Logger } from '../log/logger.js';
import { resolvePgUser } from '../postgres/exec.js';

export interface WalUploaderProcessOptions {
  config: GovernorConfig;
  /** argv prefix that starts governor again (src/cli/self.ts governorCommand()). */
  command: string[];
  /** Absolute path of the configuration file the child loads (same environment as the daemon). */
  configFile: string;
  logger: Logger;
  /** Receive the child's log lines (stderr) instead of passing them through to ours. */
  onLog?: (line: string) => void;
}

export class WalUploaderProcess {
  private child: ChildProcess | null = null;
  private stopped = true;
  private restartDelayMs = 1000;
  private restartTimer: NodeJS.Timeout | null = null;

  constructor(private readonly options: WalUploaderProcessOptions) {
    if (!options.config.archive?.enabled) throw new Error('WalUploaderProcess: archive.enabled is false');
    if (!options.configFile.startsWith('/')) throw new Error(`WalUploaderProcess: config file path must be absolute, got ${options.configFile}`);
  }

  async start(): Promise<void> {
    if (!this.stopped) return;
    this.stopped = false;
    await this.spawnChild();
  }

  private async spawnChild(): Promise<void> {
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
    const child = spawn(file!, [...args, 'wal-uploader', '-c', configFile], {
      uid: user.uid, gid: user.gid, cwd: '/', stdio: ['ignore', 'inherit', this.options.onLog ? 'pipe' : 'inherit'],
    });
    this.child = child;
    if (this.options.onLog && child.stderr) createInterface({ input: child.stderr }).on('line', this.options.onLog);
    const startedAt = Date.now();
    child.once('error', (error) => logger.error(`could not start the WAL uploader: ${error.message}`));
    child.once('exit', (code, signal) => {
      this.child = null;
      if (this.stopped) return;
      if (Date.now() - startedAt > 60_000) this.restartDelayMs = 1000;
      logger.warn(`WAL uploader exited (code ${code}, signal ${signal}); restarting in ${this.restartDelayMs / 1000} s`);
      this.restartTimer = setTimeout(() => {
        this.restartTimer = null;
        void this.spawnChild().catch((error: Error) => logger.error(`could not restart the WAL uploader: ${error.message}`));
      }, this.restartDelayMs);
      this.restartDelayMs = Math.min(30_000, this.restartDelayMs * 2);
    });
    logger.info('WAL uploader started', { pid: child.pid, user: user.name });
  }

  /** SIGTERM: the child finishes its uploads in flight (up to timeoutMs, then SIGKILL). */
  async stop(timeoutMs = 30_000): Promise<void> {
    this.stopped = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    await exited;
    clearTimeout(timer);
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }
}
