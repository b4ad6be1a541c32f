// The fakes the HA runtime is tested against (test/fakes) behave as the real things do where the
// runtime depends on it, and the harness's invariant checker does catch what it claims to.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { KEY } from '../../src/dcs/keys.js';
import { DcsUnavailableError } from '../../src/dcs/types.js';
import { FakeClock } from '../fakes/clock.js';
import { FakeCluster, fakeMemberConfig } from '../fakes/cluster.js';
import { FakeDcs } from '../fakes/dcs.js';
import { FakeEtcd } from '../fakes/etcd.js';
import { Faults } from '../fakes/faults.js';
import { fitsTimeline } from '../fakes/postgres.js';

function twoMembers() {
  const clock = new FakeClock();
  const etcd = new FakeEtcd(clock);
  const [a, b] = ['m1', 'm2'].map((name, i) => new FakeDcs(etcd, clock, fakeMemberConfig(name, i)));
  return { clock, etcd, a: a!, b: b! };
}

describe('FakeDcs on FakeEtcd', () => {
  test('one member wins the leader key; it lives as long as the lease it was created on', async () => {
    const { clock, a, b } = twoMembers();
    await a.open(5);
    await b.open(5);
    assert.equal(await a.acquireLeader(), true);
    assert.equal(await a.acquireLeader(), true, 'a retried acquire finds its own key');
    assert.equal(await b.acquireLeader(), false);
    assert.equal(await b.setSync({ leader: 'm2', sync_standby: null }), false, 'only the key holder writes sync');
    assert.equal(await a.setSync({ leader: 'm1', sync_standby: 'm2' }), true);
    clock.advance(4000);
    assert.equal((await b.renewLease()).renewed, true);
    clock.advance(1000);
    assert.equal((await b.readCluster()).leader, null, "m1's lease expired with the key on it");
    assert.equal(await b.acquireLeader(), true);
    assert.equal(await a.confirmLeader(), false);
    await assert.rejects(a.touchMember({ conn_url: 'postgres://10.0.0.1:5432/postgres', api_url: 'http://10.0.0.1:8008/patroni', state: 'running', role: 'replica' }), DcsUnavailableError);
    assert.deepEqual(await a.renewLease().then((r) => r.renewed), false, 'the next renewal grants a new lease');
    await a.touchMember({ conn_url: 'postgres://10.0.0.1:5432/postgres', api_url: 'http://10.0.0.1:8008/patroni', state: 'running', role: 'replica' });
    assert.deepEqual((await b.readCluster()).members.map((m) => m.name), ['m1']);
  });

  test('initialize: one racer wins; cancelling removes the placeholder but never a system identifier it did not write', async () => {
    const { etcd, a, b } = twoMembers();
    assert.equal(await a.raceInitialize(), true);
    assert.equal(await b.raceInitialize(), false);
    await a.setInitialize('7300');
    await b.cancelInitialize();
    assert.equal(etcd.get(a.prefix + KEY.initialize)?.value, '7300');
    await a.cancelInitialize();
    assert.equal(etcd.get(a.prefix + KEY.initialize), null, 'its own bootstrap, undone');
    assert.equal(await b.claimInitialize('7301'), true);
    assert.equal(await a.claimInitialize('7302'), false);
  });

  test('a partitioned member and planned faults reject with DcsUnavailableError; a hang holds until released', async () => {
    const { a } = twoMembers();
    await a.open(5);
    a.partitioned = true;
    await assert.rejects(a.readCluster(), DcsUnavailableError);
    a.partitioned = false;
    a.faults.failOn('readCluster', { after: 1, times: 2 });
    await a.readCluster();
    await assert.rejects(a.readCluster(), DcsUnavailableError);
    await assert.rejects(a.readCluster(), DcsUnavailableError);
    await a.readCluster();
    const hang = a.faults.hangOn('acquireLeader');
    const acquiring = a.acquireLeader();
    await hang.reached;
    assert.equal(a.faults.calls('acquireLeader'), 1);
    hang.release();
    assert.equal(await acquiring, true);
  });
});

describe('Faults', () => {
  test('counts calls by method and fails the planned ones only', async () => {
    const faults = new Faults((method, call) => new Error(`${method} ${call}`));
    faults.failOn('stop', { after: 2 });
    await faults.enter('stop');
    await faults.enter('start');
    await faults.enter('stop');
    await assert.rejects(faults.enter('stop'), /stop 3/);
    await faults.enter('stop');
    assert.deepEqual(faults.history, ['stop', 'start', 'stop', 'stop', 'stop']);
  });
});

describe('FakePostgres timelines', () => {
  const primary = { timeline: 3, walPosition: 9000, history: [{ parentTimeline: 1, switchLsn: 4000, reason: '' }, { parentTimeline: 2, switchLsn: 7000, reason: '' }] };
  const rows: Array<[string, { timeline: number; walPosition: number }, boolean]> = [
    ['same timeline, behind', { timeline: 3, walPosition: 8000 }, true],
    ['same timeline, ahead (diverged)', { timeline: 3, walPosition: 9500 }, false],
    ['older timeline, before its fork', { timeline: 2, walPosition: 7000 }, true],
    ['older timeline, past its fork (diverged)', { timeline: 1, walPosition: 4100 }, false],
    ['newer timeline', { timeline: 4, walPosition: 100 }, false],
  ];
  for (const [name, replica, fits] of rows) test(name, () => assert.equal(fitsTimeline(replica, primary), fits));
});

describe('the invariant checker', () => {
  test('catches a second writer within its lease window', async () => {
    const cluster = await FakeCluster.start();
    await cluster.settle();
    const m2 = cluster.member('m2');
    m2.leases.push(cluster.member('m1').loop!.lease); // as if m2 had a valid window too
    await m2.pg.promote(0);
    assert.throws(() => cluster.checkInvariants(), /two writers: m1, m2/);
  });
});
