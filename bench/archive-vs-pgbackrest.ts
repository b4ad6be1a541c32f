// WAL archiving side by side with pgBackRest, on the same real WAL segments, one archive_command
// invocation per segment as PostgreSQL's archiver runs it (issue 5).
//   node dist/bench/archive-vs-pgbackrest.js [--segments 50] [--scale 20] [--codecs lz4,zstd,gzip]
//        [--storage file,s3] [--governor node|binary] [--no-pgbackrest] [--no-cold]
//
// 1. A throw-away PostgreSQL 15 (archive_mode on, archive_command '' so .ready files pile up) is
//    loaded with pgbench -i, then pgbench -N after a checkpoint (full-page images), until it has
//    written --segments complete segments; they are copied aside and used by every run below.
// 2. For every codec:
//    - pgbackrest archive-push (Debian's pgbackrest; sync mode, local posix repo in a temp dir,
//      compress-type lz4/zst/gz at the level governor uses), one `sh -c` per segment;
//    - governor "pipeline": a data directory whose pg_wal holds the segments, the daemon's WAL
//      uploader (a `governor wal-uploader` child process, as the daemon runs it) already running;
//      at t0 every segment turns .ready and the rendered archive_command (the shell fast path that
//      confirms the uploader's marker, else `governor wal-push`) runs once per segment, in order,
//      as the archiver does; the time is t0 → the last invocation returned 0;
//    - governor "cold": no uploader, `governor wal-push` per segment with upload_concurrency 1
//      (every call starts governor and uploads its own segment).
//    governor runs against file storage and s3rver (pgBackRest only against its local repo:
//    it speaks S3 over TLS only, which s3rver does not offer).
// Every invocation runs as the PostgreSQL OS user through /bin/sh -c, like PostgreSQL's system().
// MB/s = raw WAL bytes / wall time; ratio = raw bytes / stored bytes. Prints numbers, asserts nothing.

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readdir, rename, stat, writeFile, chown } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { WAL_PREFIX } from '../src/archive/layout.js';
import { openStorage } from '../src/archive/storage/index.js';
import { WalUploaderProcess } from '../src/archive/wal-uploader-process.js';
import { defaultArchiveConfig } from '../src/config/defaults.js';
import type { ArchiveConfig, CompressionMethod, GovernorConfig } from '../src/config/types.js';
import { createLogger } from '../src/log/logger.js';
import { describeFailure, pgEnvironment, resolvePgUser, runPgBinary, type PgUser } from '../src/postgres/exec.js';
import { archiveCommands } from '../src/postgres/render.js';
import { freePort } from '../src/util/ports.js';
import { GOVERNOR_JS } from '../test/helpers/cluster.js';
import { cleanupPg, makePgTestRoot, PG_BIN_DIR, pgMemberConfig } from '../test/helpers/postgres.js';
import { startTestS3, type TestS3 } from '../test/helpers/s3.js';
import { pgOwnedDir, writeConfigFile } from '../test/helpers/wal-archive.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const SEGMENT_NAME = /^[0-9A-F]{24}$/;
const MB = 1e6;

function argument(name: string, fallback: string): string {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 && process.argv[index + 1] ? process.argv[index + 1]! : fallback;
}
const segmentCount = Number(argument('segments', '50'));
const scale = Number(argument('scale', '20'));
const codecs = argument('codecs', 'lz4,zstd,gzip').split(',') as CompressionMethod[];
const storages = argument('storage', 'file,s3').split(',');
const withPgbackrest = !process.argv.includes('--no-pgbackrest');
const withCold = !process.argv.includes('--no-cold');
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const governorArgv = argument('governor', 'node') === 'binary' ? [path.join(repoRoot, 'dist/governor')] : [process.execPath, GOVERNOR_JS];

/** pgBackRest's name and level for each of our codecs (the levels governor compresses at). */
const PGBACKREST: Partial<Record<CompressionMethod, { type: string; level: number }>> = {
  lz4: { type: 'lz4', level: 1 },
  zstd: { type: 'zst', level: 1 },
  gzip: { type: 'gz', level: 6 },
};

const logger = createLogger({ level: 'warn' });

interface Row {
  codec: string;
  tool: string;
  storage: string;
  seconds: number;
  rawBytes: number;
  storedBytes: number;
  failures: number;
  note: string;
}

