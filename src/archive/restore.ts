// `governor restore`: a copy of the cluster as of a point in time, in a new directory.
//
//  1. choose a base backup (named, LATEST, or the newest that finished before --target-time)
//  2. backup-fetch it into DIR (verified, owned by the PostgreSQL user)
//  3. make DIR a safe, private copy that replays archived WAL on start:
//       postgresql.conf            = include of the source's settings + overrides (below)
//       postgresql.backup.conf     = the source's postgresql.conf, as backed up
//       postgresql.auto.conf       emptied (the source's kept as postgresql.auto.conf.backup)
//       recovery.signal            (standby.signal removed)
//     overrides: listen on 127.0.0.1 only, a free port, the Unix socket in DIR, archive_mode off
//     (the copy never pushes into the source's archive), no primary_conninfo, no synchronous
//     standbys, hot_standby on, restore_command = governor wal-fetch, recovery_target_*.
//  4. unless --no-start: start PostgreSQL on DIR as the PostgreSQL user, wait until recovery
//     reached the target (promoted, paused, or shut down), stop it cleanly and report where it
//     landed (timeline, LSN, last replayed commit time).

import { constants as fsConstants } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import type { GovernorConfig } from '../config/types.js';
import type { Logger } from '../log/logger.js';
import { parseControlDataLines } from '../postgres/controldata.js';
import { type PgUser, resolvePgUser, runPgBinary } from '../postgres/exec.js';
import { assertTraversable, writeFileAtomic } from '../postgres/files.js';
import { formatLsn, parseLsn } from '../postgres/lsn.js';
import { DEFAULT_BIN_DIR, type Postmaster, postmasterStatus, PostmasterRunner } from '../postgres/postmaster.js';
import { archiveCommands, EMPTY_AUTO_CONF, formatConfValue, type ParamValue, quoteConfString } from '../postgres/render.js';
import { freePort } from '../util/ports.js';
import { sleep } from '../util/time.js';
import { archiveSettings } from './backup-push.js';
import { fetchBackup, type FetchResult } from './backup-fetch.js';
import {
  type BackupSentinel, chooseBackup, chooseBackupForLsn, chooseBackupForTime, loadCatalogue,
} from './sentinel.js';
import { openStorage } from './storage/index.js';
import type { Storage } from './types.js';

export { postmasterStatus } from '../postgres/postmaster.js';

export type TargetAction = 'promote' | 'pause' | 'shutdown';

export interface RecoveryTarget {
  /** The time as given to PostgreSQL (normalized, with an explicit zone). */
  time?: string;
  /** The same time as a Date (millisecond precision), to choose a backup. */
  timeDate?: Date;
  lsn?: string;
  /** recovery_target_inclusive (default true: stop just after the target). */
  inclusive: boolean;
  action: TargetAction;
}

/**
 * Parse a recovery target time: ISO 8601 or PostgreSQL's own output ("2024-05-01 12:00:00.123456+00").
 * Without a zone it is taken as UTC. Returns the text for PostgreSQL and a Date.
 */
export function parseTargetTime(text: string): { pg: string; date: Date } {
  const m = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2})(:\d{2}(?:\.\d+)?)?\s*(Z|UTC|[+-]\d{2}(?::?\d{2})?)?$/i.exec(text.trim());
  if (!m) throw new Error(`--target-time: expected a timestamp like 2024-05-01T12:00:00Z or "2024-05-01 12:00:00.123+00", got ${JSON.stringify(text)}`);
  const [, day, hm, secText, zoneText] = m;
  const seconds = secText ?? ':00';
  let zone = (zoneText ?? 'Z').toUpperCase();
  if (zone === 'Z' || zone === 'UTC') zone = '+00:00';
  else if (/^[+-]\d{2}$/.test(zone)) zone += ':00';
  else if (/^[+-]\d{4}$/.test(zone)) zone = `${zone.slice(0, 3)}:${zone.slice(3)}`;
  const [whole, fraction = ''] = seconds.slice(1).split('.');
  const jsText = `${day}T${hm}:${whole}${fraction ? `.${fraction.slice(0, 3).padEnd(3, '0')}` : ''}${zone}`;
  const date = new Date(jsText);
  if (Number.isNaN(date.getTime())) throw new Error(`--target-time: ${JSON.stringify(text)} is not a valid time`);
  const pgText = `${day} ${hm}:${whole}${fraction ? `.${fraction.slice(0, 6)}` : ''}${zone}`;
  return { pg: pgText, date };
}

