// The data directory module on a real temporary file system (no PostgreSQL): what it reads a
// directory as, how a failed or interrupted creation is undone, moving aside (also through a
// symbolic link), listing copies, and holds.

import assert from 'node:assert/strict';
import { lstat, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { createLogger } from '../../src/log/logger.js';
import { DataDirectory } from '../../src/postgres/data-dir.js';

const lines: string[] = [];
const logger = createLogger({ level: 'debug', write: (line) => lines.push(line) });
let root = '';
let running = false;

function directory(dataDir: string): DataDirectory {
  return new DataDirectory({
    dataDir,
    member: 'node1',
    logger,
    owner: async () => ({ uid: undefined, gid: undefined }),
    assertStopped: async (what) => {
      if (running) throw new Error(`cannot ${what}: PostgreSQL is running`);
    },
  });
}

before(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'governor-datadir-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

test('what a data directory holds: missing, empty, a cluster, foreign content, a file', async () => {
  const dataDir = path.join(root, 'states', 'data');
  const dir = directory(dataDir);
  assert.equal((await dir.inspect()).state, 'missing');
  await mkdir(dataDir, { recursive: true });
  assert.equal((await dir.inspect()).state, 'empty');
  await writeFile(path.join(dataDir, 'notes.txt'), 'mine');
  const foreign = await dir.inspect();
  assert.equal(foreign.state, 'foreign');
  assert.match(foreign.problem!, /states\/data is not empty and holds no PostgreSQL cluster \(no PG_VERSION; 1 entry: notes\.txt\)/);
  await writeFile(path.join(dataDir, 'PG_VERSION'), '15\n');
  assert.equal((await dir.inspect()).state, 'initialized');
  const file = path.join(root, 'states', 'a-file');
  await writeFile(file, 'x');
  assert.match((await directory(file).inspect()).problem!, /exists and is not a directory/);
});

test('a creation that fails removes what it made and nothing else; a refused one touches nothing', async () => {
  const dataDir = path.join(root, 'create', 'data');
  await mkdir(dataDir, { recursive: true });
  const inode = (await stat(dataDir)).ino;
  const dir = directory(dataDir);
  await assert.rejects(
    dir.create('clone', async () => {
      await writeFile(path.join(dataDir, 'PG_VERSION'), '15\n');
      await mkdir(path.join(dataDir, 'base'));
      throw new Error('pg_basebackup: connection lost');
    }),
    /connection lost/,
  );
  assert.equal((await stat(dataDir)).ino, inode, 'the directory that was there stays');
  assert.deepEqual(await readdir(dataDir), []);
  assert.deepEqual((await readdir(path.dirname(dataDir))).filter((n) => n.includes('creating')), [], 'no marker left');

  await writeFile(path.join(dataDir, 'precious'), 'the only copy');
  let filled = false;
  await assert.rejects(dir.create('clone', async () => { filled = true; }), /clone into .* refused: .*not empty and holds no PostgreSQL cluster/);
  assert.equal(filled, false);
  assert.equal(await readFile(path.join(dataDir, 'precious'), 'utf8'), 'the only copy');
});

test('a creation into a missing directory that fails removes the directory too', async () => {
  const dataDir = path.join(root, 'missing', 'data');
  await assert.rejects(directory(dataDir).create('bootstrap', async () => {
    await mkdir(dataDir);
    await writeFile(path.join(dataDir, 'PG_VERSION'), '15\n');
    throw new Error('initdb failed');
  }));
  await assert.rejects(lstat(dataDir), { code: 'ENOENT' });
});

test('the leftovers of an interrupted creation (its marker still there) are governor\'s own: cleared by the next one', async () => {
  const dataDir = path.join(root, 'interrupted', 'data');
  await mkdir(dataDir, { recursive: true });
  const dir = directory(dataDir);
  // What a daemon killed in the middle of pg_basebackup leaves: the marker beside, half a copy inside.
  let release!: () => void;
  const stuck = dir.create('clone', async () => {
    await writeFile(path.join(dataDir, 'half-copied'), 'x');
    await new Promise<void>((resolve) => { release = resolve; });
  });
  while (!release) await new Promise((resolve) => setTimeout(resolve, 5));
  assert.equal((await directory(dataDir).inspect()).state, 'incomplete', 'another daemon reads it as governor\'s unfinished work');
  const marker = (await readdir(path.dirname(dataDir))).find((n) => n.endsWith('.creating'))!;
  const markerText = await readFile(path.join(path.dirname(dataDir), marker), 'utf8');
  release();
  await stuck;
  // Put the crash state back as it would be: content and marker.
  await writeFile(path.join(dataDir, 'half-copied'), 'x');
  await writeFile(path.join(path.dirname(dataDir), marker), markerText);
  await directory(dataDir).create('clone', async () => {
    assert.deepEqual(await readdir(dataDir), [], 'cleared before the new attempt');
    await writeFile(path.join(dataDir, 'PG_VERSION'), '15\n');
  });
  assert.equal((await directory(dataDir).inspect()).state, 'initialized');
  assert.ok(lines.some((l) => l.includes('the leftovers of an interrupted clone')));
});

test('move aside: renamed beside it with reason and time, an empty directory left, listed; never while PostgreSQL runs', async () => {
  const dataDir = path.join(root, 'aside', 'data');
  await mkdir(path.join(dataDir, 'base'), { recursive: true, mode: 0o700 });
  await writeFile(path.join(dataDir, 'PG_VERSION'), '15\n');
  const dir = directory(dataDir);
  running = true;
  await assert.rejects(dir.moveAside('rewind-failed'), /PostgreSQL is running/);
  running = false;
  const first = await dir.moveAside('rewind-failed');
  const second = await dir.moveAside('reinit');
  assert.match(path.basename(first), /^data\.rewind-failed\.\d{8}T\d{6}Z$/);
  assert.equal(await readFile(path.join(first, 'PG_VERSION'), 'utf8'), '15\n', 'the copy holds the data');
  assert.deepEqual(await readdir(dataDir), [], 'an empty data directory in its place');
  assert.equal((await stat(dataDir)).mode & 0o777, 0o700);
  // Oldest first; two in the same second by name.
  assert.deepEqual((await dir.room()).copies.map((c) => [c.path, c.reason]).sort(), [[first, 'rewind-failed'], [second, 'reinit']].sort());
  assert.ok((await dir.room()).freeBytes > 0);
  const report = await dir.report(false);
  assert.equal(report.movedAside.length, 2);
});

test('move aside through a symbolic link: the directory it points at moves, the link stays', async () => {
  const real = path.join(root, 'volume', 'pgdata');
  await mkdir(real, { recursive: true });
  await writeFile(path.join(real, 'PG_VERSION'), '15\n');
  const link = path.join(root, 'link-data');
  await symlink(real, link);
  const copy = await directory(link).moveAside('reinit');
  assert.equal(path.dirname(copy), path.dirname(real), 'beside the real directory, on its file system');
  assert.ok((await lstat(link)).isSymbolicLink());
  assert.deepEqual(await readdir(link), []);
  assert.deepEqual((await directory(link).movedAside(true)).map((c) => c.path), [copy]);
});

test('a hold is reported, and ends when the directory no longer holds the cluster it was about', async () => {
  const dataDir = path.join(root, 'held', 'data');
  await mkdir(dataDir, { recursive: true });
  await writeFile(path.join(dataDir, 'PG_VERSION'), '15\n');
  const dir = directory(dataDir);
  dir.hold({ state: 'waiting for reinit', reason: 'no room' });
  assert.equal(await dir.state(), 'initialized');
  assert.deepEqual((await dir.report(false)).hold, { state: 'waiting for reinit', reason: 'no room' });
  assert.equal((await dir.report(true)).problem, 'no room');
  await rm(dataDir, { recursive: true });
  assert.equal(await dir.state(), 'missing');
  assert.equal(dir.currentHold, null);
});
