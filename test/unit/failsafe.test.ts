import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ETCD_HEARTBEAT_INTERVAL_MS, ETCD_OVERDUE_GRACE_MS, failsafeAnswer, parseRefusal, renewIntervalMs, writeWindow, type FailsafeProbe, type WriteWindowInput } from '../../src/ha/failsafe.js';
import { LEASE_SAFETY_MARGIN_MS } from '../../src/ha/types.js';
import { failsafeTargets } from '../../src/ha/peers.js';

const NOW = 1_000_000;
const TTL = 5000;
const BEAT = 500;

function input(over: Partial<WriteWindowInput>): WriteWindowInput {
  return { now: NOW, ttlMs: TTL, lastEtcdContact: null, failsafeMode: true, lastRenewal: NOW - 500, lastConfirmedProbe: null, lastProbe: null, ...over };
}

/** A probe: by default every member that did not confirm was unreachable; `answered` counts
 *  refusals too, `deposed` the refusals that say another master may exist. */
const probe = (sentAt: number, asked: number, confirmed: number, answered = confirmed, deposed = 0): FailsafeProbe => ({ sentAt, asked, answered, confirmed, deposed, refused: [] });

describe('renewIntervalMs', () => {
  it('renews every ttl / 3, at least every 0.5 s', () => {
    assert.equal(ETCD_HEARTBEAT_INTERVAL_MS, 500);
    assert.equal(renewIntervalMs(5000), 1667);
    assert.equal(renewIntervalMs(10_000), 3333);
    assert.equal(renewIntervalMs(30_000), 10_000);
    assert.equal(renewIntervalMs(1000), 500);
  });
});

describe('writeWindow', () => {
  // [case, input, deadline, etcdOverdue, isolated]
  const cases: Array<[string, WriteWindowInput, number | null, boolean, boolean]> = [
    ['renewals confirmed: the lease deadline', input({}), NOW - 500 + TTL - LEASE_SAFETY_MARGIN_MS, false, false],
    ['never renewed: no deadline (must not write)', input({ lastRenewal: null }), null, true, false],
    ['renewal late by less than the grace: not overdue', input({ lastRenewal: NOW - BEAT - ETCD_OVERDUE_GRACE_MS }), NOW - BEAT - ETCD_OVERDUE_GRACE_MS + TTL - LEASE_SAFETY_MARGIN_MS, false, false],
    ['renewal overdue, no probe yet', input({ lastRenewal: NOW - 1500 }), NOW - 1500 + TTL - LEASE_SAFETY_MARGIN_MS, true, false],
    [
      'overdue, every member confirmed: deadline moves to the probe',
      input({ lastRenewal: NOW - 3000, lastProbe: probe(NOW - 100, 2, 2), lastConfirmedProbe: probe(NOW - 100, 2, 2) }),
      NOW - 100 + TTL - LEASE_SAFETY_MARGIN_MS,
      true,
      false,
    ],
    [
      'overdue, every member confirmed, failsafe_mode off: the lease deadline stands',
      input({ failsafeMode: false, lastRenewal: NOW - 3000, lastProbe: probe(NOW - 100, 2, 2), lastConfirmedProbe: probe(NOW - 100, 2, 2) }),
      NOW - 3000 + TTL - LEASE_SAFETY_MARGIN_MS,
      true,
      false,
    ],
    [
      'overdue, one of two confirmed: not isolated, the lease deadline stands',
      input({ lastRenewal: NOW - 1500, lastProbe: probe(NOW - 100, 2, 1) }),
      NOW - 1500 + TTL - LEASE_SAFETY_MARGIN_MS,
      true,
      false,
    ],
    ['overdue, nobody confirmed: isolated', input({ lastRenewal: NOW - 1500, lastProbe: probe(NOW - 100, 2, 0) }), NOW - 1500 + TTL - LEASE_SAFETY_MARGIN_MS, true, true],
    ['a failed probe from before the last renewal does not count', input({ lastRenewal: NOW - 1300, lastProbe: probe(NOW - 1400, 2, 0) }), NOW - 1300 + TTL - LEASE_SAFETY_MARGIN_MS, true, false],
    [
      'a confirmed probe from before the last renewal does not extend',
      input({ lastRenewal: NOW - 500, lastConfirmedProbe: probe(NOW - 600, 2, 2) }),
      NOW - 500 + TTL - LEASE_SAFETY_MARGIN_MS,
      false,
      false,
    ],
    [
      'renewal old but a heartbeat answered recently: etcd is there, not overdue, the lease deadline stands',
      input({ lastRenewal: NOW - 1900, lastEtcdContact: NOW - 300, lastProbe: probe(NOW - 100, 2, 0) }),
      NOW - 1900 + TTL - LEASE_SAFETY_MARGIN_MS,
      false,
      false,
    ],
    [
      'heartbeat answered, then nothing for longer than heartbeat + grace and nobody confirmed: isolated',
      input({ lastRenewal: NOW - 1900, lastEtcdContact: NOW - 800, lastProbe: probe(NOW - 50, 2, 0) }),
      NOW - 1900 + TTL - LEASE_SAFETY_MARGIN_MS,
      true,
      true,
    ],
    [
      'a failed probe sent before the last heartbeat answer does not count',
      input({ lastRenewal: NOW - 1900, lastEtcdContact: NOW - 800, lastProbe: probe(NOW - 900, 2, 0) }),
      NOW - 1900 + TTL - LEASE_SAFETY_MARGIN_MS,
      true,
      false,
    ],
    [
      'etcd back for the members first: both answer "no leader" (etcd expired the key): not a reason to stop, the confirmed deadline stands',
      input({ lastRenewal: NOW - 4000, lastProbe: probe(NOW - 50, 2, 0, 2, 0), lastConfirmedProbe: probe(NOW - 400, 2, 2) }),
      NOW - 400 + TTL - LEASE_SAFETY_MARGIN_MS,
      true,
      false,
    ],
    [
      'one member answers that it sees another leader: stop now, even if the other confirms',
      input({ lastRenewal: NOW - 1500, lastProbe: probe(NOW - 50, 2, 1, 2, 1), lastConfirmedProbe: probe(NOW - 400, 2, 2) }),
      NOW - 400 + TTL - LEASE_SAFETY_MARGIN_MS,
      true,
      true,
    ],
    [
      'one member unreachable, the other says "no leader": not isolated (someone is reachable), the lease deadline stands',
      input({ lastRenewal: NOW - 1500, lastProbe: probe(NOW - 50, 2, 0, 1, 0) }),
      NOW - 1500 + TTL - LEASE_SAFETY_MARGIN_MS,
      true,
      false,
    ],
    [
      'overdue, every member confirmed but one promised less than ttl: the shortest promise bounds the deadline',
      input({ lastRenewal: NOW - 3000, lastProbe: probe(NOW - 100, 2, 2), lastConfirmedProbe: { ...probe(NOW - 100, 2, 2), promiseMs: 3000 } }),
      NOW - 100 + 3000 - LEASE_SAFETY_MARGIN_MS,
      true,
      false,
    ],
    ['single member: nobody to ask, never isolated', input({ lastRenewal: NOW - 1500, lastProbe: probe(NOW - 100, 0, 0) }), NOW - 1500 + TTL - LEASE_SAFETY_MARGIN_MS, true, false],
  ];
  for (const [name, given, deadline, overdue, isolated] of cases) {
    it(name, () => assert.deepEqual(writeWindow(given), { deadline, etcdOverdue: overdue, isolated }));
  }
});

