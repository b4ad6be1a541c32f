// Talking to a running HAProxy over its Unix sockets: the runtime API (stats socket, one worker)
// and the master CLI (master-worker mode: `show proc`, `reload`, and `@!<pid> <command>` to reach
// any worker, old ones included). One command line per connection; several commands may be
// joined with ';'. We half-close after sending: the master CLI answers only then.

import net from 'node:net';

export class HaproxySocketError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
    this.name = 'HaproxySocketError';
  }
}

/** Send one command line and return the whole answer. */
export function cliCommand(socketPath: string, command: string, timeoutMs = 2000): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let settled = false;
    const socket = net.connect({ path: socketPath });
    const finish = (error: Error | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (error) reject(error);
      else resolve(Buffer.concat(chunks).toString('utf8'));
    };
    const timer = setTimeout(
      () => finish(new HaproxySocketError(`${socketPath}: no answer to "${command}" within ${timeoutMs} ms`, 'ETIMEDOUT')),
      timeoutMs,
    );
    socket.on('connect', () => socket.end(command + '\n'));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', () => finish(null));
    socket.on('error', (error: NodeJS.ErrnoException) =>
      finish(new HaproxySocketError(`${socketPath}: ${error.message}`, error.code)),
    );
  });
}

export interface ProcInfo {
  master: { pid: number; reloads: number; failed: number } | null;
  /** Current worker(s): they accept new connections. */
  workers: number[];
  /** Workers of earlier configurations still serving their established sessions. */
  oldWorkers: number[];
}

/** Parse the master CLI's `show proc` (HAProxy 2.6 layout). */
export function parseShowProc(text: string): ProcInfo {
  const info: ProcInfo = { master: null, workers: [], oldWorkers: [] };
  let section: 'master' | 'workers' | 'old' | 'other' = 'master';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#<PID>')) continue;
    if (line.startsWith('#')) {
      section = /^# workers/.test(line) ? 'workers' : /^# old workers/.test(line) ? 'old' : 'other';
      continue;
    }
    const fields = line.split(/\s+/);
    const pid = Number(fields[0]);
    if (!Number.isInteger(pid) || pid <= 0) continue;
    if (fields[1] === 'master') {
      const failed = /\[failed:\s*(\d+)\]/.exec(line);
      info.master = { pid, reloads: Number(fields[2]) || 0, failed: failed ? Number(failed[1]) : 0 };
    } else if (fields[1] === 'worker' && section === 'workers') info.workers.push(pid);
    else if (fields[1] === 'worker' && section === 'old') info.oldWorkers.push(pid);
  }
  return info;
}

export async function showProc(masterSocket: string, timeoutMs = 2000): Promise<ProcInfo> {
  const info = parseShowProc(await cliCommand(masterSocket, 'show proc', timeoutMs));
  if (!info.master) throw new HaproxySocketError(`${masterSocket}: unexpected answer to "show proc"`, 'EPROTO');
  return info;
}

/** The PID of the worker answering on the stats socket (`show info`). */
export async function workerPid(statsSocket: string, timeoutMs = 2000): Promise<number> {
  const text = await cliCommand(statsSocket, 'show info', timeoutMs);
  const match = /^Pid:\s*(\d+)/m.exec(text);
  if (!match) throw new HaproxySocketError(`${statsSocket}: unexpected answer to "show info"`, 'EPROTO');
  return Number(match[1]);
}

/** Prefix every command for worker `pid` when going through the master CLI. */
export function forWorker(pid: number, commands: string[]): string {
  return commands.map((c) => `@!${pid} ${c}`).join('; ');
}
