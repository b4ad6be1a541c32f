// The write fence: a small process beside the daemon that stops PostgreSQL (immediate shutdown) at
// the last deadline the daemon armed it with, unless the daemon re-armed it in time. It is a
// dead-man's switch, not a death detector: a daemon that is dead, hung (a blocked event loop, a
// stuck disk write) or stopped (SIGSTOP, a paused process) stops re-arming it alike, and the lease
// guard that would demote the master runs inside that daemon. Without the fence such a master
// would stay writable while a replica takes over once the lease expires: two writers.
//
// The daemon arms the fence with the lease guard's deadline after every confirmed renewal (and
// every probe all members confirmed, in failsafe): a monotonic time (CLOCK_MONOTONIC, shared by
// every process on the machine), so neither a wall-clock jump nor a message that sat in the pipe
// can move it. The deadline lies ttl - LEASE_SAFETY_MARGIN_MS after a renewal was sent, before
// etcd can expire the leader key, so PostgreSQL is stopped before any replica can be promoted.

import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { Logger } from '../log/logger.js';
import { isAlive, readPidFile } from '../util/process.js';
import { monotonicMs } from '../util/time.js';

export function fencePidFile(dataDir: string): string {
  const resolved = path.resolve(dataDir);
  return path.join(path.dirname(resolved), `.governor-${path.basename(resolved)}.fence.pid`);
}

/** One line of the daemon-to-fence protocol. */
export type FenceCommand = { verb: 'arm'; deadline: number } | { verb: 'disarm' };

/** `arm <monotonic ms>` or `disarm`; anything else is null (ignored: the fence keeps its state). */
export function parseFenceCommand(line: string): FenceCommand | null {
  const [verb, value, ...rest] = line.trim().split(/\s+/);
  if (rest.length > 0) return null;
  if (verb === 'disarm' && value === undefined) return { verb: 'disarm' };
  if (verb === 'arm' && value !== undefined && /^\d{1,15}$/.test(value)) return { verb: 'arm', deadline: Number(value) };
  return null;
}

/** The daemon's side: spawns the fence and keeps it informed. */
export class WriteFence {
  private child: ChildProcess | null = null;
  private armedUntil: number | null = null;
  private previousFence: number | null = null;
  private tookOver = false;

  constructor(
    private readonly command: string[],
    private readonly dataDir: string,
    private readonly logger: Logger,
  ) {}

  start(): void {
    this.previousFence = readPidFile(fencePidFile(this.dataDir));
    this.spawnFence();
  }

  private spawnFence(): void {
    const [bin, ...args] = this.command;
    // Its own process group, so a signal to the daemon's group (a stop, a kill) does not reach it.
    const child = spawn(bin!, [...args, 'fence', '--data-dir', this.dataDir], { stdio: ['pipe', 'ignore', 'inherit'], detached: true });
    this.child = child;
    child.on('error', (error) => this.logger.error(`write fence failed: ${error.message}`));
    child.on('exit', (code, signal) => {
      if (this.child !== child) return; // stopped on purpose
      // A fence that is gone guards nothing: start another and give it the deadline in force.
      this.logger.error(`write fence exited (${signal ?? `code ${code}`}): starting it again`);
      setTimeout(() => {
        if (this.child !== child) return;
        this.spawnFence();
        if (this.tookOver && this.child?.pid) writeFileSync(fencePidFile(this.dataDir), `${this.child.pid}\n`);
        if (this.armedUntil !== null) this.child?.stdin?.write(`arm ${Math.max(0, this.armedUntil)}\n`);
      }, 200).unref();
    });
    child.stdin?.on('error', () => undefined);
    child.unref();
  }

  /** After this daemon has taken charge (first iteration done, and this fence armed if this member
   *  is the master), retire a fence left by a predecessor. */
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
    this.tookOver = true;
    if (this.child?.pid) writeFileSync(fencePidFile(this.dataDir), `${this.child.pid}\n`);
  }

  /** PostgreSQL is the master and must stop accepting writes by `deadline` (monotonic ms) unless
   *  the fence is armed again before it. */
  arm(deadline: number): void {
    const at = Math.floor(deadline);
    if (this.armedUntil === at) return;
    this.armedUntil = at;
    this.child?.stdin?.write(`arm ${Math.max(0, at)}\n`);
  }

  disarm(): void {
    if (this.armedUntil === null) return;
    this.armedUntil = null;
    this.child?.stdin?.write('disarm\n');
  }

  /** Orderly shutdown: the daemon stopped PostgreSQL itself, the fence has nothing to do. */
  stop(): void {
    this.disarm();
    const child = this.child;
    this.child = null;
    child?.stdin?.end();
  }
}

/** The fence process itself (`governor fence --data-dir DIR`). */
export function runFence(dataDir: string): void {
  let deadline: number | null = null;
  let timer: NodeJS.Timeout | null = null;
  let daemonGone = false;
  const log = (level: string, msg: string) =>
    process.stderr.write(JSON.stringify({ ts: new Date().toISOString(), level, component: 'fence', msg }) + '\n');

  const fire = () => {
    timer = null;
    if (deadline === null) return;
    const late = monotonicMs() - deadline;
    // A timer can fire a little early; never stop PostgreSQL before the deadline.
    if (late < 0) return schedule();
    deadline = null;
    const pid = readPidFile(path.join(dataDir, 'postmaster.pid'));
    if (pid !== null && isAlive(pid)) {
      log(
        'error',
        daemonGone
          ? `governor died while PostgreSQL was the master and nobody renewed the lease: stopping PostgreSQL (immediate, pid ${pid}) before the leader key expires`
          : `governor did not re-arm the write fence by its deadline (${late} ms ago; the daemon is hung or stopped) while PostgreSQL was the master: stopping PostgreSQL (immediate, pid ${pid}) before the leader key can expire`,
      );
      try {
        process.kill(pid, 'SIGQUIT');
      } catch {
        // already gone
      }
    }
    if (daemonGone) process.exit(0);
  };
  const schedule = () => {
    if (timer) clearTimeout(timer);
    timer = deadline === null ? null : setTimeout(fire, Math.max(0, deadline - monotonicMs()));
  };

  process.on('SIGTERM', () => process.exit(0));
  const input = createInterface({ input: process.stdin });
  input.on('line', (line) => {
    const command = parseFenceCommand(line);
    if (command === null) return log('warn', `ignoring an unreadable fence command (${JSON.stringify(line.slice(0, 40))})`);
    deadline = command.verb === 'arm' ? command.deadline : null;
    schedule();
  });
  input.on('close', () => {
    // The daemon is gone. Disarmed: it stopped PostgreSQL itself, nothing to guard. Armed: keep the
    // deadline, then exit (a successor governor starts its own fence).
    daemonGone = true;
    if (deadline === null) process.exit(0);
  });
}
