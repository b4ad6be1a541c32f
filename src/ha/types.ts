// The inputs and outputs of the HA decision. decide() reads a Snapshot and returns Actions; the loop
// performs them. Nothing here does I/O.

import type { DynamicConfig, Tags } from '../config/types.js';
import type { ClusterView, FailsafeMembers, Member } from '../dcs/types.js';
import type { MoveAsideReason } from '../postgres/data-dir-policy.js';
import type { StartDiagnosis } from '../postgres/start-failure.js';
import type { ControlData, DataDirHold, DataDirState, PostgresStatus, ReplicationRow, StopMode } from '../postgres/types.js';

/** What another member's REST API said about itself when asked during a leader race. */
export interface PeerStatus {
  name: string;
  reachable: boolean;
  inRecovery: boolean | null;
  timeline: number | null;
  walPosition: number | null;
  nofailover: boolean;
  failoverPriority: number;
}

export interface LocalState {
  dataDir: DataDirState;
  /** pg_controldata; read only while PostgreSQL is stopped. */
  control: ControlData | null;
  pg: PostgresStatus;
}

/** What the loop remembers between iterations; decide() reads it, the loop writes it. */
export interface LoopMemory {
  /** Member we handed the leader key to after it confirmed all our WAL: no rewind needed to follow it. */
  cleanHandoffTo: string | null;
  /** Member whose address our primary_conninfo points at (null: none configured). */
  followTarget: string | null;
  /** Since when (monotonic ms) this replica has not been streaming from its target. */
  notStreamingSince: number | null;
  /** This member confirmed `leader` over POST /failsafe: it does not race for the key until `until`. */
  failsafePromise: { leader: string; until: number } | null;
  /** The cluster-wide PostgreSQL parameters last written into postgresql.conf (null: not since
   *  this daemon started, so a running PostgreSQL may have been configured by an earlier one). */
  appliedParameters: Record<string, string | number | boolean> | null;
  /** This daemon has read an `initialize` key with a system identifier (cluster-memory.ts): a
   *  missing one later means etcd lost its data, not that there is no cluster. Unset: not tracked. */
  initializeSeen?: boolean;
  /** Since when (monotonic ms) the `initialize` key has been missing (null: it is there). Unset:
   *  not tracked. */
  initializeMissingSince?: number | null;
  /** Since when (monotonic ms) `initialize` has said a bootstrap is in progress ("") while no
   *  member key said "bootstrapping" (null: not so). Unset: not tracked. */
  bootstrapQuietSince?: number | null;
  /** This member's key has been in a view read from etcd (cluster-memory.ts). */
  ownKeySeen?: boolean;
  /** Monotonic ms this member last read a view without its own key after it had been there: etcd
   *  lost its keys (or this member's lease expired), so the member list is incomplete for a while. */
  ownKeyLostAt?: number;
  /** Failed starts of PostgreSQL in a row, in which role, and why the last one failed (null: the
   *  last start worked). */
  startFailures?: { count: number; role?: 'primary' | 'replica'; diagnosis: StartDiagnosis } | null;
  /** The data was cloned again because of start failures since PostgreSQL last started: at most once. */
  reclonedAfterStartFailures?: boolean;
  /** The switchover this master is in the middle of (null: none). Its steps are separate actions;
   *  a daemon restarted among them finds PostgreSQL stopped cleanly with the key still its own and
   *  the failover key still set, and starts over from there (leader-start, then switchover). */
  handover?: Handover | null;
  /** pg_rewind from this member failed: the data makes way for a clone (rule rewind-failed). A
   *  daemon restarted meanwhile rewinds again and arrives here again. */
  rewindFailedFrom?: string | null;
  /** The data came from a base backup: replay archived WAL until it is cloned again. */
  restoredFromBackup?: boolean;
  /** The master's WAL position last written to the optime key (not written again unchanged). */
  publishedOptime?: number | null;
  /** Actions that threw in a row; the loop retries at once only after the first. */
  actionErrors?: number;
}

/** A switchover in progress on the master. */
export interface Handover {
  candidate: string;
  /** The shutdown checkpoint the candidate must confirm it has WAL past (null: not stopped yet). */
  shutdownLsn: number | null;
  /** Set when the candidate did not confirm in time: the switchover is aborted. */
  unconfirmed?: { lastSeen: number | null; waitedMs: number };
}

export interface Requests {
  restart: boolean;
  reinitialize: boolean;
}

