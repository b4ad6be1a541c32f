// Compression codecs on WAL: throughput and ratio of every archive codec.
//   node dist/bench/archive-codecs.js [--mib 64] [--rounds 3] [--wal-dir DIR | --synthetic]
// Data: real WAL segments. By default a throw-away PostgreSQL 15 is initialized and loaded with
// pgbench (initialization, then updates after a checkpoint so full-page images appear), and its
// completed segments are used; --wal-dir reads segments from a directory instead; --synthetic (or
// no PostgreSQL) uses mixed random / record-like / zero pages. Each codec streams the data in 1 MiB
// chunks through compressStream and decompressStream; the best of --rounds is printed.
// Not a test: nothing is asserted.

import { chown, mkdtemp, readdir, readFile, rm, chmod } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { Readable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BROTLI_QUALITY, compressStream, decompressStream } from '../src/archive/compression.js';
import type { CompressionMethod } from '../src/archive/types.js';
import { ZSTD_LEVEL } from '../src/archive/codecs/zstd.js';
import { describeFailure, resolvePgUser, runPgBinary, type PgUser } from '../src/postgres/exec.js';

const MiB = 1024 * 1024;
const SEGMENT = /^[0-9A-F]{24}$/;
const BIN_DIR = process.env.GOVERNOR_PG_BIN_DIR ?? '/usr/lib/postgresql/15/bin';

function argument(name: string): string | undefined {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? process.argv[index + 1] : undefined;
}

function positiveInteger(name: string, fallback: number): number {
  const raw = argument(name);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0) throw new Error(`--${name}: expected a positive integer, got ${JSON.stringify(raw)}`);
  return value;
}

const totalMiB = positiveInteger('mib', 64);
const rounds = positiveInteger('rounds', 3);
const SETTINGS: Record<CompressionMethod, string> = {
  lz4: 'LZ4 frames, independent 1 MiB blocks, content checksum (own block encoder and decoder, xxhash-wasm)',
  zstd: `level ${ZSTD_LEVEL}, one frame per 4 MiB (@hpcc-js/wasm-zstd 1.12.5 = zstd 1.5.7); read with the same wasm (fzstd for frames without a declared size)`,
  brotli: `node:zlib, quality ${BROTLI_QUALITY}, window 22`,
  gzip: 'node:zlib, level 6 (default)',
  none: 'pass-through',
};

/** The first `bytes` of the segments in `dir`, oldest first; skipNewest leaves out the one being written. */
async function segmentsFrom(dir: string, bytes: number, skipNewest = false): Promise<Buffer> {
  const all = (await readdir(dir)).filter((n) => SEGMENT.test(n)).sort();
  const names = skipNewest ? all.slice(0, -1) : all;
  const parts: Buffer[] = [];
  let have = 0;
  for (const name of names) {
    if (have >= bytes) break;
    const segment = await readFile(path.join(dir, name));
    parts.push(segment);
    have += segment.length;
  }
  if (have === 0) throw new Error(`no WAL segments in ${dir}`);
  return Buffer.concat(parts).subarray(0, bytes);
}

async function run(binDir: string, name: string, args: string[], user: PgUser): Promise<void> {
  const result = await runPgBinary(binDir, name, args, user, { timeoutMs: 300_000 });
  if (result.code !== 0) throw new Error(describeFailure(name, result));
}

/** Real WAL from a throw-away PostgreSQL loaded with pgbench. */
async function generateWal(bytes: number): Promise<Buffer> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'governor-bench-wal-'));
  await chmod(root, 0o755);
  const user = await resolvePgUser(null);
  if (user.uid !== undefined) await chown(root, user.uid, user.gid!);
  const data = path.join(root, 'data');
  const connect = ['-h', root, '-p', '5432', '-U', 'postgres'];
  try {
    await run(BIN_DIR, 'initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8'], user);
    const options = `-c listen_addresses='' -k ${root} -p 5432 -c fsync=off -c max_wal_size=4GB -c checkpoint_timeout=1h -c wal_level=replica`;
    await run(BIN_DIR, 'pg_ctl', ['-D', data, '-o', options, '-l', path.join(root, 'log'), '-w', 'start'], user);
    try {
      // About 16 MiB of WAL per scale unit at initialization; then updates with full-page images.
      const scale = Math.max(2, Math.ceil(bytes / MiB / 16) + 1);
      await run(BIN_DIR, 'pgbench', [...connect, '-i', '-q', '-s', String(scale), 'postgres'], user);
      await run(BIN_DIR, 'psql', [...connect, '-c', 'CHECKPOINT', 'postgres'], user);
      await run(BIN_DIR, 'pgbench', [...connect, '-N', '-c', '4', '-T', '5', 'postgres'], user);
      await run(BIN_DIR, 'psql', [...connect, '-c', 'SELECT pg_switch_wal()', 'postgres'], user);
    } finally {
      await run(BIN_DIR, 'pg_ctl', ['-D', data, '-m', 'immediate', 'stop'], user).catch(() => undefined);
    }
    return await segmentsFrom(path.join(data, 'pg_wal'), bytes, true);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