/** restore_command: `governor wal-fetch -c CONFIG "%f" "%p"`, quoted for the shell and for PostgreSQL's % expansion
 *  exactly like the members' own (render.ts archiveCommands). */
export function buildRestoreCommand(governorArgv: string[], configFile: string): string {
  return archiveCommands(governorArgv, configFile).fetch;
}

export interface RestoreSettingsInput {
  backupName: string;
  port: number;
  socketDir: string;
  restoreCommand: string;
  target: RecoveryTarget;
  /** Whether the source's postgresql.conf was kept as postgresql.backup.conf (then included). */
  includeSource: boolean;
  writtenAt: Date;
}

export function restoreParameters(input: RestoreSettingsInput): Array<[string, ParamValue]> {
  const params: Array<[string, ParamValue]> = [
    ['listen_addresses', '127.0.0.1'],
    ['port', input.port],
    ['unix_socket_directories', input.socketDir],
    ['archive_mode', false],
    ['archive_command', ''],
    ['primary_conninfo', ''],
    ['primary_slot_name', ''],
    ['synchronous_standby_names', ''],
    ['hot_standby', true],
    ['restore_command', input.restoreCommand],
    ['recovery_target_timeline', 'latest'],
  ];
  const { target } = input;
  if (target.time !== undefined) params.push(['recovery_target_time', target.time]);
  if (target.lsn !== undefined) params.push(['recovery_target_lsn', target.lsn]);
  if (target.time !== undefined || target.lsn !== undefined) {
    params.push(['recovery_target_inclusive', target.inclusive]);
    params.push(['recovery_target_action', target.action]);
  }
  return params;
}

/** The postgresql.conf of a restored copy: the source's settings, then the overrides that win. */
export function renderRestoreConf(input: RestoreSettingsInput): string {
  const lines = [
    `# Written by governor restore at ${input.writtenAt.toISOString()} from base backup ${input.backupName}.`,
    '# The source cluster\'s settings are included first; the settings below override them so that this',
    '# copy listens only locally, never archives into the source\'s archive, and replays archived WAL.',
  ];
  if (input.includeSource) lines.push(`include_if_exists ${quoteConfString('postgresql.backup.conf')}`);
  for (const [name, value] of restoreParameters(input)) lines.push(`${name} = ${formatConfValue(value)}`);
  return lines.join('\n') + '\n';
}

export interface RestoreOptions {
  config: GovernorConfig;
  /** Absolute path of the configuration file; restore_command passes it to wal-fetch. */
  configFile: string;
  /** argv prefix that runs governor (governorCommand()). */
  governorArgv: string[];
  logger: Logger;
  dir: string;
  /** NAME or LATEST; default: chosen from the target, else LATEST. */
  backup?: string;
  target: RecoveryTarget;
  /** Start PostgreSQL and wait for the target (default true). */
  start: boolean;
  /** How long to wait for recovery (default 24 h). */
  timeoutMs?: number;
  storage?: Storage;
  progressTty?: NodeJS.WriteStream | null;
}

export interface RestoreResult {
  backup: BackupSentinel;
  dir: string;
  port: number;
  socketDir: string;
  logFile: string;
  fetch: FetchResult;
  /** What recovery did, when started. */
  outcome: 'not started' | 'promoted' | 'paused' | 'shut down';
  timeline: number | null;
  /** Last WAL record replayed. */
  replayLsn: string | null;
  /** Commit time of the last transaction replayed. */
  lastTransactionAt: string | null;
  recoveryMs: number | null;
}

