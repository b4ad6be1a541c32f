// Base backups against a real PostgreSQL 15 archiving through `governor wal-push`: backup-push
// while pgbench writes, restore to the end of WAL (pg_dump identical), backup-list, retention,
// point-in-time recovery, and a tampered object; the same scenario for file storage and for S3 (s3rver).

import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { chmod, chown, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { stringify } from 'yaml';
import { restore } from '../../src/archive/restore.js';
import { openStorage } from '../../src/archive/storage/index.js';
import type { BackupSentinel } from '../../src/archive/sentinel.js';
import type { ArchiveConfig, CompressionMethod, GovernorConfig } from '../../src/config/types.js';
import { createLogger } from '../../src/log/logger.js';
import { defaultArchiveConfig } from '../../src/config/defaults.js';
import { createPostgresController } from '../../src/postgres/controller.js';
import { archiveCommands } from '../../src/postgres/render.js';
import { resolvePgUser } from '../../src/postgres/exec.js';
import { spawnPostmaster } from '../../src/postgres/postmaster.js';
import type { PostgresController } from '../../src/postgres/types.js';
import { startTestS3 } from '../helpers/s3.js';
import { cleanupPg, makePgTestRoot, PG_BIN_DIR, pgMemberConfig, pgPort, pgQuery, waitFor } from '../helpers/postgres.js';

const GOVERNOR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/cli/governor.js');
const logLines: string[] = [];
const logger = createLogger({
  level: 'info',
  write: (line) => {
    logLines.push(line);
    if (process.env.GOVERNOR_TEST_VERBOSE) process.stderr.write(line + '\n');
  },
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

function governor(args: string[], timeoutMs = 120_000): Promise<Run> {
  const started = Date.now();
  return new Promise((resolve) => {
    execFile(process.execPath, [GOVERNOR, ...args], { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, GOVERNOR_CONFIG: '' } },
      (err, stdout, stderr) => {
        const raw = err ? (err as { code?: unknown }).code : 0;
        resolve({ code: typeof raw === 'number' ? raw : 1, stdout, stderr, ms: Date.now() - started });
      });
  });
}

function ok(run: Run, what: string): Run {
  assert.equal(run.code, 0, `${what} failed (exit ${run.code}):\n${run.stderr}\n${run.stdout}`);
  return run;
}

function pgEnv(config: GovernorConfig): NodeJS.ProcessEnv {
  return { ...process.env, PGPASSWORD: config.postgresql.authentication.superuser.password, PGCONNECT_TIMEOUT: '5' };
}

function pgbench(config: GovernorConfig, args: string[]): ChildProcess {
  return spawn(path.join(PG_BIN_DIR, 'pgbench'), ['-h', config.postgresql.socket_dir, '-p', String(pgPort(config)), '-U', 'postgres', ...args, 'postgres'],
    { env: pgEnv(config), stdio: ['ignore', 'ignore', 'pipe'] });
}

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode);
    else child.once('exit', (code) => resolve(code));
  });
}

async function pgbenchInit(config: GovernorConfig, scale: number): Promise<void> {
  const child = pgbench(config, ['-i', '-q', '-s', String(scale)]);
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  assert.equal(await exited(child), 0, `pgbench -i failed: ${stderr}`);
}

/** pg_dump of the database, without the per-run random \restrict key lines. */
function pgDump(host: string, port: number, config: GovernorConfig): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(path.join(PG_BIN_DIR, 'pg_dump'), ['-h', host, '-p', String(port), '-U', 'postgres', '-d', 'postgres'],
      { env: pgEnv(config), maxBuffer: 512 * 1024 * 1024 }, (err, stdout, stderr) => {
        if (err) reject(new Error(`pg_dump failed: ${stderr}`));
        else resolve(stdout.split('\n').filter((l) => !/^\\(un)?restrict /.test(l)).join('\n'));
      });
  });
}

/** pg_switch_wal and wait until the segment holding the switch is archived. */
async function switchAndWaitArchived(config: GovernorConfig): Promise<string> {
  const [row] = await pgQuery<{ file: string }>(config, 'SELECT pg_walfile_name(pg_switch_wal()) AS file');
  const file = row!.file;
  await waitFor(`WAL ${file} archived`, async () => {
    const [s] = await pgQuery<{ last: string | null; failed: string | null }>(config,
      'SELECT last_archived_wal AS last, last_failed_wal AS failed FROM pg_stat_archiver');
    return s!.last !== null && s!.last >= file;
  }, 60_000, 100);
  return file;
}

