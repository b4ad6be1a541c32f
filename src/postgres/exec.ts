// Running PostgreSQL binaries as the PostgreSQL OS user (PostgreSQL refuses to run as root).
import { spawn } from 'node:child_process';
import path from 'node:path';
import { redact } from '../log/logger.js';
import type { PgUser } from './os-user.js';
import { isSecretName } from './postmaster-env.js';

export { type PgUser, resolvePgUser } from './os-user.js';

export interface RunOptions {
  /** Extra environment variables (on top of a clean, PG*-free environment). */
  env?: Record<string, string>;
  /** Start in a new session/process group so the child (and what it leaves behind) survives governor. */
  detached?: boolean;
  /** Kill the child (SIGKILL) after this many ms. */
  timeoutMs?: number;
  cwd?: string;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/** An environment without governor's PG* variables, with HOME/USER of the PostgreSQL user and C
 *  messages. Nothing of governor's own environment passes but PATH and TZ, and no variable whose
 *  name says it is a secret may be added: PostgreSQL and its tools get passwords from files
 *  (PGPASSFILE), never from their environment. */
export function pgEnvironment(user: PgUser, extra: Record<string, string> = {}): Record<string, string> {
  const secret = Object.keys(extra).find(isSecretName);
  if (secret !== undefined) throw new Error(`refusing to put ${secret} into the environment of a PostgreSQL program: secrets go to files (PGPASSFILE)`);
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    HOME: user.home,
    USER: user.name,
    LOGNAME: user.name,
    LANG: 'C.UTF-8',
    LC_MESSAGES: 'C',
  };
  if (process.env.TZ) env.TZ = process.env.TZ;
  return { ...env, ...extra };
}

/** Run `bin_dir/name args` as the PostgreSQL user; never throws for a non-zero exit, only when it cannot spawn. */
export function runPgBinary(binDir: string, name: string, args: string[], user: PgUser, options: RunOptions = {}): Promise<RunResult> {
  const file = path.join(binDir, name);
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      uid: user.uid,
      gid: user.gid,
      env: pgEnvironment(user, options.env),
      cwd: options.cwd ?? '/',
      detached: options.detached ?? false,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    let settled = false;
    child.stdout.setEncoding('utf8').on('data', (d: string) => { if (stdout.length < 1_000_000) stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { if (stderr.length < 1_000_000) stderr += d; });
    const timer = options.timeoutMs
      ? setTimeout(() => { timedOut = true; child.kill('SIGKILL'); }, options.timeoutMs)
      : undefined;
    const finish = (code: number | null, signal: NodeJS.Signals | null) => {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      resolve({ code, signal, stdout: redact(stdout), stderr: redact(stderr), timedOut });
    };
    child.once('error', (err) => {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      reject(new Error(`cannot run ${file}: ${err.message}`));
    });
    child.once('close', finish);
    // A grandchild that inherited our pipes must not keep us waiting once the child itself has exited.
    child.once('exit', (code, signal) => setTimeout(() => finish(code, signal), 500).unref());
  });
}

/** A one-line summary of a failed run, for error messages. */
export function describeFailure(name: string, result: RunResult): string {
  const how = result.timedOut ? 'timed out' : result.signal ? `was killed by ${result.signal}` : `exited with code ${result.code}`;
  const output = (result.stderr.trim() || result.stdout.trim()).split('\n').slice(-20).join('\n');
  return `${name} ${how}${output ? `: ${output}` : ''}`;
}
