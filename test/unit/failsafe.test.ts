import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ETCD_OVERDUE_GRACE_MS, failsafeAnswer, LEASE_RENEW_INTERVAL_MS, renewIntervalMs, writeWindow, type FailsafeProbe, type WriteWindowInput } from '../../src/ha/failsafe.js';
import { LEASE_SAFETY_MARGIN_MS } from '../../src/ha/types.js';

const NOW = 1_000_000;
const TTL = 5000;
const RENEW = 500;

function input(over: Partial<WriteWindowInput>): WriteWindowInput {
  return { now: NOW, ttlMs: TTL, renewIntervalMs: RENEW, failsafeMode: true, lastRenewal: NOW - 500, lastConfirmedProbe: null, lastProbe: null, ...over };
}

const probe = (sentAt: number, asked: number, confirmed: number): FailsafeProbe => ({ sentAt, asked, confirmed, refused: [] });

describe('renewIntervalMs', () => {
  it('renews every 500 ms, or every loop_wait when that is shorter', () => {
    assert.equal(LEASE_RENEW_INTERVAL_MS, 500);
    assert.equal(renewIntervalMs(1000), 500);
    assert.equal(renewIntervalMs(10_000), 500);
    assert.equal(renewIntervalMs(300), 300);
  });
});

describe('writeWindow', () => {
  // [case, input, deadline, etcdOverdue, isolated]
  const cases: Array<[string, WriteWindowInput, number | null, boolean, boolean]> = [
    ['renewals confirmed: the lease deadline', input({}), NOW - 500 + TTL - LEASE_SAFETY_MARGIN_MS, false, false],
    ['never renewed: no deadline (must not write)', input({ lastRenewal: null }), null, true, false],
    ['renewal late by less than the grace: not overdue', input({ lastRenewal: NOW - RENEW - ETCD_OVERDUE_GRACE_MS }), NOW - RENEW - ETCD_OVERDUE_GRACE_MS + TTL - LEASE_SAFETY_MARGIN_MS, false, false],
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
