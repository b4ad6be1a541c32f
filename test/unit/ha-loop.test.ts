// The HA runtime (HaLoop, ActionExecutor, LeaseKeeper) against fakes: a 3-member cluster on one
// fake clock, an in-memory etcd and simulated PostgreSQL instances (test/fakes). No process, no
// socket, no real sleep: each scenario runs in milliseconds and the same way every time. The
// harness checks after every step that there is never more than one writer within its lease
// window, and that a clean handover loses no acknowledged WAL.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { KEY } from '../../src/dcs/keys.js';
import { LEASE_SAFETY_MARGIN_MS } from '../../src/ha/types.js';
import { FakeCluster, type FakeClusterOptions } from '../fakes/cluster.js';
import { fitsTimeline } from '../fakes/postgres.js';

const TTL_MS = 5000;

/** A bootstrapped cluster whose daemons have run long enough to race for a free key (a restarted
 *  member waits ttl + 2 s for failsafe promises it may have forgotten). */
async function runningCluster(options: FakeClusterOptions = {}): Promise<FakeCluster> {
  const cluster = await FakeCluster.start(options);
  await cluster.settle();
  await cluster.run(8000);
  await cluster.settle();
  return cluster;
}

/** Rules a member decided on since the given iteration count. */
function rulesSince(cluster: FakeCluster, member: string, from: number): string[] {
  return cluster.iterations.slice(from).filter((i) => i.member === member).map((i) => i.rule ?? '');
}

describe('a fresh cluster', () => {
  test('bootstraps one master and two streaming replicas', async () => {
    const cluster = await FakeCluster.start();
    await cluster.settle();
    assert.equal(cluster.assertSettledMaster(), 'm1');
    const m1 = cluster.member('m1');
    assert.deepEqual(cluster.iterations.slice(0, 3).map((i) => [i.member, i.rule]), [['m1', 'bootstrap'], ['m2', 'clone-from-leader'], ['m3', 'clone-from-leader']]);
    assert.equal(cluster.etcd.get(cluster.prefix + KEY.initialize)?.value, m1.pg.cluster?.systemIdentifier);
    for (const name of ['m2', 'm3']) {
      const m = cluster.member(name);
      assert.equal(m.pg.streamingFrom?.member, 'm1', `${name} streams from m1`);
      assert.equal(m.rule, 'replica-steady');
      assert.deepEqual(m.pg.events, ['basebackup from m1', 'start replica']);
    }
    assert.equal(m1.rule, 'leader-renew');
    assert.deepEqual(m1.pg.cluster?.slots, ['m2', 'm3'], 'the master keeps a slot for each replica');
    m1.pg.write(4096);
    await cluster.settle();
    assert.equal(cluster.member('m2').pg.position, m1.pg.position, 'a replica receives what the master writes');
  });
});

describe('the master fails', () => {
  test("its PostgreSQL crashes: restarted in place as master, on the same timeline", async () => {
    const cluster = await runningCluster();
    const m1 = cluster.member('m1');
    m1.pg.write(1000);
    m1.pg.crash();
    const record = await cluster.iterate('m1');
    assert.equal(record.rule, 'leader-start');
    assert.deepEqual(record.actions, ['startPrimary']);
    assert.ok(m1.pg.isPrimary);
    assert.equal(m1.pg.timeline, 1);
    await cluster.settle();
    assert.equal(cluster.assertSettledMaster(), 'm1');
    for (const name of ['m2', 'm3']) assert.equal(cluster.member(name).pg.streamingFrom?.member, 'm1');
  });

  test('its machine dies: the healthiest replica takes over, the other follows it, the old master rejoins with pg_rewind', async () => {
    const cluster = await runningCluster();
    const [m1, m2, m3] = ['m1', 'm2', 'm3'].map((n) => cluster.member(n));
    m1.pg.write(10_000);
    assert.ok(m2.pg.position! > 0 && m3.pg.position === m1.pg.position);
    // m3 stops receiving; m2 gets 5000 bytes more; m1 writes 700 bytes nobody receives, then dies.
    cluster.network.cutLink('m1', 'm3');
    m1.pg.write(5000);
    assert.equal(m2.pg.position, m1.pg.position);
    m1.pg.write(700);
    cluster.killMachine('m1');
    // The replicas' timers run while m1's lease runs out; then each looks once, m3 first.
    await cluster.advance(TTL_MS);
    assert.equal(cluster.leader, null, "m1's key expired with its lease");
    const from = cluster.iterations.length;
    assert.equal((await cluster.iterate('m3')).rule, 'not-candidate', 'm3 sees m2 is further ahead');
    assert.equal((await cluster.iterate('m2')).rule, 'race');
    await cluster.run(2000);
    assert.equal(cluster.assertSettledMaster(), 'm2');
    assert.ok(!rulesSince(cluster, 'm3', from).includes('race'));
    assert.equal(m2.pg.timeline, 2);
    await cluster.settle();
    assert.equal(m3.pg.streamingFrom?.member, 'm2', 'm3 follows the new master');
    assert.ok(rulesSince(cluster, 'm3', from).includes('replica-follow'));

    assert.equal(fitsTimeline(m1.pg.cluster!, m2.pg.cluster!), false, 'm1 holds 700 bytes m2 never received: it diverged');
    const back = cluster.iterations.length;
    await cluster.reviveMachine('m1');
    await cluster.settle();
    assert.equal(rulesSince(cluster, 'm1', back)[0], 'former-master-rewind');
    assert.ok(m1.pg.events.includes('rewind from m2'));
    assert.equal(m1.pg.streamingFrom?.member, 'm2');
    assert.equal(m1.pg.timeline, 2);
    assert.equal(cluster.assertSettledMaster(), 'm2');
  });
});