/** Start PostgreSQL on a restored directory (its postgresql.conf names port and socket). */
async function startCopy(dir: string, config: GovernorConfig): Promise<{ port: number; socketDir: string; stop: () => Promise<void> }> {
  const conf = await readFile(path.join(dir, 'postgresql.conf'), 'utf8');
  const port = Number(/^port = (\d+)$/m.exec(conf)![1]);
  const socketDir = /^unix_socket_directories = '([^']+)'$/m.exec(conf)![1]!;
  const user = await resolvePgUser(null);
  const postmaster = await spawnPostmaster(PG_BIN_DIR, dir, `${dir}.copy.log`, user);
  const { superuser } = config.postgresql.authentication;
  await waitFor(`restored copy in ${dir} to accept connections`, async () => {
    if (postmaster.exit !== null) throw new Error(`postgres exited: ${await readFile(`${dir}.copy.log`, 'utf8').catch(() => '')}`);
    const { default: pg } = await import('pg');
    const c = new pg.Client({ host: socketDir, port, user: superuser.username, password: superuser.password, database: 'postgres' });
    c.on('error', () => undefined);
    await c.connect();
    await c.end();
    return true;
  }, 30_000, 100);
  return {
    port, socketDir,
    stop: async () => {
      if (postmaster.exit !== null) return;
      process.kill(postmaster.pid, 'SIGINT');
      await waitFor('restored copy to stop', async () => postmaster.exit !== null, 30_000, 50);
    },
  };
}

async function copyQuery<R>(copy: { port: number; socketDir: string }, config: GovernorConfig, sql: string): Promise<R[]> {
  const { default: pg } = await import('pg');
  const { superuser } = config.postgresql.authentication;
  const c = new pg.Client({ host: copy.socketDir, port: copy.port, user: superuser.username, password: superuser.password, database: 'postgres' });
  c.on('error', () => undefined);
  await c.connect();
  try {
    return (await c.query(sql)).rows as R[];
  } finally {
    await c.end();
  }
}

interface Cluster {
  config: GovernorConfig;
  configFile: string;
  controller: PostgresController;
  root: string;
}

const roots: Array<{ root: string; configs: GovernorConfig[] }> = [];
const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const fn of cleanups) await fn().catch(() => undefined);
  if (!process.env.GOVERNOR_TEST_KEEP) for (const { root, configs } of roots) await cleanupPg(root, configs);
});

/** A PostgreSQL member archiving through `governor wal-push` into `storage`. */
async function startCluster(name: string, storage: string, compression: CompressionMethod, s3?: Partial<ArchiveConfig['s3']>): Promise<Cluster> {
  const root = await makePgTestRoot(`governor-backup-${name}-`);
  const config = await pgMemberConfig(root, 'm1', { superuserPassword: `su'pa:ss w"rd` });
  roots.push({ root, configs: [config] });
  const user = await resolvePgUser(null);
  const spool = path.join(root, 'spool');
  await mkdir(spool, { mode: 0o700 });
  if (user.uid !== undefined) await chown(spool, user.uid, user.gid!);
  // A space, a quote and a % in the config path exercise the quoting of archive_command and restore_command.
  const confDir = path.join(root, "conf 'dir' 100%");
  await mkdir(confDir, { mode: 0o755 });
  const configFile = path.join(confDir, 'governor.yml');
  const defaults = defaultArchiveConfig();
  config.archive = {
    ...defaults, enabled: true, storage, compression, s3: { ...defaults.s3, ...s3 },
    upload_concurrency: 2, prefetch: 2, backup_schedule: null, backup_num_to_retain: 2, backup_wal_timeout: 300, spool_dir: spool,
  };
  config.postgresql.parameters = { max_wal_size: '256MB', checkpoint_timeout: '30min' };
  await writeFile(configFile, stringify(config), { mode: 0o644 });
  const dataParent = path.dirname(config.postgresql.data_dir);
  await mkdir(dataParent, { recursive: true, mode: 0o755 });
  if (user.uid !== undefined) await chown(dataParent, user.uid, user.gid!);
  const controller = createPostgresController(config, logger.child('pg'), { archiveCommands: archiveCommands([process.execPath, GOVERNOR], configFile) });
  await controller.initdb();
  await controller.writeConfig({ role: 'primary' });
  await controller.start(30_000);
  await controller.createRoles();
  cleanups.push(() => controller.close());
  return { config, configFile, controller, root };
}

