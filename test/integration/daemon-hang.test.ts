// Safety rule 1 when the master's governor itself hangs: SIGSTOP stands for a blocked event loop, a
// stuck disk write or a paused process. The lease guard runs inside the stopped daemon, so only the
// write fence (a dead-man's switch beside it) can stop PostgreSQL before a replica is promoted.
// Judged every 50 ms on every member: never two writable members; and the cluster heals on SIGCONT.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { monotonicMs, sleep } from '../../src/util/time.js';
import { TestCluster } from '../helpers/cluster.js';
import { WritableMonitor } from '../helpers/writable.js';
import { OutageWriter } from '../helpers/writer.js';

describe('the master\'s governor hangs (3 members, real PostgreSQL and etcd, ttl 5)', { timeout: 300_000 }, () => {
  let cluster: TestCluster;
  const measured: Record<string, number | string> = {};

  before(async () => {
    cluster = await TestCluster.start(3, ['--no-archive']);
  });
  after(async () => {
    console.log(`# daemon hang: ${JSON.stringify(measured)}`);
    await cluster?.stop();
  });

  test('SIGSTOP for 20 s under writes: the fence stops the old master before a replica takes over, never two writable members; SIGCONT: it rejoins', async () => {
    const leader = await cluster.waitHealthy();
    const names = cluster.manifest.nodes.map((n) => n.name);
    const targets = names.map((name) => ({ name, config: cluster.connectionConfig(cluster.node(name)) }));
    await OutageWriter.prepare(targets.find((t) => t.name === leader)!);
    const writer = new OutageWriter(targets, 20);
    const monitor = new WritableMonitor(targets, 50);
    writer.start();
    monitor.start();
    const { ttlMs } = await cluster.timing();
    await cluster.waitFor('writes acknowledged by the master and every member judged', async () =>
      writer.acks.some((a) => a.node === leader) && names.every((name) => monitor.answers.some((a) => a.name === name)), ttlMs);
    const governor = cluster.governorPid(leader);
    const stoppedAt = monotonicMs();
    process.kill(governor, 'SIGSTOP');
    let newLeader: string | null = null;
    try {
      newLeader = await cluster.waitFor('another member to be promoted', async () => {
        const others = names.filter((n) => n !== leader);
        const current = await cluster.leader(others);
        return current && current !== leader ? current : null;
      }, 4 * ttlMs);
      measured.promoted_after_ms = Math.round(monotonicMs() - stoppedAt);
      // Hung for four leases (20 s at ttl 5), long past the moment its key expired.
      await sleep(Math.max(0, 4 * ttlMs - (monotonicMs() - stoppedAt)));
    } finally {
      process.kill(governor, 'SIGCONT');
    }
    const resumedAt = monotonicMs();
    const healthy = await cluster.waitHealthy(120_000);
    const healedAt = monotonicMs();
    measured.healed_after_resume_ms = Math.round(healedAt - resumedAt);
    // Keep judging until every member answered once more after healing, and the new master took a write.
    await cluster.waitFor('every member judged after healing', async () =>
      writer.acks.some((a) => a.node === healthy && a.at > healedAt) && names.every((name) => monitor.answers.some((a) => a.name === name && a.at > healedAt)), ttlMs);
    await writer.stop();
    await monitor.stop();

    const oldLast = monotonicMs() - stoppedAt > 0 ? monitor.lastWritable(leader) : null;
    measured.old_master_last_writable_after_stop_ms = oldLast === null ? 'never' : Math.round(oldLast - stoppedAt);
    const newFirst = monitor.writableSeen.get(newLeader!)?.find((t) => t > stoppedAt) ?? null;
    measured.new_master_first_writable_after_stop_ms = newFirst === null ? 'never' : Math.round(newFirst - stoppedAt);
    measured.dual_writable_ms = monitor.dualWritableMs();
    measured.write_outage_ms = Math.round(writer.longestGap(stoppedAt, resumedAt).ms);

    assert.deepEqual(monitor.dual, [], `two writable members at once: ${JSON.stringify(monitor.dual)}`);
    assert.equal(healthy, newLeader, 'the member promoted during the hang stays the leader');
    assert.match(cluster.logOf(leader), /did not re-arm the write fence by its deadline/);
    const [row] = await cluster.query<{ recovery: boolean }>(leader, 'SELECT pg_is_in_recovery() AS recovery');
    assert.equal(row!.recovery, true, 'the old master rejoined as a replica');
    assert.equal(cluster.governorPid(leader), governor, 'the resumed governor carried on (no crash)');
  });
});