describe('a switchover', () => {
  test('hands over to the candidate with every byte, and the old master follows without rewind', async () => {
    const cluster = await runningCluster();
    const [m1, m2] = ['m1', 'm2'].map((n) => cluster.member(n));
    m1.pg.write(20_000);
    const acknowledged = m1.pg.lastAcknowledged;
    await m1.dcs.setFailover({ leader: 'm1', member: 'm2' });
    const from = cluster.iterations.length;
    await cluster.settle();
    assert.deepEqual(rulesSince(cluster, 'm1', from).slice(0, 2), ['switchover', 'replica-start']);
    assert.equal(rulesSince(cluster, 'm2', from)[0], 'failover-to-me');
    assert.equal(cluster.assertSettledMaster(), 'm2');
    assert.equal(m1.loop!.memory.cleanHandoffTo, null, 'forgotten once m1 started as a replica');
    assert.ok(!m1.pg.events.some((e) => e.startsWith('rewind')), 'no rewind after a clean handover');
    assert.equal(m1.pg.streamingFrom?.member, 'm2');
    assert.ok(m2.pg.position! > acknowledged, 'the new master has every acknowledged byte and the shutdown checkpoint');
    assert.equal(cluster.etcd.get(cluster.prefix + KEY.failover), null, 'the request is cleared once done');
    assert.equal(cluster.member('m3').pg.streamingFrom?.member, 'm2');
  });
});

describe('maintenance mode', () => {
  test('a paused cluster leaves a crashed master down and a dead master unreplaced', async () => {
    const cluster = await runningCluster();
    const view = await cluster.member('m2').dcs.readCluster();
    assert.ok(await cluster.member('m2').dcs.setConfig({ ...view.config!, pause: true }, view.configRevision));
    await cluster.settle();
    for (const name of ['m1', 'm2', 'm3']) assert.equal(cluster.member(name).rule, 'paused');
    const m1 = cluster.member('m1');
    m1.pg.crash();
    await cluster.settle();
    assert.equal(m1.rule, 'paused');
    assert.ok(!m1.pg.up, 'PostgreSQL stays down while paused');
    cluster.killMachine('m1');
    await cluster.run(3 * TTL_MS);
    assert.equal(cluster.leader, null, 'the dead master key expired');
    assert.deepEqual(cluster.primaries, [], 'no replica was promoted');
    for (const name of ['m2', 'm3']) assert.equal(cluster.member(name).rule, 'paused');
  });
});