async function backupList(cluster: Cluster): Promise<BackupSentinel[]> {
  return JSON.parse(ok(await governor(['backup-list', '-c', cluster.configFile, '--format', 'json']), 'backup-list').stdout) as BackupSentinel[];
}

/** backup-push while pgbench writes; then restore to the end of WAL and compare pg_dump. */
async function backupUnderLoadAndRestore(t: { diagnostic: (m: string) => void }, cluster: Cluster, label: string): Promise<BackupSentinel> {
  const { config } = cluster;
  await pgbenchInit(config, 1);
  await switchAndWaitArchived(config);
  // Rate-limited: the point is writes during the backup, not saturating two cores.
  const load = pgbench(config, ['-n', '-c', '2', '-R', '50', '-T', '120']);
  const transactions = async () => Number((await pgQuery<{ n: string }>(config, 'SELECT count(*) AS n FROM pgbench_history'))[0]!.n);
  try {
    await waitFor('pgbench to commit transactions', async () => (await transactions()) >= 25, 30_000, 50);
    const push = ok(await governor(['backup-push', '-c', cluster.configFile]), 'backup-push');
    const name = push.stdout.trim();
    assert.match(name, /^base_[0-9A-F]{24}_\d{8}T\d{6}Z$/);
    const [sentinel] = (await backupList(cluster)).filter((b) => b.name === name);
    assert.ok(sentinel, 'backup-list shows the new backup');
    t.diagnostic(`${label}: backup-push ${(sentinel.raw_size / 1e6).toFixed(1)} MB raw, ${(sentinel.compressed_size / 1e6).toFixed(1)} MB ${sentinel.compression} ` +
      `in ${(push.ms / 1000).toFixed(1)} s (${(sentinel.raw_size / 1e6 / (push.ms / 1000)).toFixed(1)} MB/s incl. process start and checkpoint)`);
    // Keep writing after the backup ended (about a second of pgbench): restore must replay past it.
    const afterBackup = await transactions();
    await waitFor('pgbench to commit after the backup', async () => (await transactions()) >= afterBackup + 50, 30_000, 50);
  } finally {
    load.kill('SIGINT');
    await exited(load);
  }
  await switchAndWaitArchived(config);
  const source = await pgDump(config.postgresql.socket_dir, pgPort(config), config);
  const dir = path.join(cluster.root, `restored-${label}`);
  const started = Date.now();
  const result = await restore({
    config, configFile: cluster.configFile, governorArgv: [process.execPath, GOVERNOR], logger, dir,
    target: { inclusive: true, action: 'promote' }, start: true, timeoutMs: 90_000, progressTty: null,
  });
  t.diagnostic(`${label}: restore ${result.backup.name}: fetch ${(result.fetch.bytes / 1e6).toFixed(1)} MB in ${(result.fetch.ms / 1000).toFixed(1)} s ` +
    `(${(result.fetch.bytes / 1e6 / (result.fetch.ms / 1000)).toFixed(1)} MB/s), replay ${((result.recoveryMs ?? 0) / 1000).toFixed(1)} s, ` +
    `total ${((Date.now() - started) / 1000).toFixed(1)} s; landed on timeline ${result.timeline} at ${result.replayLsn}`);
  assert.equal(result.outcome, 'promoted');
  assert.equal(result.timeline, 2);
  const mode = (await stat(dir)).mode & 0o777;
  assert.equal(mode, 0o700);
  const conf = await readFile(path.join(dir, 'postgresql.conf'), 'utf8');
  assert.match(conf, /^listen_addresses = '127\.0\.0\.1'$/m);
  assert.match(conf, /^archive_mode = off$/m);
  const copy = await startCopy(dir, config);
  try {
    const restored = await pgDump(copy.socketDir, copy.port, config);
    assert.ok(source.includes('COPY public.pgbench_accounts'), 'the dump holds pgbench data');
    assert.equal(restored, source, 'pg_dump of the restored copy equals the source');
    const [settings] = await copyQuery<{ archive_mode: string; listen: string }>(copy, config,
      "SELECT current_setting('archive_mode') AS archive_mode, current_setting('listen_addresses') AS listen");
    assert.deepEqual(settings, { archive_mode: 'off', listen: '127.0.0.1' });
  } finally {
    await copy.stop();
  }
  return (await backupList(cluster)).at(-1)!;
}

