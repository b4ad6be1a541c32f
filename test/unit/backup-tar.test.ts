// The streaming tar reader: ustar headers, GNU long names, pax paths, chunking at any boundary,
// truncation and corruption.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { parseNumericField, parseTarHeader, safeEntryPath, type TarHeader, TarReader } from '../../src/archive/tar.js';

/** A minimal ustar writer for tests. */
function header(name: string, size: number, typeflag = '0', mode = 0o600): Buffer {
  const block = Buffer.alloc(512);
  block.write(name, 0, 100, 'utf8');
  block.write(mode.toString(8).padStart(7, '0') + '\0', 100, 'latin1');
  block.write('0000000\0', 108, 'latin1');
  block.write('0000000\0', 116, 'latin1');
  block.write(size.toString(8).padStart(11, '0') + '\0', 124, 'latin1');
  block.write('14000000000\0', 136, 'latin1');
  block.write('        ', 148, 'latin1');
  block.write(typeflag, 156, 'latin1');
  block.write('ustar\0', 257, 'latin1');
  block.write('00', 263, 'latin1');
  let sum = 0;
  for (const b of block) sum += b;
  block.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
  return block;
}

function entry(name: string, content: Buffer | string, typeflag = '0'): Buffer {
  const data = Buffer.isBuffer(content) ? content : Buffer.from(content);
  const pad = (512 - (data.length % 512)) % 512;
  return Buffer.concat([header(name, data.length, typeflag), data, Buffer.alloc(pad)]);
}

function archive(...entries: Buffer[]): Buffer {
  return Buffer.concat([...entries, Buffer.alloc(1024)]);
}

async function read(data: Buffer, chunkSize: number): Promise<Array<{ header: TarHeader; content: string }>> {
  const out: Array<{ header: TarHeader; content: string }> = [];
  const reader = new TarReader((h) => {
    const chunks: Buffer[] = [];
    return { write: (c) => void chunks.push(Buffer.from(c)), end: () => void out.push({ header: h, content: Buffer.concat(chunks).toString() }) };
  });
  for (let i = 0; i < data.length; i += chunkSize) await reader.push(data.subarray(i, i + chunkSize));
  reader.end();
  return out;
}

describe('tar reader', () => {
  const sample = archive(
    entry('backup_label', 'START WAL LOCATION: 0/2000028 (file 000000010000000000000002)\n'),
    entry('base', '', '5'),
    entry('base/1/1234', Buffer.alloc(1500, 7)),
    entry('empty', ''),
    entry('global/pg_control', Buffer.alloc(8192, 1)),
  );

  for (const chunkSize of [1, 7, 511, 512, 513, 4096, 1 << 20]) {
    test(`entries and contents survive ${chunkSize}-byte chunks`, async () => {
      const entries = await read(sample, chunkSize);
      assert.deepEqual(entries.map((e) => [e.header.name, e.header.type, e.header.size]), [
        ['backup_label', 'file', 62], ['base', 'directory', 0], ['base/1/1234', 'file', 1500], ['empty', 'file', 0], ['global/pg_control', 'file', 8192],
      ]);
      assert.ok(entries[0]!.content.startsWith('START WAL LOCATION'));
      assert.equal(entries[2]!.content, Buffer.alloc(1500, 7).toString());
    });
  }

  test('a truncated archive is an error', async () => {
    await assert.rejects(read(sample.subarray(0, 2000), 512), /truncated/);
    await assert.rejects(read(sample.subarray(0, sample.length - 1024), 512), /without an end-of-archive marker/);
  });

  test('a damaged header is a checksum error with its offset', async () => {
    const damaged = Buffer.from(sample);
    damaged[1024 + 10] ^= 0xff; // the second entry's header (after backup_label's header + one data block)
    await assert.rejects(read(damaged, 4096), /tar header checksum mismatch at offset 1024/);
  });

  test('data after the end marker is refused', async () => {
    await assert.rejects(read(Buffer.concat([sample, Buffer.from('x')]), 512), /after the end-of-archive marker/);
  });

  test('numeric fields: octal and base-256', () => {
    const block = Buffer.alloc(12);
    block.write('00000001750\0', 0, 'latin1');
    assert.equal(parseNumericField(block, 0, 12), 1000);
    const big = Buffer.alloc(12);
    big[0] = 0x80;
    big.writeUIntBE(20 * 2 ** 30, 6, 6);
    assert.equal(parseNumericField(big, 0, 12), 20 * 2 ** 30);
  });

  test('ustar prefix is joined to the name', () => {
    const block = header('file', 0);
    block.write('some/long/prefix', 345, 'utf8');
    let sum = 0;
    block.write('        ', 148, 'latin1');
    for (const b of block) sum += b;
    block.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
    assert.equal(parseTarHeader(block).name, 'some/long/prefix/file');
  });

  test('GNU tar output with long names and pax headers', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'tar-test-'));
    try {
      const long = 'd'.repeat(60) + '/' + 'f'.repeat(120);
      mkdirSync(path.join(dir, 'src', 'd'.repeat(60)), { recursive: true });
      writeFileSync(path.join(dir, 'src', long), 'long name content');
      writeFileSync(path.join(dir, 'src', 'short'), 'x'.repeat(700));
      for (const format of ['gnu', 'pax']) {
        const data = execFileSync('tar', ['-C', path.join(dir, 'src'), `--format=${format}`, '-cf', '-', '.']);
        const entries = await read(data, 333);
        const byName = new Map(entries.map((e) => [e.header.name.replace(/^\.\//, ''), e]));
        assert.equal(byName.get(long)?.content, 'long name content', format);
        assert.equal(byName.get('short')?.content.length, 700, format);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('safe entry paths', () => {
  test('relative paths pass, escapes are refused', () => {
    assert.equal(safeEntryPath('base/1/1234'), 'base/1/1234');
    assert.equal(safeEntryPath('./global/pg_control'), 'global/pg_control');
    assert.equal(safeEntryPath('pg_wal/'), 'pg_wal');
    assert.equal(safeEntryPath('.'), '');
    for (const bad of ['/etc/passwd', '../x', 'a/../../x', 'a//b']) assert.throws(() => safeEntryPath(bad), /unsafe path/, bad);
  });
});
