// Storage in a local (or NFS-mounted) directory: `file:///path`. Each object is a file under the
// root at its key, plus a sidecar `<file>.meta.json` holding its user metadata.
//
// Crash safety: the object exists only when both files do. put() writes both to temporary files
// and fsyncs them, removes the old data file (the object is now absent, never half-replaced),
// renames the sidecar into place and renames the data file last, fsyncing the directory after each
// step. A crash anywhere leaves either the old object, no object, or the new one: never data that
// head() reports with another version's metadata. Leftover temporary files start with `.tmp-`
// and are never listed.

import type { Dirent } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { Logger } from '../../log/logger.js';
import type { ObjectInfo, Storage, StoredObject } from '../types.js';
import { fsyncDirectory } from '../../util/fsync.js';

const SIDECAR = '.meta.json';
const TEMP = '.tmp-';

interface Sidecar {
  size: number;
  metadata: Record<string, string>;
}

function isMissing(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/** UTF-8 byte order, the order S3 lists keys in. */
function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

export class FileStorage implements Storage {
  readonly description: string;
  /** When running as root: the owner of the root directory, given everything we create, because
   *  wal-push runs as PostgreSQL's OS user and must write where the root daemon wrote before. */
  private owner: Promise<{ uid: number; gid: number } | null> | null = null;

  constructor(
    private readonly root: string,
    private readonly logger: Logger,
  ) {
    this.description = `file://${root}`;
  }

  /** The data file of `key`; rejects keys that would escape the root or collide with our files. */
  private file(key: string): string {
    const segments = key.split('/');
    const bad =
      key === '' ||
      key.includes('\0') ||
      segments.some((s) => s === '' || s === '.' || s === '..' || s.startsWith(TEMP)) ||
      key.endsWith(SIDECAR);
    if (bad) {
      throw new Error(
        `file storage ${this.description}: invalid key ${JSON.stringify(key)} (relative, no empty, "." or ".." segments, ` +
          `no segment starting with ${TEMP}, not ending in ${SIDECAR})`,
      );
    }
    return path.join(this.root, ...segments);
  }

  private rootOwner(): Promise<{ uid: number; gid: number } | null> {
    this.owner ??= (async () => {
      if (typeof process.getuid !== 'function' || process.getuid() !== 0) return null;
      const stat = await fs.stat(this.root).catch(() => null);
      return stat && stat.uid !== 0 ? { uid: stat.uid, gid: stat.gid } : null;
    })();
    return this.owner;
  }

  /** mkdir -p, handing every directory it created to the root's owner. */
  private async makeDir(dir: string): Promise<void> {
    const first = await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    const owner = await this.rootOwner();
    if (!first || !owner) return;
    for (let d = dir; d.length >= first.length; d = path.dirname(d)) {
      await fs.chown(d, owner.uid, owner.gid);
      if (d === first) break;
    }
  }

  async put(key: string, body: Buffer | Readable, options: { metadata?: Record<string, string> } = {}): Promise<void> {
    const file = this.file(key);
    const dir = path.dirname(file);
    const token = `${TEMP}${process.pid}-${randomBytes(6).toString('hex')}`;
    const tempData = path.join(dir, `${token}.data`);
    const tempMeta = path.join(dir, `${token}${SIDECAR}`);
    try {
      await this.makeDir(dir);
      const size = await this.writeDurably(tempData, body);
      const sidecar: Sidecar = { size, metadata: normalizeMetadata(options.metadata ?? {}) };
      await this.writeDurably(tempMeta, Buffer.from(JSON.stringify(sidecar)));
      const owner = await this.rootOwner();
      if (owner) {
        await fs.chown(tempData, owner.uid, owner.gid);
        await fs.chown(tempMeta, owner.uid, owner.gid);
      }
      // An old object goes first, durably (absent, never half-replaced); a new key skips that fsync.
      const removed = await fs.unlink(file).then(() => true, (error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT') return false;
        throw error;
      });
      if (removed) await fsyncDirectory(dir);
      await fs.rename(tempMeta, file + SIDECAR);
      await fsyncDirectory(dir);
      await fs.rename(tempData, file);
      await fsyncDirectory(dir);
    } catch (error) {
      if (typeof (body as Readable).destroy === 'function') (body as Readable).destroy();
      await Promise.all([fs.rm(tempData, { force: true }), fs.rm(tempMeta, { force: true })]).catch(() => undefined);
      throw new Error(`file storage: cannot write ${file}: ${(error as Error).message} (check the directory exists, is writable by this user and has space)`, {
        cause: error,
      });
    }
  }

  /** Write the whole body to a new file and fsync it; returns its size. */
  private async writeDurably(file: string, body: Buffer | Readable): Promise<number> {
    const handle = await fs.open(file, 'wx', 0o600);
    let size = 0;
    try {
      if (Buffer.isBuffer(body)) {
        await handle.writeFile(body);
        size = body.length;
      } else {
        for await (const chunk of body) {
          const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
          await handle.write(buffer);
          size += buffer.length;
        }
      }
      await handle.sync();
    } finally {
      await handle.close();
    }
    return size;
  }

  private async readSidecar(file: string): Promise<Sidecar | null> {
    let text: string;
    try {
      text = await fs.readFile(file + SIDECAR, 'utf8');
    } catch (error) {
      if (isMissing(error)) return null;
      throw error;
    }
    try {
      const parsed = JSON.parse(text) as Sidecar;
      if (typeof parsed.size !== 'number' || typeof parsed.metadata !== 'object' || parsed.metadata === null) throw new Error('wrong shape');
      return parsed;
    } catch (error) {
      throw new Error(`file storage: ${file}${SIDECAR} is damaged (${(error as Error).message}); delete the object and write it again`);
    }
  }

  async head(key: string): Promise<StoredObject | null> {
    const file = this.file(key);
    const sidecar = await this.readSidecar(file);
    if (!sidecar) return null;
    let size: number;
    try {
      size = (await fs.stat(file)).size;
    } catch (error) {
      if (isMissing(error)) return null; // a put that crashed before its last rename
      throw error;
    }
    if (size !== sidecar.size) {
      throw new Error(`file storage: ${file} has ${size} bytes but its metadata says ${sidecar.size}: the object was changed outside governor; delete it`);
    }
    return { size, metadata: { ...sidecar.metadata } };
  }

  async get(key: string): Promise<Readable | null> {
    const file = this.file(key);
    try {
      await fs.access(file + SIDECAR);
      const handle = await fs.open(file, 'r');
      return handle.createReadStream({ highWaterMark: 1 << 20 });
    } catch (error) {
      if (isMissing(error)) return null;
      throw error;
    }
  }

  async list(prefix: string): Promise<ObjectInfo[]> {
    const slash = prefix.lastIndexOf('/');
    const start = slash < 0 ? '' : prefix.slice(0, slash + 1);
    const found: ObjectInfo[] = [];
    await this.walk(start, prefix, found);
    return found.sort((a, b) => compareKeys(a.key, b.key));
  }

  private async walk(dirKey: string, prefix: string, found: ObjectInfo[]): Promise<void> {
    const dir = path.join(this.root, ...dirKey.split('/').filter((s) => s !== ''));
    let entries: Dirent[];
    try {
      entries = await fs.readdir(dir, { withFileTypes: true });
    } catch (error) {
      if (isMissing(error)) return;
      throw error;
    }
    const names = new Set(entries.map((e) => e.name));
    const files: string[] = [];
    for (const entry of entries) {
      if (entry.name.startsWith(TEMP)) continue;
      const key = dirKey + entry.name;
      if (entry.isDirectory()) {
        const childKey = key + '/';
        if (childKey.startsWith(prefix) || prefix.startsWith(childKey)) await this.walk(childKey, prefix, found);
      } else if (entry.isFile() && !entry.name.endsWith(SIDECAR) && key.startsWith(prefix) && names.has(entry.name + SIDECAR)) {
        files.push(entry.name);
      }
    }
    await Promise.all(
      files.map(async (name) => {
        try {
          const stat = await fs.stat(path.join(dir, name));
          found.push({ key: dirKey + name, size: stat.size, lastModified: stat.mtime });
        } catch (error) {
          if (!isMissing(error)) throw error; // deleted while we listed
        }
      }),
    );
  }

  async delete(keys: string[]): Promise<void> {
    const dirs = new Set<string>();
    for (const key of keys) {
      const file = this.file(key);
      // Data first: a crash in between leaves a sidecar alone, which counts as absent.
      await fs.rm(file, { force: true });
      await fs.rm(file + SIDECAR, { force: true });
      dirs.add(path.dirname(file));
    }
    // Empty directories left by deleted backups go too (rmdir refuses non-empty ones).
    for (const dir of [...dirs].sort((a, b) => b.length - a.length)) {
      for (let d = dir; d.startsWith(this.root + path.sep); d = path.dirname(d)) {
        try {
          await fs.rmdir(d);
        } catch {
          break;
        }
      }
    }
    if (keys.length > 0) this.logger.debug('deleted objects', { storage: this.description, count: keys.length });
  }
}

/** S3 lower-cases metadata keys; do the same so both stores answer alike. */
function normalizeMetadata(metadata: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(metadata)) out[k.toLowerCase()] = String(v);
  return out;
}
