// The local PostgreSQL instance: initdb, configuration, start/stop, base backup, rewind, status.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import type { GovernorConfig } from '../config/types.js';
import { type Logger, redact, registerSecret } from '../log/logger.js';
import { sleep } from '../util/time.js';
import { controlDataFromSnapshot, parseControlData } from './controldata.js';
import { checkPeerAuthentication } from './peer-session.js';
import { DataDirectory } from './data-dir.js';
import { describeFailure, type PgUser, resolvePgUser, runPgBinary, spawnPostmaster, type RunOptions, type RunResult } from './exec.js';
import { assertTraversable, emptyDir, ensureDir, isPostgresProcess, ownDir, readPostmasterPid, signalChildOf, tailFile, touchOwned, writeFileAtomic, writeFileIfChanged } from './files.js';
import {
  type ArchiveCommands, autoConfParameters, buildConninfo, buildParameters, EMPTY_AUTO_CONF, parseListen, parseSyncConf, renderPgHba, renderPgpass,
  renderPostgresqlConf, renderSyncConf, SYNC_CONF,
} from './render.js';
import { ensureReplicationRole, SLOT_NAME_RE, syncPhysicalSlots } from './admin.js';
import { parseLsnOrNull } from './lsn.js';
import { parsePgControl } from './pg-control.js';
import { readyToRetire, unmarkedOldTimelineSegments } from './rewound-wal.js';
import { keyFileProblem, sslConninfo, sslEnvironment, sslSettings } from './ssl.js';
import { mapStatusRow, mapWalPositionRow, offlineStatus, REPLICA_WAL_POSITION_SQL, SessionClient, STATUS_SQL, WAL_POSITION_SQL, type StatusRow, type WalPositionRow } from './status.js';
import type { ArchiverStatus, ControlData, DataDirState, HostPort, PostgresController, PostgresStatus, PromoteResult, StartRole, StopMode, WalPositionNow } from './types.js';

/** Postmaster signals for pg_ctl's shutdown modes. */
const STOP_SIGNALS: Record<StopMode, NodeJS.Signals> = { smart: 'SIGTERM', fast: 'SIGINT', immediate: 'SIGQUIT' };

/** The promotion's queries (inside the write outage of every failover) go before queued ones on the shared session. */
const URGENT = { urgent: true } as const;

export const DEFAULT_BIN_DIR = '/usr/lib/postgresql/15/bin';

/** Where governor keeps files next to (not inside) the data directory. */
export function sidecarPaths(dataDir: string): { logFile: string; passFile: string } {
  const resolved = path.resolve(dataDir);
  const parent = path.dirname(resolved);
  const base = path.basename(resolved);
  return { logFile: path.join(parent, base + '.log'), passFile: path.join(parent, '.governor-' + base + '.pgpass') };
}

const seconds = (ms: number) => String(Math.max(1, Math.ceil(ms / 1000)));

async function exists(p: string): Promise<boolean> {
  return fs.access(p).then(() => true, () => false);
}

export interface PostgresControllerOptions {
  /** archive_command/restore_command (render.ts archiveCommands()); required when config.archive.enabled. */
  archiveCommands?: ArchiveCommands;
}

