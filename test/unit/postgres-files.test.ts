// Small file and process helpers of the PostgreSQL controller (src/postgres/files.ts).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmod, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { signalChildOf, writeFileIfChanged } from '../../src/postgres/files.js';

test('signalChildOf signals a child of the given parent and nothing else', async () => {
  const child = spawn('sleep', ['30'], { stdio: 'ignore' });
  const pid = child.pid!;
  try {
    assert.equal(await signalChildOf(pid, 1, 'SIGTERM'), false, 'its parent is this test, not PID 1');
    assert.equal(child.exitCode, null);
    const exited = once(child, 'exit');
    assert.equal(await signalChildOf(pid, process.pid, 'SIGTERM'), true);
    const [code, signal] = await exited;
    assert.equal(code, null);
    assert.equal(signal, 'SIGTERM');
    assert.equal(await signalChildOf(pid, process.pid, 'SIGTERM'), false, 'a reaped process is not signalled');
  } finally {
    child.kill('SIGKILL');
  }
});

test('signalChildOf refuses a PID that does not exist', async () => {
  assert.equal(await signalChildOf(2 ** 22 + 12345, process.pid, 'SIGTERM'), false);
});

test('writeFileIfChanged writes only what differs in content or mode', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'governor-files-'));
  try {
    const file = path.join(dir, 'postgresql.conf');
    const owner = { uid: process.getuid?.(), gid: process.getgid?.() };
    assert.equal(await writeFileIfChanged(file, 'port = 5432\n', owner), true, 'missing: written');
    const first = await stat(file);
    assert.equal(first.mode & 0o777, 0o600);
    assert.equal(await writeFileIfChanged(file, 'port = 5432\n', owner), false, 'identical: left alone');
    assert.equal((await stat(file)).ino, first.ino, 'not replaced by a rename');
    assert.equal(await writeFileIfChanged(file, 'port = 5433\n', owner), true, 'other content: written');
    assert.equal(await readFile(file, 'utf8'), 'port = 5433\n');
    await chmod(file, 0o644);
    assert.equal(await writeFileIfChanged(file, 'port = 5433\n', owner), true, 'other mode: written');
    assert.equal((await stat(file)).mode & 0o777, 0o600);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
