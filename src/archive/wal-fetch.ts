// `governor wal-fetch %f %p` (restore_command): find wal/<%f> under any codec extension, download,
// decompress, check the sha256 stored with it, and put it at %p atomically. Exit 1 when the archive
// does not hold it (PostgreSQL then tries streaming, or ends recovery), never above 125.
//
// Prefetch: after serving a segment, the next `archive.prefetch` segments of the same timeline are
// fetched by a detached `governor wal-prefetch` child into spool_dir/prefetch/<storage tag>/, each
// verified and renamed into place there; the next wal-fetch then only renames its file into pg_wal.
// Restore never waits for a prefetcher: a segment it has not finished is fetched directly.

import { createWriteStream, type Stats } from 'node:fs';
import fs from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { CompressionMethod, GovernorConfig } from '../config/types.js';
import type { Logger } from '../log/logger.js';
import { CountingStream, HashingStream, isSha256Hex, sha256Hex } from './checksum.js';
import { codecOfKey, isWalFileName, isWalSegmentName, META_RAW_SIZE, META_SHA256 } from './layout.js';
import type { Storage } from './types.js';
import { archiveSettings } from './wal-push.js';
import { walFetchTarget } from './wal-paths.js';
import { claimIsLive } from './wal-spool.js';
import { findStoredWal, openArchiveStorage } from './wal-uploader.js';

// ---- segment names: TTTTTTTT LLLLLLLL SSSSSSSS (timeline, log id, segment within the log id) ----

export const DEFAULT_SEGMENT_SIZE = 16 << 20;
const LOG_ID_BYTES = 0x1_0000_0000;

export interface SegmentName {
  timeline: number;
  /** Segment number counted from 0: logId * segmentsPerLogId + segment in that log id. */
  segno: number;
}

/** wal_segment_size is a power of two from 1 MiB to 1 GiB. */
export function isValidSegmentSize(bytes: number): boolean {
  return Number.isInteger(bytes) && bytes >= 1 << 20 && bytes <= 1 << 30 && (bytes & (bytes - 1)) === 0;
}

function segmentsPerLogId(segmentSize: number): number {
  if (!isValidSegmentSize(segmentSize)) throw new Error(`invalid WAL segment size ${segmentSize}`);
  return LOG_ID_BYTES / segmentSize;
}

export function parseSegmentName(name: string, segmentSize = DEFAULT_SEGMENT_SIZE): SegmentName {
  if (!isWalSegmentName(name)) throw new Error(`${JSON.stringify(name)} is not a WAL segment name`);
  const perLogId = segmentsPerLogId(segmentSize);
  const timeline = parseInt(name.slice(0, 8), 16);
  const logId = parseInt(name.slice(8, 16), 16);
  const seg = parseInt(name.slice(16, 24), 16);
  if (seg >= perLogId) throw new Error(`${name} is not a segment name for ${segmentSize}-byte segments`);
  return { timeline, segno: logId * perLogId + seg };
}

export function formatSegmentName({ timeline, segno }: SegmentName, segmentSize = DEFAULT_SEGMENT_SIZE): string {
  const perLogId = segmentsPerLogId(segmentSize);
  const hex = (n: number) => n.toString(16).toUpperCase().padStart(8, '0');
  return hex(timeline) + hex(Math.floor(segno / perLogId)) + hex(segno % perLogId);
}

/** The `count` segment names after `name` on the same timeline. */
export function segmentsAfter(name: string, count: number, segmentSize = DEFAULT_SEGMENT_SIZE): string[] {
  const { timeline, segno } = parseSegmentName(name, segmentSize);
  return Array.from({ length: count }, (_, i) => formatSegmentName({ timeline, segno: segno + i + 1 }, segmentSize));
}

// ---- fetching one file ----

export interface FetchedWal {
  key: string;
  bytes: number;
  compressedBytes: number;
}

function tempPathBeside(dest: string): string {
  return path.join(path.dirname(dest), `.${path.basename(dest)}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`);
}

