// `governor backup-push`: a base backup of the running local PostgreSQL (master or replica),
// streamed from pg_basebackup's tar output through the codec straight into storage.
//
//   pg_basebackup -D - -Ft -X none --checkpoint=fast  ──► tap (sha256, size, tar inspection)
//       ──► compressStream(codec) ──► storage.put(basebackups/<name>/base.tar<ext>)   (multipart)
//   then basebackups/<name>.json, the sentinel, LAST.
//
// -X none: the backup carries no WAL; a restore fetches it from the archive. On a master
// pg_basebackup only returns once the WAL up to the backup's end is archived, which is why
// archive_mode must be on. Memory stays bounded: the tar is never buffered, only inspected for
// backup_label (its first entry: start LSN and timeline, hence the backup's name) and pg_control.

import { spawn } from 'node:child_process';
import { chown, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import type { ArchiveConfig, GovernorConfig } from '../config/types.js';
import { type Logger, redact, registerSecret } from '../log/logger.js';
import { type PgUser, pgEnvironment, resolvePgUser } from '../postgres/exec.js';
import { formatLsn, parseLsn } from '../postgres/lsn.js';
import { parseListen, renderPgpass } from '../postgres/render.js';
import { defaultArchiveConfig } from '../config/archive.js';
import { compressStream } from './compression.js';
import { backupPartKey, backupSentinelKey, META_RAW_SIZE, META_SHA256, WAL_PREFIX } from './layout.js';
import { Progress } from './progress.js';
import {
  type BackupSentinel, backupName, parseBackupLabel, SENTINEL_FORMAT, serializeSentinel, walFileNameBefore,
} from './sentinel.js';
import { openStorage } from './storage/index.js';
import { TapStream } from './streams.js';
import { TarReader } from './tar.js';
import { ArchiveWaitGuard } from './backup-archive-guard.js';
import type { Storage } from './types.js';
import { createHash } from 'node:crypto';

export function archiveSettings(config: GovernorConfig): ArchiveConfig {
  const archive = config.archive ?? defaultArchiveConfig();
  if (!archive.storage) throw new Error('archive.storage is not set: there is nowhere to store backups');
  return archive;
}

export interface ServerFacts {
  archiveMode: string;
  inRecovery: boolean;
  systemIdentifier: string;
  versionNum: number;
  walSegmentSize: number;
  tablespaces: string[];
  /** Sum of database sizes: an estimate of the backup's size, for progress. */
  estimatedBytes: number;
}

/** A superuser connection through the local Unix socket. */
export function localClient(config: GovernorConfig, database = 'postgres'): pg.Client {
  const pgc = config.postgresql;
  const { port } = parseListen(pgc.listen);
  const client = new pg.Client({
    host: path.resolve(pgc.socket_dir), port, database,
    user: pgc.authentication.superuser.username, password: pgc.authentication.superuser.password,
    application_name: 'governor-backup', connectionTimeoutMillis: 5000,
  });
  client.on('error', () => undefined);
  return client;
}

export async function serverFacts(config: GovernorConfig): Promise<ServerFacts> {
  const client = localClient(config);
  try {
    await client.connect();
  } catch (err) {
    throw new Error(`cannot connect to the local PostgreSQL through ${config.postgresql.socket_dir}: ${(err as Error).message}`);
  }
  try {
    const row = (await client.query<{
      archive_mode: string; in_recovery: boolean; sysid: string; version: string; segsize: string; tablespaces: string[] | null; dbsize: string | null;
    }>(`SELECT current_setting('archive_mode') AS archive_mode,
              pg_is_in_recovery() AS in_recovery,
              (SELECT system_identifier::text FROM pg_control_system()) AS sysid,
              current_setting('server_version_num') AS version,
              (SELECT setting FROM pg_settings WHERE name = 'wal_segment_size') AS segsize,
              (SELECT array_agg(spcname::text) FROM pg_tablespace WHERE spcname NOT IN ('pg_default', 'pg_global')) AS tablespaces,
              (SELECT sum(pg_database_size(oid))::text FROM pg_database WHERE datallowconn) AS dbsize`)).rows[0]!;
    return {
      archiveMode: row.archive_mode,
      inRecovery: row.in_recovery,
      systemIdentifier: row.sysid,
      versionNum: Number(row.version),
      walSegmentSize: Number(row.segsize),
      tablespaces: row.tablespaces ?? [],
      estimatedBytes: Number(row.dbsize ?? 0),
    };
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Why a backup from this server cannot work, or null. */
export function refusal(facts: ServerFacts): string | null {
  if (facts.archiveMode === 'off') {
    return 'archive_mode is off on the local PostgreSQL: a base backup taken with -X none is only restorable together with archived WAL. ' +
      'Enable archiving (archive.enabled: true in governor.yml, which sets archive_mode and archive_command) and restart PostgreSQL';
  }
  if (facts.tablespaces.length > 0) {
    return `the cluster has tablespaces (${facts.tablespaces.join(', ')}): pg_basebackup can stream only a single-tablespace cluster to stdout, ` +
      'and governor backup-push does not support tablespaces';
  }
  if (!Number.isInteger(facts.walSegmentSize) || facts.walSegmentSize <= 0) return `unexpected wal_segment_size ${facts.walSegmentSize}`;
  return null;
}

interface Connection {
  what: string;
  host: string;
  port: number;
  user: string;
}

/** First the Unix socket as the superuser; then TCP on the local listen address as the replication
 *  user (governor's pg_hba.conf allows replication connections only over TCP, for that user). */
export function connectionsToTry(config: GovernorConfig): Connection[] {
  const pgc = config.postgresql;
  const { hosts, port } = parseListen(pgc.listen);
  const first = hosts[0] ?? '127.0.0.1';
  const tcpHost = ['0.0.0.0', '*', ''].includes(first) ? '127.0.0.1' : first === '::' ? '::1' : first;
  const { superuser, replication } = pgc.authentication;
  const out: Connection[] = [
    { what: 'local socket as the superuser', host: path.resolve(pgc.socket_dir), port, user: superuser.username },
    { what: `TCP ${tcpHost} as the replication user`, host: tcpHost, port, user: replication.username },
  ];
  return out;
}

/** A temporary password file readable only by the PostgreSQL user; removed by the returned function. */
export async function temporaryPassfile(config: GovernorConfig, user: PgUser): Promise<{ file: string; remove: () => Promise<void> }> {
  const { superuser, replication } = config.postgresql.authentication;
  const dir = await mkdtemp(path.join(os.tmpdir(), 'governor-pgpass-'));
  const file = path.join(dir, 'pgpass');
  try {
    if (user.uid !== undefined && user.gid !== undefined) await chown(dir, user.uid, user.gid);
    await writeFile(file, renderPgpass([superuser, replication]), { mode: 0o600, flag: 'wx' });
    if (user.uid !== undefined && user.gid !== undefined) await chown(file, user.uid, user.gid);
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  return { file, remove: () => rm(dir, { recursive: true, force: true }) };
}

export interface BackupPushOptions {
  config: GovernorConfig;
  logger: Logger;
  /** Default: openStorage(config.archive). */
  storage?: Storage;
  /** Where to draw the progress line (default process.stderr when it is a TTY; null: logs only). */
  progressTty?: NodeJS.WriteStream | null;
  /** Milliseconds between progress log lines (default 10 s). */
  progressIntervalMs?: number;
}

const AUTH_FAILURE = /pg_hba\.conf|password authentication failed|no password supplied|authentication failed|permission denied to start|must be superuser or replication/i;

class AttemptError extends Error {
  constructor(message: string, readonly retryable: boolean) {
    super(message);
  }
}

/** Take a base backup of the local PostgreSQL into storage; resolves with the sentinel written. */
export async function backupPush(options: BackupPushOptions): Promise<BackupSentinel> {
  const { config, logger } = options;
  const archive = archiveSettings(config);
  const pgc = config.postgresql;
  registerSecret(pgc.authentication.superuser.password);
  registerSecret(pgc.authentication.replication.password);
  const storage = options.storage ?? openStorage(archive, logger);
  const facts = await serverFacts(config);
  const refused = refusal(facts);
  if (refused) throw new Error(`cannot take a base backup: ${refused}`);
  const user = await resolvePgUser(pgc.run_as_user);
  const passfile = await temporaryPassfile(config, user);
  // A failing archive would keep a master's backup waiting forever: the guard stops it with the error.
  const guard = new ArchiveWaitGuard({ config, connect: () => localClient(config), primary: !facts.inRecovery, logger });
  await guard.start();
  try {
    const failures: string[] = [];
    for (const connection of connectionsToTry(config)) {
      try {
        return await attempt(options, archive, storage, facts, user, passfile.file, connection, guard);
      } catch (err) {
        if (err instanceof AttemptError && err.retryable) {
          // Expected with governor's own pg_hba.conf, which allows replication connections only over TCP.
          logger.debug(`pg_basebackup could not connect through the ${connection.what}; trying the next way`, { error: err.message });
          failures.push(`${connection.what}: ${err.message}`);
          continue;
        }
        throw err;
      }
    }
    throw new Error(`pg_basebackup could not connect to the local PostgreSQL:\n  ${failures.join('\n  ')}`);
  } finally {
    await guard.stop();
    await passfile.remove().catch(() => undefined);
  }
}

async function attempt(
  options: BackupPushOptions, archive: ArchiveConfig, storage: Storage, facts: ServerFacts, user: PgUser, passfile: string, connection: Connection,
  guard: ArchiveWaitGuard,
): Promise<BackupSentinel> {
  const { config, logger } = options;
  const binDir = config.postgresql.bin_dir || '/usr/lib/postgresql/15/bin';
  const codec = archive.compression;
  const startedAt = new Date();
  const args = [
    '-D', '-', '-F', 'tar', '-X', 'none', '--checkpoint=fast', '--verbose', '--no-password',
    '-h', connection.host, '-p', String(connection.port), '-U', connection.user, '-l', `governor ${config.name} ${startedAt.toISOString()}`,
  ];
  logger.debug('running pg_basebackup', { args, via: connection.what });
  const child = spawn(path.join(binDir, 'pg_basebackup'), args, {
    uid: user.uid, gid: user.gid, cwd: '/', stdio: ['ignore', 'pipe', 'pipe'],
    env: pgEnvironment(user, { PGPASSFILE: passfile, PGCONNECT_TIMEOUT: '10', PGAPPNAME: 'governor-backup' }),
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.once('error', (err) => reject(new Error(`cannot run pg_basebackup: ${err.message}`)));
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  exited.catch(() => undefined);
  guard.onAbort(() => child.kill('SIGTERM'));
  let stderr = '';
  let stderrLine = '';
  child.stderr!.setEncoding('utf8').on('data', (text: string) => {
    if (stderr.length < 200_000) stderr += text;
    stderrLine += text;
    let nl: number;
    while ((nl = stderrLine.indexOf('\n')) !== -1) {
      const line = redact(stderrLine.slice(0, nl));
      stderrLine = stderrLine.slice(nl + 1);
      if (/warning|still waiting/i.test(line)) logger.warn(`pg_basebackup: ${line.replace(/^pg_basebackup: /, '')}`);
      else logger.debug(`pg_basebackup: ${line.replace(/^pg_basebackup: /, '')}`);
    }
  });

  // The name comes from backup_label, the tar's first entry; the upload starts once it is known.
  let resolveLabel!: (text: string) => void;
  let rejectLabel!: (err: Error) => void;
  const labelText = new Promise<string>((resolve, reject) => {
    resolveLabel = resolve;
    rejectLabel = reject;
  });
  labelText.catch(() => undefined);
  let sawControl = false;
  // The manifest's tail holds "WAL-Ranges" with the backup's end LSN (pg_basebackup -X none reports it nowhere else).
  let manifestTail: Buffer | null = null;
  let firstEntry = true;
  const reader = new TarReader((header) => {
    const isFirst = firstEntry;
    firstEntry = false;
    if (header.name === 'global/pg_control') sawControl = true;
    if (header.name === 'backup_manifest' && header.type === 'file') {
      manifestTail = Buffer.alloc(0);
      return {
        write: (c) => {
          const joined = Buffer.concat([manifestTail!, c]);
          manifestTail = joined.length > MANIFEST_TAIL ? Buffer.from(joined.subarray(joined.length - MANIFEST_TAIL)) : joined;
        },
        end: () => undefined,
      };
    }
    if (header.name === 'backup_label' && header.type === 'file') {
      const chunks: Buffer[] = [];
      return { write: (c) => void chunks.push(Buffer.from(c)), end: () => resolveLabel(Buffer.concat(chunks).toString('utf8')) };
    }
    if (isFirst) rejectLabel(new Error(`the backup tar does not start with backup_label (first entry: ${header.name})`));
    return null;
  });

  let progress: Progress | null = null;
  const tap = new TapStream({
    inspect: (chunk) => reader.push(chunk),
    onBytes: (n) => progress?.add(n),
    atEnd: async () => {
      const { code, signal } = await exited;
      if (code !== 0) throw new Error(`pg_basebackup ${signal ? `was killed by ${signal}` : `exited with code ${code}`}: ${pgBasebackupError(stderr)}`);
      reader.end();
      if (!sawControl) throw new Error('the backup tar lacks global/pg_control');
    },
  });
  const compressed = new TapStream({ hash: false });
  const body = new PassThrough({ highWaterMark: 1 << 20 });
  const streaming = pipeline(child.stdout!, tap, compressStream(codec), compressed, body);
  streaming.catch(() => undefined);

  let name: string;
  let label: ReturnType<typeof parseBackupLabel>;
  try {
    const text = await Promise.race([labelText, streaming.then(() => { throw new Error('the backup tar holds no backup_label'); })]);
    label = parseBackupLabel(text);
    name = backupName(label.startWalFile, startedAt);
  } catch (err) {
    child.kill('SIGTERM');
    body.destroy();
    await exited.catch(() => undefined);
    if (guard.reason !== null) throw new AttemptError(`base backup stopped: ${guard.reason}`, false);
    const retryable = tap.bytes === 0 && AUTH_FAILURE.test(stderr);
    const message = (err as Error).message;
    const detail = pgBasebackupError(stderr);
    throw new AttemptError(`base backup failed: ${message}${detail && !message.includes(detail) ? ` (pg_basebackup: ${detail})` : ''}`, retryable);
  }

  const partKey = backupPartKey(name, 'base.tar', codec);
  logger.info(`base backup ${name} started`, {
    start_lsn: formatLsn(label.startLsn), timeline: label.timeline, from: facts.inRecovery ? 'replica' : 'master', key: partKey, storage: storage.description,
  });
  progress = new Progress({
    label: `backup-push ${name}`, logger, total: facts.estimatedBytes || undefined,
    tty: options.progressTty, logIntervalMs: options.progressIntervalMs,
  });
  progress.add(tap.bytes);
  const upload = storage.put(partKey, body as Readable);
  try {
    await Promise.all([streaming, upload]);
  } catch (err) {
    progress.abort();
    child.kill('SIGTERM');
    body.destroy();
    await exited.catch(() => undefined);
    await upload.catch(() => undefined);
    // Never leave a body without a sentinel behind longer than needed: it is not a backup.
    await storage.delete([partKey]).catch(() => undefined);
    throw new Error(guard.reason !== null ? `base backup ${name} stopped: ${guard.reason}` : `base backup ${name} failed: ${(err as Error).message}`);
  }
  const stopLsn = manifestTail ? parseManifestStopLsn((manifestTail as Buffer).toString('utf8')) : null;
  if (stopLsn === null) logger.warn(`backup ${name}: could not tell its end LSN (no WAL-Ranges in backup_manifest)`);
  const finishedAt = new Date();
  const sentinel: BackupSentinel = {
    format: SENTINEL_FORMAT,
    name,
    start_lsn: formatLsn(label.startLsn),
    stop_lsn: stopLsn === null ? null : formatLsn(stopLsn),
    timeline: label.timeline,
    start_wal_file: label.startWalFile,
    stop_wal_file: stopLsn === null ? null : walFileNameBefore(label.timeline, stopLsn, facts.walSegmentSize),
    system_identifier: facts.systemIdentifier,
    pg_version: facts.versionNum,
    wal_segment_size: facts.walSegmentSize,
    compressed_size: compressed.bytes,
    raw_size: tap.bytes,
    sha256: tap.sha256,
    compression: codec,
    started_at: startedAt.toISOString(),
    finished_at: finishedAt.toISOString(),
    host: os.hostname(),
    member: config.name,
    is_replica: facts.inRecovery,
    parts: [{ name: 'base', key: partKey, compressed_size: compressed.bytes, raw_size: tap.bytes, sha256: tap.sha256 }],
  };
  const json = Buffer.from(serializeSentinel(sentinel));
  await storage.put(backupSentinelKey(name), json, {
    metadata: { [META_SHA256]: createHash('sha256').update(json).digest('hex'), [META_RAW_SIZE]: String(json.length) },
  });
  const ms = finishedAt.getTime() - startedAt.getTime();
  progress.done({
    name, raw_size: tap.bytes, compressed_size: compressed.bytes, compression: codec, stop_lsn: sentinel.stop_lsn,
    duration_s: Math.round(ms / 100) / 10,
  }, 'complete');
  if (facts.inRecovery && sentinel.stop_wal_file) {
    // Any codec: the master may have archived the segment with another compression.
    const present = (await storage.list(`${WAL_PREFIX}${sentinel.stop_wal_file}`).catch(() => [])).length > 0;
    if (!present) {
      logger.warn(`backup ${name} was taken on a replica: it is restorable once the master has archived WAL file ${sentinel.stop_wal_file}`);
    }
  }
  return sentinel;
}

const MANIFEST_TAIL = 64 * 1024;

/** The backup's end LSN from the tail of its backup_manifest: the last WAL range's End-LSN. */
export function parseManifestStopLsn(tail: string): number | null {
  const matches = [...tail.matchAll(/"End-LSN"\s*:\s*"([0-9A-Fa-f]+\/[0-9A-Fa-f]+)"/g)];
  const last = matches.at(-1);
  return last ? parseLsn(last[1]!) : null;
}

/** The error lines of pg_basebackup's output (the verbose progress lines left out). */
export function pgBasebackupError(stderr: string): string {
  const lines = redact(stderr).split('\n').map((l) => l.trim()).filter((l) => l !== '');
  const errors = lines.filter((l) => /error|fatal|could not|failed|invalid|refused|denied/i.test(l));
  return (errors.length > 0 ? errors : lines.slice(-3)).join('; ');
}

