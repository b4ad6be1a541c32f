// `governor backup-fetch`: download a base backup, decompress, verify its sha256 and unpack it
// into an empty directory owned by the PostgreSQL user. Nothing is buffered whole: the object
// streams through the codec and the tar reader into files. A checksum mismatch (or any damage
// the codec or the tar reader notices) fails naming the object, and the directory is emptied so a
// damaged copy can never be started.

import type { FileHandle } from 'node:fs/promises';
import fs from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Logger } from '../log/logger.js';
import type { PgUser } from '../postgres/exec.js';
import { assertTraversable, ensureDir, ownDir } from '../postgres/files.js';
import { decompressStream } from './compression.js';
import { codecOfKey } from './layout.js';
import { Progress } from './progress.js';
import type { BackupSentinel } from './sentinel.js';
import { TapStream } from './streams.js';
import { describeEntryKind, safeEntryPath, TarFormatError, type TarHeader, tarWritable } from './tar.js';
import type { Storage } from './types.js';

/** The stored bytes of a backup do not match what was recorded at backup time. */
export class BackupIntegrityError extends Error {
  constructor(readonly key: string, detail: string) {
    super(`backup object ${key} failed verification: ${detail}`);
    this.name = 'BackupIntegrityError';
  }
}

/** A local file-system failure while unpacking (not the backup's fault). */
class LocalWriteError extends Error {}

export interface FetchOptions {
  storage: Storage;
  sentinel: BackupSentinel;
  dir: string;
  /** Owner of what is written (uid undefined: ourselves). */
  user: PgUser;
  logger: Logger;
  progressTty?: NodeJS.WriteStream | null;
  progressIntervalMs?: number;
}

export interface FetchResult {
  bytes: number;
  compressedBytes: number;
  files: number;
  ms: number;
}

