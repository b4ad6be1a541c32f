// Running a postmaster: the one way governor starts, waits for and stops `postgres -D`, used by the
// controller (the member's own PostgreSQL) and by `governor restore` (a restored copy replaying
// archived WAL). It runs as the PostgreSQL OS user (os-user.ts), with the fixed, secret-free
// environment plus the environment file that archive_command/restore_command read
// (postmaster-env.ts), appends its output to a log file beside the data directory, and every
// failure it reports carries the last lines of that log.

import { spawn } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { sleep } from '../util/time.js';
import { pgEnvironment } from './exec.js';
import { isPostgresProcess, readPostmasterPid, tailFile, touchOwned } from './files.js';
import type { PgUser } from './os-user.js';
import { ENV_FILE_VARIABLE, writePostmasterEnvFile } from './postmaster-env.js';

/** Where Debian's PostgreSQL 15 packages put the binaries (postgresql.bin_dir's default). */
export const DEFAULT_BIN_DIR = '/usr/lib/postgresql/15/bin';

export interface PostmasterExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface Postmaster {
  pid: number;
  /** How the postmaster exited, once it has (seen while this process is its parent); else null. */
  exit: PostmasterExit | null;
}

/** Start `postgres -D dataDir` as the PostgreSQL user, in its own session, output appended to logFile.
 *  Spawned directly rather than through pg_ctl so that its PID is known at once and an exit during
 *  start-up is seen the moment it happens, however slowly a loaded machine launches it. */
export async function spawnPostmaster(binDir: string, dataDir: string, logFile: string, user: PgUser): Promise<Postmaster> {
  const file = path.join(binDir, 'postgres');
  const envFile = await writePostmasterEnvFile(dataDir, process.env, { uid: user.uid, gid: user.gid });
  const log = await fsp.open(logFile, 'a');
  try {
    const child = spawn(file, ['-D', dataDir], {
      uid: user.uid,
      gid: user.gid,
      // archive_command/restore_command run governor with this environment; the configuration
      // variables they need (environment overrides, AWS credentials) are in the file it names.
      env: pgEnvironment(user, { [ENV_FILE_VARIABLE]: envFile }),
      cwd: '/',
      detached: true,
      stdio: ['ignore', log.fd, log.fd],
    });
    const pid = await new Promise<number>((resolve, reject) => {
      child.once('spawn', () => resolve(child.pid!));
      child.once('error', (err) => reject(new Error(`cannot run ${file}: ${err.message}`)));
    });
    const postmaster: Postmaster = { pid, exit: null };
    child.once('exit', (code, signal) => {
      postmaster.exit = { code, signal };
    });
    child.unref(); // the postmaster outlives governor by design (the write fence guards it then)
    return postmaster;
  } finally {
    await log.close();
  }
}

export interface PostmasterFiles {
  binDir: string;
  dataDir: string;
  /** Where the postmaster's output goes (beside the data directory, never inside it). */
  logFile: string;
}

export interface ReadyWait {
  /** Epoch ms after which waiting fails. */
  deadline: number;
  pollMs: number;
  /** The failure past the deadline; the last lines of the log are added to it. */
  timeoutMessage: string;
  tailLines: number;
}

/** One data directory's postmaster: start, wait until ready or failed, signal, wait until gone. */
export class PostmasterRunner {
  constructor(
    readonly files: PostmasterFiles,
    /** The PostgreSQL OS user, resolved when first needed (the controller resolves it lazily). */
    private readonly user: () => Promise<PgUser>,
  ) {}

  /** The postmaster named in postmaster.pid, when that process is alive and is PostgreSQL. */
  async runningPid(): Promise<number | null> {
    const pid = await readPostmasterPid(path.join(this.files.dataDir, 'postmaster.pid'));
    return pid !== null && (await isPostgresProcess(pid)) ? pid : null;
  }

  async isRunning(): Promise<boolean> {
    return (await this.runningPid()) !== null;
  }

  /** The log file exists (mode 0600), owned by the PostgreSQL user, who appends to it. */
  async prepareLog(): Promise<void> {
    const user = await this.user();
    await touchOwned(this.files.logFile, { uid: user.uid, gid: user.gid });
  }

  async spawn(): Promise<Postmaster> {
    return spawnPostmaster(this.files.binDir, this.files.dataDir, this.files.logFile, await this.user());
  }

  /** Poll until `ready()` says so (null), or the postmaster has exited (its exit: the caller decides
   *  whether to retry), or the deadline passed (rejects with the log's last lines). */
  async waitUntilReady(postmaster: Postmaster, ready: () => Promise<boolean>, wait: ReadyWait): Promise<PostmasterExit | null> {
    for (;;) {
      if (await ready()) return null;
      if (postmaster.exit) return postmaster.exit;
      if (Date.now() > wait.deadline) throw await this.failure(wait.timeoutMessage, wait.tailLines);
      await sleep(wait.pollMs);
    }
  }

  /** Send `signal` to the postmaster `pid`; false when there is no such process. */
  signal(pid: number, signal: NodeJS.Signals): boolean {
    try {
      process.kill(pid, signal);
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false;
      throw error;
    }
  }

  /** Poll `gone()` every pollMs for up to timeoutMs; whether it went. */
  async waitUntilGone(gone: () => boolean | Promise<boolean>, timeoutMs: number, pollMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (await gone()) return true;
      await sleep(pollMs);
    }
    return gone();
  }

  /** The last lines of the log, as written (callers that show them to others redact them). */
  async logTail(lines: number): Promise<string> {
    return tailFile(this.files.logFile, lines);
  }

  /** An error saying `what`, with the log's last lines (what PostgreSQL said about it). */
  async failure(what: string, tailLines: number): Promise<Error> {
    return new Error(`${what}; last lines of ${this.files.logFile}:\n${await this.logTail(tailLines)}`);
  }
}

/** The status line of postmaster.pid (starting, stopping, ready, standby), or null. */
export async function postmasterStatus(pidFile: string): Promise<string | null> {
  const text = await fsp.readFile(pidFile, 'utf8').catch(() => null);
  const line = text?.split('\n')[7]?.trim();
  return line ? line : null;
}
