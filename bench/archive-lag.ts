// Archive lag under pgbench: for every WAL segment, the time from PostgreSQL marking it .ready to the
// daemon's uploader leaving its marker (the segment is stored, verified and durable), and to
// PostgreSQL counting it archived (.ready renamed .done, after archive_command returned 0).
//   node dist/bench/archive-lag.js [--seconds 30] [--clients 4] [--scale 10] [--codec lz4] [--storage file,s3]
// A real PostgreSQL 15 archives with the archive_command the daemon renders (the shell fast path), the
// uploader runs as the daemon runs it (child processes as the PostgreSQL user). Times are taken by
// watching pg_wal/archive_status and the spool directory (inotify, plus a 10 ms poll as a fallback).
// Prints p50/p90/p99/max; asserts nothing.

import { watch } from 'node:fs';
import { readdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { WalUploaderProcess } from '../src/archive/wal-uploader-process.js';
import type { ArchiveConfig, CompressionMethod } from '../src/config/types.js';
import { createLogger } from '../src/log/logger.js';
import { createPostgresController } from '../src/postgres/controller.js';
import { archiveCommands } from '../src/postgres/render.js';
import { GOVERNOR_JS } from '../test/helpers/cluster.js';
import { cleanupPg, makePgTestRoot, PG_BIN_DIR, pgPort, pgQuery, waitFor } from '../test/helpers/postgres.js';
import { startTestS3 } from '../test/helpers/s3.js';
import { archivingMember, pgOwnedDir, readyFiles } from '../test/helpers/wal-archive.js';

const execFileAsync = promisify(execFile);
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const SEGMENT_NAME = /^[0-9A-F]{24}$/;

function argument(name: string, fallback: string): string {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 && process.argv[index + 1] ? process.argv[index + 1]! : fallback;
}
const seconds = Number(argument('seconds', '30'));
const clients = Number(argument('clients', '4'));
const scale = Number(argument('scale', '10'));
const codec = argument('codec', 'lz4') as CompressionMethod;
const storages = argument('storage', 'file,s3').split(',');
const logger = createLogger({ level: 'warn' });

/** First time each name appeared in `dir` with `suffix`. */
function watchArrivals(dir: string, suffix: string): { seen: Map<string, number>; stop(): void } {
  const seen = new Map<string, number>();
  const note = (entry: string | null) => {
    if (!entry?.endsWith(suffix)) return;
    const name = entry.slice(0, -suffix.length);
    if (SEGMENT_NAME.test(name) && !seen.has(name)) seen.set(name, performance.now());
  };
  const watcher = watch(dir, { persistent: false }, (_event, entry) => note(entry));
  const poll = setInterval(() => void readdir(dir).then((entries) => entries.forEach(note), () => undefined), 10);
  return { seen, stop: () => { watcher.close(); clearInterval(poll); } };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

function summary(label: string, values: number[]): string {
  const sorted = [...values].sort((a, b) => a - b);
  const f = (p: number) => `${percentile(sorted, p).toFixed(0)}`.padStart(6);
  return `${label.padEnd(34)} n=${String(values.length).padStart(3)}  p50 ${f(50)} ms  p90 ${f(90)} ms  p99 ${f(99)} ms  max ${f(100)} ms`;
}

async function run(root: string, kind: string, archive: Partial<ArchiveConfig>): Promise<void> {
  const member = await archivingMember(root, `lag-${kind}`, archive.storage!, { compression: codec, ...archive }, { archive_timeout: 0, autovacuum: false, max_wal_size: '1GB' });
  await pgOwnedDir(path.dirname(member.config.postgresql.data_dir));
  const commands = archiveCommands([process.execPath, GOVERNOR_JS], member.configFile, { spoolDir: member.config.archive!.spool_dir, storage: member.config.archive!.storage });
  const pg = createPostgresController(member.config, logger, { archiveCommands: commands });
  const uploader = new WalUploaderProcess({ config: member.config, command: [process.execPath, GOVERNOR_JS], configFile: member.configFile, logger, onLog: () => undefined });
  try {
    await pg.initdb();
    await pg.writeConfig({ role: 'primary' });
    await pg.start(60_000);
    await pg.createRoles();
    const { superuser } = member.config.postgresql.authentication;
    const bench = (args: string[]) => execFileAsync(path.join(PG_BIN_DIR, 'pgbench'), ['-h', '127.0.0.1', '-p', String(pgPort(member.config)), '-U', superuser.username, ...args, 'postgres'], {
      env: { ...process.env, PGPASSWORD: superuser.password }, maxBuffer: 16 << 20,
    });
    await bench(['-i', '-q', '-s', String(scale)]);
    await pgQuery(member.config, 'SELECT pg_switch_wal()');
    await uploader.start();
    await waitFor('the initial segments to be archived', async () => (await readyFiles(member.config)).length === 0, 300_000, 100);
    await pgQuery(member.config, 'CHECKPOINT');

    const statusDir = path.join(member.config.postgresql.data_dir, 'pg_wal', 'archive_status');
    const ready = watchArrivals(statusDir, '.ready');
    const done = watchArrivals(statusDir, '.done');
    const marked = watchArrivals(member.config.archive!.spool_dir, '.done');
    const load0 = os.loadavg()[0]!.toFixed(2);
    const { stdout } = await bench(['-N', '-c', String(clients), '-j', String(Math.min(2, clients)), '-T', String(seconds), '-n']);
    await pgQuery(member.config, 'SELECT pg_switch_wal()');
    await waitFor('the archive to drain', async () => (await readyFiles(member.config)).length === 0, 300_000, 50);
    await new Promise((resolve) => setTimeout(resolve, 100));
    ready.stop();
    done.stop();
    marked.stop();
    const names = [...ready.seen.keys()].sort();
    const toMarker = names.flatMap((n) => (marked.seen.has(n) ? [marked.seen.get(n)! - ready.seen.get(n)!] : []));
    const toArchived = names.flatMap((n) => (done.seen.has(n) ? [done.seen.get(n)! - ready.seen.get(n)!] : []));
    const tps = /tps = ([0-9.]+)/.exec(stdout)?.[1] ?? '?';
    console.log(`${kind}: pgbench -N ${seconds} s, ${clients} clients: ${Number(tps).toFixed(0)} tps, ${names.length} segments (${(names.length * 16 / seconds).toFixed(1)} MB/s of WAL); codec ${codec}; load ${load0} → ${os.loadavg()[0]!.toFixed(2)}`);
    console.log(`  ${summary('.ready → uploader marker (durable)', toMarker)}`);
    console.log(`  ${summary('.ready → .done (archive_command 0)', toArchived)}`);
    if (toMarker.length < names.length) console.log(`  ${names.length - toMarker.length} segments had no marker seen (archived by wal-push itself)`);
  } finally {
    await uploader.stop();
    await pg.stop('immediate', 30_000).catch(() => undefined);
  }
}

async function main(): Promise<void> {
  const root = await makePgTestRoot('governor-archive-lag-');
  const s3 = storages.includes('s3') ? await startTestS3() : null;
  try {
    if (storages.includes('file')) await run(root, 'file', { storage: `file://${await pgOwnedDir(path.join(root, 'archive'))}` });
    if (s3) await run(root, 's3rver', { storage: `${s3.url}/lag`, s3: s3.archiveS3 });
  } finally {
    await cleanupPg(root, []);
    await s3?.stop();
  }
}

main().catch((error: Error) => {
  console.error(error.stack ?? error.message);
  process.exit(1);
});
