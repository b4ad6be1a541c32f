// Cases of the lease guard's table (reactions.ts) for reactions.test.ts and rule-coverage.test.ts.

import type { GuardInput } from '../../src/ha/reactions.js';

const probe = (over: Partial<NonNullable<GuardInput['lastProbe']>> = {}) => ({ sentAt: 9_000, asked: 2, answered: 0, confirmed: 0, deposed: 0, refused: ['b: timeout', 'c: timeout'], ...over });
const input = (over: Partial<GuardInput> = {}): GuardInput => ({
  now: 10_000, ttl: 5, window: { isolated: false, deadline: 12_000 }, keyRenewal: 8_000, lastProbe: null, adopted: true, ...over,
});

export const guardRows: Array<{ scenario: string; input: GuardInput; expect: string; demotes: boolean; says?: RegExp }> = [
  { scenario: 'within the write window: nothing', input: input(), expect: 'lease-guard-within-window', demotes: false },
  { scenario: 'deadline passed: demote', input: input({ window: { isolated: false, deadline: 9_999 } }), expect: 'lease-guard-expired', demotes: true, says: /no confirmed renewal for 2\.0 s \(ttl 5 s\)/ },
  { scenario: 'deadline exactly now: demote', input: input({ window: { isolated: false, deadline: 10_000 } }), expect: 'lease-guard-expired', demotes: true },
  { scenario: 'never confirmed on this lease: demote', input: input({ window: { isolated: false, deadline: null }, keyRenewal: null }), expect: 'lease-guard-expired', demotes: true, says: /never confirmed on this lease/ },
  { scenario: 'inherited from an earlier process before the first iteration: the old fence guards', input: input({ window: { isolated: false, deadline: null }, adopted: false }), expect: 'lease-guard-inherited', demotes: false },
  { scenario: 'inherited but with a deadline that passed: demote', input: input({ window: { isolated: false, deadline: 9_000 }, adopted: false }), expect: 'lease-guard-expired', demotes: true },
  { scenario: 'isolated, nobody reached: demote at once', input: input({ window: { isolated: true, deadline: 12_000 }, lastProbe: probe() }), expect: 'lease-guard-isolated', demotes: true, says: /no member could be reached \(b: timeout; c: timeout\)/ },
  { scenario: 'isolated, a member deposes: demote at once', input: input({ window: { isolated: true, deadline: 12_000 }, lastProbe: probe({ answered: 1, deposed: 1 }) }), expect: 'lease-guard-isolated', demotes: true, says: /another master may exist/ },
];
