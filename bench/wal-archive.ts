// WAL archiving throughput: how many segments per second `governor wal-push` archives
//   1. sequential: upload_concurrency 1, no daemon (one upload per archive_command call),
//   2. upload-ahead: upload_concurrency 4, no daemon (wal-push uploads 3 more .ready files beside its own),
//   3. uploader: upload_concurrency 4 with the daemon's WalUploader (archive_command answers from markers),
// under pgbench -N load, against file storage and (when test/helpers/s3.ts is there) s3rver.
//   node dist/bench/wal-archive.js [--seconds 20] [--clients 4] [--scale 5] [--backlog 6] [--storage file,s3]
// Each run archives into its own prefix. After the load it waits for the archive to drain. Then a
// backlog run: archiving is failed on purpose while segments pile up (--backlog x 15 MB of inserts), and
// the time until PostgreSQL has archived them all is the raw capacity. Autovacuum is off so that only
// the load counts. Prints numbers, asserts nothing.

import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { openStorage } from '../src/archive/storage/index.js';
import { WalUploaderProcess } from '../src/archive/wal-uploader-process.js';
import type { ArchiveConfig } from '../src/config/types.js';
import { createLogger } from '../src/log/logger.js';
import { sidecarPaths } from '../src/postgres/controller.js';
import { GOVERNOR_JS } from '../test/helpers/cluster.js';
import { cleanupPg, makePgTestRoot, PG_BIN_DIR, pgPort, pgQuery, waitFor } from '../test/helpers/postgres.js';
import {
  archivedNames, archiverStats, archivingMember, gaps, generateWal, pgOwnedDir, readyFiles, startArchivingPrimary, waitArchived,
  writeConfigFile, type ArchivingMember,
} from '../test/helpers/wal-archive.js';

const execFileAsync = promisify(execFile);
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'; // the SDK's Node 20 notice, once per process
const SEGMENT = 16 << 20;

function argument(name: string, fallback: string): string {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 && process.argv[index + 1] ? process.argv[index + 1]! : fallback;
}
const seconds = Number(argument('seconds', '20'));
const clients = Number(argument('clients', '4'));
const scale = Number(argument('scale', '5'));
const backlog = Number(argument('backlog', '6'));
const storages = argument('storage', 'file,s3').split(',');

const logger = createLogger({ level: 'warn' });

type Mode = 'sequential' | 'upload-ahead' | 'uploader';
const MODES: Mode[] = ['sequential', 'upload-ahead', 'uploader'];

interface StorageTarget {
  kind: string;
  /** The archive settings for a run writing under `prefix`. */
  archive(prefix: string): Partial<ArchiveConfig>;
  stop(): Promise<void>;
}

async function fileTarget(root: string): Promise<StorageTarget> {
  const base = await pgOwnedDir(path.join(root, 'archive'));
  return {
    kind: 'file',
    archive: (prefix) => ({ storage: `file://${base}/${prefix}` }),
    stop: async () => undefined,
  };
}

async function s3Target(): Promise<StorageTarget | null> {
  const spec = '../test/helpers/s3.js';
  const helper = (await import(spec).catch(() => null)) as { startTestS3?: () => Promise<{ endpoint: string; bucket: string; stop(): Promise<void> }> } | null;
  if (!helper?.startTestS3) return null;
  const s3 = await helper.startTestS3();
  return {
    kind: 's3rver',
    archive: (prefix) => ({
      storage: `s3://${s3.bucket}/${prefix}`,
      s3: { region: 'us-east-1', endpoint: s3.endpoint, force_path_style: true, sse: 'none', sse_kms_key_id: null, access_key_id: 'S3RVER', secret_access_key: 'S3RVER' },
    }),
    stop: () => s3.stop(),
  };
}

async function walBytes(member: ArchivingMember): Promise<number> {
  const [row] = await pgQuery<{ lsn: string }>(member.config, "SELECT pg_current_wal_lsn() - '0/0' AS lsn");
  return Number(row!.lsn);
}

async function pgbench(member: ArchivingMember, args: string[]): Promise<string> {
  const { superuser } = member.config.postgresql.authentication;
  const { stdout } = await execFileAsync(path.join(PG_BIN_DIR, 'pgbench'), ['-h', '127.0.0.1', '-p', String(pgPort(member.config)), '-U', superuser.username, ...args, 'postgres'], {
    env: { ...process.env, PGPASSWORD: superuser.password }, maxBuffer: 16 << 20,
  });
  return stdout;
}

async function drained(member: ArchivingMember, timeoutMs = 600_000): Promise<void> {
  await waitFor('the archive to drain', async () => (await readyFiles(member.config)).length === 0, timeoutMs, 50);
}

async function configure(member: ArchivingMember, target: StorageTarget, prefix: string, mode: Mode, enabled = true): Promise<void> {
  const archive = member.config.archive!;
  Object.assign(archive, target.archive(prefix), { upload_concurrency: mode === 'sequential' ? 1 : 4, enabled });
  await writeConfigFile(member.configFile, member.config);
}

let uploadedByUploader = 0;

async function withUploader<T>(member: ArchivingMember, mode: Mode, fn: () => Promise<T>): Promise<T> {
  if (mode !== 'uploader') return fn();
  // As the daemon runs it: a child process, as the PostgreSQL user.
  const uploader = new WalUploaderProcess({
    config: member.config, command: [process.execPath, GOVERNOR_JS], configFile: member.configFile, logger,
    onLog: (line) => { if (line.includes('"msg":"WAL uploaded ahead of archive_command"')) uploadedByUploader++; },
  });
  await uploader.start();
  try {
    return await fn();
  } finally {
    await uploader.stop();
  }
}

