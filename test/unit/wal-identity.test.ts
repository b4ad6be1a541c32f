// A WAL file's identity as the uploader records it and as the archive_command fast path reads it with
// GNU stat: the two must print the same string for the same file, and a racy ctime must be waited out.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { formatIdentity, racyWaitMs, RACY_MS, takeIdentity } from '../../src/archive/wal-identity.js';
import { parseMarker, renderMarker } from '../../src/archive/wal-spool.js';
import { WAL_IDENTITY_STAT_FORMAT } from '../../src/postgres/render.js';

const root = mkdtempSync(path.join(tmpdir(), 'governor-identity-'));
after(() => rmSync(root, { recursive: true, force: true }));

describe('formatIdentity', () => {
  test('prints what `stat -L -c` prints for the same file', () => {
    const file = path.join(root, 'seg');
    writeFileSync(file, Buffer.alloc(12345, 1));
    const shell = execFileSync('stat', ['-L', '-c', WAL_IDENTITY_STAT_FORMAT, file], { encoding: 'utf8' }).trim();
    assert.equal(formatIdentity(statSync(file, { bigint: true })), shell);
  });

  test('nanoseconds are zero-padded to nine digits', () => {
    const id = formatIdentity({ dev: 2049n, ino: 7n, size: 16777216n, mtimeNs: 1_700_000_000_000_000_005n, ctimeNs: 1_700_000_000_120_000_000n });
    assert.equal(id, '2049 7 16777216 1700000000.000000005 1700000000.120000000');
  });
});

describe('racyWaitMs', () => {
  const now = 1_700_000_000_000;
  const ns = (ms: number) => BigInt(ms) * 1_000_000n;
  const table: Array<{ name: string; ctimeMs: number; wait: number }> = [
    { name: 'changed long ago', ctimeMs: now - 60_000, wait: 0 },
    { name: 'exactly RACY_MS old', ctimeMs: now - RACY_MS, wait: 0 },
    { name: 'changed 5 ms ago', ctimeMs: now - 5, wait: RACY_MS - 5 },
    { name: 'changed now', ctimeMs: now, wait: RACY_MS },
    { name: 'slightly in the future (clock granularity)', ctimeMs: now + 3, wait: RACY_MS },
    { name: 'far in the future (clock stepped back)', ctimeMs: now + 5_000, wait: Infinity },
  ];
  for (const row of table) test(row.name, () => assert.equal(racyWaitMs(ns(row.ctimeMs), now), row.wait));
});

describe('takeIdentity', () => {
  test('a file written just now is identified only after RACY_MS', async () => {
    const file = path.join(root, 'fresh');
    writeFileSync(file, 'x');
    const before = Date.now();
    const id = await takeIdentity(file);
    assert.ok(id);
    const ctimeMs = Number(statSync(file, { bigint: true }).ctimeNs / 1_000_000n);
    assert.ok(Date.now() - ctimeMs >= RACY_MS, `identified ${Date.now() - ctimeMs} ms after its change`);
    assert.ok(Date.now() - before < 1000);
  });
});

describe('markers with an identity', () => {
  const sha = 'ab'.repeat(32);
  test('the identity is a third line; older readers still find sha256 and storage', () => {
    const text = renderMarker(sha, 's3://b/p', '1 2 3 4.000000000 5.000000000');
    assert.equal(text, `${sha}\ns3://b/p\n1 2 3 4.000000000 5.000000000\n`);
    assert.equal(parseMarker(text, 's3://b/p'), sha);
  });
  test('without an identity the marker is the two-line format', () => {
    assert.equal(renderMarker(sha, 'file:///a'), `${sha}\nfile:///a\n`);
  });
  test('an identity spanning lines is refused', () => {
    assert.throws(() => renderMarker(sha, 'file:///a', '1\n2'), /spans lines/);
  });
});
