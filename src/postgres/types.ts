// One local PostgreSQL instance, as the HA loop sees and drives it.
// This module knows nothing about etcd: the loop passes in who to follow and which slots to keep.

import type { MoveAsideReason, MovedAsideCopy } from './data-dir-policy.js';

export interface HostPort {
  host: string;
  port: number;
}

/** Parsed pg_controldata of a stopped (or running) data directory. */
export interface ControlData {
  systemIdentifier: string;
  /** 'shut down' | 'shut down in recovery' | 'in production' | 'in archive recovery' | ... */
  clusterState: string;
  timeline: number;
  checkpointLsn: number;
  /** True when the instance last ran as a primary (its state is 'shut down' or 'in production'). */
  wasPrimary: boolean;
  /** True when PostgreSQL was stopped cleanly (no crash recovery needed). */
  cleanShutdown: boolean;
}

export interface WalReceiverStatus {
  status: string; // streaming | catchup | starting | ...
  senderHost: string | null;
  senderPort: number | null;
  receivedLsn: number | null;
}

export interface ReplicationRow {
  applicationName: string;
  clientAddr: string | null;
  state: string;
  sentLsn: number | null;
  writeLsn: number | null;
  flushLsn: number | null;
  replayLsn: number | null;
  syncState: string;
}

export interface PostgresStatus {
  /** postmaster.pid names a live process. */
  running: boolean;
  /** A query succeeded. */
  accepting: boolean;
  inRecovery: boolean | null;
  timeline: number | null;
  /** Primary: current write LSN. Replica: the greater of received and replayed LSN. Bytes. */
  walPosition: number | null;
  receivedLsn: number | null;
  replayedLsn: number | null;
  walReceiver: WalReceiverStatus | null;
  replication: ReplicationRow[];
  systemIdentifier: string | null;
  postmasterStartTime: string | null;
  serverVersion: number | null;
  /** A parameter in postgresql.conf changed that only takes effect after a restart (pg_settings). */
  pendingRestart: boolean;
  /** The data directory (read from disk only while PostgreSQL is down). */
  dataDirectory?: DataDirReport;
}

/** pg_stat_archiver, for /metrics. */
export interface ArchiverStatus {
  archivedCount: number;
  failedCount: number;
  /** When the last segment was archived (ISO 8601), null if never. */
  lastArchivedAt: string | null;
  lastFailedAt: string | null;
}

/**
 * What data_dir holds: nothing ('missing', 'empty'), a PostgreSQL cluster ('initialized': it has
 * PG_VERSION), content that is not one ('foreign': never touched), or the leftovers of a creation
 * governor started in an empty directory and did not finish ('incomplete': safe to clear).
 */
export type DataDirState = 'missing' | 'empty' | 'initialized' | 'foreign' | 'incomplete';

/** What a creation fills an empty data directory with: initdb (bootstrap) or a copy of the master. */
export type DataDirCreation = 'bootstrap' | 'clone';

/** Governor leaves the data directory as it is until an operator acts. */
export interface DataDirHold {
  /** The member key's state while it lasts. */
  state: 'data directory refused' | 'waiting for reinit';
  /** What is wrong and what to do. */
  reason: string;
}

/** The data directory as the member key, the REST status and the HA rules report it. */
export interface DataDirReport {
  path: string;
  state: DataDirState;
  /** Why governor leaves it alone (foreign content, a hold), with what to do; null when nothing is wrong. */
  problem: string | null;
  hold: DataDirHold | null;
  /** Copies moved aside (governor never deletes them). */
  movedAside: MovedAsideCopy[];
}
export type StopMode = 'smart' | 'fast' | 'immediate';

/** What the configuration renderer needs to know about the role this start is for. */
export interface StartRole {
  role: 'primary' | 'replica';
  /** Replica only: the member to stream from. */
  primary?: HostPort & { applicationName: string };
  /** Replica only: the physical slot the master keeps for us. */
  slotName?: string | null;
  /** Extra parameters from the DCS dynamic config; local config parameters win over these. */
  clusterParameters?: Record<string, string | number | boolean>;
  /** Replica only, with archiving on: set restore_command so archived WAL is replayed (a replica
   *  restored from a base backup). Streaming replicas go without: PostgreSQL asks restore_command
   *  first for every segment and timeline history file, which would slow restarts and promotion. */
  restoreFromArchive?: boolean;
}

