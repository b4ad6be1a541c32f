// One contract, two stores: every Storage behaves the same against a local directory and against
// an S3 server (s3rver in its own process): round trips with metadata, absent keys, overwrites,
// nested prefixes, listing past the 1000-key page, multipart streams, failing streams, deletes.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { FileStorage, openStorage } from '../../src/archive/storage/index.js';
import { S3Storage } from '../../src/archive/storage/s3.js';
import type { Storage } from '../../src/archive/types.js';
import { defaultArchiveConfig } from '../../src/config/defaults.js';
import { createLogger } from '../../src/log/logger.js';
import { startTestS3, type TestS3 } from '../helpers/s3.js';

const logLines: string[] = [];
const logger = createLogger({ level: 'debug', write: (line) => logLines.push(line) });

async function readAll(stream: Readable | null): Promise<Buffer> {
  assert.ok(stream, 'expected an object, got null');
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** `total` random bytes in 1 MiB chunks, hashed on the way out. */
function randomStream(total: number, hash: ReturnType<typeof createHash>): Readable {
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= total) {
        this.push(null);
        return;
      }
      const chunk = randomBytes(Math.min(1 << 20, total - sent));
      sent += chunk.length;
      hash.update(chunk);
      this.push(chunk);
    },
  });
}

async function inParallel<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) await work(items[next++]!);
    }),
  );
}

/** The contract every Storage must keep. `run` gives each store its own key space. */
function storageContract(name: string, open: () => Storage) {
  describe(`${name}: storage contract`, () => {
    let storage: Storage;
    before(() => {
      storage = open();
    });

    it('round-trips a buffer with its metadata (keys lower-cased)', async () => {
      const body = Buffer.from('segment content\n');
      await storage.put('wal/000000010000000000000001.lz4', body, { metadata: { sha256: 'abc123', 'Raw-Size': '16' } });
      assert.deepEqual(await storage.head('wal/000000010000000000000001.lz4'), { size: body.length, metadata: { sha256: 'abc123', 'raw-size': '16' } });
      assert.deepEqual(await readAll(await storage.get('wal/000000010000000000000001.lz4')), body);
    });

    it('stores an empty object', async () => {
      await storage.put('empty/object', Buffer.alloc(0));
      assert.deepEqual(await storage.head('empty/object'), { size: 0, metadata: {} });
      assert.equal((await readAll(await storage.get('empty/object'))).length, 0);
    });

    it('answers null for absent keys and deletes absent keys without error', async () => {
      assert.equal(await storage.head('wal/absent'), null);
      assert.equal(await storage.get('wal/absent'), null);
      assert.equal(await storage.head('no/such/prefix/at/all'), null);
      await storage.delete(['wal/absent', 'no/such/prefix/x']);
      await storage.delete([]);
    });

    it('overwrites content and metadata together', async () => {
      await storage.put('over/write', Buffer.from('first version'), { metadata: { sha256: 'one' } });
      await storage.put('over/write', Buffer.from('second'), { metadata: { sha256: 'two' } });
      assert.deepEqual(await storage.head('over/write'), { size: 6, metadata: { sha256: 'two' } });
      assert.equal((await readAll(await storage.get('over/write'))).toString(), 'second');
    });

    it('lists nested prefixes in key order with sizes', async () => {
      const keys = [
        'basebackups/base_000000010000000000000004.json',
        'basebackups/base_000000010000000000000004/base.tar.lz4',
        'basebackups/base_000000010000000000000004/16384.tar.lz4',
        'basebackups/base_000000010000000000000002/base.tar.lz4',
        'basebackups/base_000000010000000000000002.json',
      ];
      await Promise.all(keys.map((key, i) => storage.put(key, Buffer.alloc(i + 1, 1))));
      const listed = await storage.list('basebackups/');
      assert.deepEqual(listed.map((o) => o.key), [...keys].sort());
      const sizes = Object.fromEntries(listed.map((o) => [o.key, o.size]));
      assert.equal(sizes['basebackups/base_000000010000000000000002.json'], 5);
      assert.ok(listed.every((o) => o.lastModified instanceof Date && o.lastModified.getTime() > Date.now() - 3_600_000));
      assert.deepEqual(
        (await storage.list('basebackups/base_000000010000000000000004')).map((o) => o.key),
        [keys[0], keys[2], keys[1]],
      );
      assert.deepEqual((await storage.list('basebackups/base_000000010000000000000004/')).map((o) => o.key), [keys[2], keys[1]]);
      assert.deepEqual(await storage.list('basebackups/nothing-here'), []);
      assert.deepEqual(await storage.list('nope/'), []);
    });

    it('uploads a 40 MiB stream (multipart) and reads it back byte-identical', async () => {
      const sent = createHash('sha256');
      await storage.put('basebackups/big/base.tar', randomStream(40 << 20, sent), { metadata: { part: 'base' } });
      const digest = sent.digest('hex');
      const head = await storage.head('basebackups/big/base.tar');
      assert.deepEqual(head, { size: 40 << 20, metadata: { part: 'base' } });
      const received = createHash('sha256');
      let bytes = 0;
      for await (const chunk of (await storage.get('basebackups/big/base.tar'))!) {
        received.update(chunk as Buffer);
        bytes += (chunk as Buffer).length;
      }
      assert.equal(bytes, 40 << 20);
      assert.equal(received.digest('hex'), digest);
    });

    it('fails (never hangs) when the body stream fails, and leaves no object', async () => {
      let sent = 0;
      const failing = new Readable({
        read() {
          if (sent >= 20 << 20) this.destroy(new Error('source broke'));
          else {
            sent += 1 << 20;
            this.push(Buffer.alloc(1 << 20, 7));
          }
        },
      });
      await assert.rejects(storage.put('wal/failed-upload', failing), /source broke/);
      assert.equal(await storage.head('wal/failed-upload'), null);
    });

    it('lists and deletes more than 1000 keys (pagination, batches)', async () => {
      const keys = Array.from({ length: 1005 }, (_, i) => `many/${String(i).padStart(5, '0')}`);
      await inParallel(keys, 32, (key) => storage.put(key, Buffer.from(key)));
      const listed = await storage.list('many/');
      assert.equal(listed.length, 1005);
      assert.deepEqual(listed.map((o) => o.key), keys);
      await storage.delete([...keys, 'many/absent']);
      assert.deepEqual(await storage.list('many/'), []);
      assert.equal(await storage.head('many/00001'), null);
    });

    it('deletes nested objects so that neither list nor head sees them', async () => {
      const listed = await storage.list('basebackups/base_000000010000000000000002');
      await storage.delete(listed.map((o) => o.key));
      assert.deepEqual(await storage.list('basebackups/base_000000010000000000000002'), []);
      assert.equal(await storage.head('basebackups/base_000000010000000000000002.json'), null);
      assert.equal((await storage.list('basebackups/')).length, 4); // the other backup and big/base.tar
    });
  });
}

