// What the parts of the PostgreSQL controller share: the paths of one instance, its PostgreSQL OS
// user, its postmaster runner, the superuser session, and the few checks every part needs before it
// touches the data directory. Built once per controller (controller.ts); lifecycle.ts,
// provisioning.ts, config-files.ts and queries.ts each take it.

import fs from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import type { GovernorConfig, PostgresqlConfig } from '../config/types.js';
import { type Logger, redact, registerSecret } from '../log/logger.js';
import { DataDirectory } from './data-dir.js';
import { runPgBinary, type RunOptions, type RunResult } from './exec.js';
import { assertTraversable, ensureDir, isPostgresProcess, type Owner, ownDir, readPostmasterPid } from './files.js';
import { type PgUser, resolvePgUser } from './os-user.js';
import { DEFAULT_BIN_DIR, PostmasterRunner } from './postmaster.js';
import { type ArchiveCommands, parseListen } from './render.js';
import { SessionClient } from './status.js';

export interface PostgresControllerOptions {
  /** archive_command/restore_command (render.ts archiveCommands()); required when config.archive.enabled. */
  archiveCommands?: ArchiveCommands;
}

/** Where governor keeps files next to (not inside) the data directory. */
export function sidecarPaths(dataDir: string): { logFile: string; passFile: string } {
  const resolved = path.resolve(dataDir);
  const parent = path.dirname(resolved);
  const base = path.basename(resolved);
  return { logFile: path.join(parent, base + '.log'), passFile: path.join(parent, '.governor-' + base + '.pgpass') };
}

export async function exists(p: string): Promise<boolean> {
  return fs.access(p).then(() => true, () => false);
}

export interface ControllerContext {
  config: GovernorConfig;
  pgc: PostgresqlConfig;
  logger: Logger;
  options: PostgresControllerOptions;
  dataDir: string;
  socketDir: string;
  logFile: string;
  passFile: string;
  port: number;
  inData(name: string): string;
  /** The superuser session over the Unix socket (queued queries; status, promotion, reloads). */
  session: SessionClient;
  postmaster: PostmasterRunner;
  pgUser(): Promise<PgUser>;
  owner(): Promise<Owner>;
  /** Run a PostgreSQL program from bin_dir as the PostgreSQL user. */
  run(name: string, args: string[], options?: RunOptions): Promise<RunResult>;
  isRunning(): Promise<boolean>;
  /** data_dir (0700) and socket_dir exist, are owned by the PostgreSQL user, and are reachable by it. */
  prepareDirs(): Promise<void>;
  /** After a postmaster was killed, its PID can linger as a zombie until init reaps it, and
   *  PostgreSQL (kill(pid, 0)) would take its lock files for a live server: remove them ourselves. */
  removeStalePidFile(): Promise<void>;
  /** Rejects when PostgreSQL runs in data_dir (and clears a dead postmaster's lock files). */
  assertStopped(what: string): Promise<void>;
  /** A short-lived superuser connection, for work that must not queue behind the session. */
  withSuperuser<T>(fn: (client: pg.Client) => Promise<T>): Promise<T>;
  /** What is in data_dir, and every step that may empty, move or fill it (never blind: data-dir.ts). */
  directory: DataDirectory;
  /** synchronous_standby_names as governor last wrote it to SYNC_CONF (null: not read yet). */
  sync: { names: string | null };
}

export function createControllerContext(config: GovernorConfig, logger: Logger, options: PostgresControllerOptions): ControllerContext {
  const pgc = config.postgresql;
  const { superuser, replication } = pgc.authentication;
  registerSecret(superuser.password);
  registerSecret(replication.password);
  const binDir = pgc.bin_dir || DEFAULT_BIN_DIR;
  if (pgc.data_dir.trim() === '') throw new Error('postgresql.data_dir is empty');
  const dataDir = path.resolve(pgc.data_dir);
  const socketDir = path.resolve(pgc.socket_dir);
  const { logFile, passFile } = sidecarPaths(dataDir);
  const { port } = parseListen(pgc.listen);
  const inData = (name: string) => path.join(dataDir, name);

  const session = new SessionClient(
    {
      host: socketDir, port, user: superuser.username, password: superuser.password, database: 'postgres',
      application_name: 'governor', connectionTimeoutMillis: 2000, statement_timeout: 2000, query_timeout: 4000,
    },
    logger,
  );

  let userPromise: Promise<PgUser> | null = null;
  const pgUser = (): Promise<PgUser> =>
    (userPromise ??= resolvePgUser(pgc.run_as_user).catch((err: unknown) => {
      userPromise = null;
      throw err;
    }));
  const owner = async () => {
    const u = await pgUser();
    return { uid: u.uid, gid: u.gid };
  };
  const run = async (name: string, args: string[], runOptions: RunOptions = {}): Promise<RunResult> => {
    const user = await pgUser();
    logger.debug(`running ${name}`, { args: args.map((a) => redact(a)) });
    return runPgBinary(binDir, name, args, user, runOptions);
  };

  const postmaster = new PostmasterRunner({ binDir, dataDir, logFile }, pgUser);
  const isRunning = (): Promise<boolean> => postmaster.isRunning();

  const prepareDirs = async (): Promise<void> => {
    const user = await pgUser();
    const who = await owner();
    await assertTraversable(dataDir, user);
    await assertTraversable(socketDir, user);
    if (!(await ensureDir(dataDir, 0o700, who)) && (await fs.readdir(dataDir)).length === 0) await ownDir(dataDir, 0o700, who);
    if (await ensureDir(socketDir, 0o755, who)) logger.info('created socket directory', { path: socketDir });
  };

  const removeStalePidFile = async (): Promise<void> => {
    for (const lockFile of [inData('postmaster.pid'), path.join(socketDir, `.s.PGSQL.${port}.lock`)]) {
      const pid = await readPostmasterPid(lockFile);
      if (pid === null || (await isPostgresProcess(pid))) continue;
      await fs.rm(lockFile, { force: true });
      logger.info('removed the lock file of a postmaster that is gone', { file: lockFile, pid });
    }
  };

  const assertStopped = async (what: string): Promise<void> => {
    if (await isRunning()) throw new Error(`cannot ${what}: PostgreSQL is running in ${dataDir}`);
    await removeStalePidFile();
  };

  const withSuperuser = async <T>(fn: (client: pg.Client) => Promise<T>): Promise<T> => {
    const client = new pg.Client({
      host: socketDir, port, user: superuser.username, password: superuser.password, database: 'postgres',
      application_name: 'governor', connectionTimeoutMillis: 5000, statement_timeout: 10_000,
    });
    client.on('error', (err) => logger.debug('PostgreSQL connection error', { error: err }));
    await client.connect();
    try {
      return await fn(client);
    } finally {
      await client.end().catch(() => undefined);
    }
  };

  // What is in data_dir, and every step that may empty, move or fill it (never blind: data-dir.ts).
  const directory = new DataDirectory({ dataDir, member: config.name, logger, owner, assertStopped });

  return {
    directory, config, pgc, logger, options, dataDir, socketDir, logFile, passFile, port, inData, session, postmaster,
    pgUser, owner, run, isRunning, prepareDirs, removeStalePidFile, assertStopped, withSuperuser, sync: { names: null },
  };
}