/** Which backup a restore starts from. */
export function selectBackup(complete: BackupSentinel[], which: string | undefined, target: RecoveryTarget): BackupSentinel {
  if (which) {
    const chosen = chooseBackup(complete, which);
    if (target.timeDate && Date.parse(chosen.finished_at) > target.timeDate.getTime()) {
      throw new Error(`backup ${chosen.name} finished at ${chosen.finished_at}, after the target time ${target.timeDate.toISOString()}: choose an older backup (or leave --backup out)`);
    }
    if (target.lsn && parseLsn(chosen.stop_lsn ?? chosen.start_lsn) > parseLsn(target.lsn)) {
      throw new Error(`backup ${chosen.name} ends at ${chosen.stop_lsn ?? chosen.start_lsn}, after the target LSN ${target.lsn}`);
    }
    return chosen;
  }
  if (target.timeDate) return chooseBackupForTime(complete, target.timeDate);
  if (target.lsn) return chooseBackupForLsn(complete, parseLsn(target.lsn));
  return chooseBackup(complete, 'LATEST');
}

/** Whether `user` may read `file` (mode bits; root may read anything). */
async function readableBy(file: string, user: PgUser): Promise<boolean> {
  if (user.uid === undefined) return fs.access(file, fsConstants.R_OK).then(() => true, () => false);
  const st = await fs.stat(file);
  if (st.uid === user.effectiveUid) return (st.mode & 0o400) !== 0;
  if (st.gid === user.effectiveGid) return (st.mode & 0o040) !== 0;
  return (st.mode & 0o004) !== 0;
}

/** Unix socket paths are limited to 107 bytes. */
function socketDirFor(dir: string, port: number): string {
  return Buffer.byteLength(path.join(dir, `.s.PGSQL.${port}`)) <= 100 ? dir : '/tmp';
}

