// The HA decision as an ordered table of rules, in the manner of pg_auto_failover's FSM table:
// each row is a name, a condition over the snapshot, and the actions plus the sentence the log prints.
// The first row whose condition holds decides. Read top to bottom, this is the life cycle of a member.

import type { FailoverRequest, FailsafeMembers, LeaderKey, Member } from '../dcs/types.js';
import { slotNameFor } from '../postgres/types.js';
import { isRunningPrimary, isRunningReplica, memberCanFailover, whyNotCandidate } from './candidate.js';
import { dataDirRules } from './rules-data-dir.js';
import { CAUSE_DESCRIPTIONS } from '../postgres/start-failure.js';
import { DIVERGED_AFTER_MS, MAX_START_FAILURES, say, type Action, type Decision, type Snapshot } from './types.js';

/** Facts derived once from the snapshot, shared by the rules. */
export interface Facts {
  leader: LeaderKey | null;
  leaderMember: Member | null;
  /** The leader's member key says it runs as master. */
  leaderReady: boolean;
  iAmLeader: boolean;
  primary: boolean;
  replica: boolean;
  /** PostgreSQL is not running at all (as opposed to starting up). */
  stopped: boolean;
  failover: FailoverRequest | null;
  /** The failover request is for later (scheduled_at in the future). */
  failoverScheduledLater: boolean;
  otherMembers: Member[];
  /** Cluster parameters that differ from those last written into postgresql.conf (only while
   *  PostgreSQL accepts connections: a start writes the file anyway). */
  changedParameters: string[];
}

export interface Rule {
  name: string;
  /** What the condition means, in words (`governor rules`). */
  if: string;
  /** The sentence it logs, with … where the log fills in details; alternatives separated by |. */
  logs: string;
  when: (s: Snapshot, f: Facts) => boolean;
  then: (s: Snapshot, f: Facts) => Omit<Decision, 'rule'>;
}

export function deriveFacts(s: Snapshot): Facts {
  const cluster = s.cluster;
  const leader = cluster?.leader ?? null;
  const leaderMember = leader ? (cluster?.members.find((m) => m.name === leader.name) ?? null) : null;
  const failover = cluster?.failover ?? null;
  const scheduledAt = failover?.scheduled_at ? Date.parse(failover.scheduled_at) : NaN;
  return {
    leader,
    leaderMember,
    leaderReady: leaderMember !== null && leaderMember.role === 'master' && leaderMember.state === 'running',
    iAmLeader: leader?.name === s.self.name,
    primary: isRunningPrimary(s),
    replica: isRunningReplica(s),
    stopped: !s.local.pg.running,
    failover,
    failoverScheduledLater: Number.isFinite(scheduledAt) && scheduledAt > s.wallClock,
    otherMembers: (cluster?.members ?? []).filter((m) => m.name !== s.self.name),
    changedParameters: s.local.pg.accepting ? changedParameters(s.memory.appliedParameters, s.dynamic.postgresql.parameters) : [],
  };
}

type Parameters = Record<string, string | number | boolean>;

/** Names of parameters added, removed or changed; every name when nothing was applied yet. */
export function changedParameters(applied: Parameters | null, wanted: Parameters): string[] {
  if (applied === null) return Object.keys(wanted).length ? Object.keys(wanted).sort() : ['(all)'];
  const names = new Set([...Object.keys(applied), ...Object.keys(wanted)]);
  return [...names].filter((name) => applied[name] !== wanted[name]).sort();
}

/** A decision plus, when the cluster parameters changed, re-rendering postgresql.conf and a reload. */
function withParameters(f: Facts, decision: ReturnType<typeof say>): ReturnType<typeof say> {
  if (f.changedParameters.length === 0) return decision;
  return {
    ...decision,
    message: `${decision.message}; cluster parameters changed (${f.changedParameters.join(', ')}): rewriting postgresql.conf and reloading`,
    actions: [...decision.actions, { type: 'applyParameters' }],
  };
}

const startFailures = (s: Snapshot): number => s.memory.startFailures?.count ?? 0;

/** A failover request in force (not scheduled for later) names the member to take over: the others
 *  need not ask their peers who is healthiest. */
export function failoverInForce(s: Snapshot): boolean {
  const f = deriveFacts(s);
  return typeof f.failover?.member === 'string' && !f.failoverScheduledLater;
}