let fileRoot = '';
let s3: TestS3;

before(async () => {
  fileRoot = await mkdtemp(path.join(tmpdir(), 'governor-file-storage-'));
  s3 = await startTestS3();
});

after(async () => {
  await rm(fileRoot, { recursive: true, force: true });
  await s3?.stop();
});

storageContract('file', () => openStorage({ ...defaultArchiveConfig(), storage: `file://${fileRoot}/archive` }, logger));
storageContract('s3', () =>
  openStorage({ ...defaultArchiveConfig(), storage: `${s3.url}/cluster/demo`, s3: s3.archiveS3, upload_concurrency: 4 }, logger),
);

describe('file storage: crash leftovers', () => {
  it('treats a sidecar without data, data without a sidecar and temp files as absent', async () => {
    const root = path.join(fileRoot, 'crash');
    const storage = new FileStorage(root, logger);
    await storage.put('wal/complete', Buffer.from('ok'), { metadata: { sha256: 'x' } });
    await mkdir(path.join(root, 'wal'), { recursive: true });
    await writeFile(path.join(root, 'wal', 'sidecar-only.meta.json'), JSON.stringify({ size: 3, metadata: { sha256: 'new' } }));
    await writeFile(path.join(root, 'wal', 'data-only'), 'abc');
    await writeFile(path.join(root, 'wal', '.tmp-123-abcdef.data'), 'partial');
    assert.equal(await storage.head('wal/sidecar-only'), null);
    assert.equal(await storage.get('wal/sidecar-only'), null);
    assert.equal(await storage.head('wal/data-only'), null);
    assert.deepEqual((await storage.list('wal/')).map((o) => o.key), ['wal/complete']);
    await storage.delete(['wal/complete', 'wal/sidecar-only']);
    assert.deepEqual((await readdir(path.join(root, 'wal'))).sort(), ['.tmp-123-abcdef.data', 'data-only']);
  });

  it('reports data changed behind its back instead of wrong metadata', async () => {
    const root = path.join(fileRoot, 'tampered');
    const storage = new FileStorage(root, logger);
    await storage.put('wal/x', Buffer.from('12345'), { metadata: { sha256: 'x' } });
    await writeFile(path.join(root, 'wal', 'x'), '123');
    await assert.rejects(storage.head('wal/x'), /has 3 bytes but its metadata says 5/);
  });

  it('rejects keys that would leave the root or collide with its own files', async () => {
    const storage = new FileStorage(path.join(fileRoot, 'keys'), logger);
    for (const key of ['', '/abs', 'a/../../etc', 'a//b', 'x.meta.json', 'wal/.tmp-1', 'dir/']) {
      await assert.rejects(storage.put(key, Buffer.from('x')), /invalid key/, key);
    }
  });
});