/** Download `name` into `dest` (atomically, verified against its sha256); null when the archive does not hold it. */
export async function fetchWalFile(storage: Storage, name: string, dest: string, preferred?: CompressionMethod): Promise<FetchedWal | null> {
  const stored = await findStoredWal(storage, name, preferred);
  if (stored.length === 0) return null;
  const { key, object } = stored[0]!;
  const expected = object.metadata[META_SHA256];
  if (!isSha256Hex(expected)) throw new Error(`${key} in ${storage.description} carries no sha256 metadata: cannot verify it`);
  const body = await storage.get(key);
  if (!body) return null;
  const codec = codecOfKey(key);
  const counting = new CountingStream();
  const hashing = new HashingStream();
  const tmp = tempPathBeside(dest);
  try {
    const { decompressStream } = await import('./compression.js'); // not needed when a prefetched file answers
    const stages = codec === 'none' ? [counting, hashing] : [counting, decompressStream(codec), hashing];
    await pipeline([body, ...stages, createWriteStream(tmp, { flags: 'wx', mode: 0o600 })]);
    const { sha256, size } = hashing.digest();
    if (sha256 !== expected) throw new Error(`${key} in ${storage.description} is corrupt: its content has sha256 ${sha256}, its metadata says ${expected}`);
    const rawSize = object.metadata[META_RAW_SIZE];
    if (rawSize !== undefined && Number(rawSize) !== size) throw new Error(`${key} in ${storage.description} is corrupt: ${size} bytes, its metadata says ${rawSize}`);
    await fs.rename(tmp, dest);
    return { key, bytes: size, compressedBytes: counting.bytes };
  } catch (error) {
    body.destroy();
    await fs.rm(tmp, { force: true });
    throw error;
  }
}

/** Where prefetched segments of this archive.storage live (a tag per URL, so a changed URL never serves old files). */
export function prefetchDirectory(spoolDir: string, storageUrl: string): string {
  return path.join(spoolDir, 'prefetch', sha256Hex(storageUrl).slice(0, 12));
}

/** Move a prefetched segment to `dest`; false when it is not there. */
async function takePrefetched(prefetchDir: string, name: string, dest: string): Promise<number | null> {
  const source = path.join(prefetchDir, name);
  try {
    const stat = await fs.stat(source);
    await fs.rename(source, dest);
    return stat.size;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return null;
    if (code !== 'EXDEV') throw error;
  }
  // spool_dir on another file system than pg_wal: copy beside dest, then rename.
  const tmp = tempPathBeside(dest);
  try {
    await fs.copyFile(source, tmp);
    const { size } = await fs.stat(tmp);
    await fs.rename(tmp, dest);
    await fs.rm(source, { force: true });
    return size;
  } catch (error) {
    await fs.rm(tmp, { force: true });
    throw error;
  }
}

export interface WalFetchOptions {
  config: GovernorConfig;
  /** %f: the file name PostgreSQL wants. */
  name: string;
  /** %p: where to put it, relative to the current directory (the data directory). */
  dest: string;
  logger: Logger;
  storage?: Storage;
  /** Start a detached prefetcher for these segment names (the CLI spawns `governor wal-prefetch`). */
  startPrefetch?: (names: string[]) => void;
}