/** A storage backend the whole scenario runs against: where the member archives, how the test
 *  lists what is stored there and tampers with an object behind governor's back. */
interface BackupBackend {
  /** Short name for directories and diagnostics. */
  id: string;
  name: string;
  compression: CompressionMethod;
  open: () => Promise<OpenBackend>;
}

interface OpenBackend {
  storage: string;
  s3?: ArchiveConfig['s3'];
  /** Names stored under `dir` ("wal", "basebackups"), as the backend stores them. */
  names: (dir: string) => Promise<string[]>;
  /** Flip one byte in the middle of the object `key`. */
  tamper: (key: string) => Promise<void>;
}

const BACKENDS: BackupBackend[] = [
  {
    id: 'file',
    name: 'file storage',
    compression: 'lz4',
    open: async () => {
      const archiveRoot = path.join((await makePgTestRoot('governor-archive-')), 'store');
      roots.push({ root: path.dirname(archiveRoot), configs: [] });
      await mkdir(archiveRoot, { mode: 0o777 });
      await chmod(archiveRoot, 0o777);
      return {
        storage: `file://${archiveRoot}`,
        // Every file, sidecars included: retention must leave none of a deleted object behind.
        names: (dir) => readdir(path.join(archiveRoot, dir)),
        tamper: async (key) => {
          const file = path.join(archiveRoot, key);
          await writeFile(file, flipMiddleByte(await readFile(file)));
        },
      };
    },
  },
  {
    id: 's3',
    name: 'S3 storage (s3rver)',
    compression: 'zstd',
    open: async () => {
      const s3 = await startTestS3();
      cleanups.push(() => s3.stop());
      const storage = `${s3.url}/cluster`;
      const objects = openStorage({ ...defaultArchiveConfig(), enabled: true, storage, s3: s3.archiveS3 }, logger);
      return {
        storage,
        s3: s3.archiveS3,
        names: async (dir) => (await objects.list(`${dir}/`)).map((o) => o.key.slice(dir.length + 1)),
        tamper: async (key) => {
          const stored = await objects.head(key);
          const body = await objects.get(key);
          assert.ok(stored && body, `${key} is stored`);
          const chunks: Buffer[] = [];
          for await (const chunk of body) chunks.push(chunk as Buffer);
          await objects.put(key, flipMiddleByte(Buffer.concat(chunks)), { metadata: stored.metadata });
        },
      };
    },
  },
];

function flipMiddleByte(bytes: Buffer): Buffer {
  const at = Math.floor(bytes.length / 2);
  bytes[at] = bytes[at]! ^ 0x55;
  return bytes;
}

