// Safety rule 1 under etcd faults, with a real cluster: during an etcd outage the master keeps
// writing while every member confirms it over REST (failsafe), and a master that reaches neither
// etcd nor any member stops accepting writes within 2 s (ttl 5, loop_wait 1).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { monotonicMs, sleep } from '../../src/util/time.js';
import { TestCluster } from '../helpers/cluster.js';
import { OutageWriter } from '../helpers/writer.js';

describe('failsafe and isolation (3 members, real PostgreSQL and etcd)', { timeout: 300_000 }, () => {
  let cluster: TestCluster;
  const measured: Record<string, number> = {};

  before(async () => {
    cluster = await TestCluster.start(3, ['--no-archive']);
  });
  after(async () => {
    console.log(`# failsafe timings (ms): ${JSON.stringify(measured)}`);
    await cluster?.stop();
  });

  const others = (leader: string) => cluster.manifest.nodes.map((n) => n.name).filter((n) => n !== leader);

  /** A writer on `name`, returned once `name` acknowledged its first write. */
  async function writerOn(name: string): Promise<OutageWriter> {
    const target = { name, config: cluster.connectionConfig(cluster.node(name)) };
    await OutageWriter.prepare(target);
    const writer = new OutageWriter([target], 20);
    writer.start();
    await cluster.waitFor(`a first write acknowledged by ${name}`, async () => writer.acks.length > 0, (await cluster.timing()).ttlMs);
    return writer;
  }

  test('etcd frozen longer than ttl: every member confirms the master, writes never stop, no role change after', async () => {
    const leader = await cluster.waitHealthy();
    const postmaster = cluster.postmasterPid(leader);
    const { ttlMs, loopWaitMs } = await cluster.timing();
    const writer = await writerOn(leader);
    const etcd = cluster.manifest.etcd.pid;
    const frozenAt = monotonicMs();
    process.kill(etcd, 'SIGSTOP');
    try {
      // Past the lease and a few loops more (8 s at ttl 5, loop_wait 1): without failsafe the master
      // would have demoted after ttl - safety margin.
      await sleep(ttlMs + 3 * loopWaitMs);
    } finally {
      process.kill(etcd, 'SIGCONT');
    }
    const resumedAt = monotonicMs();
    // etcd revokes the leases that expired while it was frozen soon after it resumes: a master that
    // lost its key with them would stop writing well within a lease's time (4 s at ttl 5).
    await sleep(ttlMs - loopWaitMs);
    await writer.stop();
    measured.etcd_frozen_8s_longest_write_gap = Math.round(writer.longestGap(frozenAt, resumedAt).ms);
    measured.after_resume_longest_write_gap = Math.round(writer.longestGap(resumedAt, monotonicMs()).ms);
    assert.ok(measured.etcd_frozen_8s_longest_write_gap < 1000, `writes stopped for ${measured.etcd_frozen_8s_longest_write_gap} ms during the etcd outage`);
    assert.ok(measured.after_resume_longest_write_gap < 1000, `writes stopped for ${measured.after_resume_longest_write_gap} ms after etcd came back`);
    assert.equal(await cluster.waitHealthy(), leader, 'the leader changed');
    assert.equal(cluster.postmasterPid(leader), postmaster, 'the master was restarted');
    assert.match(cluster.logOf(leader), /every member confirmed this master over REST \(failsafe\)/);
    for (const name of others(leader)) assert.match(cluster.logOf(name), new RegExp(`confirmed ${leader} as master over REST \\(failsafe\\)`));
  });

  test('master cut off from etcd and from every member: stops accepting writes within 2 s; the cluster recovers', async () => {
    const leader = await cluster.waitHealthy();
    const writer = await writerOn(leader);
    // The members' governors stop answering REST (their PostgreSQL keeps streaming), etcd freezes.
    const frozen = [cluster.manifest.etcd.pid, ...others(leader).map((n) => cluster.governorPid(n))];
    const frozenAt = monotonicMs();
    for (const pid of frozen) process.kill(pid, 'SIGSTOP');
    let lastAck = 0;
    try {
      await cluster.waitFor('the master to refuse writes', async () => {
        const acks = writer.acks.filter((a) => a.at >= frozenAt);
        lastAck = acks.at(-1)?.at ?? frozenAt;
        return monotonicMs() - lastAck > 1500; // no acknowledgement for 1.5 s: it stopped
      }, 15_000);
    } finally {
      for (const pid of frozen) process.kill(pid, 'SIGCONT');
    }
    await writer.stop();
    measured.isolated_master_last_write_after_cut = Math.round(lastAck - frozenAt);
    assert.ok(
      measured.isolated_master_last_write_after_cut <= 2000,
      `the isolated master acknowledged writes for ${measured.isolated_master_last_write_after_cut} ms after losing etcd and every member`,
    );
    assert.match(cluster.logOf(leader), /no member could be reached/);
    const recovered = await cluster.waitHealthy(120_000);
    measured.recovered_leader_changed = recovered === leader ? 0 : 1;
  });
});