/** Wall-clock ms of a switchover scheduled for later (the loop wakes then), null when none. */
export function scheduledFailoverAt(s: Snapshot): number | null {
  const at = Date.parse(s.cluster?.failover?.scheduled_at ?? '');
  return Number.isFinite(at) && at > s.wallClock ? at : null;
}

function leaseExpiring(s: Snapshot): boolean {
  return s.writeDeadline === null || s.now >= s.writeDeadline;
}

/** Long enough that a dead master's key has expired and a live one was given time to answer. */
export function divergedAfterMs(s: Snapshot): number {
  return Math.max(DIVERGED_AFTER_MS, s.dynamic.ttl * 1000 + DIVERGED_AFTER_MS);
}

/**
 * Whether this replica holds WAL the leader's timeline does not: it is on an older timeline and its
 * position is past the point where that timeline forked (per the DCS history). Without a history
 * row for our timeline, an older timeline alone counts; pg_rewind then decides precisely (it says
 * "no rewind required" when nothing diverged).
 */
export function diverged(s: Snapshot, leader: Member): boolean {
  const ours = s.local.pg.timeline;
  const theirs = leader.timeline ?? null;
  if (ours === null || theirs === null || ours >= theirs) return false;
  const fork = s.cluster?.history.find((row) => row[0] === ours);
  const position = s.local.pg.walPosition;
  return fork === undefined || position === null || position > fork[1];
}

/** The failsafe key the master should record: every member of the view (itself included) while
 *  failsafe_mode is on, nothing when it is off; undefined when the key already says so (or this
 *  member's own key is not in the view yet). */
export function failsafeRecord(s: Snapshot): FailsafeMembers | null | undefined {
  const current = s.cluster?.failsafe ?? null;
  if (s.dynamic.failsafe_mode === false) return current === null ? undefined : null;
  const members = s.cluster?.members ?? [];
  if (!members.some((m) => m.name === s.self.name)) return undefined;
  const wanted: FailsafeMembers = Object.fromEntries(members.map((m) => [m.name, m.api_url]));
  const same = current !== null && Object.keys(current).length === members.length && members.every((m) => current[m.name] === m.api_url);
  return same ? undefined : wanted;
}

/** A switchover or manual failover asks this leader to hand over to `member`. */
function handoverRequested(s: Snapshot, f: Facts): boolean {
  return (
    f.iAmLeader &&
    f.primary &&
    f.failover !== null &&
    typeof f.failover.member === 'string' &&
    f.failover.member !== s.self.name &&
    (f.failover.leader === undefined || f.failover.leader === s.self.name) &&
    !f.failoverScheduledLater
  );
}

/** Failover key that no longer applies: its candidate is us (done), or it names another leader. */
function failoverKeyIsStale(s: Snapshot, f: Facts): boolean {
  if (!f.failover) return false;
  if (f.failover.member === s.self.name) return true;
  return f.failover.leader !== undefined && f.failover.leader !== s.self.name;
}