async function pg(user: PgUser, name: string, args: string[], env: Record<string, string> = {}): Promise<string> {
  const result = await runPgBinary(PG_BIN_DIR, name, args, user, { timeoutMs: 600_000, env });
  if (result.code !== 0) throw new Error(describeFailure(name, result));
  return result.stdout;
}

/** `sh -c command` as the PostgreSQL user in `cwd`, as the archiver's system() runs archive_command. */
function shell(command: string, cwd: string, user: PgUser, env: Record<string, string> = {}): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', command], { cwd, uid: user.uid, gid: user.gid, env: pgEnvironment(user, env), stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr = (stderr + d).slice(-4000); });
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, stderr }));
  });
}

/** Bytes of all files below `dir` (ours: object data files, not the .meta.json sidecars). */
async function treeBytes(dir: string, skip: (name: string) => boolean = () => false): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) total += await treeBytes(full, skip);
    else if (entry.isFile() && !skip(entry.name)) total += (await stat(full)).size;
  }
  return total;
}

interface Generated {
  dataDir: string;
  socketDir: string;
  port: number;
  segmentsDir: string;
  names: string[];
  rawBytes: number;
  stop(): Promise<void>;
}

/** Real WAL from pgbench; PostgreSQL stays up (pgBackRest's stanza-create talks to it) until stop(). */
async function generateSegments(root: string, user: PgUser, started: (stop: () => Promise<void>) => void): Promise<Generated> {
  const dataDir = path.join(root, 'pg', 'data');
  const socketDir = await pgOwnedDir(path.join(root, 'pg', 'sock'));
  await pgOwnedDir(path.join(root, 'pg'));
  const port = await freePort();
  await pg(user, 'initdb', ['-D', dataDir, '-U', 'postgres', '--auth=trust', '--no-sync', '-k', '-E', 'UTF8']);
  const options = `-c listen_addresses='' -k ${socketDir} -p ${port} -c max_wal_size=8GB -c checkpoint_timeout=1h -c wal_level=replica -c archive_mode=on -c archive_command='' -c autovacuum=off`;
  await pg(user, 'pg_ctl', ['-D', dataDir, '-o', options, '-l', path.join(root, 'pg', 'log'), '-w', 'start']);
  const connect = ['-h', socketDir, '-p', String(port), '-U', 'postgres'];
  const stop = () => pg(user, 'pg_ctl', ['-D', dataDir, '-m', 'fast', '-w', 'stop']).then(() => undefined);
  started(stop);
  const statusDir = path.join(dataDir, 'pg_wal', 'archive_status');
  const ready = async () => (await readdir(statusDir)).filter((n) => n.endsWith('.ready')).map((n) => n.slice(0, -6)).filter((n) => SEGMENT_NAME.test(n)).sort();
  await pg(user, 'pgbench', [...connect, '-i', '-q', '-s', String(scale), 'postgres']);
  await pg(user, 'psql', [...connect, '-c', 'CHECKPOINT', 'postgres']);
  // A checkpoint before every round: the first change of each page after one is a full-page image,
  // the bulk of a busy server's WAL (and what makes it compress as it does).
  while ((await ready()).length < segmentCount) {
    await pg(user, 'psql', [...connect, '-c', 'CHECKPOINT', 'postgres']);
    await pg(user, 'pgbench', [...connect, '-N', '-c', '4', '-j', '2', '-T', '5', '-n', 'postgres'], { PGOPTIONS: '-c synchronous_commit=off' });
  }
  await pg(user, 'psql', [...connect, '-c', 'SELECT pg_switch_wal()', 'postgres']);
  const names = (await ready()).slice(0, segmentCount);
  const segmentsDir = await pgOwnedDir(path.join(root, 'segments'));
  let rawBytes = 0;
  for (const name of names) {
    await copyFile(path.join(dataDir, 'pg_wal', name), path.join(segmentsDir, name));
    if (user.uid !== undefined) await chown(path.join(segmentsDir, name), user.uid, user.gid!);
    rawBytes += (await stat(path.join(segmentsDir, name))).size;
  }
  return { dataDir, socketDir, port, segmentsDir, names, rawBytes, stop };
}