export function createPostgresController(config: GovernorConfig, logger: Logger, options: PostgresControllerOptions = {}): PostgresController {
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
  /** synchronous_standby_names as governor last wrote it to SYNC_CONF (null: not read yet). */
  let syncNames: string | null = null;

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
  const run = async (name: string, args: string[], options: RunOptions = {}): Promise<RunResult> => {
    const user = await pgUser();
    logger.debug(`running ${name}`, { args: args.map((a) => redact(a)) });
    return runPgBinary(binDir, name, args, user, options);
  };

  const isRunning = async (): Promise<boolean> => {
    const pid = await readPostmasterPid(inData('postmaster.pid'));
    return pid !== null && (await isPostgresProcess(pid));
  };

  /** data_dir (0700) and socket_dir exist, are owned by the PostgreSQL user, and are reachable by it. */
  const prepareDirs = async (): Promise<void> => {
    const user = await pgUser();
    const who = await owner();
    await assertTraversable(dataDir, user);
    await assertTraversable(socketDir, user);
    if (!(await ensureDir(dataDir, 0o700, who)) && (await fs.readdir(dataDir)).length === 0) await ownDir(dataDir, 0o700, who);
    if (await ensureDir(socketDir, 0o755, who)) logger.info('created socket directory', { path: socketDir });
  };

  /** PostgreSQL refuses to start on a key others can read; say so before it does, with the fix. */
  const checkSslKeyFile = async (): Promise<void> => {
    const keyFile = sslSettings(pgc).key_file;
    if (!keyFile || !sslSettings(pgc).cert_file) return;
    const user = await pgUser();
    let stat;
    try {
      stat = await fs.stat(keyFile);
    } catch (error) {
      throw new Error(`postgresql.ssl.key_file ${keyFile}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found' : (error as Error).message}`);
    }
    const problem = keyFileProblem(keyFile, { uid: stat.uid, gid: stat.gid, mode: stat.mode, isFile: stat.isFile() }, { uid: user.effectiveUid, gid: user.effectiveGid, name: user.name });
    if (problem) throw new Error(problem);
  };

  const writePassFile = async () =>
    writeFileIfChanged(passFile, renderPgpass([replication, superuser]), await owner());

  /** governor never uses ALTER SYSTEM; whatever a base backup or rewind copied in there must not override us. */
  const resetAutoConf = async (): Promise<void> => {
    const file = inData('postgresql.auto.conf');
    const current = await fs.readFile(file, 'utf8').catch(() => null);
    if (current === EMPTY_AUTO_CONF) return;
    const names = current ? autoConfParameters(current) : [];
    if (names.length > 0) logger.warn('clearing postgresql.auto.conf (governor owns the configuration)', { parameters: names });
    await writeFileAtomic(file, EMPTY_AUTO_CONF, await owner());
  };

  /** After a postmaster was killed, its PID can linger as a zombie until init reaps it, and
   *  PostgreSQL (kill(pid, 0)) would take its lock files for a live server: remove them ourselves. */
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

  const pgCtlFailure = async (what: string, result: RunResult, program = 'pg_ctl'): Promise<Error> => {
    const tail = redact(await tailFile(logFile, 20));
    return new Error(`${what}: ${describeFailure(program, result)}${tail ? `\nlast lines of ${logFile}:\n${tail}` : ''}`);
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
  const dataDirState = (): Promise<DataDirState> => directory.state();

  /** PostgreSQL's own answer (the data directory's is added by status()). */
  const queryStatus = async (): Promise<PostgresStatus> => {
    let running = false;
    try {
      running = await isRunning();
      if (!running) return offlineStatus(false);
      const result = await session.query<StatusRow>(STATUS_SQL);
      const row = result.rows[0];
      return row ? mapStatusRow(row) : offlineStatus(true);
    } catch (err) {
      logger.debug('status query failed', { error: err });
      return offlineStatus(running);
    }
  };

  /** See rewound-wal.ts: old-timeline segments this member must never archive (after a rewind, and
   *  before a promotion). */
  async function retireOldTimelineReady(): Promise<void> {
    const statusDir = inData('pg_wal/archive_status');
    const walFiles = await fs.readdir(inData('pg_wal')).catch(() => [] as string[]);
    const statusFiles = await fs.readdir(statusDir).catch(() => [] as string[]);
    const retire = readyToRetire(walFiles, statusFiles);
    for (const name of retire) await fs.rename(path.join(statusDir, name), path.join(statusDir, name.replace(/\.ready$/, '.done')));
    const unmarked = unmarkedOldTimelineSegments(walFiles, statusFiles);
    // Owned by the PostgreSQL user: pg_rewind and the archiver open these files (a root-owned
    // `.done` made the next pg_rewind fail with "Permission denied" and forced a re-clone).
    const who = unmarked.length > 0 ? await owner() : null;
    for (const name of unmarked) await touchOwned(path.join(statusDir, `${name}.done`), who!);
    const segments = [...retire.map((n) => n.replace(/\.ready$/, '')), ...unmarked];
    if (segments.length > 0) logger.info('marked old-timeline WAL as not to be archived by this member', { segments });
  }

  /** Ask the running postmaster to stop in `mode`; false when none runs. Our own session goes
   *  first: a smart shutdown would wait for it. */
  async function signalPostmaster(mode: StopMode): Promise<boolean> {
    await session.close();
    const pid = await readPostmasterPid(inData('postmaster.pid'));
    if (pid === null || !(await isRunning())) return false;
    try {
      process.kill(pid, STOP_SIGNALS[mode]);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
    }
    return true;
  }

  const controller: PostgresController = {
    dataDirState,

    async controlData(): Promise<ControlData | null> {
      let file: Buffer;
      try {
        file = await fs.readFile(inData('global/pg_control'));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
        throw error;
      }
      // Read directly: a crashed master's restart waits on this, and pg_controldata is a process
      // spawned from a large one (50-150 ms here). A layout the parser does not know, or a torn
      // read, goes to pg_controldata.
      const snapshot = parsePgControl(file);
      if (snapshot) return controlDataFromSnapshot(snapshot);
      const result = await run('pg_controldata', ['-D', dataDir], { env: { LC_ALL: 'C' }, timeoutMs: 30_000 });
      if (result.code !== 0) throw new Error(describeFailure('pg_controldata', result));
      return parseControlData(result.stdout);
    },

    async initdb(): Promise<void> {
      await prepareDirs();
      if ((await fs.readdir(dataDir)).length > 0) throw new Error(`initdb: data directory ${dataDir} is not empty`);
      const pwFile = path.join(path.dirname(dataDir), `.governor-initdb-${randomBytes(6).toString('hex')}`);
      await writeFileAtomic(pwFile, superuser.password + '\n', await owner());
      try {
        const result = await run('initdb', [
          '-D', dataDir, '--data-checksums', '-U', superuser.username, `--pwfile=${pwFile}`,
          '--auth-local=scram-sha-256', '--auth-host=scram-sha-256', '-E', 'UTF8', '--locale=C.UTF-8',
        ], { timeoutMs: 300_000 });
        if (result.code !== 0) throw new Error(describeFailure('initdb', result));
      } finally {
        await fs.rm(pwFile, { force: true });
      }
      await resetAutoConf();
      logger.info('initialized data directory', { path: dataDir });
    },

    async createRoles(): Promise<void> {
      if (replication.username === superuser.username) {
        logger.info('replication user is the superuser; no role to create');
        return;
      }
      await withSuperuser((client) => ensureReplicationRole(client, replication, logger));
    },

    async writeConfig(role: StartRole): Promise<void> {
      // PG_VERSION itself: during a bootstrap the directory reads as 'incomplete' until it is done.
      if (!(await exists(inData('PG_VERSION')))) throw new Error(`writeConfig: ${dataDir} holds no PostgreSQL cluster`);
      if (role.slotName && !SLOT_NAME_RE.test(role.slotName)) throw new Error(`invalid slot name ${JSON.stringify(role.slotName)}`);
      const who = await owner();
      if (config.archive?.enabled && !options.archiveCommands) {
        throw new Error('writeConfig: archive.enabled is set, but the PostgreSQL controller was created without archiveCommands');
      }
      await checkSslKeyFile();
      const { params, ignored } = buildParameters(pgc, role, passFile, config.archive?.enabled ? options.archiveCommands : null);
      if (ignored.length > 0) logger.warn('ignoring parameters governor sets itself', { parameters: ignored });
      await writePassFile();
      // Last, so that the synchronous standby governor picked overrides any configured value.
      params.set('include_if_exists', SYNC_CONF);
      await writeFileIfChanged(inData('postgresql.conf'), renderPostgresqlConf(params), who);
      await writeFileIfChanged(inData('pg_hba.conf'), renderPgHba(pgc), who);
      await resetAutoConf();
      if (role.role === 'replica') {
        await writeFileIfChanged(inData('standby.signal'), '', who);
        // A replica has no synchronous standby; when promoted, the master's loop picks one.
        await fs.rm(inData(SYNC_CONF), { force: true });
        syncNames = '';
      } else {
        await fs.rm(inData('standby.signal'), { force: true });
        await fs.rm(inData('recovery.signal'), { force: true });
      }
      logger.info('wrote PostgreSQL configuration', {
        role: role.role, primary: role.primary ? `${role.primary.host}:${role.primary.port}` : undefined, slot: role.slotName ?? undefined,
      });
    },

    async start(timeoutMs: number): Promise<void> {
      const deadline = Date.now() + timeoutMs;
      if (await isRunning()) {
        logger.info('PostgreSQL is already running; waiting until it accepts connections');
        while (Date.now() < deadline) {
          if ((await controller.status()).accepting) return;
          await sleep(200);
        }
        throw new Error(`PostgreSQL is running but did not accept connections within ${timeoutMs} ms`);
      }
      await prepareDirs();
      await touchOwned(logFile, await owner());
      // Backends of a killed postmaster take a moment to notice and exit; until then PostgreSQL
      // refuses to start on their shared memory. Those refusals are retried, anything else is not.
      for (;;) {
        await removeStalePidFile();
        const postmaster = await spawnPostmaster(binDir, dataDir, logFile, await pgUser());
        let failure: RunResult | null = null;
        // A 20 ms poll: pg_ctl -w would only look every 100 ms.
        while (!failure) {
          if ((await controller.status()).accepting) break;
          if (postmaster.exit) failure = { ...postmaster.exit, stdout: '', stderr: '', timedOut: false };
          else if (Date.now() > deadline) throw new Error(`PostgreSQL did not accept connections within ${timeoutMs} ms; last lines of ${logFile}:\n${await tailFile(logFile, 20)}`);
          else await sleep(20);
        }
        if (!failure) break;
        const recent = await tailFile(logFile, 5);
        const transient = /pre-existing shared memory block|lock file "[^"]*" already exists/.test(recent);
        if (!transient || Date.now() + 50 > deadline) throw await pgCtlFailure('PostgreSQL failed to start', failure, 'postgres');
        logger.info('PostgreSQL refused to start while the processes of its previous postmaster exit; retrying');
        await sleep(50);
      }
      logger.info('PostgreSQL started', { dataDir });
    },

    async stop(mode: StopMode, timeoutMs: number): Promise<void> {
      // Signal the postmaster directly and poll every 10 ms: pg_ctl -w only looks every 100 ms,
      // and a switchover's write outage is counted in those milliseconds.
      if (!(await signalPostmaster(mode))) return;
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        if (!(await isRunning())) {
          logger.info('PostgreSQL stopped', { mode });
          return;
        }
        await sleep(10);
      }
      throw new Error(`PostgreSQL did not stop within ${timeoutMs} ms (mode ${mode}); last lines of ${logFile}:\n${await tailFile(logFile, 20)}`);
    },

    async stopAtShutdownCheckpoint(timeoutMs: number): Promise<{ checkpointLsn: number } | null> {
      if (!(await signalPostmaster('fast'))) return null;
      const readControl = async () => parsePgControl(await fs.readFile(inData('global/pg_control')).catch(() => Buffer.alloc(0)));
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        const control = await readControl();
        if (control?.state === 'shut down') {
          logger.info('shutdown checkpoint written', { lsn: control.checkpointLsn });
          return { checkpointLsn: control.checkpointLsn };
        }
        if (!(await isRunning())) {
          // It may have written the checkpoint and exited since the read above: look once more.
          const last = await readControl();
          if (last?.state === 'shut down') return { checkpointLsn: last.checkpointLsn };
          // Gone without a clean shutdown checkpoint (crashed, or killed): nothing to hand over.
          throw new Error(`PostgreSQL exited during the fast shutdown (pg_control: ${last?.state ?? 'unreadable'})`);
        }
        await sleep(5);
      }
      throw new Error(`PostgreSQL wrote no shutdown checkpoint within ${timeoutMs} ms; last lines of ${logFile}:\n${await tailFile(logFile, 20)}`);
    },

    async checkpoint(): Promise<void> {
      await session.query('CHECKPOINT');
    },

    async reload(): Promise<void> {
      const result = await run('pg_ctl', ['reload', '-D', dataDir], { timeoutMs: 30_000 });
      if (result.code !== 0) throw await pgCtlFailure('PostgreSQL reload failed', result);
    },

    async synchronousStandbyNames(): Promise<string> {
      // The file is read once (an earlier daemon may have written it); after that only we change it.
      syncNames ??= parseSyncConf(await fs.readFile(inData(SYNC_CONF), 'utf8').catch(() => ''));
      return syncNames;
    },

    async setSynchronousStandbyNames(names: string): Promise<void> {
      await writeFileAtomic(inData(SYNC_CONF), renderSyncConf(names), await owner());
      syncNames = names;
      await session.query('SELECT pg_reload_conf()');
      logger.info('synchronous_standby_names set', { synchronous_standby_names: names });
    },

    async promote(timeoutMs: number): Promise<PromoteResult> {
      // pg_promote() over our session instead of pg_ctl: no process to spawn. Only light queries on
      // this path: it is inside the write outage of every failover, and the full status query every
      // 10 ms took CPU from the promoting PostgreSQL on a small machine.
      const before = await session.query<{ in_recovery: boolean; lsn: string | null }>(
        `SELECT pg_is_in_recovery() AS in_recovery, ${REPLICA_WAL_POSITION_SQL}::text AS lsn`,
        undefined,
        URGENT,
      );
      const lsnBefore = parseLsnOrNull(before.rows[0]?.lsn ?? null);
      if (before.rows[0]?.in_recovery === false) {
        logger.info('promote: PostgreSQL is already out of recovery');
        return { promoted: false, lsnBefore: null };
      }
      // Never in the way of a promotion: at worst archiving meets that segment later, loudly.
      await retireOldTimelineReady().catch((error: Error) => logger.warn(`could not mark old-timeline WAL before promotion: ${error.message}`));
      await session.query('SELECT pg_promote(wait => false)', undefined, URGENT);
      // The startup process can take the promote request and then sleep out the rest of
      // wal_retrieve_retry_interval before acting on it (its walreceiver had just failed to reach
      // the master that is gone): 150-200 ms of a switchover's outage in traces. SIGUSR2, the
      // signal the postmaster sends it for pg_promote, sets its latch again and ends that sleep;
      // once the request is taken a repeated one changes nothing else.
      const startup = await session.query<{ pid: number }>("SELECT pid FROM pg_stat_activity WHERE backend_type = 'startup'", undefined, URGENT).catch(() => null);
      const startupPid = startup?.rows[0]?.pid ?? null;
      const postmasterPid = await readPostmasterPid(inData('postmaster.pid'));
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        try {
          const result = await session.query<{ in_recovery: boolean }>('SELECT pg_is_in_recovery() AS in_recovery', undefined, URGENT);
          if (result.rows[0]?.in_recovery === false) {
            logger.info('PostgreSQL promoted');
            return { promoted: true, lsnBefore };
          }
        } catch (error) {
          logger.debug('recovery check failed while promoting', { error });
        }
        if (startupPid !== null && postmasterPid !== null) await signalChildOf(startupPid, postmasterPid, 'SIGUSR2');
        await sleep(10);
      }
      throw new Error(`PostgreSQL was asked to promote but is still in recovery after ${timeoutMs} ms; last lines of ${logFile}:\n${await tailFile(logFile, 20)}`);
    },

    isRunning,

    async basebackup(source: HostPort): Promise<void> {
      await assertStopped('take a base backup');
      // Before anything is emptied: pg_basebackup (libpq 15) would answer a clear-text password request.
      await checkPeerAuthentication(source, replication, pgc, { replication: true, timeoutMs: 10_000 });
      await prepareDirs();
      // Only into an empty directory: what it holds otherwise may be the only copy of something.
      const present = await fs.readdir(dataDir);
      if (present.length > 0) throw new Error(`base backup into ${dataDir} refused: the directory is not empty (${present.length} entries)`);
      await ownDir(dataDir, 0o700, await owner());
      await writePassFile();
      logger.info('taking base backup', { source: `${source.host}:${source.port}` });
      const result = await run('pg_basebackup', [
        '-D', dataDir, '-X', 'stream', '-c', 'fast', '-h', source.host, '-p', String(source.port),
        '-U', replication.username, '--no-password',
      ], { env: { PGPASSFILE: passFile, PGCONNECT_TIMEOUT: '10', ...sslEnvironment(sslSettings(pgc)) } });
      if (result.code !== 0) {
        // The directory was empty before: everything in it now is this attempt's.
        await emptyDir(dataDir).catch(() => undefined);
        throw new Error(`base backup from ${source.host}:${source.port} failed: ${describeFailure('pg_basebackup', result)}`);
      }
      await ownDir(dataDir, 0o700, await owner());
      await resetAutoConf();
      for (const signal of ['standby.signal', 'recovery.signal']) await fs.rm(inData(signal), { force: true });
      logger.info('base backup complete', { source: `${source.host}:${source.port}` });
    },

    async rewind(source: HostPort): Promise<boolean> {
      await assertStopped('rewind');
      // pg_rewind may first run crash recovery in single-user mode, which needs a valid postgresql.conf and
      // refuses standby mode; writeConfig puts the signal file back afterwards.
      for (const signal of ['standby.signal', 'recovery.signal']) await fs.rm(inData(signal), { force: true });
      if (!(await exists(inData('postgresql.conf')))) await controller.writeConfig({ role: 'primary' });
      await writePassFile();
      const sourceServer = buildConninfo([
        ['host', source.host], ['port', source.port], ['user', superuser.username], ['dbname', 'postgres'],
        ['passfile', passFile], ['connect_timeout', 10], ...sslConninfo(sslSettings(pgc)),
      ]);
      logger.info('rewinding', { source: `${source.host}:${source.port}` });
      const result = await run('pg_rewind', ['-D', dataDir, `--source-server=${sourceServer}`], { env: { PGCONNECT_TIMEOUT: '10' } });
      const output = (result.stderr + result.stdout).trim();
      if (result.code !== 0) {
        logger.error('pg_rewind failed', { source: `${source.host}:${source.port}`, code: result.code, output: output.split('\n').slice(-30).join('\n') });
        return false;
      }
      await resetAutoConf();
      logger.info('pg_rewind succeeded', { source: `${source.host}:${source.port}`, output: output.split('\n').slice(-5).join('\n') });
      await retireOldTimelineReady();
      return true;
    },

    createDataDir: (kind, fill) => directory.create(kind, fill),
    dataDirRoom: () => directory.room(),
    moveDataDirAside: (reason) => directory.moveAside(reason),
    removeDataDir: (reason) => directory.remove(reason),
    holdDataDir: (hold) => directory.hold(hold),

    status: async () => directory.attachTo(await queryStatus()),

    async walPosition(): Promise<WalPositionNow | null> {
      try {
        const row = (await session.query<WalPositionRow>(WAL_POSITION_SQL)).rows[0];
        return row ? mapWalPositionRow(row) : null;
      } catch (err) {
        logger.debug('WAL position query failed', { error: err });
        return null;
      }
    },

    async syncSlots(slotNames: string[]): Promise<void> {
      await syncPhysicalSlots((sql, params) => session.query(sql, params), slotNames, logger);
    },

    async archiverStatus(): Promise<ArchiverStatus | null> {
      if (!(await isRunning())) return null;
      try {
        const result = await session.query<{ archived_count: string; failed_count: string; last_archived_time: Date | null; last_failed_time: Date | null }>(
          'SELECT archived_count, failed_count, last_archived_time, last_failed_time FROM pg_stat_archiver',
        );
        const row = result.rows[0];
        if (!row) return null;
        const iso = (d: Date | null) => (d instanceof Date ? d.toISOString() : d);
        return {
          archivedCount: Number(row.archived_count),
          failedCount: Number(row.failed_count),
          lastArchivedAt: iso(row.last_archived_time),
          lastFailedAt: iso(row.last_failed_time),
        };
      } catch (err) {
        logger.debug('pg_stat_archiver query failed', { error: err });
        return null;
      }
    },

    async logTail(lines: number): Promise<string> {
      return redact(await tailFile(logFile, lines));
    },

    async close(): Promise<void> {
      await session.close();
    },
  };
  return controller;
}