async function loadRun(member: ArchivingMember, target: StorageTarget, mode: Mode): Promise<string> {
  await configure(member, target, `load-${mode}`, mode);
  await pgQuery(member.config, 'CHECKPOINT');
  return withUploader(member, mode, async () => {
    const archived0 = (await archiverStats(member.config)).archived_count;
    const wal0 = await walBytes(member);
    const started = Date.now();
    const out = await pgbench(member, ['-N', '-c', String(clients), '-j', String(Math.min(clients, 2)), '-T', String(seconds), '-n']);
    const loadMs = Date.now() - started;
    const tps = Number(/tps = ([0-9.]+)/.exec(out)?.[1] ?? NaN);
    const generated = (await walBytes(member)) - wal0;
    const duringLoad = (await archiverStats(member.config)).archived_count - archived0;
    const backlogAtEnd = (await readyFiles(member.config)).length;
    await pgQuery(member.config, 'SELECT pg_switch_wal()');
    await drained(member);
    const totalMs = Date.now() - started;
    const archived = (await archiverStats(member.config)).archived_count - archived0;
    return `${target.kind.padEnd(7)} ${mode.padEnd(13)} pgbench ${tps.toFixed(0)} tps, WAL ${(generated / SEGMENT / (loadMs / 1000)).toFixed(2)} seg/s; ` +
      `archived ${duringLoad} during the load (${(duringLoad / (loadMs / 1000)).toFixed(2)} seg/s), backlog ${backlogAtEnd} at its end, ` +
      `${archived} in all after ${(totalMs / 1000).toFixed(1)} s (${(archived / (totalMs / 1000)).toFixed(2)} seg/s)`;
  });
}

async function backlogRun(member: ArchivingMember, target: StorageTarget, mode: Mode): Promise<string> {
  await configure(member, target, `backlog-${mode}`, mode, false); // wal-push now fails: segments pile up
  let last = '';
  for (let i = 0; i < backlog; i++) last = await generateWal(member.config, 15);
  const pending = (await readyFiles(member.config)).filter((n) => n <= last).length;
  await configure(member, target, `backlog-${mode}`, mode, true);
  return withUploader(member, mode, async () => {
    const started = Date.now();
    await pgQuery(member.config, 'SELECT pg_switch_wal()'); // a new .ready wakes the archiver now, not in 60 s
    await waitArchived(member.config, last, 600_000);
    const ms = Date.now() - started;
    const storage = openStorage(member.config.archive!, logger);
    const missing = gaps(await archivedNames(storage));
    return `${target.kind.padEnd(7)} ${mode.padEnd(13)} backlog of ${pending} segments drained in ${(ms / 1000).toFixed(1)} s: ` +
      `${(pending / (ms / 1000)).toFixed(2)} seg/s${missing.length ? `  GAPS: ${missing.join(' ')}` : ''}`;
  });
}

async function main(): Promise<void> {
  const root = await makePgTestRoot('governor-walbench-');
  const targets: StorageTarget[] = [];
  let member: ArchivingMember | null = null;
  try {
    if (storages.includes('file')) targets.push(await fileTarget(root));
    if (storages.includes('s3')) {
      const s3 = await s3Target();
      if (s3) targets.push(s3);
      else console.log('s3rver: test/helpers/s3.ts not available, skipped');
    }
    const first = targets[0]!;
    member = await startArchivingPrimary(
      await archivingMember(root, 'a', first.archive('init').storage!, { ...first.archive('init'), upload_concurrency: 4 }, { archive_timeout: 0, autovacuum: false }),
      logger,
    );
    await pgbench(member, ['-i', '-s', String(scale), '-q']);
    await pgQuery(member.config, 'SELECT pg_switch_wal()');
    await drained(member);
    console.log(`settings: pgbench -N ${seconds} s, ${clients} clients, scale ${scale}; backlog ${backlog} segments; ` +
      `compression ${member.config.archive!.compression}; wal-push = node ${path.basename(process.execPath)} dist/src/cli/governor.js`);
    const lines: string[] = [];
    for (const target of targets) {
      for (const mode of MODES) {
        const line = await loadRun(member, target, mode);
        console.log(line);
        lines.push(line);
      }
      for (const mode of MODES) {
        const line = await backlogRun(member, target, mode);
        console.log(line);
        lines.push(line);
      }
    }
    const log = await readFile(sidecarPaths(member.config.postgresql.data_dir).logFile, 'utf8');
    console.log(`segments uploaded by the uploader process: ${uploadedByUploader}`);
    console.log(`archive_command calls answered from a marker: ${(log.match(/"outcome":"marker"/g) ?? []).length}, uploaded by wal-push itself: ${(log.match(/"msg":"WAL archived","[^}]*"outcome":"uploaded"/g) ?? []).length}`);
  } finally {
    await member?.pg.close().catch(() => undefined);
    await cleanupPg(root, member ? [member.config] : []);
    for (const t of targets) await t.stop().catch(() => undefined);
  }
}

main().catch((error: Error) => {
  console.error(error.stack ?? error.message);
  process.exit(1);
});
