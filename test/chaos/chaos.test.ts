// The chaos suite's short run (CI, `make test`): two faults of each kind (node kill, postmaster kill, daemon hang,
// etcd stop, archive disk full, partition) against a real cluster in synchronous mode under write
// load; the history checker's verdict is the assertion. It fails on any
// dual-master interval, any lost acknowledged commit, a cluster not back to full redundancy, or a
// fault check that failed (archiving not resuming, an archive gap). On failure the seed and fault log
// are printed; rerun with CHAOS_SEED=<seed> to replay the same faults.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { faultLogLines, summaryLines } from './report.js';
import { runChaos } from './run.js';

const seed = process.env.CHAOS_SEED ? Number(process.env.CHAOS_SEED) : undefined;

test('chaos (short): random node kills, postmaster kills, daemon hangs, etcd stops, full archive disk and partitions under writes', { timeout: 420_000 }, async () => {
  const result = await runChaos({ faultsPerKind: 2, seed, recoveryTimeoutMs: 60_000, finalTimeoutMs: 150_000, archiveWaitMs: 60_000 });
  for (const line of summaryLines(result)) console.log(`# ${line}`);
  const context = () => [`seed ${result.seed} (CHAOS_SEED=${result.seed} replays it)`, 'fault log:', ...faultLogLines(result), ...summaryLines(result)].join('\n');
  assert.equal(result.verdict.dualMasters.length, 0, `dual-master intervals\n${context()}`);
  assert.deepEqual(result.verdict.lostAcked, [], `lost acknowledged commits\n${context()}`);
  assert.deepEqual(result.verdict.redundancy, [], `not back to full redundancy\n${context()}`);
  assert.deepEqual(result.problems, [], `fault checks failed\n${context()}`);
  assert.ok(result.verdict.acked > 0, `no write acknowledged\n${context()}`);
  assert.ok(result.ok, context());
});
