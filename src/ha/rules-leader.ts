// Rows of the rule table (rules.ts) for a member that holds the leader key: hand it over (switchover,
// with its abort), restart, renew, promote, start PostgreSQL or release the key when it cannot.

import type { Member } from '../dcs/types.js';
import { slotNameFor } from '../postgres/types.js';
import { CAUSE_DESCRIPTIONS } from '../postgres/start-failure.js';
import { memberCanFailover } from './candidate.js';
import { failoverKeyIsStale, failsafeRecord, handoverRequested, withParameters, type Rule } from './facts.js';
import { say, type Action } from './types.js';

/** The switchover as one chain of single steps: a step that fails ends it, and the rows above and
 *  below pick up from the state it left (switchover-abort, leader-start, former-master-rewind). */
export function switchoverChain(candidate: Member): Action[] {
  return [
    // First the key onto this daemon's lease: a daemon restarted in the middle of a switchover
    // must not run its steps while the key lives on the dead process's lease.
    { type: 'confirmLeader' },
    { type: 'prepareHandover', candidate },
    { type: 'stopForHandover', candidate },
    { type: 'confirmHandover', candidate },
    { type: 'handOverKey', candidate },
    { type: 'finishStop' },
  ];
}

export const leaderRules: Rule[] = [
  {
    name: 'switchover-abort',
    if: `this member holds the key and its switchover's candidate did not confirm WAL past the shutdown checkpoint`,
    logs: 'switchover aborted: … did not confirm WAL past the shutdown checkpoint … within … s; staying master',
    when: (s, f) => f.iAmLeader && s.memory.handover?.unconfirmed !== undefined,
    then: (s) => {
      const h = s.memory.handover!;
      return say(
        `switchover aborted: ${h.candidate} did not confirm WAL past the shutdown checkpoint ${h.shutdownLsn} (it reported ${h.unconfirmed!.lastSeen}) within ${h.unconfirmed!.waitedMs / 1000} s; staying master`,
        [{ type: 'finishStop' }, { type: 'startPrimary' }, { type: 'clearFailover' }],
        'error',
      );
    },
  },
  {
    name: 'switchover',
    if: 'this member is the running master and a switchover or failover names another member',
    logs: 'switchover to … requested: stopping cleanly and handing over the leader key | switchover to … impossible: …',
    when: handoverRequested,
    then: (s, f) => {
      const candidate = f.otherMembers.find((m) => m.name === f.failover!.member) ?? null;
      if (!candidate) return say(`switchover to ${f.failover!.member} impossible: no such member`, [{ type: 'clearFailover' }], 'warn');
      if (!memberCanFailover(candidate))
        return say(`switchover to ${candidate.name} impossible: it is tagged nofailover`, [{ type: 'clearFailover' }], 'warn');
      if (candidate.role !== 'replica' || candidate.state !== 'streaming')
        return say(`switchover to ${candidate.name} impossible: it is not a streaming replica (${candidate.state})`, [{ type: 'clearFailover' }], 'warn');
      if (s.dynamic.synchronous_mode === true && s.cluster!.sync?.sync_standby !== candidate.name)
        return say(
          `switchover to ${candidate.name} impossible in synchronous_mode: the synchronous standby is ${s.cluster!.sync?.sync_standby ?? 'not confirmed yet'}`,
          [{ type: 'clearFailover' }],
          'warn',
        );
      return say(`switchover to ${candidate.name} requested: stopping cleanly and handing over the leader key`, switchoverChain(candidate));
    },
  },
  {
    name: 'leader-restart',
    if: 'this member is the running master and an operator asked for a restart',
    logs: 'restart requested: restarting PostgreSQL as master',
    when: (s, f) => f.iAmLeader && f.primary && s.requests.restart,
    then: () => say('restart requested: restarting PostgreSQL as master', [{ type: 'clearRequests' }, { type: 'restart', role: 'primary' }]),
  },
  {
    name: 'leader-renew',
    if: 'this member holds the key and runs read-write',
    logs: 'holding the leader key as master',
    when: (s, f) => f.iAmLeader && f.primary,
    then: (s, f) => {
      const actions: Action[] = [
        { type: 'confirmLeader' },
        { type: 'publishOptime' },
        { type: 'syncSlots', members: f.otherMembers.map((m) => slotNameFor(m.name)) },
        // Also with synchronous_mode off: it clears what an earlier synchronous mode left.
        { type: 'syncReplication', replication: s.local.pg.replication },
      ];
      if (failoverKeyIsStale(s, f)) actions.push({ type: 'clearFailover' });
      const failsafe = failsafeRecord(s);
      if (failsafe !== undefined) actions.push({ type: 'recordFailsafe', members: failsafe });
      const note = f.failoverScheduledLater ? ` (switchover to ${f.failover?.member ?? 'a replica'} scheduled at ${f.failover?.scheduled_at})` : '';
      return withParameters(f, say(`holding the leader key as master${note}`, actions));
    },
  },
  {
    name: 'leader-promote',
    if: 'this member holds the key and runs as a replica',
    logs: 'holding the leader key: promoting PostgreSQL',
    when: (s, f) => f.iAmLeader && f.replica,
    then: () => say('holding the leader key: promoting PostgreSQL', [{ type: 'promote' }]),
  },
  {
    name: 'leader-start-failed',
    if: 'this member holds the key, PostgreSQL is stopped, and its last start as master failed',
    logs: 'PostgreSQL failed to start as master (…): releasing the leader key so a replica can take over',
    when: (s, f) => f.iAmLeader && f.stopped && s.memory.startFailures?.role === 'primary',
    then: (s) => {
      const { cause, evidence } = s.memory.startFailures!.diagnosis;
      return say(
        `PostgreSQL failed to start as master (${CAUSE_DESCRIPTIONS[cause]}${evidence ? `: ${evidence}` : ''}): releasing the leader key so a replica can take over`,
        [{ type: 'releaseLeader' }],
        'error',
      );
    },
  },
  {
    name: 'leader-start',
    if: 'this member holds the key and PostgreSQL is stopped',
    logs: 'holding the leader key but PostgreSQL is down: restarting it in place as master | … with a replica data directory: starting it to promote',
    when: (s, f) => f.iAmLeader && f.stopped,
    then: (s) =>
      s.local.control?.wasPrimary
        ? say('holding the leader key but PostgreSQL is down: restarting it in place as master', [{ type: 'startPrimary' }], 'warn')
        : say('holding the leader key with a replica data directory: starting it to promote', [{ type: 'startReplica', leader: null }], 'warn'),
  },
  {
    name: 'leader-wait-startup',
    if: 'this member holds the key and PostgreSQL is starting',
    logs: 'holding the leader key: waiting for PostgreSQL to accept connections',
    when: (s, f) => f.iAmLeader,
    then: () => say('holding the leader key: waiting for PostgreSQL to accept connections'),
  },
];