for (const backend of BACKENDS) test(`${backend.name}: backup under load, restore, list, retention, PITR, tampering`, { timeout: 300_000 }, async (t) => {
  const store = await backend.open();
  const cluster = await startCluster(backend.id, store.storage, backend.compression, store.s3);
  const { config } = cluster;

  let first!: BackupSentinel;
  await t.test('backup-push under pgbench load; restore to the end of WAL equals the source', async (t) => {
    first = await backupUnderLoadAndRestore(t, cluster, `${backend.id}-${backend.compression}`);
    assert.equal(first.compression, backend.compression);
    assert.equal(first.is_replica, false);
    assert.equal(first.member, 'm1');
    assert.equal(first.timeline, 1);
    assert.match(first.sha256, /^[0-9a-f]{64}$/);
    assert.ok(first.stop_lsn && first.stop_wal_file);
    assert.ok(first.raw_size > 15e6 && first.compressed_size < first.raw_size);
  });

  await t.test('backup-list: table and JSON', async () => {
    const table = ok(await governor(['backup-list', '-c', cluster.configFile]), 'backup-list').stdout;
    assert.match(table, /^NAME\s+FINISHED \(UTC\)\s+START WAL\s+COMPRESSED\s+RAW/);
    assert.ok(table.includes(first.name) && table.includes(first.start_wal_file));
    const json = await backupList(cluster);
    assert.deepEqual(json.map((b) => b.name), [first.name]);
  });

  let second!: BackupSentinel;
  await t.test('backup-delete --retain 1 after a second backup: the first and its WAL go', async () => {
    await pgQuery(config, 'CREATE TABLE more AS SELECT g AS id FROM generate_series(1, 100000) g');
    await switchAndWaitArchived(config);
    const name = ok(await governor(['backup-push', '-c', cluster.configFile]), 'second backup-push').stdout.trim();
    second = (await backupList(cluster)).find((b) => b.name === name)!;
    assert.ok(second);
    const walBefore = await store.names('wal');
    const older = walBefore.filter((f) => /^[0-9A-F]{24}/.test(f) && f.slice(8, 24) < second.start_wal_file.slice(8, 24));
    assert.ok(older.length > 0, 'there is WAL before the second backup');

    const dry = ok(await governor(['backup-delete', '-c', cluster.configFile, '--retain', '1']), 'backup-delete dry run').stdout;
    assert.match(dry, new RegExp(`would delete backup ${first.name}`));
    assert.match(dry, /dry run/);
    assert.equal((await backupList(cluster)).length, 2, 'a dry run deletes nothing');

    const real = ok(await governor(['backup-delete', '-c', cluster.configFile, '--retain', '1', '--confirm']), 'backup-delete').stdout;
    assert.match(real, new RegExp(`delete backup ${first.name}`));
    assert.deepEqual((await backupList(cluster)).map((b) => b.name), [second.name]);
    assert.deepEqual((await store.names('basebackups')).filter((f) => f.startsWith(first.name)), []);
    const walAfter = await store.names('wal');
    for (const f of older) assert.ok(!walAfter.includes(f), `${f} deleted`);
    const kept = walAfter.filter((f) => /^[0-9A-F]{24}/.test(f));
    assert.ok(kept.length > 0 && kept.every((f) => f.slice(8, 24) >= second.start_wal_file.slice(8, 24)), 'WAL from the kept backup on stays');
  });

  await t.test('point-in-time recovery: row A present, row B absent', async (t) => {
    await pgQuery(config, 'CREATE TABLE pitr (tag text PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp())');
    await pgQuery(config, "INSERT INTO pitr (tag) VALUES ('A')");
    const [{ now }] = (await pgQuery<{ now: string }>(config, "SELECT now()::text AS now")) as [{ now: string }];
    // B commits more than a second after the target time, by the server's clock.
    await waitFor('the server clock a second past the target', async () =>
      (await pgQuery<{ past: boolean }>(config, "SELECT clock_timestamp() > $1::timestamptz + interval '1 second' AS past", [now]))[0]!.past, 10_000, 50);
    await pgQuery(config, "INSERT INTO pitr (tag) VALUES ('B')");
    await switchAndWaitArchived(config);
    const dir = path.join(cluster.root, 'restored-pitr');
    const run = ok(await governor(['restore', '-c', cluster.configFile, '--dir', dir, '--target-time', now], 120_000), 'restore --target-time');
    t.diagnostic(`restore --target-time took ${(run.ms / 1000).toFixed(1)} s: ${run.stdout.trim()}`);
    assert.match(run.stdout, new RegExp(`restored base backup ${second.name}`));
    assert.match(run.stdout, /recovery promoted on timeline \d+ at LSN [0-9A-F]+\/[0-9A-F]+/);
    const copy = await startCopy(dir, config);
    try {
      const rows = await copyQuery<{ tag: string }>(copy, config, 'SELECT tag FROM pitr ORDER BY tag');
      assert.deepEqual(rows.map((r) => r.tag), ['A']);
    } finally {
      await copy.stop();
    }
  });

  await t.test('a tampered backup object: backup-fetch fails naming it, leaves nothing behind', async () => {
    const key = second.parts[0]!.key;
    await store.tamper(key);
    const dir = path.join(cluster.root, 'tampered');
    const run = await governor(['backup-fetch', '-c', cluster.configFile, dir, 'LATEST']);
    assert.notEqual(run.code, 0);
    assert.ok(run.stderr.includes(key), `the error names ${key}: ${run.stderr}`);
    assert.match(run.stderr, /failed verification|checksum/);
    await assert.rejects(stat(dir), { code: 'ENOENT' });
  });
});
