// backup-fetch against an in-memory storage: unpack, ownership and modes, verification, refusals.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { BackupIntegrityError, fetchBackup } from '../../src/archive/backup-fetch.js';
import { compressBuffer } from '../../src/archive/compression.js';
import type { BackupSentinel } from '../../src/archive/sentinel.js';
import type { ObjectInfo, Storage } from '../../src/archive/types.js';
import type { CompressionMethod } from '../../src/config/types.js';
import { createLogger } from '../../src/log/logger.js';
import { resolvePgUser } from '../../src/postgres/exec.js';

class MemoryStorage implements Storage {
  readonly description = 'memory://';
  objects = new Map<string, Buffer>();
  async put(key: string, body: Buffer | Readable): Promise<void> {
    if (Buffer.isBuffer(body)) this.objects.set(key, body);
    else {
      const chunks: Buffer[] = [];
      for await (const c of body) chunks.push(c as Buffer);
      this.objects.set(key, Buffer.concat(chunks));
    }
  }
  async get(key: string): Promise<Readable | null> {
    const data = this.objects.get(key);
    return data ? Readable.from([data]) : null;
  }
  async head(key: string) {
    const data = this.objects.get(key);
    return data ? { size: data.length, metadata: {} } : null;
  }
  async list(prefix: string): Promise<ObjectInfo[]> {
    return [...this.objects].filter(([k]) => k.startsWith(prefix)).map(([key, d]) => ({ key, size: d.length, lastModified: new Date() }));
  }
  async delete(keys: string[]): Promise<void> {
    for (const k of keys) this.objects.delete(k);
  }
}

const logger = createLogger({ level: 'error', write: () => undefined });
let root = '';
let tarball: Buffer;

before(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'backup-fetch-'));
  await chmod(root, 0o755);
  const src = path.join(root, 'src');
  await mkdir(path.join(src, 'base', '1'), { recursive: true, mode: 0o700 });
  await mkdir(path.join(src, 'pg_wal'), { mode: 0o700 });
  await writeFile(path.join(src, 'PG_VERSION'), '15\n', { mode: 0o600 });
  await writeFile(path.join(src, 'base', '1', '1259'), Buffer.alloc(3 * 8192, 9), { mode: 0o600 });
  await writeFile(path.join(src, 'backup_label'), 'START WAL LOCATION: 0/2000028 (file 000000010000000000000002)\n', { mode: 0o600 });
  tarball = execFileSync('tar', ['-C', src, '--format=ustar', '-cf', '-', 'backup_label', 'PG_VERSION', 'base', 'pg_wal']);
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

async function stored(codec: CompressionMethod, data = tarball): Promise<{ storage: MemoryStorage; sentinel: BackupSentinel }> {
  const storage = new MemoryStorage();
  const ext = { lz4: '.lz4', zstd: '.zst', brotli: '.br', gzip: '.gz', none: '' }[codec];
  const key = `basebackups/b1/base.tar${ext}`;
  const packed = await compressBuffer(codec, data);
  storage.objects.set(key, packed);
  const sha256 = createHash('sha256').update(tarball).digest('hex');
  const sentinel = {
    name: 'b1', raw_size: tarball.length, compressed_size: packed.length, sha256, compression: codec,
    parts: [{ name: 'base', key, raw_size: tarball.length, compressed_size: packed.length, sha256 }],
  } as BackupSentinel;
  return { storage, sentinel };
}

describe('backup-fetch', () => {
  for (const codec of ['none', 'lz4', 'zstd', 'gzip', 'brotli'] as const) {
    test(`unpacks a ${codec} backup, owned by the PostgreSQL user, 0700`, async () => {
      const { storage, sentinel } = await stored(codec);
      const user = await resolvePgUser(null);
      const dir = path.join(root, `out-${codec}`);
      const result = await fetchBackup({ storage, sentinel, dir, user, logger, progressTty: null });
      assert.equal(result.files, 3);
      assert.equal(result.bytes, tarball.length);
      assert.deepEqual((await readdir(dir)).sort(), ['PG_VERSION', 'backup_label', 'base', 'pg_wal']);
      assert.deepEqual(await readFile(path.join(dir, 'base', '1', '1259')), Buffer.alloc(3 * 8192, 9));
      const top = await stat(dir);
      assert.equal(top.mode & 0o777, 0o700);
      const file = await stat(path.join(dir, 'base', '1', '1259'));
      assert.equal(file.mode & 0o777, 0o600);
      assert.equal(file.uid, user.effectiveUid);
      assert.equal((await stat(path.join(dir, 'pg_wal'))).uid, user.effectiveUid);
    });
  }

  test('a flipped byte fails verification naming the object, and the directory is removed', async () => {
    const damaged = Buffer.from(tarball);
    const at = tarball.indexOf(Buffer.alloc(64, 9)) + 100; // inside base/1/1259's data
    assert.ok(at > 100);
    damaged[at] = damaged[at]! ^ 0x01;
    const { storage, sentinel } = await stored('none', damaged);
    const dir = path.join(root, 'out-damaged');
    await assert.rejects(
      fetchBackup({ storage, sentinel, dir, user: await resolvePgUser(null), logger, progressTty: null }),
      (err: Error) => err instanceof BackupIntegrityError && /basebackups\/b1\/base\.tar failed verification: checksum mismatch/.test(err.message),
    );
    await assert.rejects(stat(dir), { code: 'ENOENT' });
  });

  test('a missing object, a non-empty directory', async () => {
    const { storage, sentinel } = await stored('none');
    storage.objects.clear();
    await assert.rejects(fetchBackup({ storage, sentinel, dir: path.join(root, 'out-missing'), user: await resolvePgUser(null), logger, progressTty: null }),
      /base\.tar failed verification: the object is missing/);
    const busy = path.join(root, 'busy');
    await mkdir(busy);
    await writeFile(path.join(busy, 'x'), 'x');
    const again = await stored('none');
    await assert.rejects(fetchBackup({ ...again, dir: busy, user: await resolvePgUser(null), logger, progressTty: null }), /is not empty/);
    assert.deepEqual(await readdir(busy), ['x']);
  });
});
