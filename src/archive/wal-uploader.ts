// Uploading WAL files: one file (compress, store with sha256/raw-size, verify; idempotent, refusing
// conflicts), and the ahead-of-time WalUploader that watches pg_wal/archive_status so that
// archive_command (wal-push) finds its segment already stored. The daemon runs the WalUploader in a
// child process as the PostgreSQL user (wal-uploader-process.ts); the spool is in wal-spool.ts.

import { createReadStream, watch, type FSWatcher } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import type { ArchiveConfig, CompressionMethod, GovernorConfig } from '../config/types.js';
import type { Logger } from '../log/logger.js';
import { resolvePgUser } from '../postgres/exec.js';
import { CountingStream, HashingStream, sha256File, sha256Hex, type Digest } from './checksum.js';
import { CODEC_EXTENSIONS, isWalFileName, META_RAW_SIZE, META_SHA256, walKey } from './layout.js';
import type { Storage, StoredObject } from './types.js';
import { currentIdentity, takeIdentity } from './wal-identity.js';
import { readyWalFiles, WalSpool } from './wal-spool.js';

/** The codecs, imported when something is compressed (not on wal-push's marker path). */
const compressStream = async (codec: CompressionMethod) => (await import('./compression.js')).compressStream(codec);

/** Files up to this size are read, hashed and compressed in memory (one read); larger ones are streamed twice. */
export const IN_MEMORY_LIMIT = 64 << 20;

/** A local WAL file's digest, its content when it is small enough to keep in memory, and its
 *  identity (wal-identity.ts) taken before it was read, or null when it could not be taken safely. */
export interface LocalWal {
  digest: Digest;
  content: Buffer | null;
  identity: string | null;
}

/**
 * Segment-sized buffers kept for the next read. Memory that a process touches for the first time
 * is expensive where governor runs (page faults in a VM): reading a 16 MiB segment into a new
 * buffer took 45 ms and hashing it 28 ms, into a buffer used before 6 ms and 12 ms. The
 * uploader reads segment after segment, so it reuses them.
 */
export class SegmentBuffers {
  private readonly spare: Buffer[] = [];
  /** Memory handed out by take(): only that may come back (a small Buffer shares Node's pool). */
  private readonly ours = new WeakSet<ArrayBufferLike>();
  constructor(private readonly keep: number) {}

  take(size: number): Buffer {
    const index = this.spare.findIndex((b) => b.length >= size);
    const buffer = index >= 0 ? this.spare.splice(index, 1)[0]! : Buffer.allocUnsafeSlow(size);
    this.ours.add(buffer.buffer);
    return buffer.subarray(0, size);
  }

  /** Only once nothing refers to the content any more (never after a failed upload). */
  give(content: Buffer): void {
    if (!this.ours.has(content.buffer) || this.spare.length >= this.keep) return;
    this.ours.delete(content.buffer);
    this.spare.push(Buffer.from(content.buffer));
  }
}

async function readInto(file: string, size: number, buffers: SegmentBuffers): Promise<Buffer> {
  const content = buffers.take(size);
  const handle = await fs.open(file, 'r');
  try {
    let offset = 0;
    while (offset < size) {
      const { bytesRead } = await handle.read(content, offset, size - offset, offset);
      if (bytesRead === 0) throw new Error(`${file} is shorter than the ${size} bytes it had when it was opened`);
      offset += bytesRead;
    }
    return content;
  } finally {
    await handle.close();
  }
}

export async function readLocalWal(file: string, buffers?: SegmentBuffers): Promise<LocalWal> {
  const identity = await takeIdentity(file);
  const stat = await fs.stat(file);
  if (stat.size > IN_MEMORY_LIMIT) return { digest: await sha256File(file), content: null, identity };
  const content = buffers ? await readInto(file, stat.size, buffers) : await fs.readFile(file);
  return { digest: { sha256: sha256Hex(content), size: content.length }, content, identity };
}

/** The identity to record in the marker: the one taken before reading, if the file still has it
 *  now that its upload is verified (so nothing changed it in between). */
async function confirmedIdentity(file: string, local: LocalWal): Promise<string | null> {
  if (local.identity === null) return null;
  return (await currentIdentity(file)) === local.identity ? local.identity : null;
}