export async function walFetch(options: WalFetchOptions): Promise<'restored' | 'missing'> {
  const started = Date.now();
  const archive = archiveSettings(options.config, 'wal-fetch');
  const { name, logger } = options;
  if (!isWalFileName(name)) throw new Error(`wal-fetch: ${JSON.stringify(name)} is not a WAL file name`);
  const dest = await walFetchTarget(name, options.dest);
  const prefetchDir = prefetchDirectory(archive.spool_dir, archive.storage);
  const prefetching = isWalSegmentName(name) && archive.prefetch > 0;

  let fetched: FetchedWal & { source: 'prefetch' | 'storage' };
  const local = prefetching ? await takePrefetched(prefetchDir, name, dest).catch(() => null) : null;
  if (local !== null) {
    fetched = { key: name, bytes: local, compressedBytes: 0, source: 'prefetch' };
  } else {
    const storage = options.storage ?? (await openArchiveStorage(archive, logger));
    const result = await fetchWalFile(storage, name, dest, archive.compression);
    if (!result) {
      logger.info('WAL not in archive', { segment: name, ms: Date.now() - started });
      return 'missing';
    }
    fetched = { ...result, source: 'storage' };
  }
  if (prefetching && isValidSegmentSize(fetched.bytes) && options.startPrefetch) {
    const wanted = await preparePrefetch(prefetchDir, segmentsAfter(name, archive.prefetch, fetched.bytes)).catch((error: Error) => {
      logger.warn(`prefetch skipped: ${error.message}`, { segment: name });
      return [] as string[];
    });
    if (wanted.length > 0) options.startPrefetch(wanted);
  }
  logger.info('WAL restored', {
    segment: name, source: fetched.source, bytes: fetched.bytes, compressed_bytes: fetched.compressedBytes, ms: Date.now() - started,
  });
  return 'restored';
}

/** Drop prefetched files outside the window (already replayed, or another timeline) and leftovers of
 *  dead prefetchers; the window's names that are neither there nor being fetched are returned. */
export async function preparePrefetch(prefetchDir: string, window: string[]): Promise<string[]> {
  await fs.mkdir(prefetchDir, { recursive: true, mode: 0o700 });
  const entries = await fs.readdir(prefetchDir);
  const present = new Set<string>();
  const now = Date.now();
  for (const entry of entries) {
    const file = path.join(prefetchDir, entry);
    if (isWalSegmentName(entry)) {
      if (window.includes(entry)) present.add(entry);
      else await fs.rm(file, { force: true });
    } else if (entry.endsWith('.lock')) {
      const text = await fs.readFile(file, 'utf8').catch(() => null);
      if (text !== null && claimIsLive(text, now)) present.add(entry.slice(0, -'.lock'.length));
      else await fs.rm(file, { force: true });
    } else if (entry.endsWith('.tmp')) {
      const stat: Stats | null = await fs.stat(file).catch(() => null);
      if (stat && now - stat.mtimeMs > 10 * 60_000) await fs.rm(file, { force: true });
    }
  }
  return window.filter((n) => !present.has(n));
}

/** The body of the detached `governor wal-prefetch` child: fetch these segments into the prefetch directory. */
export async function runPrefetch(options: { config: GovernorConfig; names: string[]; logger: Logger; storage?: Storage }): Promise<void> {
  const archive = archiveSettings(options.config, 'wal-prefetch');
  const storage = options.storage ?? (await openArchiveStorage(archive, options.logger));
  const prefetchDir = prefetchDirectory(archive.spool_dir, archive.storage);
  await fs.mkdir(prefetchDir, { recursive: true, mode: 0o700 });
  const names = options.names.filter(isWalSegmentName);
  let missingFrom = Infinity;
  let next = 0;
  const worker = async () => {
    while (next < names.length) {
      const index = next++;
      const name = names[index]!;
      if (index > missingFrom) continue;
      const lock = path.join(prefetchDir, `${name}.lock`);
      try {
        await fs.writeFile(lock, `${process.pid} ${Date.now()}\n`, { flag: 'wx' });
      } catch {
        continue; // another prefetcher has it
      }
      try {
        if (await fs.access(path.join(prefetchDir, name)).then(() => true, () => false)) continue;
        const started = Date.now();
        const result = await fetchWalFile(storage, name, path.join(prefetchDir, name), archive.compression);
        if (!result) missingFrom = Math.min(missingFrom, index); // the end of the archive: later ones are not there either
        else options.logger.info('WAL prefetched', { segment: name, bytes: result.bytes, compressed_bytes: result.compressedBytes, ms: Date.now() - started });
      } catch (error) {
        options.logger.warn(`prefetch of ${name} failed: ${(error as Error).message}`, { segment: name });
      } finally {
        await fs.rm(lock, { force: true });
      }
    }
  };
  const concurrency = Math.max(1, Math.min(archive.upload_concurrency, names.length));
  await Promise.all(Array.from({ length: concurrency }, worker));
}
