// wal-push, wal-fetch and the WalUploader against an in-memory Storage: the rules of rule 5
// (exit 0 only when stored and verified; same content twice = success; different content = error).
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, beforeEach, describe, test } from 'node:test';
import { sha256Hex } from '../../src/archive/checksum.js';
import type { ObjectInfo, Storage, StoredObject } from '../../src/archive/types.js';
import { prefetchDirectory, runPrefetch, walFetch } from '../../src/archive/wal-fetch.js';
import { walPush } from '../../src/archive/wal-push.js';
import { WalSpool } from '../../src/archive/wal-spool.js';
import { uploadWalFile, WalConflictError, WalUploader } from '../../src/archive/wal-uploader.js';
import { defaultArchiveConfig } from '../../src/config/defaults.js';
import type { ArchiveConfig, GovernorConfig } from '../../src/config/types.js';
import { createLogger } from '../../src/log/logger.js';
import { sleep } from '../../src/util/time.js';
import { waitFor } from '../helpers/postgres.js';

const logger = createLogger({ level: 'error', write: () => undefined });

class MemoryStorage implements Storage {
  readonly description = 'memory://unit';
  readonly objects = new Map<string, { data: Buffer; metadata: Record<string, string> }>();
  puts = 0;
  heads = 0;
  inflight = 0;
  maxInflight = 0;
  putDelayMs = 0;
  failPuts = false;
  /** Simulate a store that loses or mangles what it acknowledged. */
  lieOnHead = false;

  async put(key: string, body: Buffer | Readable, options?: { metadata?: Record<string, string> }): Promise<void> {
    this.puts++;
    this.inflight++;
    this.maxInflight = Math.max(this.maxInflight, this.inflight);
    try {
      const chunks: Buffer[] = [];
      if (Buffer.isBuffer(body)) chunks.push(body);
      else for await (const chunk of body) chunks.push(chunk as Buffer);
      if (this.putDelayMs) await sleep(this.putDelayMs);
      if (this.failPuts) throw new Error('storage unavailable');
      this.objects.set(key, { data: Buffer.concat(chunks), metadata: { ...options?.metadata } });
    } finally {
      this.inflight--;
    }
  }
  async get(key: string): Promise<Readable | null> {
    const o = this.objects.get(key);
    return o ? Readable.from([o.data]) : null;
  }
  async head(key: string): Promise<StoredObject | null> {
    this.heads++;
    const o = this.objects.get(key);
    if (!o) return null;
    return { size: o.data.length, metadata: this.lieOnHead ? { ...o.metadata, sha256: '0'.repeat(64) } : o.metadata };
  }
  async list(prefix: string): Promise<ObjectInfo[]> {
    return [...this.objects].filter(([k]) => k.startsWith(prefix)).sort().map(([key, o]) => ({ key, size: o.data.length, lastModified: new Date() }));
  }
  async delete(keys: string[]): Promise<void> {
    for (const k of keys) this.objects.delete(k);
  }
}

const SEG = (n: number) => `0000000100000000000000${n.toString(16).toUpperCase().padStart(2, '0')}`;
const SEGMENT_SIZE = 1 << 20; // the smallest wal_segment_size keeps the tests fast
const content = (n: number) => Buffer.alloc(SEGMENT_SIZE, n);

let dir = '';
let pgWal = '';
let config: GovernorConfig;
let dataDirs = 0;

/** Every test gets its own pg_wal, so .ready files of one never become another's "ahead" files. */
async function freshPgWal(): Promise<void> {
  pgWal = path.join(dir, `data${++dataDirs}`, 'pg_wal');
  await mkdir(path.join(pgWal, 'archive_status'), { recursive: true });
}

function makeConfig(archive: Partial<ArchiveConfig>): GovernorConfig {
  return {
    scope: 'unit', namespace: 'service', name: 'n1',
    postgresql: { data_dir: path.dirname(pgWal) },
    log: { level: 'error' },
    archive: { ...defaultArchiveConfig(), enabled: true, storage: 'file:///unused', compression: 'gzip', spool_dir: path.join(dir, 'spool'), ...archive },
  } as unknown as GovernorConfig;
}

/** An empty pg_wal in a directory that holds PG_VERSION: where restore_command may write. */
async function restoreTarget(): Promise<string> {
  const data = path.join(dir, `restore${++dataDirs}`);
  await mkdir(path.join(data, 'pg_wal'), { recursive: true });
  await writeFile(path.join(data, 'PG_VERSION'), '15\n');
  return path.join(data, 'pg_wal');
}

async function ready(n: number, data = content(n)): Promise<string> {
  await writeFile(path.join(pgWal, SEG(n)), data);
  await writeFile(path.join(pgWal, 'archive_status', `${SEG(n)}.ready`), '');
  return path.join(pgWal, SEG(n));
}

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'governor-walunit-'));
  await freshPgWal();
  config = makeConfig({ upload_concurrency: 3 });
});
beforeEach(freshPgWal);
after(() => rm(dir, { recursive: true, force: true }));