export async function restore(options: RestoreOptions): Promise<RestoreResult> {
  const { config, logger, target } = options;
  const archive = archiveSettings(config);
  const storage = options.storage ?? openStorage(archive, logger);
  const dir = path.resolve(options.dir);
  const user = await resolvePgUser(config.postgresql.run_as_user);
  const binDir = config.postgresql.bin_dir || DEFAULT_BIN_DIR;
  if (target.time !== undefined && target.lsn !== undefined) throw new Error('give --target-time or --target-lsn, not both');
  if (target.lsn !== undefined) target.lsn = formatLsn(parseLsn(target.lsn));

  // restore_command runs as the PostgreSQL user: it must be able to run governor and read the config.
  const configFile = path.resolve(options.configFile);
  if (!(await readableBy(configFile, user))) {
    throw new Error(`OS user ${user.name} cannot read ${configFile}, but restore_command (governor wal-fetch, run by PostgreSQL) needs it`);
  }
  for (const file of options.governorArgv.slice(0, 2)) if (path.isAbsolute(file)) await assertTraversable(file, user);

  const catalogue = await loadCatalogue(storage);
  const backup = selectBackup(catalogue.complete, options.backup, target);
  logger.info(`restoring base backup ${backup.name} into ${dir}`, {
    finished_at: backup.finished_at, start_wal_file: backup.start_wal_file, target_time: target.time, target_lsn: target.lsn,
  });
  const fetched = await fetchBackup({ storage, sentinel: backup, dir, user, logger, progressTty: options.progressTty });

  const owner = { uid: user.uid, gid: user.gid };
  const port = await freePort();
  const socketDir = socketDirFor(dir, port);
  const inDir = (name: string) => path.join(dir, name);
  let includeSource = false;
  try {
    await fs.rename(inDir('postgresql.conf'), inDir('postgresql.backup.conf'));
    includeSource = true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const auto = await fs.readFile(inDir('postgresql.auto.conf'), 'utf8').catch(() => null);
  if (auto !== null && auto !== EMPTY_AUTO_CONF) await fs.rename(inDir('postgresql.auto.conf'), inDir('postgresql.auto.conf.backup'));
  await writeFileAtomic(inDir('postgresql.auto.conf'), EMPTY_AUTO_CONF, owner);
  const restoreCommand = buildRestoreCommand(options.governorArgv, configFile);
  await writeFileAtomic(inDir('postgresql.conf'), renderRestoreConf({
    backupName: backup.name, port, socketDir, restoreCommand, target, includeSource, writtenAt: new Date(),
  }), owner);
  for (const name of ['standby.signal', 'postmaster.pid', 'postmaster.opts']) await fs.rm(inDir(name), { force: true });
  await writeFileAtomic(inDir('recovery.signal'), '', owner);
  const logFile = path.join(path.dirname(dir), `${path.basename(dir)}.restore.log`);

  const result: RestoreResult = {
    backup, dir, port, socketDir, logFile, fetch: fetched, outcome: 'not started', timeline: null, replayLsn: null, lastTransactionAt: null, recoveryMs: null,
  };
  if (!options.start) return result;

  // The same runner as the member's own PostgreSQL: as the PostgreSQL user, with its environment file.
  const runner = new PostmasterRunner({ binDir, dataDir: dir, logFile }, async () => user);
  await runner.prepareLog();
  const started = Date.now();
  logger.info('starting PostgreSQL on the restored copy to replay archived WAL', { dir, port, log: logFile });
  const postmaster = await runner.spawn();
  const { superuser } = config.postgresql.authentication;
  const query = async <R extends pg.QueryResultRow>(sql: string): Promise<R> => {
    const client = new pg.Client({
      host: socketDir, port, user: superuser.username, password: superuser.password, database: 'postgres',
      connectionTimeoutMillis: 3000, application_name: 'governor-restore',
    });
    client.on('error', () => undefined);
    await client.connect();
    try {
      return (await client.query<R>(sql)).rows[0]!;
    } finally {
      await client.end().catch(() => undefined);
    }
  };
  const deadline = started + (options.timeoutMs ?? 24 * 3600_000);
  const failure = (what: string) => runner.failure(what, 15);
  const timeoutMessage = `recovery did not reach its target within ${Math.round((options.timeoutMs ?? 0) / 1000)} s`;
  try {
    // Until it accepts connections (read-only once consistent); an exit is the loop's to judge.
    await runner.waitUntilReady(postmaster, async () => acceptsConnections(await postmasterStatus(inDir('postmaster.pid'))), {
      deadline, pollMs: 100, timeoutMessage, tailLines: 15,
    });
    let lastLog = Date.now();
    for (;;) {
      if (postmaster.exit !== null) {
        const e = postmaster.exit;
        if (target.action === 'shutdown' && e.code === 0 && (target.time !== undefined || target.lsn !== undefined)) {
          const landed = await controlDataLanding(binDir, dir, user);
          Object.assign(result, { outcome: 'shut down', ...landed, recoveryMs: Date.now() - started });
          return result;
        }
        throw await failure(`PostgreSQL on the restored copy exited (${e.signal ?? `code ${e.code}`}) before recovery reached its target`);
      }
      if (Date.now() > deadline) throw await failure(timeoutMessage);
      // Connect only while the postmaster says it accepts connections (it stops saying so when it
      // shuts down at the target): attempts otherwise only fill the log with "the database system is starting up".
      if (!acceptsConnections(await postmasterStatus(inDir('postmaster.pid')))) {
        await sleep(100);
        continue;
      }
      const row = await query<{ in_recovery: boolean; pause: string | null; replay: string | null; tx: Date | null; tli_hex: string | null; ckpt_tli: number }>(
        `SELECT pg_is_in_recovery() AS in_recovery,
                CASE WHEN pg_is_in_recovery() THEN pg_get_wal_replay_pause_state() END AS pause,
                pg_last_wal_replay_lsn()::text AS replay,
                pg_last_xact_replay_timestamp() AS tx,
                CASE WHEN NOT pg_is_in_recovery() THEN substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8) END AS tli_hex,
                (SELECT timeline_id FROM pg_control_checkpoint()) AS ckpt_tli`,
      ).catch((err: Error & { code?: string }) => {
        // Wrong credentials never get better: the copy's roles are the source's, reached with this config's superuser.
        if (err.code === '28P01' || err.code === '28000') {
          throw new Error(`cannot connect to the restored copy as ${superuser.username}: ${err.message} (the backup's roles must match this configuration's superuser credentials)`);
        }
        return null;
      });
      if (row) {
        const landed = {
          replayLsn: row.replay,
          lastTransactionAt: row.tx ? new Date(row.tx).toISOString() : null,
          timeline: row.tli_hex ? parseInt(row.tli_hex, 16) : row.ckpt_tli,
        };
        if (!row.in_recovery) {
          Object.assign(result, { outcome: 'promoted', ...landed, recoveryMs: Date.now() - started });
          break;
        }
        if (row.pause === 'paused') {
          Object.assign(result, { outcome: 'paused', ...landed, recoveryMs: Date.now() - started });
          break;
        }
        if (Date.now() - lastLog > 10_000) {
          lastLog = Date.now();
          logger.info('restored copy is replaying archived WAL', { replay_lsn: row.replay, last_transaction_at: landed.lastTransactionAt });
        }
      }
      await sleep(200);
    }
  } catch (err) {
    await stopRestoredCopy(runner, postmaster, 'SIGQUIT', 30_000).catch(() => undefined);
    throw err;
  }
  await stopRestoredCopy(runner, postmaster, 'SIGINT', 120_000);
  logger.info('restored copy stopped cleanly', { outcome: result.outcome, timeline: result.timeline, replay_lsn: result.replayLsn });
  return result;
}

/** postmaster.pid's status line says it takes connections (read-only ones, in recovery). */
function acceptsConnections(status: string | null): boolean {
  return status === 'ready' || status === 'standby';
}

async function stopRestoredCopy(runner: PostmasterRunner, postmaster: Postmaster, signal: NodeJS.Signals, timeoutMs: number): Promise<void> {
  const gone = () => postmaster.exit !== null;
  if (gone()) return;
  if (!runner.signal(postmaster.pid, signal)) return;
  if (!(await runner.waitUntilGone(gone, timeoutMs, 50))) {
    throw new Error(`PostgreSQL (pid ${postmaster.pid}) on the restored copy did not stop within ${timeoutMs / 1000} s`);
  }
}

/** After a target shutdown: where recovery stopped, from pg_control. */
async function controlDataLanding(binDir: string, dir: string, user: PgUser): Promise<Pick<RestoreResult, 'timeline' | 'replayLsn' | 'lastTransactionAt'>> {
  const out = await runPgBinary(binDir, 'pg_controldata', ['-D', dir], user, { env: { LC_ALL: 'C' }, timeoutMs: 30_000 });
  const fields = parseControlDataLines(out.stdout);
  const minRecovery = fields.get('Minimum recovery ending location');
  const minTli = Number(fields.get("Min recovery ending loc's timeline"));
  const ckptTli = Number(fields.get("Latest checkpoint's TimeLineID"));
  return {
    replayLsn: minRecovery && minRecovery !== '0/0' ? minRecovery : fields.get('Latest checkpoint location') ?? null,
    timeline: minTli > 0 ? minTli : Number.isInteger(ckptTli) ? ckptTli : null,
    lastTransactionAt: null,
  };
}

/** One line for the operator. */
export function describeRestore(result: RestoreResult): string {
  const base = `restored base backup ${result.backup.name} into ${result.dir}`;
  if (result.outcome === 'not started') {
    return `${base}; not started: start it with \`postgres -D ${result.dir}\` as the PostgreSQL user ` +
      `(it replays archived WAL, listens on 127.0.0.1:${result.port}, socket in ${result.socketDir})`;
  }
  return `${base}; recovery ${result.outcome} on timeline ${result.timeline ?? '?'} at LSN ${result.replayLsn ?? '?'}` +
    (result.lastTransactionAt ? `, last replayed transaction committed at ${result.lastTransactionAt}` : '') +
    ` (replay took ${((result.recoveryMs ?? 0) / 1000).toFixed(1)} s); PostgreSQL is stopped, log in ${result.logFile}`;
}
