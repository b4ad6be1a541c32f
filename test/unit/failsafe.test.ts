import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ETCD_HEARTBEAT_INTERVAL_MS, ETCD_OVERDUE_GRACE_MS, failsafeAnswer, renewIntervalMs, writeWindow, type FailsafeProbe, type WriteWindowInput } from '../../src/ha/failsafe.js';
import { LEASE_SAFETY_MARGIN_MS } from '../../src/ha/types.js';

const NOW = 1_000_000;
const TTL = 5000;
const BEAT = 500;

function input(over: Partial<WriteWindowInput>): WriteWindowInput {
  return { now: NOW, ttlMs: TTL, lastEtcdContact: null, failsafeMode: true, lastRenewal: NOW - 500, lastConfirmedProbe: null, lastProbe: null, ...over };
}

const probe = (sentAt: number, asked: number, confirmed: number): FailsafeProbe => ({ sentAt, asked, confirmed, refused: [] });

describe('renewIntervalMs', () => {
  it('renews every ttl / 5, at least every 0.5 s', () => {
    assert.equal(ETCD_HEARTBEAT_INTERVAL_MS, 500);
    assert.equal(renewIntervalMs(5000), 1000);
    assert.equal(renewIntervalMs(10_000), 2000);
    assert.equal(renewIntervalMs(30_000), 6000);
    assert.equal(renewIntervalMs(2000), 500);
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
    ['single member: nobody to ask, never isolated', input({ lastRenewal: NOW - 1500, lastProbe: probe(NOW - 100, 0, 0) }), NOW - 1500 + TTL - LEASE_SAFETY_MARGIN_MS, true, false],
  ];
  for (const [name, given, deadline, overdue, isolated] of cases) {
    it(name, () => assert.deepEqual(writeWindow(given), { deadline, etcdOverdue: overdue, isolated }));
  }
});

describe('failsafeAnswer', () => {
  const base = { self: 'b', requester: 'a', knownLeader: 'a' as string | null, primary: false, failsafeMode: true };
  const cases: Array<[string, typeof base, boolean, RegExp | null]> = [
    ['confirms the leader it sees', base, true, null],
    ['refuses when failsafe_mode is off', { ...base, failsafeMode: false }, false, /failsafe_mode is off/],
    ['refuses a member it does not see as leader', { ...base, knownLeader: 'c' }, false, /sees leader c, not a/],
    ['refuses when it sees no leader', { ...base, knownLeader: null }, false, /sees no leader/],
    ['refuses while it runs read-write itself', { ...base, primary: true }, false, /read-write/],
    ['refuses itself', { ...base, requester: 'b', knownLeader: 'b' }, false, /itself/],
  ];
  for (const [name, request, ok, reason] of cases) {
    it(name, () => {
      const answer = failsafeAnswer(request);
      assert.equal(answer.ok, ok);
      if (!answer.ok) assert.match(answer.reason, reason!);
    });
  }
});
