// A HAProxy that governor owns (haproxy.manage: true): spawned in master-worker mode as a child in
// its own process group (a terminal's Ctrl-C reaches governor, which stops HAProxy in order),
// stdout/stderr to <config dir>/haproxy.log, stopped by PID.

import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, constants as fsConstants, openSync, promises as fs, readFileSync } from 'node:fs';
import path from 'node:path';
import type { HaproxyConfig } from '../config/types.js';
import { isAlive, logTail, readPidFile } from '../util/process.js';
import { sleep } from '../util/time.js';
import { showProc, workerPid } from './runtime.js';

export function logFileFor(settings: HaproxyConfig): string {
  return path.join(path.dirname(settings.config_file), 'haproxy.log');
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    /* already gone */
  }
}

/** The unprivileged OS user a HAProxy started by a root governor runs as (PostgreSQL's). */
export interface HaproxyUser {
  name: string;
  uid: number;
  gid: number;
}

/** HAProxy's environment: nothing of governor's (its passwords, AWS keys), only PATH. */
export function haproxyEnvironment(): Record<string, string> {
  return { PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin' };
}

/** chown through a descriptor opened without following a symlink: the directory holding `file` may
 *  be writable by the user it is handed to, who must not be able to swap in a link to a file of
 *  root's between a check and the chown. */
async function handOver(file: string, runAs: HaproxyUser, directory: boolean): Promise<void> {
  const { O_RDONLY, O_NOFOLLOW, O_DIRECTORY, O_NONBLOCK } = fsConstants;
  const handle = await fs.open(file, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | (directory ? O_DIRECTORY : 0));
  try {
    const stat = await handle.stat();
    if (directory ? !stat.isDirectory() : !stat.isFile()) throw new Error(`${file}: not a ${directory ? 'directory' : 'regular file'}; not handing it to ${runAs.name}`);
    if (stat.uid !== runAs.uid || stat.gid !== runAs.gid) await handle.chown(runAs.uid, runAs.gid);
  } finally {
    await handle.close();
  }
}

/** Create the directories of the sockets and the pid file; those created here are handed to
 *  `runAs`, which must create its sockets in them. Existing directories are left as they are; a
 *  pid file left by a HAProxy that ran as another user (root, before governor dropped it) is
 *  handed over too, or HAProxy could not rewrite it and would refuse to start. */
export async function prepareRuntimeDirs(settings: HaproxyConfig, runAs: HaproxyUser | null): Promise<void> {
  for (const file of [settings.stats_socket, settings.master_socket, settings.pid_file]) {
    const dir = path.dirname(file);
    const first = await fs.mkdir(dir, { recursive: true });
    if (first === undefined || runAs === null) continue;
    // Every level from the first one created down to `dir`.
    for (let level = dir; level.length >= first.length; level = path.dirname(level)) {
      await handOver(level, runAs, true);
      if (level === first) break;
    }
  }
  if (runAs === null) return;
  const pidFile = await fs.lstat(settings.pid_file).catch(() => null);
  if (pidFile?.isFile() && pidFile.uid !== runAs.uid) await handOver(settings.pid_file, runAs, false);
}

/** Spawn `haproxy -W -f config_file -S master_socket,mode,600` (the pid file comes from the
 *  `pidfile` line of the rendered configuration; -p as well would make HAProxy complain), as
 *  `runAs` when given: HAProxy never runs as root. Its ports need no privilege, and the reload
 *  (master CLI `reload`) re-executes it as the same user. */
export function spawnHaproxy(settings: HaproxyConfig, runAs: HaproxyUser | null = null): ChildProcess {
  // No symlink followed: the directory may belong to the user HAProxy runs as.
  const { O_WRONLY, O_APPEND, O_CREAT, O_NOFOLLOW } = fsConstants;
  const fd = openSync(logFileFor(settings), O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW, 0o640);
  try {
    return spawn(settings.bin, ['-W', '-f', settings.config_file, '-S', `${settings.master_socket},mode,600`], {
      stdio: ['ignore', fd, fd],
      detached: true, // own process group
      env: haproxyEnvironment(),
      cwd: '/',
      ...(runAs ? { uid: runAs.uid, gid: runAs.gid } : {}),
    });
  } finally {
    closeSync(fd);
  }
}

/** Resolve with the worker PID once the master lists a worker and that worker answers on the
 *  stats socket; reject if the child exits first or the time runs out. */
export async function waitReady(settings: HaproxyConfig, child: ChildProcess, timeoutMs = 10_000): Promise<number> {
  let exited: string | null = null;
  const onExit = (code: number | null, sig: string | null) => (exited = `haproxy exited (code ${code}, signal ${sig})`);
  const onError = (error: Error) => (exited = `could not start ${settings.bin}: ${error.message}`);
  child.once('exit', onExit);
  child.once('error', onError);
  try {
    const deadline = Date.now() + timeoutMs;
    while (exited === null && Date.now() < deadline) {
      try {
        const info = await showProc(settings.master_socket, 500);
        const worker = info.workers[0];
        if (info.master?.pid === child.pid && worker !== undefined && (await workerPid(settings.stats_socket, 500)) === worker) {
          return worker;
        }
      } catch {
        /* not up yet */
      }
      await sleep(10);
    }
    const reason = exited ?? `haproxy did not come up within ${timeoutMs} ms`;
    throw new Error(`${reason}; last lines of ${logFileFor(settings)}:\n${logTail(logFileFor(settings))}`);
  } finally {
    child.off('exit', onExit);
    child.off('error', onError);
  }
}

/** SIGTERM the master (it stops its workers), SIGKILL its process group and every known worker
 *  after timeoutMs; resolves once none of them runs. */
export async function stopHaproxy(masterPid: number, workerPids: number[], timeoutMs = 5000): Promise<void> {
  const all = [masterPid, ...workerPids];
  const anyRunning = () => all.some(isAlive);
  signal(masterPid, 'SIGTERM');
  const deadline = Date.now() + timeoutMs;
  while (anyRunning() && Date.now() < deadline) await sleep(20);
  if (!anyRunning()) return;
  signal(-masterPid, 'SIGKILL');
  for (const pid of all) signal(pid, 'SIGKILL');
  const killDeadline = Date.now() + 5000;
  while (anyRunning() && Date.now() < killDeadline) await sleep(20);
}

/** A HAProxy master left running by an earlier governor with the same pid file and config file. */
export function staleMaster(settings: HaproxyConfig): number | null {
  const pid = readPidFile(settings.pid_file);
  if (pid === null || pid <= 1 || pid === process.pid || !isAlive(pid)) return null;
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    const f = argv.indexOf('-f');
    if (path.basename(argv[0] ?? '').startsWith('haproxy') && f >= 0 && argv[f + 1] === settings.config_file) return pid;
  } catch {
    /* gone, or not ours to inspect */
  }
  return null;
}