describe('etcd unreachable', () => {
  test('for a replica: it leaves PostgreSQL as it is', async () => {
    const cluster = await runningCluster();
    const m2 = cluster.member('m2');
    m2.dcs.partitioned = true;
    const from = cluster.iterations.length;
    await cluster.run(3 * TTL_MS);
    assert.deepEqual([...new Set(rulesSince(cluster, 'm2', from))], ['dcs-unreachable']);
    assert.ok(m2.pg.isReplica);
    assert.equal(m2.pg.streamingFrom?.member, 'm1');
    assert.equal(cluster.assertSettledMaster(), 'm1');
    m2.dcs.partitioned = false;
    await cluster.run(2000);
    await cluster.settle();
    assert.equal(m2.rule, 'replica-steady');
    assert.ok((await m2.dcs.readCluster()).members.some((m) => m.name === 'm2'), 'its member key is back on a new lease');
  });

  // Demotion times count from the moment etcd stops answering, which falls anywhere in the renewal
  // interval (ttl / 3): the write window counts from the last renewal before it.
  const deadline = TTL_MS - LEASE_SAFETY_MARGIN_MS;
  const masterCases: Array<{ name: string; failsafe: boolean; etcdDownFor: 'master' | 'all'; isolated?: boolean; demotedWithinMs: [number, number] | null }> = [
    { name: 'failsafe_mode off: it demotes when its write deadline passes', failsafe: false, etcdDownFor: 'master', demotedWithinMs: [deadline - 1700, deadline + 100] },
    {
      name: 'failsafe_mode on, etcd up for the others: confirmed until they see its key expire, then it demotes by the last promise',
      failsafe: true, etcdDownFor: 'master', demotedWithinMs: [TTL_MS, TTL_MS + deadline + 100],
    },
    { name: 'failsafe_mode on, etcd down for everyone: the members confirm it and it keeps writing', failsafe: true, etcdDownFor: 'all', demotedWithinMs: null },
    { name: 'failsafe_mode on, cut off from the members too: it demotes within 2 s', failsafe: true, etcdDownFor: 'master', isolated: true, demotedWithinMs: [0, 2000] },
  ];
  for (const c of masterCases) {
    test(`for the master, ${c.name}`, async () => {
      const cluster = await runningCluster({ dynamic: { failsafe_mode: c.failsafe } });
      const m1 = cluster.member('m1');
      for (const name of c.etcdDownFor === 'all' ? ['m1', 'm2', 'm3'] : ['m1']) cluster.member(name).dcs.partitioned = true;
      if (c.isolated) cluster.network.isolate('m1');
      const cutAt = cluster.clock.monotonic();
      let demotedAt: number | null = null;
      for (let t = 0; t < 3 * TTL_MS && demotedAt === null; t += 100) {
        await cluster.run(100);
        if (!m1.pg.isPrimary) demotedAt = cluster.clock.monotonic() - cutAt;
      }
      if (c.demotedWithinMs === null) {
        assert.equal(demotedAt, null, 'still master after 3 x ttl');
        assert.deepEqual(cluster.writers(), ['m1'], 'within a write window the members extend');
        for (const name of ['m2', 'm3']) assert.ok(cluster.member(name).pg.isReplica);
        return;
      }
      assert.ok(demotedAt !== null, 'demoted');
      const [min, max] = c.demotedWithinMs;
      assert.ok(demotedAt >= min && demotedAt <= max, `demoted ${demotedAt} ms after etcd went away, expected ${min}-${max}`);
      await cluster.run(3 * TTL_MS);
      assert.notEqual(cluster.assertSettledMaster(), 'm1', 'a replica took over');
    });
  }
});

describe('the lease guard beside a hung action', () => {
  test('an action of the master hung for 30 s does not delay its demotion', async () => {
    const cluster = await runningCluster({ dynamic: { failsafe_mode: false } });
    const m1 = cluster.member('m1');
    const hang = m1.pg.faults.hangOn('syncSlots');
    await cluster.run(1000);
    assert.ok(hang.isReached, "the master's iteration is stuck in syncSlots");
    m1.dcs.partitioned = true;
    const cutAt = cluster.clock.monotonic();
    await cluster.run(TTL_MS);
    assert.ok(!m1.pg.isPrimary, 'demoted by the lease guard while the iteration still hangs');
    assert.ok(m1.pg.events.includes('stop immediate'));
    await cluster.run(30_000 - TTL_MS);
    assert.ok(cluster.clock.monotonic() - cutAt >= 29_000);
    hang.release();
    m1.dcs.partitioned = false;
    await cluster.run(2000);
    await cluster.settle();
    assert.notEqual(cluster.assertSettledMaster(), 'm1', 'a replica took over meanwhile');
  });
});