export const rules: Rule[] = [
  // --- the DCS cannot be read: keep PostgreSQL as it is, except a master whose lease may expire.
  {
    name: 'dcs-unreachable-demote',
    if: 'etcd cannot be read, PostgreSQL runs read-write here, and the write deadline has passed (or was never set)',
    logs: 'etcd unreachable and the write deadline passed … s ago (ttl … s, members did not all confirm this master): demoting to protect against split brain',
    when: (s, f) => s.cluster === null && f.primary && leaseExpiring(s),
    then: (s) =>
      say(
        `etcd unreachable and ${s.writeDeadline === null ? 'the lease was never renewed' : `the write deadline passed ${((s.now - s.writeDeadline) / 1000).toFixed(1)} s ago`} (ttl ${s.dynamic.ttl} s, members did not all confirm this master): demoting to protect against split brain`,
        [{ type: 'stop', mode: 'immediate' }],
        'error',
      ),
  },
  {
    name: 'dcs-unreachable',
    if: 'etcd cannot be read (any other member)',
    logs: 'etcd unreachable: leaving PostgreSQL as it is and retrying',
    when: (s) => s.cluster === null,
    then: () => say('etcd unreachable: leaving PostgreSQL as it is and retrying', [], 'warn'),
  },
  // --- maintenance mode: keep the keys, no automatic action; what an operator asks for still runs.
  {
    name: 'paused-restart',
    if: 'maintenance mode, and an operator asked for a restart of a running PostgreSQL',
    logs: 'paused, but a restart was requested: restarting PostgreSQL in its current role',
    when: (s, f) => s.dynamic.pause === true && s.requests.restart && (f.primary || f.replica),
    then: (s, f) => say('paused, but a restart was requested: restarting PostgreSQL in its current role', [{ type: 'clearRequests' }, { type: 'restart', role: f.primary ? 'primary' : 'replica' }]),
  },
  {
    name: 'paused',
    if: 'maintenance mode (pause in the dynamic config)',
    logs: 'paused: renewing the leader key, no automatic actions | paused: no automatic actions',
    when: (s) => s.dynamic.pause === true,
    then: (s, f) =>
      withParameters(
        f,
        f.iAmLeader && f.primary
          ? say('paused: renewing the leader key, no automatic actions', [{ type: 'confirmLeader' }, { type: 'publishOptime' }])
          : say(`paused: no automatic actions${f.stopped ? ' (PostgreSQL is stopped and stays so until resume)' : ''}`),
      ),
  },
  // --- joining the cluster: the data directory and the initialize key (rules-data-dir.ts).
  ...dataDirRules,
  // --- this member holds the leader key.
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
      // One chain of single steps: a step that fails ends it, and the rows above and below pick up
      // from the state it left (switchover-abort, leader-start, former-master-rewind).
      return say(`switchover to ${candidate.name} requested: stopping cleanly and handing over the leader key`, [
        { type: 'prepareHandover', candidate },
        { type: 'stopForHandover', candidate },
        { type: 'confirmHandover', candidate },
        { type: 'handOverKey', candidate },
        { type: 'finishStop' },
      ]);
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
  // --- another member holds the leader key.
  {
    name: 'demote',
    if: 'another member holds the key and PostgreSQL runs read-write here',
    logs: 'leader key is held by …, not this member: demoting (immediate stop) so there is one writer',
    when: (s, f) => f.leader !== null && f.primary,
    then: (s, f) =>
      say(`leader key is held by ${f.leader!.name}, not this member: demoting (immediate stop) so there is one writer`, [
        { type: 'stop', mode: 'immediate' },
      ], 'error'),
  },
  {
    name: 'rewind-failed',
    if: 'another member holds the key, PostgreSQL is stopped, and pg_rewind from the master failed',
    logs: 'pg_rewind from … failed: the data directory makes way for a clone from … (moved aside if there is room)',
    when: (s, f) => f.leader !== null && f.stopped && typeof s.memory.rewindFailedFrom === 'string',
    then: (s, f) =>
      f.leaderReady
        ? say(`pg_rewind from ${s.memory.rewindFailedFrom} failed: the data directory makes way for a clone from ${f.leader!.name} (moved aside if there is room)`, [
            { type: 'recloneData', source: f.leaderMember!, reason: 'rewind-failed' },
          ], 'warn')
        : say(`pg_rewind from ${s.memory.rewindFailedFrom} failed: waiting for ${f.leader!.name} to run as master to clone from it`, [], 'warn'),
  },
  {
    name: 'former-master-rewind',
    if: 'another member holds the key, PostgreSQL is stopped, it last ran as master, and it did not hand the key over cleanly',
    logs: 'former master rejoining: pg_rewind from …, then following it | former master: waiting for … to finish its promotion before pg_rewind',
    when: (s, f) =>
      f.leader !== null && f.stopped && s.local.control?.wasPrimary === true && s.memory.cleanHandoffTo !== f.leader.name,
    then: (s, f) =>
      f.leaderReady
        ? say(`former master rejoining: pg_rewind from ${f.leader!.name}, then following it`, [
            { type: 'rewind', source: f.leaderMember! },
            { type: 'startReplica', leader: f.leaderMember! },
          ], 'warn')
        : say(`former master: waiting for ${f.leader!.name} to finish its promotion before pg_rewind`),
  },
  {
    name: 'replica-start-failed-data',
    if: 'PostgreSQL failed to start 3 times in a row for a data fault, the master runs, and no re-clone was tried yet',
    logs: 'PostgreSQL failed to start … times in a row for a data fault (…): the data directory makes way … and is cloned again from …, once',
    when: (s, f) =>
      f.leaderReady && f.stopped && startFailures(s) >= MAX_START_FAILURES && s.memory.startFailures!.diagnosis.cause === 'data' && s.memory.reclonedAfterStartFailures !== true,
    then: (s, f) =>
      say(
        `PostgreSQL failed to start ${startFailures(s)} times in a row for a data fault (${s.memory.startFailures!.diagnosis.evidence}): the data directory makes way (moved aside if there is room) and is cloned again from ${f.leader!.name}, once`,
        [{ type: 'recloneData', source: f.leaderMember!, reason: 'start-failed' }],
        'error',
      ),
  },
  {
    name: 'replica-start-failing',
    if: 'PostgreSQL failed to start 3 times in a row otherwise',
    logs: 'PostgreSQL failed to start … times in a row (…): the data directory is not touched (…); retrying as a replica of …',
    when: (s, f) => f.leader !== null && f.stopped && startFailures(s) >= MAX_START_FAILURES,
    then: (s, f) => {
      const { cause, evidence } = s.memory.startFailures!.diagnosis;
      const why = cause !== 'data' ? 'not a data fault' : s.memory.reclonedAfterStartFailures ? 'it was cloned again once already' : 'no running master to clone from';
      return say(
        `PostgreSQL failed to start ${startFailures(s)} times in a row (${CAUSE_DESCRIPTIONS[cause]}${evidence ? `: ${evidence}` : ''}): the data directory is not touched (${why}); retrying as a replica of ${f.leader!.name}`,
        [{ type: 'startReplica', leader: f.leaderMember }],
        'error',
      );
    },
  },
  {
    name: 'replica-start',
    if: 'another member holds the key and PostgreSQL is stopped',
    logs: 'PostgreSQL is stopped: starting it as a replica of …',
    when: (s, f) => f.leader !== null && f.stopped,
    then: (s, f) =>
      say(`PostgreSQL is stopped: starting it as a replica of ${f.leader!.name}`, [{ type: 'startReplica', leader: f.leaderMember }]),
  },
  {
    name: 'replica-restart',
    if: 'this member runs as a replica and an operator asked for a restart',
    logs: 'restart requested: restarting PostgreSQL as replica',
    when: (s, f) => f.leader !== null && f.replica && s.requests.restart,
    then: () => say('restart requested: restarting PostgreSQL as replica', [{ type: 'clearRequests' }, { type: 'restart', role: 'replica' }]),
  },
  {
    name: 'replica-follow',
    if: 'this member runs as a replica and streams from another member than the one holding the key',
    logs: 'following the new leader …',
    when: (s, f) => f.replica && f.leaderMember !== null && s.memory.followTarget !== f.leaderMember.name,
    then: (s, f) => say(`following the new leader ${f.leaderMember!.name}`, [{ type: 'followLeader', leader: f.leaderMember! }]),
  },
  {
    name: 'replica-diverged',
    if: `this replica has not streamed from the master for ttl + 5 s and its WAL goes past the master's timeline fork`,
    logs: 'not streaming from … for … s and our WAL goes past its timeline fork: rewinding',
    when: (s, f) =>
      f.replica &&
      f.leaderReady &&
      s.local.pg.walReceiver?.status !== 'streaming' &&
      s.memory.notStreamingSince !== null &&
      s.now - s.memory.notStreamingSince > divergedAfterMs(s) &&
      diverged(s, f.leaderMember!),
    then: (s, f) =>
      say(
        `not streaming from ${f.leader!.name} for ${((s.now - s.memory.notStreamingSince!) / 1000).toFixed(1)} s and our WAL goes past its timeline fork: rewinding`,
        [{ type: 'rewind', source: f.leaderMember! }, { type: 'startReplica', leader: f.leaderMember! }],
        'warn',
      ),
  },
  {
    name: 'replica-steady',
    if: 'another member holds the key (otherwise)',
    logs: 'replica of … | waiting for PostgreSQL to accept connections (leader …)',
    when: (s, f) => f.leader !== null,
    then: (s, f) =>
      withParameters(f, say(f.replica ? `replica of ${f.leader!.name}` : `waiting for PostgreSQL to accept connections (leader ${f.leader!.name})`)),
  },
  // --- nobody holds the leader key.
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
