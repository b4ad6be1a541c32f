// LeaseKeeper (safety rule 1) driven by hand on a fake clock, against the fake DCS on an in-memory
// etcd: renewals, a lease etcd let expire, the lease guard's demotion, and failsafe probes while
// etcd is overdue. renew() and guard() are called here as start()'s timers would call them.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { KEY } from '../../src/dcs/keys.js';
import type { FailsafeProbe } from '../../src/ha/failsafe.js';
import { LeaseKeeper } from '../../src/ha/lease.js';
import { LEASE_SAFETY_MARGIN_MS } from '../../src/ha/types.js';
import { createLogger } from '../../src/log/logger.js';
import { FakeClock } from '../fakes/clock.js';
import { flush, fakeMemberConfig } from '../fakes/cluster.js';
import { FakeDcs } from '../fakes/dcs.js';
import { FakeEtcd } from '../fakes/etcd.js';

const TTL_S = 5;
const windowEnd = (renewalSentAt: number) => renewalSentAt + TTL_S * 1000 - LEASE_SAFETY_MARGIN_MS;

type ProbeAnswer = Omit<FailsafeProbe, 'sentAt'>;
const noOtherMembers: ProbeAnswer = { asked: 0, answered: 0, confirmed: 0, deposed: 0, refused: [] };

function setup(options: { failsafeMode?: boolean; peers?: ProbeAnswer; adopted?: boolean } = {}) {
  const clock = new FakeClock();
  const etcd = new FakeEtcd(clock);
  const dcs = new FakeDcs(etcd, clock, fakeMemberConfig('m1', 0));
  const state = {
    primary: true,
    adopted: options.adopted ?? true,
    peers: options.peers ?? noOtherMembers,
    demotions: [] as Array<{ at: number; reason: string }>,
    renewed: 0,
    replaced: 0,
    probes: 0,
    /** Set to hold the next demotion until resolved. */
    holdDemotion: null as Promise<void> | null,
  };
  const lease = new LeaseKeeper({
    dcs,
    logger: createLogger({ level: 'error', write: () => undefined }),
    timing: () => ({ ttl: TTL_S, loopWait: 1, failsafeMode: options.failsafeMode ?? true }),
    probePeers: async () => {
      state.probes += 1;
      return state.peers;
    },
    demote: async (reason) => {
      state.demotions.push({ at: clock.monotonic(), reason: reason.message });
      await state.holdDemotion;
      state.primary = false;
    },
    isPrimary: () => state.primary,
    adopted: () => state.adopted,
    onRenewed: () => (state.renewed += 1),
    onLeaseReplaced: () => (state.replaced += 1),
    now: clock.monotonic,
  });
  /** Let `ms` pass with the guard checking every 100 ms (as start() does). */
  const guardFor = async (ms: number) => {
    for (let t = 0; t < ms; t += 100) {
      clock.advance(100);
      void lease.guard(); // as start()'s interval does: a demotion in progress does not block it
      await flush();
    }
  };
  /** This member holds the leader key on its lease, renewed just now. */
  const becomeMaster = async () => {
    await dcs.open(TTL_S);
    await lease.renew();
    assert.ok(await dcs.acquireLeader());
    lease.leaderKeyConfirmed();
    return clock.monotonic();
  };
  return { clock, etcd, dcs, lease, state, guardFor, becomeMaster };
}

describe('renewals and the write window', () => {
  test('each renewal etcd confirms moves the deadline to ttl - margin after it was sent', async () => {
    const { clock, lease, becomeMaster } = setup();
    const first = await becomeMaster();
    assert.equal(lease.deadline(), windowEnd(first));
    clock.advance(1700);
    await lease.renew();
    assert.equal(lease.deadline(), windowEnd(first + 1700));
  });

  test('a lease without the leader key gives no window until the key is confirmed on it', async () => {
    const { dcs, lease, state } = setup();
    await dcs.open(TTL_S);
    await lease.renew();
    assert.equal(lease.deadline(), null);
    const before = state.renewed;
    lease.leaderKeyConfirmed();
    assert.equal(state.renewed, before + 1, 'onRenewed: the deadline moved');
    assert.notEqual(lease.deadline(), null);
  });

  test('a lease etcd let expire is granted anew (renewed: false): the window does not move until the key is back on it', async () => {
    const { clock, etcd, dcs, lease, state, becomeMaster } = setup();
    const first = await becomeMaster();
    clock.advance(TTL_S * 1000 + 1000); // the daemon hung past its lease
    assert.equal(etcd.get(dcs.prefix + KEY.leader), null, 'the leader key went with the lease');
    const renewedBefore = state.renewed;
    await lease.renew();
    assert.equal(state.replaced, 1, 'onLeaseReplaced: the keys on the old lease are gone');
    assert.equal(state.renewed, renewedBefore + 1);
    assert.equal(lease.deadline(), windowEnd(first), 'a new lease is not a renewal of the key');
    clock.advance(500);
    await lease.renew();
    assert.equal(state.replaced, 1);
    assert.equal(lease.deadline(), windowEnd(first), 'renewals of the new lease do not count before the key is on it');
    assert.ok(await dcs.acquireLeader());
    lease.leaderKeyConfirmed();
    assert.equal(lease.deadline(), windowEnd(clock.monotonic()));
  });

  test('a failed renewal leaves the deadline where it was and calls nothing', async () => {
    const { clock, dcs, lease, state, becomeMaster } = setup();
    const first = await becomeMaster();
    const [renewed, replaced] = [state.renewed, state.replaced];
    dcs.partitioned = true;
    clock.advance(1700);
    await lease.renew();
    assert.equal(lease.deadline(), windowEnd(first));
    assert.deepEqual([state.renewed, state.replaced], [renewed, replaced]);
  });

  test('a ttl change is taken by the next renewal: a new lease, the keys moved onto it, the window kept', async () => {
    const { clock, etcd, dcs, lease, state, becomeMaster } = setup();
    await becomeMaster();
    const old = dcs.leaseId;
    dcs.setTtl(10);
    clock.advance(1000);
    await lease.renew();
    assert.notEqual(dcs.leaseId, old);
    assert.equal(etcd.get(dcs.prefix + KEY.leader)?.lease, dcs.leaseId, 'the leader key moved to the new lease');
    assert.equal(state.replaced, 0);
    assert.equal(lease.deadline(), windowEnd(clock.monotonic()), 'a renewal that moved the key counts');
  });
});