/** Open archive.storage. Imported on first use: the S3 client alone costs a quarter second of CPU at
 *  start-up, which wal-push and wal-fetch skip whenever a marker or a prefetched file answers. */
export async function openArchiveStorage(archive: ArchiveConfig, logger: Logger): Promise<Storage> {
  const { openStorage } = await import('./storage/index.js');
  return openStorage(archive, logger);
}

export class WalConflictError extends Error {
  constructor(name: string, storage: string, detail: string) {
    super(
      `archive already holds a different ${name} (${detail}) in ${storage}: refusing to overwrite; ` +
        'check whether two clusters write to the same storage',
    );
    this.name = 'WalConflictError';
  }
}

export interface StoredWal {
  key: string;
  object: StoredObject;
}

/** Every stored object for this WAL file name, under any codec extension (HEADs in parallel). */
export async function findStoredWal(storage: Storage, name: string, preferred?: CompressionMethod): Promise<StoredWal[]> {
  const codecs = Object.keys(CODEC_EXTENSIONS) as CompressionMethod[];
  if (preferred) codecs.sort((a, b) => Number(b === preferred) - Number(a === preferred));
  const heads = await Promise.all(codecs.map(async (codec) => {
    const key = walKey(name, codec);
    const object = await storage.head(key);
    return object ? { key, object } : null;
  }));
  return heads.filter((h): h is StoredWal => h !== null);
}

export interface UploadResult {
  name: string;
  key: string;
  outcome: 'uploaded' | 'already-archived';
  sha256: string;
  /** The file's identity for the marker (wal-identity.ts), null when it is not known to be unchanged. */
  identity: string | null;
  bytes: number;
  compressedBytes: number;
  ms: number;
}

export interface UploadContext {
  storage: Storage;
  codec: CompressionMethod;
  /** Reuse read buffers across uploads (the uploader; a one-shot wal-push has nothing to reuse). */
  buffers?: SegmentBuffers;
}

async function compressBuffer(data: Buffer, codec: CompressionMethod): Promise<Buffer> {
  if (codec === 'none') return data;
  // 'data' events hand over each chunk as the codec pushes it; an async iterator would have the
  // stream concatenate what is buffered first (a copy of every byte, on fresh memory).
  const encoder = await compressStream(codec);
  const chunks: Buffer[] = [];
  encoder.on('data', (chunk: Buffer) => chunks.push(chunk));
  encoder.end(data);
  await finished(encoder);
  return Buffer.concat(chunks);
}

/** Stream a large file through hash → codec → storage; the content must hash to `expected`. */
async function putStreamed(ctx: UploadContext, file: string, key: string, expected: Digest, metadata: Record<string, string>): Promise<number> {
  const source = createReadStream(file, { highWaterMark: 1 << 20 });
  const hashing = new HashingStream();
  const counting = new CountingStream();
  const body = new PassThrough();
  const stages = ctx.codec === 'none' ? [hashing, counting] : [hashing, await compressStream(ctx.codec), counting];
  const piping = pipeline([source, ...stages, body]);
  try {
    await Promise.all([ctx.storage.put(key, body, { metadata }), piping]);
  } catch (error) {
    source.destroy();
    body.destroy();
    throw error;
  }
  const seen = hashing.digest();
  if (seen.sha256 !== expected.sha256 || seen.size !== expected.size) {
    throw new Error(`${file} changed while it was being uploaded (sha256 ${expected.sha256} before, ${seen.sha256} during)`);
  }
  return counting.bytes;
}

/**
 * Archive one WAL file: if storage already holds it (any codec), succeed when the sha256 is the same
 * and throw WalConflictError when it differs; otherwise upload it compressed with `ctx.codec` and
 * resolve only once a HEAD shows the object with our sha256. Any doubt throws.
 */
