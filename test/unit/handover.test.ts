// The switchover's handover check (src/ha/handover.ts): which source confirms, fallback, deadline.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { waitForWalPast, type WalPositionSource } from '../../src/ha/handover.js';
import { monotonicMs } from '../../src/util/time.js';

/** A source that answers the given positions in turn (the last one repeatedly), counting calls. */
function answers(...positions: Array<number | null | Error>): WalPositionSource & { calls: number } {
  const source = {
    calls: 0,
    async position() {
      const next = positions[Math.min(source.calls, positions.length - 1)]!;
      source.calls += 1;
      if (next instanceof Error) throw next;
      return next;
    },
  };
  return source;
}

const fast = { timeoutMs: 2000, directIntervalMs: 1, restIntervalMs: 1 };

test('the session to the candidate confirms once it reports WAL past the checkpoint; REST is not asked', async () => {
  const direct = answers(100, 150, 201);
  const rest = answers(500);
  assert.deepEqual(await waitForWalPast(200, direct, rest, fast), { confirmed: true, lastSeen: 201, via: 'postgres' });
  assert.equal(direct.calls, 3);
  assert.equal(rest.calls, 0);
});

test('exactly the checkpoint position is not past it', async () => {
  const result = await waitForWalPast(200, answers(200), answers(200), { ...fast, timeoutMs: 50 });
  assert.deepEqual(result, { confirmed: false, lastSeen: 200, via: null });
});

test('a failing session moves the check to REST for good, and says so once', async () => {
  const direct = answers(100, new Error('connection terminated'), 900);
  const rest = answers(null, new Error('busy'), 250);
  const failures: string[] = [];
  const result = await waitForWalPast(200, direct, rest, { ...fast, onDirectFailure: (error) => failures.push(error.message) });
  assert.deepEqual(result, { confirmed: true, lastSeen: 250, via: 'rest' });
  assert.deepEqual(failures, ['connection terminated']);
  assert.equal(direct.calls, 2, 'the session is not asked again after it failed');
  assert.equal(rest.calls, 3, 'REST errors are retried until the deadline');
});

test('no session at all: REST alone', async () => {
  assert.deepEqual(await waitForWalPast(200, null, answers(300), fast), { confirmed: true, lastSeen: 300, via: 'rest' });
});

test('a candidate that never gets there: not confirmed at the deadline, with what it last reported', async () => {
  // The same whole-millisecond monotonic clock as the deadline (Date.now() can read 99 ms).
  const started = monotonicMs();
  const result = await waitForWalPast(200, answers(150), answers(150), { ...fast, timeoutMs: 100 });
  assert.deepEqual(result, { confirmed: false, lastSeen: 150, via: null });
  assert.ok(monotonicMs() - started >= 100, `returned after ${monotonicMs() - started} ms`);
});