/** 8 KiB pages: 30% random (full-page images of incompressible data), 50% record-like text, 20% zero. */
function synthetic(bytes: number): Buffer {
  const data = Buffer.alloc(bytes);
  for (let page = 0; page < bytes; page += 8192) {
    const kind = (page / 8192) % 10;
    const end = Math.min(page + 8192, bytes);
    if (kind < 3) randomBytes(end - page).copy(data, page);
    else if (kind < 8) for (let o = page; o + 64 <= end; o += 64) data.write(`rmgr: Heap len: 54 tx: ${o % 99991} INSERT off 7 `, o);
  }
  return data;
}

function* slices(data: Buffer): Generator<Buffer> {
  for (let offset = 0; offset < data.length; offset += MiB) yield data.subarray(offset, offset + MiB);
}

async function timed(input: Buffer, transform: Transform): Promise<{ ms: number; output: Buffer }> {
  const out: Buffer[] = [];
  const start = process.hrtime.bigint();
  await pipeline(Readable.from(slices(input)), transform, async (source: AsyncIterable<Buffer>) => {
    for await (const chunk of source) out.push(chunk);
  });
  return { ms: Number(process.hrtime.bigint() - start) / 1e6, output: Buffer.concat(out) };
}

async function main(): Promise<void> {
  const bytes = totalMiB * MiB;
  let data: Buffer;
  let source: string;
  const walDir = argument('wal-dir');
  if (walDir) {
    data = await segmentsFrom(walDir, bytes);
    source = `WAL segments from ${walDir}`;
  } else if (process.argv.includes('--synthetic')) {
    data = synthetic(bytes);
    source = 'synthetic (30% random, 50% record-like, 20% zero pages)';
  } else {
    try {
      data = await generateWal(bytes);
      source = 'real WAL: pgbench -i then pgbench -N after a checkpoint (PostgreSQL 15)';
    } catch (error) {
      console.error(`could not generate real WAL (${(error as Error).message.split('\n')[0]}); using synthetic data`);
      data = synthetic(bytes);
      source = 'synthetic (30% random, 50% record-like, 20% zero pages)';
    }
  }
  const mb = data.length / 1e6;
  console.log(`data: ${(data.length / MiB).toFixed(1)} MiB, ${source}`);
  console.log(`node ${process.version}, ${os.cpus()[0]?.model ?? 'unknown CPU'} x${os.cpus().length}, best of ${rounds} rounds, 1 MiB input chunks`);
  console.log('');
  console.log('codec   compress MB/s  decompress MB/s   ratio  compressed  settings');
  for (const method of ['lz4', 'zstd', 'brotli', 'gzip', 'none'] as const) {
    let bestCompress = Infinity;
    let bestDecompress = Infinity;
    let compressed: Buffer = Buffer.alloc(0);
    for (let round = 0; round < rounds; round++) {
      const c = await timed(data, compressStream(method));
      compressed = c.output;
      bestCompress = Math.min(bestCompress, c.ms);
      const d = await timed(compressed, decompressStream(method));
      if (!d.output.equals(data)) throw new Error(`${method}: round trip changed the data`);
      bestDecompress = Math.min(bestDecompress, d.ms);
    }
    console.log(
      `${method.padEnd(6)} ${(mb / (bestCompress / 1000)).toFixed(0).padStart(14)} ${(mb / (bestDecompress / 1000)).toFixed(0).padStart(16)} ` +
        `${(data.length / compressed.length).toFixed(2).padStart(7)} ${`${(compressed.length / MiB).toFixed(1)} MiB`.padStart(11)}  ${SETTINGS[method]}`,
    );
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