export async function uploadWalFile(ctx: UploadContext, file: string, local?: LocalWal): Promise<UploadResult> {
  const started = Date.now();
  const name = path.basename(file);
  if (!isWalFileName(name)) throw new Error(`${file}: not a WAL file name (segment, .partial, .backup or .history)`);
  const [localWal, stored] = await Promise.all([local ?? readLocalWal(file, ctx.buffers), findStoredWal(ctx.storage, name, ctx.codec)]);
  const { digest, content } = localWal;
  const result = async (outcome: UploadResult['outcome'], key: string, compressedBytes: number): Promise<UploadResult> => {
    // Done with the bytes: the compressed copy is stored and nothing else holds them.
    if (!local && content) ctx.buffers?.give(content);
    return { name, key, outcome, sha256: digest.sha256, identity: await confirmedIdentity(file, localWal), bytes: digest.size, compressedBytes, ms: Date.now() - started };
  };

  if (stored.length > 0) {
    for (const { key, object } of stored) {
      const sha = object.metadata[META_SHA256];
      if (!sha) throw new WalConflictError(name, ctx.storage.description, `${key} carries no sha256 metadata`);
      if (sha !== digest.sha256) throw new WalConflictError(name, ctx.storage.description, `${key} has sha256 ${sha}, the local file ${digest.sha256}`);
    }
    return result('already-archived', stored[0]!.key, stored[0]!.object.size);
  }

  const key = walKey(name, ctx.codec);
  const metadata = { [META_SHA256]: digest.sha256, [META_RAW_SIZE]: String(digest.size) };
  let compressedBytes: number;
  if (content) {
    const body = await compressBuffer(content, ctx.codec);
    compressedBytes = body.length;
    await ctx.storage.put(key, body, { metadata });
  } else {
    compressedBytes = await putStreamed(ctx, file, key, digest, metadata);
  }
  const check = await ctx.storage.head(key);
  if (!check) throw new Error(`verification failed: ${key} is not in ${ctx.storage.description} after its upload`);
  if (check.metadata[META_SHA256] !== digest.sha256) {
    throw new Error(`verification failed: ${key} in ${ctx.storage.description} has sha256 ${check.metadata[META_SHA256] ?? '(none)'} after uploading ${digest.sha256}`);
  }
  if (check.size !== compressedBytes) {
    throw new Error(`verification failed: ${key} in ${ctx.storage.description} has ${check.size} bytes, ${compressedBytes} were uploaded`);
  }
  return result('uploaded', key, compressedBytes);
}

/** Upload `name` from pg_wal under its claim and record a marker; null when someone else holds the claim. */
export async function uploadClaimed(ctx: UploadContext, spool: WalSpool, pgWalDir: string, name: string): Promise<UploadResult | null> {
  const release = await spool.claim(name).catch(() => async () => undefined); // no spool: upload without a claim
  if (!release) return null;
  try {
    const result = await uploadWalFile(ctx, path.join(pgWalDir, name));
    await spool.writeMarker(name, result.sha256, result.identity).catch(() => undefined);
    return result;
  } finally {
    await release().catch(() => undefined);
  }
}

export interface WalUploaderOptions {
  config: GovernorConfig;
  logger: Logger;
  /** Defaults to openStorage(config.archive) (opened by start()). */
  storage?: Storage;
  /** Fallback scan interval beside fs.watch (default 1000 ms). */
  pollIntervalMs?: number;
  /** Uploads at a time in this uploader (default archive.upload_concurrency). */
  concurrency?: number;
}

/**
 * The daemon's ahead-of-time WAL uploader: uploads every `.ready` file, upload_concurrency at a
 * time, and leaves a marker so the archive_command (wal-push) returns at once. It never tells
 * PostgreSQL anything itself: only wal-push's exit status marks a segment archived.
 */
export class WalUploader {
  readonly stats = { uploaded: 0, alreadyArchived: 0, failed: 0 };
  private ctx: UploadContext | null = null;
  private readonly archive: ArchiveConfig;
  private readonly spool: WalSpool;
  private readonly pgWalDir: string;
  private readonly statusDir: string;
  private readonly concurrency: number;
  private readonly inflight = new Map<string, Promise<void>>();
  private readonly retryAt = new Map<string, { at: number; delay: number }>();
  private watcher: FSWatcher | null = null;
  private timer: NodeJS.Timeout | null = null;
  private scanning = false;
  private rescan = false;
  private stopped = true;
  private lastCleanup = 0;

  constructor(private readonly options: WalUploaderOptions) {
    const archive = options.config.archive;
    if (!archive?.enabled) throw new Error('WalUploader: archive.enabled is false');
    this.archive = archive;
    this.spool = new WalSpool(archive.spool_dir, archive.storage);
    this.pgWalDir = path.join(path.resolve(options.config.postgresql.data_dir), 'pg_wal');
    this.statusDir = path.join(this.pgWalDir, 'archive_status');
    this.concurrency = Math.max(1, options.concurrency ?? archive.upload_concurrency);
  }