describe('uploadWalFile', () => {
  test('stores compressed with sha256/raw-size of the raw content, then is idempotent', async () => {
    const storage = new MemoryStorage();
    const file = await ready(1);
    const first = await uploadWalFile({ storage, codec: 'gzip' }, file);
    assert.equal(first.outcome, 'uploaded');
    const stored = storage.objects.get(`wal/${SEG(1)}.gz`)!;
    assert.equal(stored.metadata.sha256, sha256Hex(content(1)));
    assert.equal(stored.metadata['raw-size'], String(SEGMENT_SIZE));
    assert.ok(stored.data.length < SEGMENT_SIZE / 10, 'compressed');
    const again = await uploadWalFile({ storage, codec: 'gzip' }, file);
    assert.equal(again.outcome, 'already-archived');
    assert.equal(storage.puts, 1);
  });

  test('different content under the same name, under any codec, is a loud conflict', async () => {
    const storage = new MemoryStorage();
    const file = await ready(2);
    await storage.put(`wal/${SEG(2)}.zst`, Buffer.from('x'), { metadata: { sha256: 'e'.repeat(64), 'raw-size': '1' } });
    await assert.rejects(uploadWalFile({ storage, codec: 'gzip' }, file), (error: Error) =>
      error instanceof WalConflictError && error.message.includes(`archive already holds a different ${SEG(2)}`) &&
      error.message.includes('check whether two clusters write to the same storage'));
    await storage.put(`wal/${SEG(2)}.zst`, Buffer.from('x'), { metadata: {} });
    await assert.rejects(uploadWalFile({ storage, codec: 'gzip' }, file), /no sha256 metadata/);
  });

  test('a store that does not show our sha256 afterwards fails verification; a failing put fails', async () => {
    const liar = new MemoryStorage();
    liar.lieOnHead = true;
    await assert.rejects(uploadWalFile({ storage: liar, codec: 'none' }, await ready(3)), /verification failed/);
    const down = new MemoryStorage();
    down.failPuts = true;
    await assert.rejects(uploadWalFile({ storage: down, codec: 'gzip' }, await ready(3)), /storage unavailable/);
  });
});

describe('walPush', () => {
  test('uploads its file and up to upload_concurrency-1 further .ready files in parallel, leaving markers', async () => {
    const storage = new MemoryStorage();
    storage.putDelayMs = 400; // long enough that the three uploads overlap even on a loaded machine
    for (const n of [0x10, 0x11, 0x12, 0x13]) await ready(n);
    const config = makeConfig({ upload_concurrency: 3 });
    const result = await walPush({ config, file: path.join(pgWal, SEG(0x10)), logger, storage });
    assert.deepEqual(result, { outcome: 'uploaded', ahead: 2 });
    assert.equal(storage.maxInflight, 3);
    assert.ok(storage.objects.has(`wal/${SEG(0x11)}.gz`) && storage.objects.has(`wal/${SEG(0x12)}.gz`));
    assert.ok(!storage.objects.has(`wal/${SEG(0x13)}.gz`));
    // PostgreSQL marks 0x10 done and calls us for 0x11: answered by the marker, storage untouched.
    await rm(path.join(pgWal, 'archive_status', `${SEG(0x10)}.ready`));
    const heads = storage.heads;
    assert.deepEqual(await walPush({ config, file: path.join(pgWal, SEG(0x11)), logger, storage }), { outcome: 'marker', ahead: 0 });
    assert.equal(storage.heads, heads);
  });

  test('a marker whose sha256 differs from the file is not trusted', async () => {
    const storage = new MemoryStorage();
    const file = await ready(0x20);
    const spool = new WalSpool(config.archive!.spool_dir, config.archive!.storage);
    await spool.ensure();
    await spool.writeMarker(SEG(0x20), 'a'.repeat(64));
    const result = await walPush({ config: makeConfig({ upload_concurrency: 1 }), file, logger, storage });
    assert.equal(result.outcome, 'uploaded');
  });

  test('refuses files that are not WAL, and configurations without archiving', async () => {
    await writeFile(path.join(pgWal, 'notwal'), 'x');
    await assert.rejects(walPush({ config, file: path.join(pgWal, 'notwal'), logger, storage: new MemoryStorage() }), /not a WAL file name/);
    await assert.rejects(walPush({ config: makeConfig({ enabled: false }), file: path.join(pgWal, SEG(1)), logger }), /archiving is not enabled/);
  });

  test('storage failure: non-zero (a rejection), and no marker', async () => {
    const storage = new MemoryStorage();
    storage.failPuts = true;
    const file = await ready(0x30);
    await assert.rejects(walPush({ config: makeConfig({ upload_concurrency: 1 }), file, logger, storage }), /storage unavailable/);
    assert.equal(await new WalSpool(config.archive!.spool_dir, config.archive!.storage).marker(SEG(0x30)), null);
  });
});