export interface PromoteResult {
  /** False when PostgreSQL was already out of recovery (nothing was done). */
  promoted: boolean;
  /** The WAL position (received or replayed, the greater) just before the promotion. */
  lsnBefore: number | null;
}

export interface PostgresController {
  dataDirState(): Promise<DataDirState>;
  controlData(): Promise<ControlData | null>;
  /** initdb --data-checksums with the superuser and its password; leaves PostgreSQL stopped. */
  initdb(): Promise<void>;
  /** On a freshly initialized primary: create the replication role (idempotent). */
  createRoles(): Promise<void>;
  /** Render postgresql.conf, pg_hba.conf, the password file and standby.signal for this role. */
  writeConfig(role: StartRole): Promise<void>;
  /** Start and wait until it accepts connections (or until timeoutMs, then reject). */
  start(timeoutMs: number): Promise<void>;
  stop(mode: StopMode, timeoutMs: number): Promise<void>;
  /**
   * Ask for a fast shutdown and resolve as soon as its shutdown checkpoint is on disk, with the
   * checkpoint's location, while the postmaster may still be finishing (walsenders sending the last
   * WAL, the archiver archiving the segment it switched out): nothing can be written after that
   * checkpoint. Null when PostgreSQL was not running; rejects when it exits without one, or after
   * timeoutMs. Call stop() afterwards to wait for the exit.
   */
  stopAtShutdownCheckpoint(timeoutMs: number): Promise<{ checkpointLsn: number } | null>;
  reload(): Promise<void>;
  /** The postmaster named in postmaster.pid is alive (cheap: no connection). */
  isRunning(): Promise<boolean>;
  /** CHECKPOINT now, so that a following shutdown checkpoint has little to write. */
  checkpoint(): Promise<void>;
  /** pg_promote() and wait until it is out of recovery. */
  promote(timeoutMs: number): Promise<PromoteResult>;
  /** pg_basebackup from `source` into an empty data directory. */
  basebackup(source: HostPort): Promise<void>;
  /** pg_rewind against `source`; resolves false (after logging why) when rewind failed. */
  rewind(source: HostPort): Promise<boolean>;
  /** Fill the missing or empty data directory with `fill`; if it fails, remove only what it
   *  created (data-dir.ts). Refuses a directory that holds anything but its own leftovers. */
  createDataDir(kind: DataDirCreation, fill: () => Promise<void>): Promise<void>;
  /** Free bytes on data_dir's file system and the copies moved aside so far. */
  dataDirRoom(): Promise<{ freeBytes: number; copies: MovedAsideCopy[] }>;
  /** Rename data_dir beside itself (`<data_dir>.<reason>.<UTC time>`), leaving it empty; the copy's path. */
  moveDataDirAside(reason: MoveAsideReason): Promise<string>;
  /** Remove data_dir's contents; `reason` (logged with the path) says why policy allows it. */
  removeDataDir(reason: string): Promise<void>;
  /** Leave the data directory alone until an operator acts (null: release). */
  holdDataDir(hold: DataDirHold | null): void;
  status(): Promise<PostgresStatus>;
  /** Where WAL is now (one light query); null when PostgreSQL does not answer. */
  walPosition(): Promise<WalPositionNow | null>;
  /** synchronous_standby_names as governor set it ('' when it never did, or on a replica). */
  synchronousStandbyNames(): Promise<string>;
  /** Master only: set synchronous_standby_names (governor.sync.conf, included last) and reload. */
  setSynchronousStandbyNames(names: string): Promise<void>;
  /** Master only: make exactly these governor-managed physical slots exist. */
  syncSlots(slotNames: string[]): Promise<void>;
  /** pg_stat_archiver; null while PostgreSQL does not accept connections. */
  archiverStatus(): Promise<ArchiverStatus | null>;
  /** Last lines of the PostgreSQL log, for error messages. */
  logTail(lines: number): Promise<string>;
  close(): Promise<void>;
}

/** The WAL fields of PostgresStatus, read live. */
export interface WalPositionNow {
  inRecovery: boolean;
  walPosition: number | null;
  receivedLsn: number | null;
  replayedLsn: number | null;
}

/** Slot names are member names made safe for PostgreSQL (lower case, [a-z0-9_]). */
export function slotNameFor(memberName: string): string {
  return memberName.toLowerCase().replace(/[^a-z0-9_]/g, '_').slice(0, 63);
}
