// signalChildOf signals a process only while /proc names the expected parent.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { test } from 'node:test';
import { signalChildOf } from '../../src/postgres/files.js';

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
