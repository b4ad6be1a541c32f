// The two runtime operations a reload needs:
//
// cutFormerLeaders: before anything else, put every server of `listen master` that does not point
//   at the new leader into maintenance and shut its sessions down (and those of the backup server
//   in `listen replicas` that tracks it), in the current worker AND in old workers still serving
//   sessions from earlier configurations, so no client keeps writing to a member that lost the
//   leader key. Servers are told apart by address, so a file of any earlier layout is handled.
//
// reloadHaproxy: `reload` on the master CLI (or SIGUSR2 to the master), then wait until a new
//   worker answers on the stats socket. Old workers keep their established sessions.

import { existsSync, readFileSync } from 'node:fs';
import type { HaproxyConfig } from '../config/types.js';
import { sleep } from '../util/time.js';
import { FALLBACK_SERVER, type RoutingMember } from './render.js';
import { cliCommand, forWorker, HaproxySocketError, showProc, workerPid, type ProcInfo } from './runtime.js';

/** HAProxy did not take the new configuration; the previous worker keeps serving. */
export class HaproxyReloadFailed extends Error {
  override name = 'HaproxyReloadFailed';
}

/** Neither socket nor a master PID: HAProxy is not running here. */
export class HaproxyNotRunning extends Error {
  override name = 'HaproxyNotRunning';
}

const ABSENT = new Set(['ENOENT', 'ECONNREFUSED']);

function absent(error: unknown): boolean {
  return error instanceof HaproxySocketError && ABSENT.has(error.code ?? '');
}

type Send = (commands: string[]) => Promise<string>;

export interface StateLine {
  backend: string;
  server: string;
  host: string;
  port: number;
  /** Administratively in maintenance (forced, inherited or by resolution). */
  maint: boolean;
}

/** `show servers state [backend]` (HAProxy 2.6, format version 1). */
export function parseServersState(text: string): StateLine[] {
  const lines: StateLine[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 19 || !/^\d+$/.test(f[0]!)) continue;
    // SRV_ADMF_FMAINT | SRV_ADMF_IMAINT | SRV_ADMF_RMAINT; 0x04 only records `disabled` in the file.
    const admin = Number(f[6]);
    lines.push({ backend: f[1]!, server: f[3]!, host: f[4]!, port: Number(f[18]), maint: (admin & 0x23) !== 0 });
  }
  return lines;
}

/** Session IDs in `show sess` output going to one of `servers` ("backend/server"). */
export function sessionsTo(showSess: string, servers: string[]): string[] {
  const ids: string[] = [];
  for (const line of showSess.split('\n')) {
    const m = /^(0x[0-9a-f]+): .* be=(\S+) srv=(\S+)/.exec(line);
    if (m && servers.includes(`${m[2]}/${m[3]}`)) ids.push(m[1]!);
  }
  return ids;
}

function pointsAt(line: StateLine, keep: RoutingMember | null): boolean {
  return keep !== null && line.host === keep.host && line.port === keep.port;
}

/**
 * One worker. The current one: maintenance (no new connections) and `shutdown sessions server`
 * for `listen master` servers not pointing at `keep` and not in maintenance yet, and their
 * tracking servers in `listen replicas`. An old worker refuses those ("Proxy is disabled"), so
 * its sessions to such servers are shut down one by one. Returns the servers cut.
 */
async function cutInWorker(send: Send, current: boolean, keep: RoutingMember | null): Promise<string[]> {
  const state = parseServersState(await send(['show servers state']));
  const cutLines = state.filter((l) => l.backend === 'master' && !pointsAt(l, keep) && (!current || !l.maint));
  if (cutLines.length === 0) return [];
  const cut = cutLines.map((l) => l.server);
  // The backup server of `listen replicas` that tracks a cut one (named leader:fallback, or after
  // the master server in files of earlier versions).
  const cutAt = new Set(cutLines.map((l) => `${l.host}:${l.port}`));
  const twins = state
    .filter((l) => l.backend === 'replicas' && cutAt.has(`${l.host}:${l.port}`) && (l.server === FALLBACK_SERVER || cut.includes(l.server)))
    .map((l) => l.server);
  if (current) {
    await send([
      ...cut.flatMap((s) => [`set server master/${s} state maint`, `shutdown sessions server master/${s}`]),
      ...twins.map((s) => `shutdown sessions server replicas/${s}`),
    ]);
    return cut;
  }
  const ids = sessionsTo(await send(['show sess']), [...cut.map((s) => `master/${s}`), ...twins.map((s) => `replicas/${s}`)]);
  if (ids.length > 0) await send(ids.map((id) => `shutdown session ${id}`));
  return ids.length > 0 ? cut : [];
}

/**
 * Cut every `listen master` server not pointing at `keep` in every worker (old workers still
 * serving sessions of earlier configurations included; only those when `oldOnly`). Returns
 * "pid:server" for each cut (pid 0 when only the stats socket could be reached). Throws when the
 * current worker cannot be reached.
 */
