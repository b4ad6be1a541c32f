// What the rules of the HA table (rules*.ts) read: the facts derived once from a snapshot, the shape
// of a rule, and the small pure helpers several rows share. No I/O.

import type { FailoverRequest, FailsafeMembers, LeaderKey, Member } from '../dcs/types.js';
import { isRunningPrimary, isRunningReplica } from './candidate.js';
import { DIVERGED_AFTER_MS, type Decision, type Snapshot, type say } from './types.js';

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
  return {
    leader,
    leaderMember,
    leaderReady: leaderMember !== null && leaderMember.role === 'master' && leaderMember.state === 'running',
    iAmLeader: leader?.name === s.self.name,
    primary: isRunningPrimary(s),
    replica: isRunningReplica(s),
    stopped: !s.local.pg.running,
    failover,
    failoverScheduledLater: scheduledFailoverAt(s) !== null,
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
export function withParameters(f: Facts, decision: ReturnType<typeof say>): ReturnType<typeof say> {
  if (f.changedParameters.length === 0) return decision;
  return {
    ...decision,
    message: `${decision.message}; cluster parameters changed (${f.changedParameters.join(', ')}): rewriting postgresql.conf and reloading`,
    actions: [...decision.actions, { type: 'applyParameters' }],
  };
}

export const startFailures = (s: Snapshot): number => s.memory.startFailures?.count ?? 0;

/** A failover request in force (not scheduled for later) names the member to take over: the others
 *  need not ask their peers who is healthiest. */
export function failoverInForce(s: Snapshot): boolean {
  return typeof s.cluster?.failover?.member === 'string' && scheduledFailoverAt(s) === null;
}

/** Wall-clock ms of a switchover scheduled for later (the loop wakes then), null when none. */
export function scheduledFailoverAt(s: Snapshot): number | null {
  const at = Date.parse(s.cluster?.failover?.scheduled_at ?? '');
  return Number.isFinite(at) && at > s.wallClock ? at : null;
}

export function leaseExpiring(s: Snapshot): boolean {
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
export function handoverRequested(s: Snapshot, f: Facts): boolean {
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
export function failoverKeyIsStale(s: Snapshot, f: Facts): boolean {
  if (!f.failover) return false;
  if (f.failover.member === s.self.name) return true;
  return f.failover.leader !== undefined && f.failover.leader !== s.self.name;
}