async function pgbackrestRun(root: string, gen: Generated, user: PgUser, codec: CompressionMethod, stanzaCreate: boolean): Promise<Row | null> {
  const settings = PGBACKREST[codec];
  if (!settings) return null;
  const dir = await pgOwnedDir(path.join(root, `pgbackrest-${codec}`));
  const repo = path.join(dir, 'repo');
  const conf = path.join(dir, 'pgbackrest.conf');
  if (stanzaCreate) {
    await writeFile(conf, [
      '[global]', `repo1-path=${repo}`, `log-path=${dir}`, `lock-path=${dir}`, `spool-path=${dir}`,
      'log-level-console=warn', 'log-level-file=off', 'archive-async=n',
      `compress-type=${settings.type}`, `compress-level=${settings.level}`, 'start-fast=y', '',
      '[bench]', `pg1-path=${gen.dataDir}`, `pg1-socket-path=${gen.socketDir}`, `pg1-port=${gen.port}`, '',
    ].join('\n'), { mode: 0o644 });
    const created = await shell(`pgbackrest --config=${conf} --stanza=bench stanza-create`, '/', user);
    if (created.code !== 0) throw new Error(`pgbackrest stanza-create failed: ${created.stderr}`);
    return null;
  }
  let failures = 0;
  const started = process.hrtime.bigint();
  for (const name of gen.names) {
    for (;;) {
      const result = await shell(`pgbackrest --config=${conf} --stanza=bench archive-push ${path.join(gen.segmentsDir, name)}`, gen.dataDir, user);
      if (result.code === 0) break;
      if (++failures > 3) throw new Error(`pgbackrest archive-push ${name} failed: ${result.stderr}`);
    }
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const stored = await treeBytes(path.join(repo, 'archive'), (n) => n.startsWith('archive.info'));
  return { codec, tool: `pgbackrest ${settings.type} -${settings.level}`, storage: 'file', seconds, rawBytes: gen.rawBytes, storedBytes: stored, failures, note: 'archive-push, sync' };
}

interface Target {
  kind: string;
  archive(prefix: string): Partial<ArchiveConfig>;
  /** Bytes stored under `prefix`. */
  storedBytes(prefix: string): Promise<number>;
}

function fileTarget(base: string): Target {
  return {
    kind: 'file',
    archive: (prefix) => ({ storage: `file://${base}/${prefix}` }),
    storedBytes: (prefix) => treeBytes(path.join(base, prefix, WAL_PREFIX), (n) => n.endsWith('.meta.json')),
  };
}

function s3Target(s3: TestS3): Target {
  const archive = (prefix: string): Partial<ArchiveConfig> => ({ storage: `s3://${s3.bucket}/${prefix}`, s3: s3.archiveS3 });
  return {
    kind: 's3rver',
    archive,
    storedBytes: async (prefix) => {
      const storage = openStorage({ ...defaultArchiveConfig(), enabled: true, ...archive(prefix) } as ArchiveConfig, logger);
      return (await storage.list(WAL_PREFIX)).reduce((sum, o) => sum + o.size, 0);
    },
  };
}

/** A data directory whose pg_wal holds copies of the segments (not yet .ready), and its config file. */
async function governorMember(root: string, gen: Generated, id: string, archive: Partial<ArchiveConfig>): Promise<{ config: GovernorConfig; configFile: string }> {
  const memberRoot = await pgOwnedDir(path.join(root, id));
  const config = await pgMemberConfig(memberRoot, 'm');
  await pgOwnedDir(path.join(memberRoot, 'm'));
  const dataDir = await pgOwnedDir(config.postgresql.data_dir, 0o700);
  const walDir = await pgOwnedDir(path.join(dataDir, 'pg_wal'), 0o700);
  await pgOwnedDir(path.join(walDir, 'archive_status'), 0o700);
  const user = await resolvePgUser(null);
  for (const name of gen.names) {
    await copyFile(path.join(gen.segmentsDir, name), path.join(walDir, name));
    if (user.uid !== undefined) await chown(path.join(walDir, name), user.uid, user.gid!);
  }
  config.archive = { ...defaultArchiveConfig(), enabled: true, spool_dir: await pgOwnedDir(path.join(memberRoot, 'spool')), ...archive } as ArchiveConfig;
  const configFile = path.join(memberRoot, 'governor.yml');
  await writeConfigFile(configFile, config);
  return { config, configFile };
}

/** PostgreSQL's expansion of archive_command: %p, %f and %% (any other % stays as it is). */
function expandArchiveCommand(command: string, p: string, f: string): string {
  return command.replace(/%([pf%])/g, (_m, c: string) => (c === 'p' ? p : c === 'f' ? f : '%'));
}

/** Mark every segment .ready at once, then run `command` per segment in order, as the archiver does
 *  (a failure is retried after 1 s, as PostgreSQL does); resolves the seconds from t0 to the last exit 0. */
async function archiveAll(config: GovernorConfig, names: string[], command: string, user: PgUser): Promise<{ seconds: number; failures: number; lastError: string; callMs: number[]; startedAt: number }> {
  const dataDir = config.postgresql.data_dir;
  const statusDir = path.join(dataDir, 'pg_wal', 'archive_status');
  const started = process.hrtime.bigint();
  const startedAt = Date.now();
  const callMs: number[] = [];
  await Promise.all(names.map((n) => writeFile(path.join(statusDir, `${n}.ready`), '').then(async () => { if (user.uid !== undefined) await chown(path.join(statusDir, `${n}.ready`), user.uid, user.gid!); })));
  let failures = 0;
  let lastError = '';
  for (const name of names) {
    for (;;) {
      const callStarted = Date.now();
      const result = await shell(expandArchiveCommand(command, `pg_wal/${name}`, name), dataDir, user);
      callMs.push(Date.now() - callStarted);
      if (result.code === 0) break;
      failures++;
      lastError = result.stderr.trim().split('\n').slice(-1)[0] ?? '';
      if (failures > 20) throw new Error(`archive_command failed 20 times, last: ${result.stderr}`);
      await new Promise((r) => setTimeout(r, 1000));
    }
    await rename(path.join(statusDir, `${name}.ready`), path.join(statusDir, `${name}.done`));
  }
  return { seconds: Number(process.hrtime.bigint() - started) / 1e9, failures, lastError, callMs, startedAt };
}

/** "p50 / max" of a list of milliseconds. */
function spread(ms: number[]): string {
  if (ms.length === 0) return '-';
  const sorted = [...ms].sort((a, b) => a - b);
  return `${sorted[Math.floor(sorted.length / 2)]} / ${sorted.at(-1)} ms`;
}

async function governorRun(root: string, gen: Generated, user: PgUser, codec: CompressionMethod, target: Target, mode: 'pipeline' | 'cold'): Promise<Row> {
  const prefix = `${mode}-${codec}`;
  const archive = { ...target.archive(prefix), compression: codec, ...(mode === 'cold' ? { upload_concurrency: 1 } : {}) };
  const member = await governorMember(root, gen, `gov-${target.kind}-${prefix}`, archive);
  const commands = mode === 'pipeline'
    ? archiveCommands(governorArgv, member.configFile, { spoolDir: member.config.archive!.spool_dir, storage: member.config.archive!.storage })
    : archiveCommands(governorArgv, member.configFile);
  let uploaded = 0;
  const uploadDoneAt: number[] = [];
  const uploadMs: number[] = [];
  let uploader: WalUploaderProcess | null = null;
  if (mode === 'pipeline') {
    let ready!: () => void;
    const up = new Promise<void>((resolve) => { ready = resolve; });
    uploader = new WalUploaderProcess({
      config: member.config, command: governorArgv, configFile: member.configFile, logger,
      onLog: (line) => {
        if (line.includes('"msg":"WAL uploader started"')) ready();
        if (line.includes('"msg":"WAL uploaded ahead of archive_command"')) {
          uploaded++;
          uploadDoneAt.push(Date.now());
          uploadMs.push(Number(/"ms":(\d+)/.exec(line)?.[1] ?? NaN));
        }
        if (line.includes('"level":"error"') || line.includes('"level":"warn"')) console.error(`  uploader: ${line}`);
      },
    });
    await uploader.start();
    await Promise.race([up, new Promise((r) => setTimeout(r, 15_000))]);
  }
  try {
    const result = await archiveAll(member.config, gen.names, commands.push, user);
    const stored = await target.storedBytes(prefix);
    // Where the time went: the uploader's own time per segment, when it had stored the last one,
    // and what each archive_command call cost (waiting for a marker, or uploading itself).
    const lastUpload = uploadDoneAt.length ? `${((Math.max(...uploadDoneAt) - result.startedAt) / 1000).toFixed(2)} s` : '-';
    const note = mode === 'pipeline'
      ? `uploader running (upload_concurrency ${member.config.archive!.upload_concurrency}), ${uploaded} uploaded by it ` +
        `(each ${spread(uploadMs)}, last stored at ${lastUpload}); archive_command calls ${spread(result.callMs)}`
      : 'no uploader, wal-push per segment, upload_concurrency 1';
    return {
      codec, tool: `governor ${mode}`, storage: target.kind, seconds: result.seconds, rawBytes: gen.rawBytes, storedBytes: stored, failures: result.failures,
      note: result.failures ? `${note}; ${result.failures} failed calls, last: ${result.lastError}` : note,
    };
  } finally {
    await uploader?.stop();
  }
}

function printRow(row: Row, count: number): void {
  const mbs = row.rawBytes / MB / row.seconds;
  console.log(
    `${row.codec.padEnd(6)} ${row.tool.padEnd(22)} ${row.storage.padEnd(8)} ${mbs.toFixed(0).padStart(7)} ${(count / row.seconds).toFixed(1).padStart(7)} ` +
      `${(row.rawBytes / Math.max(1, row.storedBytes)).toFixed(2).padStart(6)} ${row.seconds.toFixed(2).padStart(7)}  ${row.note}`,
  );
}

async function main(): Promise<void> {
  if (governorArgv.length === 1 && !existsSync(governorArgv[0]!)) throw new Error(`--governor binary: ${governorArgv[0]} does not exist (node scripts/build-binary.mjs)`);
  const root = await makePgTestRoot('governor-archive-vs-pgbackrest-');
  const user = await resolvePgUser(null);
  const s3 = storages.includes('s3') ? await startTestS3() : null;
  let gen: Generated | null = null;
  let stopPg: (() => Promise<void>) | null = null;
  try {
    const load = os.loadavg().map((l) => l.toFixed(2)).join(' ');
    console.log(`generating ${segmentCount} WAL segments with pgbench (scale ${scale}) ...`);
    gen = await generateSegments(root, user, (stop) => { stopPg = stop; });
    if (withPgbackrest) for (const codec of codecs) await pgbackrestRun(root, gen, user, codec, true);
    await gen.stop();
    stopPg = null;
    const version = withPgbackrest ? (await new Promise<string>((resolve) => {
      const child = spawn('pgbackrest', ['version'], { stdio: ['ignore', 'pipe', 'ignore'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
      child.once('exit', () => resolve(out.trim()));
      child.once('error', () => resolve('pgbackrest not installed'));
    })) : 'skipped';
    console.log(`data: ${gen.names.length} segments (${(gen.rawBytes / MB).toFixed(0)} MB) ${gen.names[0]} .. ${gen.names.at(-1)}`);
    console.log(`governor: ${governorArgv.map((a) => (a.startsWith(repoRoot) ? path.relative(repoRoot, a) : path.basename(a))).join(' ')}; ${version}; node ${process.version}; ` +
      `${os.cpus()[0]?.model ?? '?'} x${os.cpus().length}; load average at start ${load}`);
    console.log('');
    console.log('codec  tool                   storage     MB/s   seg/s  ratio seconds  notes');
    const targets: Target[] = [];
    if (storages.includes('file')) targets.push(fileTarget(await pgOwnedDir(path.join(root, 'archive'))));
    if (s3) targets.push(s3Target(s3));
    for (const codec of codecs) {
      if (withPgbackrest) {
        const row = await pgbackrestRun(root, gen, user, codec, false);
        if (row) printRow(row, gen.names.length);
      }
      for (const target of targets) {
        printRow(await governorRun(root, gen, user, codec, target, 'pipeline'), gen.names.length);
        if (withCold) printRow(await governorRun(root, gen, user, codec, target, 'cold'), gen.names.length);
      }
    }
    console.log('');
    console.log(`load average at end ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  } finally {
    await (stopPg as (() => Promise<void>) | null)?.().catch(() => undefined);
    await cleanupPg(root, []);
    await s3?.stop();
  }
}

main().catch((error: Error) => {
  console.error(error.stack ?? error.message);
  process.exit(1);
});
