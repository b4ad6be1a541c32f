// The cluster as stored in the DCS, and the operations governor needs on it.
// Key layout (under /<namespace>/<scope>/) follows Patroni's so its tools can read a governor cluster.

import type { DynamicConfig, Tags } from '../config/types.js';

export type MemberRole = 'master' | 'replica' | 'uninitialized';

/** Value of members/<name>: JSON, on the member's lease. Field names are Patroni's. */
export interface MemberData {
  conn_url: string; // postgres://host:port/postgres
  api_url: string; // http://host:port/patroni
  state: string; // running | starting | stopped | crashed | creating replica | ...
  role: MemberRole;
  /** WAL position in bytes: current write LSN on a master, received (or replayed) LSN on a replica. */
  xlog_location?: number;
  timeline?: number;
  tags?: Partial<Tags>;
  version?: string;
  /** The member runs in maintenance mode (Patroni writes this too; `governorctl pause --wait` reads it). */
  pause?: boolean;
  /** PostgreSQL has a changed parameter that needs a restart (pg_settings.pending_restart). */
  pending_restart?: boolean;
  /** Copies of the data directory governor moved aside on this member (paths; it never deletes
   *  them): `governorctl list` shows them. Not a Patroni field. */
  moved_aside?: string[];
}

export interface Member extends MemberData {
  name: string;
}

export interface LeaderKey {
  name: string;
  /** etcd mod_revision of the key, used for compare-and-swap. */
  revision: string;
  /** Lease id (decimal string) the key is attached to. */
  lease: string;
}

/** Value of the `failover` key: a requested switchover (leader set) or failover (only member set). */
export interface FailoverRequest {
  leader?: string;
  member?: string; // the candidate
  scheduled_at?: string; // ISO 8601
}

/** One row of the `history` key: [timeline, switch LSN, reason, timestamp, new leader]. */
export type HistoryEntry = [number, number, string, string?, string?];

export interface SyncState {
  leader: string | null;
  sync_standby: string | null;
}

/** Value of the `failsafe` key (Patroni's): member name -> api_url of every member the master would
 *  need to confirm it while etcd does not answer, itself included. Written by the master while it
 *  holds the leader key; with failsafe_mode on, only members named in it may race for a free key. */
export type FailsafeMembers = Record<string, string>;

export interface ClusterView {
  /** System identifier written by the bootstrapping member; null before bootstrap. */
  initialize: string | null;
  config: DynamicConfig | null;
  /** etcd mod_revision of the config key (for compare-and-swap edits), also when its value is invalid. */
  configRevision: string | null;
  /** Why the config key's value was rejected (config is then null; the HA loop keeps the last good one). */
  configError?: string;
  leader: LeaderKey | null;
  members: Member[];
  failover: FailoverRequest | null;
  sync: SyncState | null;
  /** The failsafe key (null: absent or unreadable). */
  failsafe: FailsafeMembers | null;
  history: HistoryEntry[];
  /** Last WAL position the master published (optime/leader), bytes. */
  leaderOptime: number | null;
}

export type DcsEvent = 'leader' | 'failover' | 'members' | 'config' | 'optime' | 'other';

/** What the HA loop needs from the DCS. Every method rejects with DcsUnavailableError when etcd
 * could not be reached within retry_timeout; a garbage value in a key is logged and read as absent. */
export interface Dcs {
  readonly scope: string;
  readonly memberName: string;
  /** Connect and grant this member's lease (member key and leader key live on it). */
  open(ttlSeconds: number): Promise<void>;
  close(): Promise<void>;
  readCluster(): Promise<ClusterView>;
  /** One keep-alive of this member's lease; grants a new lease if the old one expired.
   *  Resolves to the local monotonic time (ms) at which the renewal request was sent. */
  renewLease(): Promise<{ sentAt: number; renewed: boolean }>;
  /** One linearizable read (the leader key, count only): etcd answers, through its quorum. It does
   *  not touch the lease. Resolves to the local monotonic time (ms) at which it was sent. */
  ping(): Promise<number>;
  /** The lease TTL in force (seconds); changes take effect on the next grant. */
  setTtl(ttlSeconds: number): void;
  touchMember(data: MemberData): Promise<void>;
  deleteMember(): Promise<void>;
  /** Create the leader key with our name iff it does not exist. */
  acquireLeader(): Promise<boolean>;
  /** True iff the leader key still holds our name on our current lease (re-attaches if needed). */
  confirmLeader(): Promise<boolean>;
  /** Delete the leader key iff it holds our name. */
  releaseLeader(): Promise<boolean>;
  /** Create `initialize` iff absent (value may be empty while initdb runs). */
  raceInitialize(): Promise<boolean>;
  setInitialize(systemIdentifier: string): Promise<void>;
  /** Create `initialize` with this system identifier iff absent (a cluster recorded again from a
   *  member's data after etcd lost the key); true iff this call created it. */
  claimInitialize(systemIdentifier: string): Promise<boolean>;
  /** Remove `initialize` iff it still holds the value we wrote (a failed bootstrap). */
  cancelInitialize(): Promise<void>;
  setConfig(config: DynamicConfig, expectedRevision?: string | null): Promise<boolean>;
  setFailover(request: FailoverRequest): Promise<void>;
  clearFailover(): Promise<void>;
  setHistory(history: HistoryEntry[]): Promise<void>;
  setLeaderOptime(walPosition: number): Promise<void>;
  /** Write the `sync` key iff this member holds the leader key; false otherwise. */
  setSync(state: SyncState): Promise<boolean>;
  /** Write the `failsafe` key (null: delete it) iff this member holds the leader key; false otherwise. */
  setFailsafe(members: FailsafeMembers | null): Promise<boolean>;
  /** Call onChange whenever any key of the cluster changes; returns a function that stops it. */
  watch(onChange: (event: DcsEvent) => void): Promise<() => Promise<void>>;
}

export class DcsUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DcsUnavailableError';
  }
}
