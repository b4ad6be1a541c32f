// Rows of the rule table (rules.ts) while nobody holds the leader key: keep a failsafe promise, take
// over when a failover request names this member, re-acquire the key as a running master, stand as a
// candidate, and race only as the healthiest.

import { whyNotCandidate } from './candidate.js';
import type { Rule } from './facts.js';
import { say } from './types.js';

export const raceRules: Rule[] = [
  {
    name: 'failsafe-promised',
    if: 'nobody holds the key and this member confirmed a master over POST /failsafe less than ttl ago',
    logs: 'leader key is free, but this member confirmed … as master over REST while etcd was unreachable for it (failsafe): not racing for … s more',
    when: (s, f) => !f.primary && s.memory.failsafePromise !== null && s.now < s.memory.failsafePromise.until,
    then: (s) =>
      say(
        `leader key is free, but this member confirmed ${s.memory.failsafePromise!.leader} as master over REST while etcd was unreachable for it (failsafe): not racing for ${((s.memory.failsafePromise!.until - s.now) / 1000).toFixed(1)} s more`,
        [],
        'warn',
      ),
  },
  {
    name: 'failover-to-me',
    if: 'nobody holds the key and a failover request names this member',
    logs: 'leader key is free and the failover request names this member: taking over',
    when: (s, f) => f.failover?.member === s.self.name && !f.failoverScheduledLater,
    then: (s, f) => {
      if (f.replica) return say('leader key is free and the failover request names this member: taking over', [{ type: 'acquireLeader' }, { type: 'promote' }], 'warn');
      if (f.primary) return say('leader key is free and the failover request names this member: taking the key', [{ type: 'acquireLeader' }]);
      if (f.stopped) return say('failover request names this member: starting PostgreSQL first', [{ type: 'startReplica', leader: null }]);
      return say('failover request names this member: waiting for PostgreSQL to accept connections');
    },
  },
  {
    name: 'failover-to-other',
    if: 'nobody holds the key and a failover request names another member',
    logs: 'leader key is free: waiting for … to take over as requested',
    // A switchover scheduled for later does not apply to a free key: whoever is healthiest takes it now.
    when: (s, f) => typeof f.failover?.member === 'string' && !f.failoverScheduledLater && f.otherMembers.some((m) => m.name === f.failover!.member),
    then: (s, f) => say(`leader key is free: waiting for ${f.failover!.member} to take over as requested`),
  },
  {
    name: 'reacquire',
    if: 'nobody holds the key and PostgreSQL runs read-write here',
    logs: 'leader key is gone while PostgreSQL runs read-write here: re-acquiring it (demoting if another member got it)',
    when: (s, f) => f.primary,
    then: () =>
      say('leader key is gone while PostgreSQL runs read-write here: re-acquiring it (demoting if another member got it)', [
        { type: 'acquireLeader' },
      ], 'warn'),
  },
  {
    name: 'start-as-candidate',
    if: 'nobody holds the key and PostgreSQL is stopped',
    logs: 'no leader and PostgreSQL is stopped: starting it read-only so this member can stand as a candidate',
    when: (s, f) => f.stopped,
    then: () => say('no leader and PostgreSQL is stopped: starting it read-only so this member can stand as a candidate', [{ type: 'startReplica', leader: null }]),
  },
  {
    name: 'race',
    if: 'nobody holds the key and this replica is the healthiest reachable member (candidate.ts)',
    logs: 'no leader and this member is the healthiest (timeline …, wal …): taking over',
    when: (s, f) => f.replica && whyNotCandidate(s) === null,
    then: (s) =>
      say(`no leader and this member is the healthiest (timeline ${s.local.pg.timeline}, wal ${s.local.pg.walPosition}): taking over`, [
        { type: 'acquireLeader' },
        { type: 'promote' },
      ], 'warn'),
  },
  {
    name: 'not-candidate',
    if: 'nobody holds the key and this replica is not the healthiest or may not race',
    logs: 'no leader, not racing: …',
    when: (s, f) => f.replica,
    then: (s) => say(`no leader, not racing: ${whyNotCandidate(s)}`),
  },
  {
    name: 'wait',
    if: 'otherwise (nobody holds the key, PostgreSQL is starting)',
    logs: 'no leader: waiting for PostgreSQL to accept connections',
    when: () => true,
    then: () => say('no leader: waiting for PostgreSQL to accept connections'),
  },
];