describe('walFetch', () => {
  test('missing → "missing"; present → verified, byte-identical, with the next segments handed to the prefetcher', async () => {
    const storage = new MemoryStorage();
    const fetchConfig = makeConfig({ prefetch: 3 });
    await uploadWalFile({ storage, codec: 'gzip' }, await ready(0x40));
    const dest = path.join(await restoreTarget(), 'RECOVERYXLOG');
    assert.equal(await walFetch({ config: fetchConfig, name: SEG(0x41), dest, logger, storage }), 'missing');
    let asked: string[] = [];
    assert.equal(await walFetch({ config: fetchConfig, name: SEG(0x40), dest, logger, storage, startPrefetch: (n) => { asked = n; } }), 'restored');
    assert.ok((await readFile(dest)).equals(content(0x40)));
    // 1 MiB segments: 4096 per log id, so the names simply count up here.
    assert.deepEqual(asked, [SEG(0x41), SEG(0x42), SEG(0x43)]);
  });

  test('content that does not match its sha256 is refused and leaves nothing behind', async () => {
    const storage = new MemoryStorage();
    await uploadWalFile({ storage, codec: 'none' }, await ready(0x50));
    storage.objects.get(`wal/${SEG(0x50)}`)!.data[5] ^= 1;
    const out = await restoreTarget();
    await assert.rejects(walFetch({ config, name: SEG(0x50), dest: path.join(out, 'RECOVERYXLOG'), logger, storage }), /is corrupt/);
    assert.deepEqual(await readdir(out), []);
  });

  test('the prefetcher fills the spool; the next fetch is a rename; segments behind the window are dropped', async () => {
    const storage = new MemoryStorage();
    const fetchConfig = makeConfig({ prefetch: 2 });
    for (const n of [0x60, 0x61, 0x62, 0x63]) await uploadWalFile({ storage, codec: 'gzip' }, await ready(n));
    const dest = path.join(await restoreTarget(), 'RECOVERYXLOG');
    const prefetchDir = prefetchDirectory(fetchConfig.archive!.spool_dir, fetchConfig.archive!.storage);
    let started: Promise<void> = Promise.resolve();
    const startPrefetch = (names: string[]) => { started = runPrefetch({ config: fetchConfig, names, logger, storage }); };
    await walFetch({ config: fetchConfig, name: SEG(0x60), dest, logger, storage, startPrefetch });
    await started;
    assert.deepEqual((await readdir(prefetchDir)).sort(), [SEG(0x61), SEG(0x62)]);
    const gets = storage.heads;
    assert.equal(await walFetch({ config: fetchConfig, name: SEG(0x61), dest, logger, storage, startPrefetch: () => undefined }), 'restored');
    assert.equal(storage.heads, gets, 'served from the spool');
    assert.ok((await readFile(dest)).equals(content(0x61)));
    await walFetch({ config: fetchConfig, name: SEG(0x63), dest, logger, storage, startPrefetch: () => undefined });
    assert.ok(!(await readdir(prefetchDir)).includes(SEG(0x62)), 'older than asked: removed');
  });
});

describe('WalUploader', () => {
  test('uploads .ready files ahead, history first, upload_concurrency at a time, and leaves markers', async () => {
    const storage = new MemoryStorage();
    storage.putDelayMs = 30;
    const local = makeConfig({ upload_concurrency: 2, spool_dir: path.join(dir, 'spool-uploader') });
    const names = [0x70, 0x71, 0x72, 0x73, 0x74].map(SEG);
    for (const n of [0x70, 0x71, 0x72, 0x73, 0x74]) await ready(n);
    await writeFile(path.join(pgWal, '00000002.history'), '1\t0/3000000\tno recovery target specified\n');
    await writeFile(path.join(pgWal, 'archive_status', '00000002.history.ready'), '');
    const order: string[] = [];
    const put = storage.put.bind(storage);
    storage.put = async (key, body, options) => { order.push(key); return put(key, body, options); };
    // wal-push is uploading 0x74 itself (its claim): the uploader leaves it alone until the claim goes.
    const spool = new WalSpool(local.archive!.spool_dir, local.archive!.storage);
    await spool.ensure();
    const claim = path.join(spool.dir, `${SEG(0x74)}.claim`);
    await writeFile(claim, `${process.pid} ${Date.now()}\n`);
    const uploader = new WalUploader({ config: local, logger, storage, pollIntervalMs: 50 });
    await uploader.start();
    try {
      await waitFor('markers for every unclaimed ready file', async () => {
        for (const n of [...names.slice(0, 4), '00000002.history']) if (!(await spool.marker(n))) return false;
        return true;
      }, 10_000, 20);
      assert.equal(order[0], 'wal/00000002.history.gz');
      assert.ok(storage.maxInflight <= 2);
      assert.equal(await spool.marker(SEG(0x72)), sha256Hex(content(0x72)));
      await sleep(300);
      assert.equal(await spool.marker(SEG(0x74)), null, 'claimed by another process');
      await rm(claim);
      await waitFor('the claimed file once released', async () => (await spool.marker(SEG(0x74))) !== null, 10_000, 20);
    } finally {
      await uploader.stop();
    }
  });
});