/** DIR must be absent or an empty directory; returns whether it had to be created. */
async function prepareTarget(dir: string, user: PgUser): Promise<boolean> {
  const owner = { uid: user.uid, gid: user.gid };
  let stat;
  try {
    stat = await fs.stat(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  if (stat) {
    if (!stat.isDirectory()) throw new Error(`${dir} exists and is not a directory`);
    const entries = await fs.readdir(dir);
    if (entries.length > 0) throw new Error(`${dir} is not empty (${entries.length} entries): backup-fetch only unpacks into an empty or absent directory`);
    await ownDir(dir, 0o700, owner);
    return false;
  }
  await ensureDir(dir, 0o700, owner);
  return true;
}

async function writeAll(handle: FileHandle, chunk: Buffer): Promise<void> {
  let offset = 0;
  while (offset < chunk.length) {
    const { bytesWritten } = await handle.write(chunk, offset, chunk.length - offset);
    offset += bytesWritten;
  }
}

/** Download and unpack `sentinel`'s parts into `dir`, verifying each part's sha256 and size. */
export async function fetchBackup(options: FetchOptions): Promise<FetchResult> {
  const { storage, sentinel, user, logger } = options;
  const dir = path.resolve(options.dir);
  await assertTraversable(dir, user);
  const created = await prepareTarget(dir, user);
  const chownable = user.uid !== undefined && user.gid !== undefined;
  const started = Date.now();
  const progress = new Progress({
    label: `backup-fetch ${sentinel.name}`, logger, total: sentinel.raw_size, tty: options.progressTty, logIntervalMs: options.progressIntervalMs,
  });
  let files = 0;
  let compressedBytes = 0;
  let open: FileHandle | null = null;
  const madeDirs = new Set<string>(['']);
  /** The raw size the sentinel records for the part being unpacked: no entry can be larger. */
  let partSize = 0;

  const makeDir = async (rel: string, mode: number): Promise<void> => {
    if (madeDirs.has(rel)) return;
    const parent = path.posix.dirname(rel);
    if (parent !== '.' && !madeDirs.has(parent)) await makeDir(parent, 0o700);
    const full = path.join(dir, rel);
    try {
      await fs.mkdir(full, { mode });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const st = await fs.lstat(full);
      if (!st.isDirectory()) throw new Error(`${full} exists and is not a directory`);
    }
    await fs.chmod(full, mode);
    if (chownable) await fs.chown(full, user.uid!, user.gid!);
    madeDirs.add(rel);
  };

  const onEntry = async (header: TarHeader) => {
    const rel = safeEntryPath(header.name);
    try {
      if (header.type === 'directory') {
        if (rel !== '') await makeDir(rel, (header.mode & 0o777) || 0o700);
        return null;
      }
      if (header.type !== 'file') {
        // pg_basebackup -Ft of a cluster without tablespaces holds only files and directories; a link
        // could lead a later entry out of the target directory, a device file is never data.
        throw new TarFormatError(`unsupported tar entry ${JSON.stringify(header.name)}: ${describeEntryKind(header)}; a base backup holds only files and directories, so it is refused and nothing is written for it`);
      }
      if (rel === '') throw new TarFormatError('tar file entry without a name');
      if (header.size > partSize) {
        throw new TarFormatError(`tar entry ${JSON.stringify(header.name)} claims ${header.size} bytes, more than its whole backup part (${partSize} bytes): refused`);
      }
      const parent = path.posix.dirname(rel);
      if (parent !== '.') await makeDir(parent, 0o700);
      const full = path.join(dir, rel);
      const mode = (header.mode & 0o777) || 0o600;
      const handle = await fs.open(full, 'wx', mode);
      open = handle;
      files++;
      return {
        write: (chunk: Buffer) => writeAll(handle, chunk).catch((err: Error) => { throw new LocalWriteError(`writing ${full}: ${err.message}`); }),
        end: async () => {
          try {
            await handle.chmod(mode);
            if (chownable) await handle.chown(user.uid!, user.gid!);
          } finally {
            open = null;
            await handle.close();
          }
        },
      };
    } catch (err) {
      if (err instanceof LocalWriteError || err instanceof TarFormatError) throw err;
      throw new LocalWriteError(`unpacking ${header.name} into ${dir}: ${(err as Error).message}`);
    }
  };

  try {
    for (const part of sentinel.parts) {
      partSize = part.raw_size;
      const body = await storage.get(part.key);
      if (!body) throw new BackupIntegrityError(part.key, 'the object is missing from storage');
      const tap = new TapStream({ onBytes: (n) => progress.add(n) });
      const counter = new TapStream({ hash: false });
      const sink = tarWritable(onEntry);
      try {
        await pipeline(body, counter, decompressStream(codecOfKey(part.key)), tap, sink);
      } catch (err) {
        if (err instanceof LocalWriteError) throw err;
        throw new BackupIntegrityError(part.key, `checksum or format error while unpacking: ${(err as Error).message}`);
      }
      compressedBytes += counter.bytes;
      if (tap.sha256 !== part.sha256 || tap.bytes !== part.raw_size) {
        throw new BackupIntegrityError(
          part.key, `checksum mismatch: expected sha256 ${part.sha256} (${part.raw_size} bytes), got ${tap.sha256} (${tap.bytes} bytes)`,
        );
      }
      if (part.compressed_size !== undefined && counter.bytes !== part.compressed_size) {
        logger.warn('stored size differs from the size recorded at backup time', { key: part.key, recorded: part.compressed_size, stored: counter.bytes });
      }
    }
  } catch (err) {
    progress.abort();
    if (open) await (open as FileHandle).close().catch(() => undefined);
    // Nothing half-unpacked stays behind: a damaged data directory must never be started.
    await cleanup(dir, created);
    throw err;
  }
  const ms = Date.now() - started;
  progress.done({ files, raw_size: progress.transferred, compressed_size: compressedBytes, dir }, 'complete');
  return { bytes: progress.transferred, compressedBytes, files, ms };
}

async function cleanup(dir: string, created: boolean): Promise<void> {
  const entries = await fs.readdir(dir).catch(() => [] as string[]);
  for (const entry of entries) await fs.rm(path.join(dir, entry), { recursive: true, force: true }).catch(() => undefined);
  if (created) await fs.rmdir(dir).catch(() => undefined);
}