export async function cutFormerLeaders(settings: HaproxyConfig, keep: RoutingMember | null, oldOnly = false): Promise<string[]> {
  let info: ProcInfo | null = null;
  try {
    info = await showProc(settings.master_socket, 1000);
  } catch (error) {
    if (!absent(error)) throw error;
  }
  if (!info) {
    if (oldOnly) return [];
    // No master CLI: the current worker through the stats socket (old workers are out of reach).
    const send: Send = (commands) => cliCommand(settings.stats_socket, commands.join('; '), 1000);
    return (await cutInWorker(send, true, keep)).map((s) => `0:${s}`);
  }
  const current = new Set(info.workers);
  const pids = oldOnly ? info.oldWorkers : [...info.workers, ...info.oldWorkers];
  // In parallel, one connection per step: clients may be writing to the former leader right now.
  const results = await Promise.allSettled(
    pids.map(async (pid) => {
      const send: Send = (commands) => cliCommand(settings.master_socket, forWorker(pid, commands), 1000);
      return (await cutInWorker(send, current.has(pid), keep)).map((s) => `${pid}:${s}`);
    }),
  );
  // An old worker may exit between `show proc` and our commands; the current one must answer.
  const failure = results.find((r, i) => r.status === 'rejected' && current.has(pids[i]!));
  if (failure) throw (failure as PromiseRejectedResult).reason;
  return results.flatMap((r) => (r.status === 'fulfilled' ? r.value : [])).sort();
}

function readPid(file: string): number | null {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(pid) && pid > 1 ? pid : null;
  } catch {
    return null;
  }
}

/** A stale pid file may name a recycled PID: never send SIGUSR2 (fatal by default) to a stranger. */
function looksLikeHaproxy(pid: number): boolean {
  try {
    return /haproxy/.test(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0] ?? '');
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'ENOENT' || !existsSync('/proc/self');
  }
}

async function currentWorker(settings: HaproxyConfig): Promise<number | null> {
  try {
    return await workerPid(settings.stats_socket, 500);
  } catch {
    return null;
  }
}

/** Poll the stats socket until `accept(pid)` holds for the worker answering there. */
async function waitForWorker(settings: HaproxyConfig, accept: (pid: number) => boolean, deadline: number): Promise<number> {
  while (Date.now() < deadline) {
    const pid = await currentWorker(settings);
    if (pid !== null && accept(pid)) return pid;
    await sleep(5);
  }
  throw new HaproxyReloadFailed(`no new HAProxy worker answered on ${settings.stats_socket} in time`);
}

export interface ReloadResult {
  via: 'master-socket' | 'sigusr2';
  worker: number;
}

/** Reload and resolve once the new worker serves. `masterPid` is used for SIGUSR2 when the
 *  master CLI is unreachable (else the pid file is read). */
export async function reloadHaproxy(settings: HaproxyConfig, masterPid: number | null, timeoutMs = 10_000): Promise<ReloadResult> {
  const deadline = Date.now() + timeoutMs;
  let before: ProcInfo | null = null;
  try {
    before = await showProc(settings.master_socket, 1000);
  } catch (error) {
    if (!absent(error)) throw error;
  }

  if (before?.master) {
    const old = new Set(before.workers);
    const reloads = before.master.reloads;
    const failed = before.master.failed;
    try {
      await cliCommand(settings.master_socket, 'reload', 2000);
    } catch (error) {
      // The master re-executes itself and may drop the connection: that is the reload happening.
      if (!(error instanceof HaproxySocketError) || !['ECONNRESET', 'EPIPE'].includes(error.code ?? '')) throw error;
    }
    while (Date.now() < deadline) {
      let info: ProcInfo | null = null;
      try {
        info = await showProc(settings.master_socket, 500);
      } catch {
        /* the master is re-executing */
      }
      const fresh = info?.workers.find((pid) => !old.has(pid));
      if (fresh !== undefined) {
        return { via: 'master-socket', worker: await waitForWorker(settings, (pid) => pid === fresh, deadline) };
      }
      if (info?.master && info.master.reloads > reloads && info.master.failed > failed) {
        throw new HaproxyReloadFailed(
          `HAProxy could not load the new configuration (master ${info.master.pid} reports a failed reload); ` +
            `the previous worker ${[...old].join(',')} keeps serving`,
        );
      }
      await sleep(5);
    }
    throw new HaproxyReloadFailed(`HAProxy did not start a new worker within ${timeoutMs} ms after "reload"`);
  }

  const pid = masterPid ?? readPid(settings.pid_file);
  const previous = await currentWorker(settings);
  if (pid === null || (masterPid === null && !looksLikeHaproxy(pid))) {
    throw new HaproxyNotRunning(`HAProxy is not reachable: no master socket ${settings.master_socket} and no HAProxy PID in ${settings.pid_file}`);
  }
  try {
    process.kill(pid, 'SIGUSR2');
  } catch (error) {
    throw new HaproxyNotRunning(`cannot signal the HAProxy master ${pid} (from ${settings.pid_file}): ${(error as Error).message}`);
  }
  if (previous === null) return { via: 'sigusr2', worker: 0 }; // no stats socket to confirm with
  return { via: 'sigusr2', worker: await waitForWorker(settings, (w) => w !== previous, deadline) };
}
