// Throw-away PostgreSQL members for tests: a temp dir the postgres OS user can reach, a GovernorConfig on free
// ports, SQL helpers, and cleanup by PID (never by process name).

import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { GovernorConfig } from '../../src/config/types.js';
import { isPostgresProcess, readPostmasterPid } from '../../src/postgres/files.js';
import { freePort } from '../../src/util/ports.js';
import { sleep } from '../../src/util/time.js';

export const PG_BIN_DIR = process.env.GOVERNOR_TEST_PG_BIN ?? '/usr/lib/postgresql/15/bin';

/** A temp directory (mode 0755) that the postgres OS user can traverse; members live below it. */
export async function makePgTestRoot(prefix = 'governor-pg-'): Promise<string> {
  const root = await mkdtemp(path.join(tmpdir(), prefix));
  await chmod(root, 0o755);
  return root;
}

export interface MemberOptions {
  superuserPassword?: string;
  replicationUsername?: string;
  replicationPassword?: string;
  parameters?: Record<string, string | number | boolean>;
  pgHba?: string[];
}

/** Config for member `name` with data in root/name/data, socket in root/name/sock, PostgreSQL on a free port. */
export async function pgMemberConfig(root: string, name: string, options: MemberOptions = {}): Promise<GovernorConfig> {
  const pgPort = await freePort();
  const apiPort = await freePort();
  return {
    scope: 'test',
    namespace: 'service',
    name,
    etcd: { hosts: ['127.0.0.1:2379'], protocol: 'http', username: null, password: null, cacert: null, cert: null, key: null },
    restapi: { listen: `127.0.0.1:${apiPort}`, connect_address: `127.0.0.1:${apiPort}`, authentication: null },
    postgresql: {
      bin_dir: PG_BIN_DIR,
      data_dir: path.join(root, name, 'data'),
      listen: `127.0.0.1:${pgPort}`,
      connect_address: `127.0.0.1:${pgPort}`,
      socket_dir: path.join(root, name, 'sock'),
      authentication: {
        superuser: { username: 'postgres', password: options.superuserPassword ?? 'su-secret-pw' },
        replication: { username: options.replicationUsername ?? 'replicator', password: options.replicationPassword ?? 'repl-secret-pw' },
      },
      parameters: options.parameters ?? {},
      pg_hba: options.pgHba ?? [],
      run_as_user: null,
    },
    bootstrap: { dcs: { ttl: 5, loop_wait: 1, retry_timeout: 2, maximum_lag_on_failover: 1048576, postgresql: { parameters: {} } } },
    tags: { nofailover: false, noloadbalance: false, failover_priority: 1 },
    log: { level: 'info' },
  };
}

export function pgPort(config: GovernorConfig): number {
  return Number(config.postgresql.listen.split(':').at(-1));
}

/** Run one query as the superuser through the member's Unix socket on a fresh connection. */
export async function pgQuery<R extends pg.QueryResultRow = pg.QueryResultRow>(
  config: GovernorConfig, sql: string, params?: unknown[],
): Promise<R[]> {
  const { superuser } = config.postgresql.authentication;
  const client = new pg.Client({
    host: config.postgresql.socket_dir, port: pgPort(config), user: superuser.username, password: superuser.password,
    database: 'postgres', connectionTimeoutMillis: 3000,
  });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return (await client.query<R>(sql, params)).rows;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Poll `check` until it returns a truthy value (errors count as "not yet"); throws naming `what` on timeout. */
export async function waitFor<T>(
  what: string, check: () => Promise<T | null | undefined | false>, timeoutMs = 15_000, intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value) return value;
    } catch (err) {
      lastError = err;
    }
    await sleep(intervalMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${(lastError as Error).message}` : ''}`);
}

/** Process group and session of a process, from /proc (Linux). */
export async function processGroupAndSession(pid: number | 'self'): Promise<{ pgrp: number; session: number }> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { pgrp: Number(fields[2]), session: Number(fields[3]) };
}

/** Stop the member's postmaster by the PID in postmaster.pid: SIGQUIT (immediate), SIGKILL after 10 s. */
export async function killPostgres(config: GovernorConfig): Promise<void> {
  const pid = await readPostmasterPid(path.join(config.postgresql.data_dir, 'postmaster.pid'));
  if (pid === null || !(await isPostgresProcess(pid))) return;
  try {
    process.kill(pid, 'SIGQUIT');
  } catch {
    return;
  }
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (!(await isPostgresProcess(pid))) return;
    await sleep(50);
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/** Kill every member's PostgreSQL, then remove the root directory. Never throws. */
export async function cleanupPg(root: string, configs: GovernorConfig[]): Promise<void> {
  for (const config of configs) await killPostgres(config).catch(() => undefined);
  await rm(root, { recursive: true, force: true }).catch(() => undefined);
}