describe('the lease guard', () => {
  test('demotes once the deadline passes, not before, and exactly once', async () => {
    const { clock, dcs, lease, state, guardFor, becomeMaster } = setup({ failsafeMode: false });
    const renewedAt = await becomeMaster();
    dcs.partitioned = true;
    let release!: () => void;
    state.holdDemotion = new Promise((resolve) => (release = resolve));
    await guardFor(windowEnd(renewedAt) - clock.monotonic() - 100);
    assert.equal(state.demotions.length, 0, 'not before the deadline');
    await guardFor(100);
    assert.equal(state.demotions.length, 1);
    assert.equal(state.demotions[0]!.at, windowEnd(renewedAt));
    assert.match(state.demotions[0]!.reason, /no confirmed renewal for 3\.5 s \(ttl 5 s\)/);
    await guardFor(500);
    assert.equal(state.demotions.length, 1, 'a demotion under way is not started again');
    release();
    await flush();
    await guardFor(500);
    assert.equal(state.demotions.length, 1, 'once demoted (no longer primary) the guard is quiet');
    void lease;
  });

  test('waits for adopted() before demoting a master whose key was never confirmed on its lease', async () => {
    const { dcs, lease, state, guardFor } = setup({ adopted: false });
    await dcs.open(TTL_S);
    await lease.renew();
    await guardFor(300);
    assert.equal(state.demotions.length, 0, "an earlier daemon's master: its fence guards it until the first iteration");
    state.adopted = true;
    await guardFor(100);
    assert.equal(state.demotions.length, 1);
    assert.match(state.demotions[0]!.reason, /never confirmed on this lease/);
  });

  test('never demotes a member that does not run read-write', async () => {
    const { clock, dcs, lease, state, guardFor, becomeMaster } = setup();
    await becomeMaster();
    state.primary = false;
    dcs.partitioned = true;
    await guardFor(3 * TTL_S * 1000);
    assert.equal(state.demotions.length, 0);
    assert.equal(state.probes, 0, 'no failsafe probes either');
    void clock;
    void lease;
  });
});

describe('failsafe probes while etcd is overdue', () => {
  // etcd stops answering right after a renewal; the guard asks the peers from 0.7 s on.
  const cases: Array<{ name: string; peers: ProbeAnswer; demoted: 'at once' | 'at the lease deadline' | 'never' }> = [
    { name: 'every member confirms: the window follows the probes', peers: { asked: 2, answered: 2, confirmed: 2, deposed: 0, refused: [], promiseMs: 5000 }, demoted: 'never' },
    { name: 'one member says another master may exist: isolated at once', peers: { asked: 2, answered: 2, confirmed: 1, deposed: 1, refused: ['m3: sees leader m3'] }, demoted: 'at once' },
    { name: 'no member answers: isolated at once', peers: { asked: 2, answered: 0, confirmed: 0, deposed: 0, refused: ['m2: timeout', 'm3: timeout'] }, demoted: 'at once' },
    { name: 'one member sees no leader: the lease deadline stands', peers: { asked: 2, answered: 2, confirmed: 1, deposed: 0, refused: ['m3: sees no leader'] }, demoted: 'at the lease deadline' },
  ];
  for (const c of cases) {
    test(c.name, async () => {
      const { dcs, lease, state, guardFor, becomeMaster } = setup({ peers: c.peers });
      const renewedAt = await becomeMaster();
      await lease.guard(); // primarySince, first heartbeat
      dcs.partitioned = true;
      const renewedBefore = state.renewed;
      await guardFor(3 * TTL_S * 1000);
      assert.ok(state.probes > 0, 'the peers were asked');
      if (c.demoted === 'never') {
        assert.equal(state.demotions.length, 0);
        assert.ok(lease.deadline()! > windowEnd(renewedAt) + 2 * TTL_S * 1000, 'confirmed probes carried the window past the lease');
        assert.ok(state.renewed > renewedBefore, 'onRenewed after confirmed probes');
        return;
      }
      assert.equal(state.demotions.length, 1);
      const at = state.demotions[0]!.at - renewedAt;
      if (c.demoted === 'at once') {
        assert.ok(at <= 1000, `demoted ${at} ms after the last renewal`);
        assert.match(state.demotions[0]!.reason, /demoting now/);
      } else {
        assert.equal(state.demotions[0]!.at, windowEnd(renewedAt));
      }
    });
  }
});