describe('s3 storage: errors', () => {
  it('names the bucket and key and what to check, never the secret', async () => {
    const storage = new S3Storage({
      bucket: 'no-such-bucket',
      prefix: 'p',
      s3: { ...s3.archiveS3, secret_access_key: 'do-not-print-me' },
      queueSize: 2,
      logger,
    });
    const error = await storage.put('wal/seg', Buffer.from('x')).then(
      () => assert.fail('expected the put to fail'),
      (e: Error) => e,
    );
    assert.match(error.message, /s3:\/\/no-such-bucket\/p\/wal\/seg/);
    assert.match(error.message, /NoSuchBucket/);
    assert.match(error.message, /Check archive\.storage/);
    assert.ok(!error.message.includes('do-not-print-me'));
    await assert.rejects(storage.list('wal/'), /s3:\/\/no-such-bucket\/p\/wal\/\*.*NoSuchBucket/);
  });

  it('says where it could not connect', async () => {
    const storage = new S3Storage({
      bucket: 'bucket',
      prefix: '',
      s3: { ...s3.archiveS3, endpoint: 'http://127.0.0.1:9' },
      queueSize: 2,
      logger,
    });
    await assert.rejects(storage.head('k'), /S3 head of s3:\/\/bucket\/k failed: ECONNREFUSED.*Check that http:\/\/127\.0\.0\.1:9 is reachable/);
  });

  it('logged the failed multipart abort as a warning, without secrets', () => {
    const warnings = logLines.filter((l) => l.includes('could not abort a failed multipart upload'));
    assert.ok(warnings.length >= 1, 'the s3 contract run aborted a multipart upload');
    assert.ok(logLines.every((l) => !l.includes('do-not-print-me')));
  });
});

describe('s3 storage: a store without DeleteObjects', () => {
  it('falls back to one DeleteObject per key, once, and remembers it', async () => {
    const requests: string[] = [];
    const server = createServer((req, res) => {
      requests.push(`${req.method} ${req.url}`);
      req.resume();
      req.on('end', () => {
        if (req.method === 'POST' && req.url?.includes('delete')) {
          res.writeHead(501, { 'content-type': 'application/xml' });
          res.end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>NotImplemented</Code><Message>no multi-object delete</Message></Error>');
        } else if (req.method === 'DELETE') {
          res.writeHead(204);
          res.end();
        } else {
          res.writeHead(400);
          res.end();
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const storage = new S3Storage({ bucket: 'bucket', prefix: 'p', s3: { ...s3.archiveS3, endpoint }, queueSize: 2, logger });
      await storage.delete(['a', 'b/c']);
      await storage.delete(['d']);
      assert.deepEqual(requests.filter((r) => r.startsWith('POST')).length, 1, requests.join('\n'));
      assert.deepEqual(
        requests.filter((r) => r.startsWith('DELETE')).map((r) => r.split('?')[0]),
        ['DELETE /bucket/p/a', 'DELETE /bucket/p/b/c', 'DELETE /bucket/p/d'],
      );
      assert.ok(logLines.some((l) => l.includes('the store rejects DeleteObjects')));
    } finally {
      server.close();
    }
  });
});
