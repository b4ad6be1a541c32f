// Base backup and restore throughput: `governor backup-push` of a pgbench database, then
// `governor backup-fetch DIR LATEST`, per codec and storage, timed from the outside as an operator
// would run them.
//   node dist/bench/backup-restore.js [--scale 60] [--codecs lz4,zstd] [--storage file,s3]
// MB/s = the data directory's size without pg_wal (what pg_basebackup -X none reads) / wall time. Prints numbers, asserts nothing.

import { execFile } from 'node:child_process';
import { readdir, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { ArchiveConfig, CompressionMethod } from '../src/config/types.js';
import { createLogger } from '../src/log/logger.js';
import { GOVERNOR_JS, runGovernor } from '../test/helpers/cluster.js';
import { cleanupPg, makePgTestRoot, PG_BIN_DIR, pgPort, pgQuery, waitFor } from '../test/helpers/postgres.js';
import { startTestS3 } from '../test/helpers/s3.js';
import { archivingMember, pgOwnedDir, readyFiles, startArchivingPrimary, writeConfigFile } from '../test/helpers/wal-archive.js';
import { WalUploaderProcess } from '../src/archive/wal-uploader-process.js';

const execFileAsync = promisify(execFile);
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

function argument(name: string, fallback: string): string {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 && process.argv[index + 1] ? process.argv[index + 1]! : fallback;
}
const scale = Number(argument('scale', '60'));
const codecs = argument('codecs', 'lz4,zstd').split(',') as CompressionMethod[];
const storages = argument('storage', 'file,s3').split(',');
const logger = createLogger({ level: 'warn' });

async function treeBytes(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) total += await treeBytes(full);
    else if (entry.isFile()) total += (await stat(full)).size;
  }
  return total;
}

async function main(): Promise<void> {
  const root = await makePgTestRoot('governor-backup-bench-');
  const s3 = storages.includes('s3') ? await startTestS3() : null;
  const targets: Array<{ kind: string; archive: (prefix: string) => Partial<ArchiveConfig>; prepare?: (prefix: string) => Promise<void> }> = [];
  if (storages.includes('file')) {
    const base = await pgOwnedDir(path.join(root, 'archive'));
    // Each prefix is created for the PostgreSQL user: wal-push (as that user) archives into it too.
    targets.push({ kind: 'file', archive: (prefix) => ({ storage: `file://${base}/${prefix}` }), prepare: (prefix) => pgOwnedDir(path.join(base, prefix)).then(() => undefined) });
  }
  if (s3) targets.push({ kind: 's3rver', archive: (prefix) => ({ storage: `${s3.url}/${prefix}`, s3: s3.archiveS3 }) });
  await targets[0]!.prepare?.('wal');
  const first = targets[0]!.archive('wal');
  const member = await startArchivingPrimary(await archivingMember(root, 'a', first.storage!, first, { autovacuum: false }), logger);
  let uploader: WalUploaderProcess | null = null;
  const env = { ...process.env, ...(s3 ? { AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey } : {}) };
  try {
    const { superuser } = member.config.postgresql.authentication;
    await execFileAsync(path.join(PG_BIN_DIR, 'pgbench'), ['-h', '127.0.0.1', '-p', String(pgPort(member.config)), '-U', superuser.username, '-i', '-q', '-s', String(scale), 'postgres'], {
      env: { ...process.env, PGPASSWORD: superuser.password }, maxBuffer: 16 << 20,
    });
    await pgQuery(member.config, 'CHECKPOINT');
    // pg_basebackup waits at its end until the backup's WAL is archived: drain pgbench -i's WAL
    // first, and keep the daemon's uploader running throughout (as in production), so the numbers
    // are the backup's own rather than the cold archive_command's.
    await pgQuery(member.config, 'SELECT pg_switch_wal()');
    uploader = new WalUploaderProcess({ config: member.config, command: [process.execPath, GOVERNOR_JS], configFile: member.configFile, logger, onLog: () => undefined });
    await uploader.start();
    await waitFor('the archive to drain', async () => (await readyFiles(member.config)).length === 0, 600_000, 100);
    const dataBytes = (await treeBytes(member.config.postgresql.data_dir)) - (await treeBytes(path.join(member.config.postgresql.data_dir, 'pg_wal')));
    const [size] = await pgQuery<{ size: string }>(member.config, "SELECT pg_size_pretty(sum(pg_database_size(datname))) AS size FROM pg_database");
    console.log(`pgbench scale ${scale}: databases ${size!.size}, data directory without pg_wal ${(dataBytes / 1e6).toFixed(0)} MB; ${os.cpus()[0]?.model ?? '?'} x${os.cpus().length}; load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
    console.log('codec  storage   backup-push MB/s (s)   backup-fetch MB/s (s)   stored MB  ratio');
    for (const codec of codecs) {
      for (const target of targets) {
        await target.prepare?.(`backup-${codec}`);
        Object.assign(member.config.archive!, target.archive(`backup-${codec}`), { compression: codec });
        await writeConfigFile(member.configFile, member.config);
        let started = Date.now();
        const pushed = await runGovernor(['backup-push', '-c', member.configFile], { env, timeoutMs: 1_800_000 });
        if (pushed.code !== 0) throw new Error(`backup-push failed: ${pushed.stderr}`);
        const pushSeconds = (Date.now() - started) / 1000;
        const listed = await runGovernor(['backup-list', '-c', member.configFile, '--format', 'json'], { env });
        const backups = JSON.parse(listed.stdout) as Array<{ name: string; compressed_size?: number; size?: number }>;
        const stored = backups.at(-1)?.compressed_size ?? NaN;
        const dir = path.join(root, `restore-${codec}-${target.kind}`);
        started = Date.now();
        const fetched = await runGovernor(['backup-fetch', '-c', member.configFile, dir, 'LATEST'], { env, timeoutMs: 1_800_000 });
        if (fetched.code !== 0) throw new Error(`backup-fetch failed: ${fetched.stderr}`);
        const fetchSeconds = (Date.now() - started) / 1000;
        const mb = dataBytes / 1e6;
        console.log(`${codec.padEnd(6)} ${target.kind.padEnd(8)} ${(mb / pushSeconds).toFixed(0).padStart(12)} (${pushSeconds.toFixed(1)})` +
          `${(mb / fetchSeconds).toFixed(0).padStart(17)} (${fetchSeconds.toFixed(1)})   ${(stored / 1e6).toFixed(0).padStart(9)} ${(dataBytes / stored).toFixed(2).padStart(6)}`);
        await rm(dir, { recursive: true, force: true });
      }
    }
    console.log(`load average at end ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}; governor: node ${path.relative(process.cwd(), GOVERNOR_JS)}`);
  } finally {
    await uploader?.stop();
    await member.pg.close().catch(() => undefined);
    await cleanupPg(root, [member.config]);
    await s3?.stop();
  }
}

main().catch((error: Error) => {
  console.error(error.stack ?? error.message);
  process.exit(1);
});