export interface Snapshot {
  /** Monotonic milliseconds. */
  now: number;
  /** Wall-clock milliseconds since the epoch: compared only with times other members wrote (a
   *  switchover's scheduled_at). */
  wallClock: number;
  /** Monotonic ms this daemon started: a member that restarted cannot remember a failsafe promise
   *  it gave before, so it does not race until any such promise has run out. */
  startedAt: number;
  self: { name: string; tags: Tags };
  /** The dynamic config in force: the DCS `config` key, or bootstrap.dcs before it exists. */
  dynamic: DynamicConfig;
  /** null when the DCS could not be read. */
  cluster: ClusterView | null;
  /** Monotonic ms by which a master must have stopped accepting writes (lease.ts, failsafe.ts);
   *  null when the lease was never renewed. */
  writeDeadline: number | null;
  local: LocalState;
  /** Other members' answers, gathered only when the leader key is free. */
  peers: PeerStatus[] | null;
  memory: LoopMemory;
  requests: Requests;
}

export type Action =
  | { type: 'bootstrap' }
  | { type: 'clone'; source: Member }
  | { type: 'acquireLeader' }
  | { type: 'confirmLeader' }
  | { type: 'releaseLeader' }
  | { type: 'promote' }
  | { type: 'startPrimary' }
  | { type: 'startReplica'; leader: Member | null }
  | { type: 'followLeader'; leader: Member }
  | { type: 'stop'; mode: StopMode }
  /** Stop and start PostgreSQL again, in the role the rule saw it run in. */
  | { type: 'restart'; role: 'primary' | 'replica' }
  | { type: 'rewind'; source: Member }
  | { type: 'reinitialize'; source: Member }
  /** Remove the "" placeholder a bootstrapper whose governor died left in `initialize`. */
  | { type: 'cancelBootstrap' }
  /** Record `initialize` (and a missing `config`) from this member's cluster: etcd lost them. */
  | { type: 'adoptCluster'; systemIdentifier: string }
  /** Move the data directory aside (or what the policy allows) and clone it again from `source`. */
  | { type: 'recloneData'; source: Member; reason: MoveAsideReason }
  /** Leave the data directory alone until an operator acts (null: release the hold). */
  | { type: 'holdDataDir'; hold: DataDirHold | null }
  | { type: 'syncSlots'; members: string[] }
  | { type: 'publishOptime' }
  /** pg_stat_replication as read at the start of this iteration. */
  | { type: 'syncReplication'; replication: ReplicationRow[] }
  | { type: 'clearFailover' }
  /** Master only: record who may race for the key once it is free (null: remove the key). */
  | { type: 'recordFailsafe'; members: FailsafeMembers | null }
  /** Switchover, step 1: let the archiver catch up and checkpoint while writes are still served,
   *  and open a session on the candidate for the handover check. */
  | { type: 'prepareHandover'; candidate: Member }
  /** Step 2: fast shutdown, up to its shutdown checkpoint (the write outage starts here). */
  | { type: 'stopForHandover'; candidate: Member }
  /** Step 3: wait until the candidate has WAL past the shutdown checkpoint (false: abort). */
  | { type: 'confirmHandover'; candidate: Member }
  /** Step 4: free the leader key for the candidate, which confirmed every byte. */
  | { type: 'handOverKey'; candidate: Member }
  /** Wait for a postmaster asked to stop to exit; stop it at once if it hangs. */
  | { type: 'finishStop' }
  /** Point this node's HAProxy at the member the leader key names (beside the loop: reactions.ts). */
  | { type: 'route'; cluster: ClusterView }
  | { type: 'applyParameters' }
  | { type: 'clearRequests' };

export interface Decision {
  /** Name of the rule that matched (stable, for logs and tests). */
  rule: string;
  /** Sentence the log prints: what governor does and why. */
  message: string;
  actions: Action[];
  level?: 'info' | 'warn' | 'error';
}

/** Safety margin: a master demotes this long before its lease could expire. */
export const LEASE_SAFETY_MARGIN_MS = 1500;
/** A restarted member waits this long beyond ttl before it may race (failsafe_mode on): a promise it
 *  gave before the restart lasted ttl from when it was given. */
export const RESTART_QUARANTINE_MARGIN_MS = 2000;
/** A replica that cannot stream from a promoted leader for this long is assumed diverged. */
export const DIVERGED_AFTER_MS = 5000;
/** How long the executor waits for PostgreSQL to start and to stop. */
export const START_TIMEOUT_MS = 120_000;
export const STOP_TIMEOUT_MS = 60_000;
/** Failed starts in a row after which the cause decides: a data fault re-clones (once), anything
 *  else keeps being retried and reported. */
export const MAX_START_FAILURES = 3;

/** A decision without its rule name: what a rule's `then` returns. */
export function say(message: string, actions: Action[] = [], level: Decision['level'] = 'info'): Omit<Decision, 'rule'> {
  return { message, actions, level };
}