  async start(): Promise<void> {
    if (!this.stopped) return;
    this.ctx ??= {
      storage: this.options.storage ?? (await openArchiveStorage(this.archive, this.options.logger)),
      codec: this.archive.compression,
      buffers: new SegmentBuffers(this.concurrency),
    };
    this.stopped = false;
    // wal-push runs as the PostgreSQL user and must be able to read markers and remove them.
    const owner = typeof process.getuid === 'function' && process.getuid() === 0
      ? await resolvePgUser(this.options.config.postgresql.run_as_user).catch(() => undefined)
      : undefined;
    await this.spool.ensure(owner).catch((error: Error) => this.options.logger.warn(`cannot prepare spool directory: ${error.message}`, { spool: this.spool.dir }));
    this.timer = setInterval(() => this.kick(), this.options.pollIntervalMs ?? 1000);
    this.timer.unref();
    this.options.logger.info('WAL uploader started', { storage: this.ctx.storage.description, concurrency: this.concurrency });
    this.kick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.watcher?.close();
    this.watcher = null;
    await Promise.allSettled([...this.inflight.values()]);
  }

  private ensureWatcher(): void {
    if (this.watcher || this.stopped) return;
    try {
      this.watcher = watch(this.statusDir, { persistent: false }, () => this.kick());
      this.watcher.on('error', () => {
        this.watcher?.close();
        this.watcher = null; // the data directory was replaced (reinit); the poll sets up a new watch
      });
    } catch {
      this.watcher = null; // no pg_wal yet: the poll keeps looking
    }
  }

  /** Scan archive_status soon; concurrent requests fold into one more scan. */
  private kick(): void {
    if (this.stopped) return;
    if (this.scanning) {
      this.rescan = true;
      return;
    }
    this.scanning = true;
    void this.scan()
      .catch((error: Error) => this.options.logger.warn(`WAL uploader scan failed: ${error.message}`))
      .finally(() => {
        this.scanning = false;
        if (this.rescan) {
          this.rescan = false;
          this.kick();
        }
      });
  }

  private async scan(): Promise<void> {
    this.ensureWatcher();
    const ready = await readyWalFiles(this.statusDir);
    const now = Date.now();
    if (now - this.lastCleanup > 10_000) {
      this.lastCleanup = now;
      await this.spool.cleanup(new Set(ready)).catch(() => undefined);
    }
    for (const name of this.retryAt.keys()) if (!ready.includes(name)) this.retryAt.delete(name);
    const marked = await this.spool.markers();
    for (const name of ready) {
      if (this.inflight.size >= this.concurrency || this.stopped) break;
      if (this.inflight.has(name) || marked.has(name) || (this.retryAt.get(name)?.at ?? 0) > now) continue;
      this.inflight.set(name, this.upload(name));
    }
  }

  private async upload(name: string): Promise<void> {
    const logger = this.options.logger;
    try {
      const result = await uploadClaimed(this.ctx!, this.spool, this.pgWalDir, name);
      if (!result) {
        // wal-push is uploading it right now: look again shortly, not in a busy loop
        this.retryAt.set(name, { at: Date.now() + 500, delay: this.retryAt.get(name)?.delay ?? 2_500 });
      } else {
        this.retryAt.delete(name);
        if (result.outcome === 'uploaded') this.stats.uploaded++;
        else this.stats.alreadyArchived++;
        logger.info('WAL uploaded ahead of archive_command', {
          segment: name, outcome: result.outcome, bytes: result.bytes, compressed_bytes: result.compressedBytes, ms: result.ms,
        });
      }
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT') {
        // archived and recycled by PostgreSQL meanwhile is not a failure; anything else is retried with backoff
        this.stats.failed++;
        const delay = Math.min(60_000, (this.retryAt.get(name)?.delay ?? 2_500) * 2);
        this.retryAt.set(name, { at: Date.now() + delay, delay });
        const message = `WAL upload of ${name} failed (retrying in ${delay / 1000} s): ${(error as Error).message}`;
        if (error instanceof WalConflictError) logger.error(message, { segment: name });
        else logger.warn(message, { segment: name });
      }
    } finally {
      this.inflight.delete(name);
      this.kick();
    }
  }
}
