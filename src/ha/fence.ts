// The write fence: a small process beside the daemon that stops PostgreSQL (immediate shutdown)
// when the daemon dies while PostgreSQL is the master and nobody renews the lease any more.
// Without it, a governor killed on its own (OOM killer, a bug) would leave a writable master behind
// while a replica takes over once the lease expires: two writers. The daemon tells the fence the
// wall-clock deadline of its lease guard after every confirmed renewal; if the daemon's pipe closes
// while the fence is armed, the fence waits for that deadline and then stops the postmaster.

import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { Logger } from '../log/logger.js';
import { isAlive, readPidFile } from '../util/process.js';

export function fencePidFile(dataDir: string): string {
  const resolved = path.resolve(dataDir);
  return path.join(path.dirname(resolved), `.governor-${path.basename(resolved)}.fence.pid`);
}

/** The daemon's side: spawns the fence and keeps it informed. */
export class WriteFence {
  private child: ChildProcess | null = null;
  private armedUntil: number | null = null;
  private previousFence: number | null = null;

  constructor(
    private readonly command: string[],
    private readonly dataDir: string,
    private readonly logger: Logger,
  ) {}

  start(): void {
    const [bin, ...args] = this.command;
    // Its own process group, so a signal to the daemon's group does not take the fence with it.
    this.child = spawn(bin!, [...args, 'fence', '--data-dir', this.dataDir], { stdio: ['pipe', 'ignore', 'inherit'], detached: true });
    this.child.on('error', (error) => this.logger.error(`write fence failed: ${error.message}`));
    this.child.stdin?.on('error', () => undefined);
    this.child.unref();
    this.previousFence = readPidFile(fencePidFile(this.dataDir));
  }

  /** After this daemon has taken charge (first iteration done), retire a fence left by a predecessor. */
  takeOver(): void {
    if (this.previousFence !== null && this.previousFence !== this.child?.pid && isAlive(this.previousFence)) {
      try {
        process.kill(this.previousFence, 'SIGTERM');
        this.logger.info('retired the write fence of a previous governor process', { pid: this.previousFence });
      } catch {
        // it exited on its own
      }
    }
    this.previousFence = null;
    if (this.child?.pid) writeFileSync(fencePidFile(this.dataDir), `${this.child.pid}\n`);
  }

  /** PostgreSQL is the master and the lease guard's deadline is `deadline` (epoch ms). */
  arm(deadline: number): void {
    if (this.armedUntil === deadline) return;
    this.armedUntil = deadline;
    this.child?.stdin?.write(`arm ${Math.floor(deadline)}\n`);
  }

  disarm(): void {
    if (this.armedUntil === null) return;
    this.armedUntil = null;
    this.child?.stdin?.write('disarm\n');
  }

  /** Orderly shutdown: the daemon stopped PostgreSQL itself, the fence has nothing to do. */
  stop(): void {
    this.disarm();
    this.child?.stdin?.end();
  }
}

/** The fence process itself (`governor fence --data-dir DIR`). */
export function runFence(dataDir: string): void {
  let deadline: number | null = null;
  const log = (msg: string) => process.stderr.write(JSON.stringify({ ts: new Date().toISOString(), level: 'error', component: 'fence', msg }) + '\n');
  process.on('SIGTERM', () => process.exit(0));
  const input = createInterface({ input: process.stdin });
  input.on('line', (line) => {
    const [verb, value] = line.trim().split(/\s+/);
    if (verb === 'arm' && Number.isFinite(Number(value))) deadline = Number(value);
    if (verb === 'disarm') deadline = null;
  });
  input.on('close', () => {
    if (deadline === null) process.exit(0);
    const wait = Math.max(0, deadline - Date.now());
    setTimeout(() => {
      const pid = readPidFile(path.join(dataDir, 'postmaster.pid'));
      if (pid !== null && isAlive(pid)) {
        log(`governor died while PostgreSQL was the master and nobody renewed the lease: stopping PostgreSQL (immediate, pid ${pid}) before the leader key expires`);
        try {
          process.kill(pid, 'SIGQUIT');
        } catch {
          // already gone
        }
      }
      process.exit(0);
    }, wait);
  });
}
