// What PostgreSQL's environment may hold, and how archive_command / restore_command (governor
// wal-push / wal-fetch) still see the configuration the daemon runs with.
//
// Every backend inherits the postmaster's environment, and so does every program a backend starts
// (archive_command, COPY ... TO PROGRAM, untrusted procedural languages); /proc/<pid>/environ shows
// it to anything running as the PostgreSQL OS user. So the postmaster gets a fixed, secret-free
// environment (exec.ts pgEnvironment) plus one path: GOVERNOR_ENV_FILE, a file beside the data
// directory, mode 0600, owned by the PostgreSQL OS user, holding the variables that shape the
// configuration (configEnvironment: the overrides, AWS_*, GOVERNOR_CONFIG). wal-push and wal-fetch
// load it before the config file, so they resolve exactly what the daemon resolved.
//
// That file is readable by the same OS user as the config file, the .pgpass file and the daemon's
// own /proc/<pid>/environ: a PostgreSQL superuser (or a role with pg_read_server_files or
// pg_execute_server_program) can read all of those, and is a cluster administrator. No other role
// reaches any of them.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { configEnvironment } from '../config/env.js';
import { registerSecret } from '../log/logger.js';
import { writeFileAtomic } from './files.js';

/** The variable naming the environment file in PostgreSQL's environment. */
export const ENV_FILE_VARIABLE = 'GOVERNOR_ENV_FILE';

const NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** A variable whose name says it holds a secret (PGPASSWORD_SUPERUSER, AWS_SECRET_ACCESS_KEY,
 *  AWS_SESSION_TOKEN, GOVERNOR_RESTAPI_PASSWORD, GOVERNOR_CLUSTER_SECRET, ...). */
export function isSecretName(name: string): boolean {
  return /PASSWORD|PASSWD|SECRET|TOKEN|KEY|CREDENTIAL/i.test(name);
}

/** Register the values of `env`'s password, secret and token variables with the logger, so no log
 *  line carries them. Key variables are left out: most name a file (ETCD_KEY, *_KEY_FILE), and a
 *  path hidden from an error message would hide the fix. */
export function registerSecretVariables(env: NodeJS.ProcessEnv | Record<string, string>): void {
  for (const [name, value] of Object.entries(env)) {
    if (value !== undefined && /PASSWORD|PASSWD|SECRET|TOKEN/i.test(name)) registerSecret(value);
  }
}

/** Beside the data directory, like the .pgpass file (controller-context.ts sidecarPaths): never inside it,
 *  where pg_basebackup would copy it to replicas and into base backups. */
export function envFileFor(dataDir: string): string {
  const resolved = path.resolve(dataDir);
  return path.join(path.dirname(resolved), `.governor-${path.basename(resolved)}.env`);
}

export function renderEnvFile(env: Record<string, string>): string {
  const sorted = Object.fromEntries(Object.entries(env).sort(([a], [b]) => a.localeCompare(b)));
  return JSON.stringify(sorted, null, 1) + '\n';
}

/** The variables in an environment file; an error names the file and what is wrong (never a value). */
export function parseEnvFile(text: string, file: string): Record<string, string> {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new Error(`${ENV_FILE_VARIABLE} ${file}: not JSON; governor writes this file when it starts PostgreSQL: restart PostgreSQL through governor`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new Error(`${ENV_FILE_VARIABLE} ${file}: expected a JSON object of variables`);
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(doc)) {
    if (!NAME_RE.test(name)) throw new Error(`${ENV_FILE_VARIABLE} ${file}: ${JSON.stringify(name.slice(0, 64))} is not a variable name`);
    if (typeof value !== 'string') throw new Error(`${ENV_FILE_VARIABLE} ${file}: ${name} is not a string`);
    env[name] = value;
  }
  return env;
}

/** Write the environment file for a postmaster of `dataDir` from `env` (the daemon's), mode 0600,
 *  owned by the PostgreSQL OS user; returns its path. */
export async function writePostmasterEnvFile(dataDir: string, env: NodeJS.ProcessEnv, owner: { uid: number | undefined; gid: number | undefined }): Promise<string> {
  const file = envFileFor(dataDir);
  await writeFileAtomic(file, renderEnvFile(configEnvironment(env)), owner, 0o600);
  return file;
}

/** In wal-push / wal-fetch: when PostgreSQL's environment names an environment file, load its
 *  variables into `env` (they win: they are the daemon's). A named file that cannot be read is an
 *  error: archiving with another configuration (another bucket) would be worse than failing. */
export function applyEnvFile(env: NodeJS.ProcessEnv): void {
  const file = env[ENV_FILE_VARIABLE];
  if (file === undefined || file === '') return;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new Error(`${ENV_FILE_VARIABLE} ${file}: cannot be read (${code}); governor writes it (mode 0600, owned by PostgreSQL's OS user) when it starts PostgreSQL`);
  }
  const loaded = parseEnvFile(text, file);
  registerSecretVariables(loaded);
  Object.assign(env, loaded);
}