describe('failsafeAnswer', () => {
  const base = { self: 'b', scope: 'main', requestScope: 'main', requester: 'a', knownLeader: 'a' as string | null, primary: false, failsafeMode: true };
  // [case, request, ok, reason, deposes]
  const cases: Array<[string, typeof base, boolean, RegExp | null, boolean]> = [
    ['confirms the leader it sees', base, true, null, false],
    ['refuses when failsafe_mode is off', { ...base, failsafeMode: false }, false, /failsafe_mode is off/, false],
    ['refuses a member it does not see as leader: another master may exist', { ...base, knownLeader: 'c' }, false, /sees leader c, not a/, true],
    ['refuses when it sees no leader (not a reason to stop at once)', { ...base, knownLeader: null }, false, /sees no leader/, false],
    ['refuses while it runs read-write itself: another master', { ...base, primary: true }, false, /read-write/, true],
    ['refuses itself', { ...base, requester: 'b', knownLeader: 'b' }, false, /itself/, false],
    ['refuses a master of another cluster', { ...base, requestScope: 'other' }, false, /member of main, not other/, false],
  ];
  for (const [name, request, ok, reason, deposes] of cases) {
    it(name, () => {
      const answer = failsafeAnswer(request);
      assert.equal(answer.ok, ok);
      if (!answer.ok) {
        assert.match(answer.reason, reason!);
        assert.equal(answer.deposes, deposes);
        assert.deepEqual(parseRefusal(JSON.stringify({ reason: answer.reason, deposes })), { reason: answer.reason, deposes });
      }
    });
  }
  it('without cluster_secret, an answer that is not a failsafe refusal counts as deposing (the safe side)', () => {
    assert.equal(parseRefusal('<html>proxy error</html>').deposes, true);
    assert.equal(parseRefusal('{"reason":"x"}').deposes, true);
  });
});

describe('failsafeTargets', () => {
  const m = (name: string, api_url: string) => ({ name, api_url, conn_url: 'postgres://h:5432/postgres', state: 'running', role: 'replica' as const });
  it('asks every other member of the view and every member the failsafe key names', () => {
    assert.deepEqual(
      failsafeTargets([m('a', 'http://a/patroni'), m('b', 'http://b/patroni')], { a: 'http://a/patroni', c: 'http://c/patroni' }, 'a'),
      [{ name: 'b', api_url: 'http://b/patroni' }, { name: 'c', api_url: 'http://c/patroni' }],
    );
  });
  it('the view\'s address wins over a stale one in the key', () => {
    assert.deepEqual(failsafeTargets([m('b', 'http://b2/patroni')], { b: 'http://b1/patroni' }, 'a'), [{ name: 'b', api_url: 'http://b2/patroni' }]);
  });
});
