import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { sha256Hex } from '../../src/archive/checksum.js';
import { readLocalWal, SegmentBuffers } from '../../src/archive/wal-uploader.js';

describe('SegmentBuffers', () => {
  it('hands a returned buffer out again, for the same or a smaller size', () => {
    const buffers = new SegmentBuffers(2);
    const first = buffers.take(1000);
    buffers.give(first);
    const again = buffers.take(600);
    assert.equal(again.buffer, first.buffer);
    assert.equal(again.length, 600);
  });

  it('never takes back memory it did not hand out (a small Buffer shares Node pool)', () => {
    const buffers = new SegmentBuffers(2);
    const foreign = Buffer.from('shared pool memory');
    buffers.give(foreign);
    assert.notEqual(buffers.take(10).buffer, foreign.buffer);
  });

  it('takes a buffer back once, and keeps at most `keep`', () => {
    const buffers = new SegmentBuffers(1);
    const a = buffers.take(100);
    const b = buffers.take(100);
    buffers.give(a);
    buffers.give(a); // a second give of the same memory must not make it spare twice
    buffers.give(b); // beyond keep: dropped
    const first = buffers.take(100);
    const second = buffers.take(100);
    assert.equal(first.buffer, a.buffer);
    assert.notEqual(second.buffer, a.buffer);
    assert.notEqual(second.buffer, b.buffer);
  });
});

describe('readLocalWal with reused buffers', () => {
  it('reads each file whole and exactly, a smaller one after a larger one into the same memory', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'segment-buffers-'));
    try {
      const big = Buffer.alloc(300_000, 7);
      const small = Buffer.from('a shorter file that reuses the larger buffer');
      await writeFile(path.join(dir, 'big'), big);
      await writeFile(path.join(dir, 'small'), small);
      const buffers = new SegmentBuffers(1);
      const first = await readLocalWal(path.join(dir, 'big'), buffers);
      assert.deepEqual(first.digest, { sha256: sha256Hex(big), size: big.length });
      buffers.give(first.content!);
      const second = await readLocalWal(path.join(dir, 'small'), buffers);
      assert.equal(second.content!.buffer, first.content!.buffer);
      assert.deepEqual(second.content, small);
      assert.deepEqual(second.digest, { sha256: sha256Hex(small), size: small.length });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
