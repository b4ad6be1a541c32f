// Running PostgreSQL binaries as the PostgreSQL OS user (PostgreSQL refuses to run as root).
import { execFile, spawn } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { redact } from '../log/logger.js';
import { ENV_FILE_VARIABLE, isSecretName, writePostmasterEnvFile } from './postmaster-env.js';

export interface PgUser {
  name: string;
  /** Set only when governor is root and must switch user; undefined means "run as ourselves". */
  uid: number | undefined;
  gid: number | undefined;
  /** Effective ids of the PostgreSQL user (ours when not root), for permission checks. */
  effectiveUid: number;
  effectiveGid: number;
  home: string;
}

function execFileText(file: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { encoding: 'utf8', timeout: 10_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${file} ${args.join(' ')} failed: ${(stderr || err.message).trim()}`));
      else resolve(stdout.trim());
    });
  });
}

/** Who PostgreSQL binaries run as: run_as_user (default "postgres") when root, else the current user. */
export async function resolvePgUser(runAsUser: string | null | undefined): Promise<PgUser> {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
    const info = os.userInfo();
    return { name: info.username, uid: undefined, gid: undefined, effectiveUid: info.uid, effectiveGid: info.gid, home: info.homedir };
  }
  const name = runAsUser ?? 'postgres';
  let uid: number;
  let gid: number;
  try {
    uid = Number(await execFileText('id', ['-u', name]));
    gid = Number(await execFileText('id', ['-g', name]));
  } catch (err) {
    throw new Error(`governor runs as root, so PostgreSQL must run as another OS user, but user ${JSON.stringify(name)} was not found (set postgresql.run_as_user): ${(err as Error).message}`);
  }
  if (!Number.isInteger(uid) || !Number.isInteger(gid)) throw new Error(`could not determine uid/gid of OS user ${name}`);
  if (uid === 0) throw new Error(`postgresql.run_as_user ${JSON.stringify(name)} is root; PostgreSQL refuses to run as root`);
  let home = '/';
  try {
    const entry = await execFileText('getent', ['passwd', name]);
    home = entry.split(':')[5] || '/';
  } catch {
    // no home directory: "/" is fine for PostgreSQL binaries
  }
  return { name, uid, gid, effectiveUid: uid, effectiveGid: gid, home };
}

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

export interface Postmaster {
  pid: number;
  /** How the postmaster exited, once it has (seen while this process is its parent); else null. */
  exit: { code: number | null; signal: NodeJS.Signals | null } | null;
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

/** A one-line summary of a failed run, for error messages. */
export function describeFailure(name: string, result: RunResult): string {
  const how = result.timedOut ? 'timed out' : result.signal ? `was killed by ${result.signal}` : `exited with code ${result.code}`;
  const output = (result.stderr.trim() || result.stdout.trim()).split('\n').slice(-20).join('\n');
  return `${name} ${how}${output ? `: ${output}` : ''}`;
}
