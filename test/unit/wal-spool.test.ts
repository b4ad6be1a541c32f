// The spool shared by the daemon's WalUploader and wal-push: markers, claims, cleanup.
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { claimIsLive, parseMarker, renderMarker, staleMarkers, WalSpool } from '../../src/archive/wal-spool.js';

const SHA = 'a'.repeat(64);
const OTHER = 'b'.repeat(64);
const STORAGE = 's3://bucket/prefix';
const SEG = '000000010000000000000007';

describe('markers', () => {
  test('a marker counts only for the storage it was written for', () => {
    assert.equal(parseMarker(renderMarker(SHA, STORAGE), STORAGE), SHA);
    assert.equal(parseMarker(renderMarker(SHA, STORAGE), 'file:///elsewhere'), null);
    assert.equal(parseMarker('not-a-sha\n' + STORAGE + '\n', STORAGE), null);
    assert.equal(parseMarker('', STORAGE), null);
  });

  test('stale: PostgreSQL no longer lists the file as .ready (after a grace minute), or a day old', () => {
    const now = 10 * 86_400_000;
    const markers = new Map([
      ['archived-long-ago', now - 120_000],
      ['archived-just-now', now - 1_000],
      ['still-ready', now - 120_000],
      ['ready-but-ancient', now - 2 * 86_400_000],
    ]);
    const ready = new Set(['still-ready', 'ready-but-ancient']);
    assert.deepEqual(staleMarkers(markers, ready, now).sort(), ['archived-long-ago', 'ready-but-ancient']);
  });
});

describe('claims', () => {
  test('live only while its process exists and for at most 30 minutes', () => {
    const now = Date.now();
    assert.equal(claimIsLive(`${process.pid} ${now}`, now), true);
    assert.equal(claimIsLive(`123 ${now}`, now, () => false), false);
    assert.equal(claimIsLive(`${process.pid} ${now - 31 * 60_000}`, now), false);
    assert.equal(claimIsLive('garbage', now), false);
  });
});

describe('WalSpool on disk', () => {
  let dir = '';
  let spool: WalSpool;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'governor-spool-'));
    spool = new WalSpool(path.join(dir, 'spool'), STORAGE);
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test('a missing spool reads as "no marker", never as an error', async () => {
    assert.equal(await spool.marker(SEG), null);
    assert.deepEqual([...(await spool.markers())], []);
    assert.equal(await spool.claimedByOther(SEG), false);
  });

  test('markers are written atomically and read back', async () => {
    await spool.ensure();
    await spool.writeMarker(SEG, SHA);
    assert.equal(await spool.marker(SEG), SHA);
    await spool.writeMarker(SEG, OTHER);
    assert.equal(await spool.marker(SEG), OTHER);
    assert.deepEqual((await readdir(spool.dir)).sort(), [`${SEG}.done`]); // no temp files left
    assert.equal(await new WalSpool(spool.dir, 'file:///other').marker(SEG), null);
  });

  test('one claim at a time; a claim of a dead process is taken over', async () => {
    const release = await spool.claim(SEG);
    assert.ok(release);
    assert.equal(await spool.claim(SEG), null, 'held by a live process (us)');
    await release();
    assert.ok(await spool.claim(SEG).then(async (r) => { await r?.(); return r; }));
    await writeFile(path.join(spool.dir, `${SEG}.claim`), `999999999 ${Date.now()}\n`);
    assert.equal(await spool.claimedByOther(SEG), false);
    const takeover = await spool.claim(SEG);
    assert.ok(takeover);
    await takeover();
  });

  test('cleanup removes markers of archived files and abandoned claims', async () => {
    const old = new Date(Date.now() - 5 * 60_000);
    await spool.writeMarker('000000010000000000000001', SHA);
    await spool.writeMarker('000000010000000000000002', SHA);
    await spool.writeMarker('000000010000000000000003', SHA);
    await utimes(path.join(spool.dir, '000000010000000000000001.done'), old, old);
    await utimes(path.join(spool.dir, '000000010000000000000002.done'), old, old);
    await writeFile(path.join(spool.dir, '000000010000000000000009.claim'), `999999999 ${Date.now()}\n`);
    const removed = await spool.cleanup(new Set(['000000010000000000000002']));
    assert.equal(removed, 1);
    const left = (await readdir(spool.dir)).sort();
    assert.deepEqual(left, ['000000010000000000000002.done', '000000010000000000000003.done', `${SEG}.done`]);
  });
});
