// FakePostgres: the PostgresController of one member as a small simulation of a PostgreSQL 15
// instance. Its data directory (missing, empty, a cluster, foreign content, a creation under way)
// survives a restart of the governor that drives it, as a real one does. A cluster has a system
// identifier, a timeline with its history, a WAL position (bytes) and a pg_control state. A primary
// gains WAL when the test calls write(); a replica streams from the running primary its config
// points at (same system, reachable, timelines compatible) and catches up whenever it is read.
// A clean stop of a primary writes a shutdown checkpoint and sends it to its streaming replicas
// first, as walsenders do; an immediate stop or a crash sends nothing more.

import type { GovernorConfig } from '../../src/config/types.js';
import { memberPostgresAddress } from '../../src/ha/member.js';
import type { MoveAsideReason, MovedAsideCopy } from '../../src/postgres/data-dir-policy.js';
import { offlineStatus } from '../../src/postgres/status.js';
import type {
  ArchiverStatus, ControlData, DataDirCreation, DataDirHold, DataDirState, HostPort, PostgresController, PostgresStatus,
  PromoteResult, ReplicationRow, StartRole, StopMode, WalPositionNow,
} from '../../src/postgres/types.js';
import type { FakeClock } from './clock.js';
import { FakeDataDirectory, type ClusterFiles, type MovedAsideCluster } from './data-dir.js';
import { Faults } from './faults.js';
import type { FakeNetwork } from './network.js';

/** Where initdb leaves WAL (the first segment plus its first records). */
export const INITIAL_WAL_POSITION = 0x1_000_028;
/** Size of the shutdown checkpoint record a clean stop of a primary writes. */
export const SHUTDOWN_CHECKPOINT_BYTES = 114;

let systemIdentifiers = 7_300_000_000_000_000_000n;

export class FakePostgres implements PostgresController {
  readonly member: string;
  readonly address: HostPort;
  readonly dataDirPath: string;
  readonly faults = new Faults((method, call) => new Error(`injected failure of ${method} (call ${call})`));
  /** What happened, in order ("start replica", "promote 1->2", "rewind from m2" ...), for assertions. */
  readonly events: string[] = [];
  /** pg_rewind calls still to fail as pg_rewind itself does (exit status 1: returns false). */
  refuseRewinds = 0;
  /** What logTail returns (the start failure diagnosis reads it). */
  logText = '';
  /** Highest WAL position write() acknowledged here. */
  lastAcknowledged = 0;

  /** The data directory (it outlives the governor process driving this instance). */
  readonly data: FakeDataDirectory;
  private running = false;
  private inRecovery = false;
  /** The configuration the running postmaster uses (read at start and reload). */
  private active: StartRole | null = null;
  private startedAt: string | null = null;

  constructor(
    config: GovernorConfig,
    private readonly clock: FakeClock,
    private readonly network: FakeNetwork,
  ) {
    this.member = config.name;
    this.address = memberPostgresAddress({ name: config.name, conn_url: `postgres://${config.postgresql.connect_address}/postgres` });
    this.dataDirPath = config.postgresql.data_dir;
    this.data = new FakeDataDirectory(this.dataDirPath);
    network.register(this);
  }

  // --- what tests read -------------------------------------------------------------------------

  /** The postmaster runs (read-write or not). */
  get up(): boolean {
    return this.running;
  }

  /** Running read-write. */
  get isPrimary(): boolean {
    return this.running && !this.inRecovery;
  }

  get isReplica(): boolean {
    return this.running && this.inRecovery;
  }

  /** The primary this replica streams from right now (null: none). */
  get streamingFrom(): FakePostgres | null {
    return this.source();
  }

  get timeline(): number | null {
    return this.cluster?.timeline ?? null;
  }

  get position(): number | null {
    this.catchUp();
    return this.cluster?.walPosition ?? null;
  }

  /** The cluster in the data directory (null: none). */
  get cluster(): ClusterFiles | null {
    return this.data.cluster;
  }

  get copiesMovedAside(): readonly MovedAsideCluster[] {
    return this.data.movedAside;
  }

  // --- what tests do ---------------------------------------------------------------------------

  /** A client commits `bytes` of WAL on this primary; the position it was acknowledged at. */
  write(bytes: number): number {
    if (!this.isPrimary || !this.cluster) throw new Error(`${this.member}: cannot write, PostgreSQL is not running read-write`);
    this.cluster.walPosition += bytes;
    this.lastAcknowledged = this.cluster.walPosition;
    return this.cluster.walPosition;
  }

  /** The postmaster is gone (killed, OOM, the machine died): no shutdown checkpoint, nothing sent. */
  crash(): void {
    if (!this.running) return;
    this.running = false;
    this.active = null;
    this.events.push('crash');
  }

  /** Put something that is not a PostgreSQL cluster into the (empty or missing) data directory. */
  putForeignContent(): void {
    this.data.putForeignContent();
  }

  /** A new governor process drives this instance: what the controller kept in memory is gone. */
  controllerRestarted(): void {
    this.data.hold = null;
  }

  // --- PostgresController ----------------------------------------------------------------------

  async dataDirState(): Promise<DataDirState> {
    await this.faults.enter('dataDirState');
    return this.data.state();
  }

  async controlData(): Promise<ControlData | null> {
    await this.faults.enter('controlData');
    const c = this.cluster;
    if (!c) return null;
    return {
      systemIdentifier: c.systemIdentifier,
      clusterState: c.controlState,
      timeline: c.timeline,
      checkpointLsn: c.checkpointLsn,
      wasPrimary: c.controlState === 'shut down' || c.controlState === 'in production',
      cleanShutdown: c.controlState.startsWith('shut down'),
    };
  }

  async initdb(): Promise<void> {
    await this.faults.enter('initdb');
    this.data.fill('initdb', {
      systemIdentifier: String(systemIdentifiers++),
      timeline: 1,
      walPosition: INITIAL_WAL_POSITION,
      history: [],
      controlState: 'shut down',
      checkpointLsn: INITIAL_WAL_POSITION,
      config: null,
      standbySignal: false,
      synchronousStandbyNames: '',
      slots: [],
      walAwaitingArchive: 0,
    });
    this.events.push('initdb');
  }

  async createRoles(): Promise<void> {
    await this.faults.enter('createRoles');
    this.mustAccept('create roles');
  }

  async writeConfig(role: StartRole): Promise<void> {
    await this.faults.enter('writeConfig');
    if (!this.cluster) throw new Error(`writeConfig: ${this.dataDirPath} holds no PostgreSQL cluster`);
    this.cluster.config = structuredClone(role);
    this.cluster.standbySignal = role.role === 'replica';
    if (role.role === 'replica') this.cluster.synchronousStandbyNames = '';
  }

  async start(timeoutMs: number): Promise<void> {
    await this.faults.enter('start');
    void timeoutMs;
    if (this.running) return;
    const c = this.cluster;
    if (!c) throw new Error(`PostgreSQL failed to start: ${this.dataDirPath} holds no cluster`);
    if (!c.config) throw new Error(`PostgreSQL failed to start: no postgresql.conf in ${this.dataDirPath}`);
    this.running = true;
    this.inRecovery = c.standbySignal;
    this.active = structuredClone(c.config);
    this.startedAt = new Date(this.clock.wall()).toISOString();
    c.controlState = this.inRecovery ? 'in archive recovery' : 'in production';
    this.events.push(`start ${this.inRecovery ? 'replica' : 'primary'}`);
    this.catchUp();
  }

  async stop(mode: StopMode, timeoutMs: number): Promise<void> {
    await this.faults.enter('stop');
    void timeoutMs;
    this.stopNow(mode);
  }

  private stopNow(mode: StopMode): number | null {
    if (!this.running || !this.cluster) return null;
    const c = this.cluster;
    let checkpoint: number | null = null;
    if (mode === 'immediate') {
      // Nothing more is written or sent: what the replicas have not read yet stays here.
    } else if (this.inRecovery) {
      this.catchUp();
      c.checkpointLsn = c.walPosition;
      c.controlState = 'shut down in recovery';
    } else {
      checkpoint = c.walPosition;
      c.checkpointLsn = checkpoint;
      c.walPosition += SHUTDOWN_CHECKPOINT_BYTES;
      c.controlState = 'shut down';
      this.sendToReplicas(); // walsenders send everything, the checkpoint too, before exiting
    }
    this.running = false;
    this.active = null;
    this.events.push(`stop ${mode}`);
    return checkpoint;
  }

  async stopAtShutdownCheckpoint(timeoutMs: number): Promise<{ checkpointLsn: number } | null> {
    await this.faults.enter('stopAtShutdownCheckpoint');
    void timeoutMs;
    if (!this.running) return null;
    const primary = !this.inRecovery;
    const checkpoint = this.stopNow('fast');
    if (!primary) return { checkpointLsn: this.cluster!.checkpointLsn };
    return { checkpointLsn: checkpoint! };
  }

  async reload(): Promise<void> {
    await this.faults.enter('reload');
    if (!this.running || !this.cluster) throw new Error('PostgreSQL reload failed: not running');
    this.active = structuredClone(this.cluster.config);
  }

  async isRunning(): Promise<boolean> {
    await this.faults.enter('isRunning');
    return this.running;
  }

  async checkpoint(): Promise<void> {
    await this.faults.enter('checkpoint');
    this.mustAccept('checkpoint');
    this.cluster!.checkpointLsn = this.cluster!.walPosition;
  }

  async promote(timeoutMs: number): Promise<PromoteResult> {
    await this.faults.enter('promote');
    void timeoutMs;
    this.mustAccept('promote');
    const c = this.cluster!;
    if (!this.inRecovery) return { promoted: false, lsnBefore: null };
    this.catchUp();
    const lsnBefore = c.walPosition;
    c.history = [...c.history, { parentTimeline: c.timeline, switchLsn: c.walPosition, reason: 'no recovery target specified' }];
    c.timeline += 1;
    c.standbySignal = false;
    c.controlState = 'in production';
    this.inRecovery = false;
    this.events.push(`promote ${c.timeline - 1}->${c.timeline}`);
    return { promoted: true, lsnBefore };
  }

  async basebackup(source: HostPort): Promise<void> {
    await this.faults.enter('basebackup');
    this.mustBeStopped('take a base backup');
    const from = this.network.postgresAt(source, this.member);
    if (!from?.running || !from.cluster) throw new Error(`base backup from ${source.host}:${source.port} failed: could not connect`);
    from.catchUp();
    const c = from.cluster;
    this.data.fill('base backup', {
      ...structuredClone(c),
      controlState: 'in archive recovery',
      checkpointLsn: c.walPosition,
      config: null,
      standbySignal: false,
      synchronousStandbyNames: '',
      slots: [],
      walAwaitingArchive: 0,
    });
    this.events.push(`basebackup from ${from.member}`);
  }

  async rewind(source: HostPort): Promise<boolean> {
    await this.faults.enter('rewind');
    this.mustBeStopped('rewind');
    const from = this.network.postgresAt(source, this.member);
    const c = this.cluster;
    if (this.refuseRewinds > 0 || !c || !from?.running || from.inRecovery || !from.cluster || from.cluster.systemIdentifier !== c.systemIdentifier) {
      if (this.refuseRewinds > 0) this.refuseRewinds -= 1;
      this.events.push(`rewind from ${source.host}:${source.port} failed`);
      return false;
    }
    Object.assign(c, {
      timeline: from.cluster.timeline,
      walPosition: from.cluster.walPosition,
      history: structuredClone(from.cluster.history),
      controlState: 'in archive recovery' as const,
      checkpointLsn: from.cluster.walPosition,
      standbySignal: false,
    });
    this.events.push(`rewind from ${from.member}`);
    return true;
  }

  async createDataDir(kind: DataDirCreation, fill: () => Promise<void>): Promise<void> {
    await this.faults.enter('createDataDir');
    await this.data.create(kind, fill, () => this.running);
  }

  async dataDirRoom(): Promise<{ freeBytes: number; copies: MovedAsideCopy[] }> {
    await this.faults.enter('dataDirRoom');
    return { freeBytes: this.data.freeBytes, copies: this.data.copies() };
  }

  async moveDataDirAside(reason: MoveAsideReason): Promise<string> {
    await this.faults.enter('moveDataDirAside');
    this.mustBeStopped('move the data directory aside');
    const copy = this.data.moveAside(reason, new Date(this.clock.wall()));
    this.events.push(`move aside (${reason})`);
    return copy;
  }

  async removeDataDir(reason: string): Promise<void> {
    await this.faults.enter('removeDataDir');
    this.mustBeStopped('remove the data directory');
    this.data.remove();
    this.events.push(`remove (${reason})`);
  }

  holdDataDir(hold: DataDirHold | null): void {
    this.data.hold = hold;
  }

  async status(): Promise<PostgresStatus> {
    await this.faults.enter('status');
    const report = this.data.report(this.running);
    if (!this.running || !this.cluster) return { ...offlineStatus(false), dataDirectory: report };
    this.catchUp();
    const c = this.cluster;
    const source = this.inRecovery ? this.source() : null;
    return {
      running: true,
      accepting: true,
      inRecovery: this.inRecovery,
      timeline: c.timeline,
      walPosition: c.walPosition,
      receivedLsn: this.inRecovery ? c.walPosition : null,
      replayedLsn: this.inRecovery ? c.walPosition : null,
      walReceiver: source ? { status: 'streaming', senderHost: source.address.host, senderPort: source.address.port, receivedLsn: c.walPosition } : null,
      replication: this.inRecovery ? [] : this.replicationRows(),
      systemIdentifier: c.systemIdentifier,
      postmasterStartTime: this.startedAt,
      serverVersion: 150_000,
      pendingRestart: false,
      dataDirectory: report,
    };
  }

  async walPosition(): Promise<WalPositionNow | null> {
    await this.faults.enter('walPosition');
    if (!this.running || !this.cluster) return null;
    this.catchUp();
    const position = this.cluster.walPosition;
    return { inRecovery: this.inRecovery, walPosition: position, receivedLsn: this.inRecovery ? position : null, replayedLsn: this.inRecovery ? position : null };
  }

  async synchronousStandbyNames(): Promise<string> {
    await this.faults.enter('synchronousStandbyNames');
    return this.cluster?.synchronousStandbyNames ?? '';
  }

  async setSynchronousStandbyNames(names: string): Promise<void> {
    await this.faults.enter('setSynchronousStandbyNames');
    this.mustAccept('set synchronous_standby_names');
    this.cluster!.synchronousStandbyNames = names;
  }

  async syncSlots(slotNames: string[]): Promise<void> {
    await this.faults.enter('syncSlots');
    this.mustAccept('sync slots');
    this.cluster!.slots = [...slotNames].sort();
  }

  async archiverStatus(): Promise<ArchiverStatus | null> {
    await this.faults.enter('archiverStatus');
    return this.running ? { archivedCount: 0, failedCount: 0, lastArchivedAt: null, lastFailedAt: null } : null;
  }

  async logTail(lines: number): Promise<string> {
    await this.faults.enter('logTail');
    return this.logText.split('\n').slice(-lines).join('\n');
  }

  async close(): Promise<void> {
    await this.faults.enter('close');
  }

  // --- the simulation --------------------------------------------------------------------------

  private mustAccept(what: string): void {
    if (!this.running || !this.cluster) throw new Error(`cannot ${what}: PostgreSQL is not running in ${this.dataDirPath}`);
  }

  private mustBeStopped(what: string): void {
    if (this.running) throw new Error(`cannot ${what}: PostgreSQL is running in ${this.dataDirPath}`);
  }

  /** The primary this replica can stream from now: the one its running config names, running
   *  read-write, reachable, of the same system, on a timeline this replica's WAL fits. */
  private source(): FakePostgres | null {
    const c = this.cluster;
    const target = this.active?.role === 'replica' ? this.active.primary : undefined;
    if (!this.running || !this.inRecovery || !c || !target) return null;
    const from = this.network.postgresAt(target, this.member);
    if (!from || from === this || !from.isPrimary || !from.cluster || from.cluster.systemIdentifier !== c.systemIdentifier) return null;
    return fitsTimeline(c, from.cluster) ? from : null;
  }

  /** A streaming replica has received everything its primary wrote. */
  private catchUp(): void {
    const from = this.source();
    if (!from) return;
    const c = this.cluster!;
    c.walPosition = from.cluster!.walPosition;
    c.timeline = from.cluster!.timeline;
    c.history = structuredClone(from.cluster!.history);
  }

  /** Replicas streaming from this primary receive everything written so far. */
  private sendToReplicas(): void {
    for (const other of this.network.allPostgres()) if (other.source() === this) other.catchUp();
  }

  private replicationRows(): ReplicationRow[] {
    const rows: ReplicationRow[] = [];
    for (const other of this.network.allPostgres()) {
      if (other.source() !== this) continue;
      other.catchUp();
      const lsn = other.cluster!.walPosition;
      const names = this.cluster!.synchronousStandbyNames;
      const applicationName = other.active?.primary?.applicationName ?? other.member;
      rows.push({
        applicationName,
        clientAddr: other.address.host,
        state: 'streaming',
        sentLsn: lsn,
        writeLsn: lsn,
        flushLsn: lsn,
        replayLsn: lsn,
        syncState: names.split(/[\s,()"]+/).includes(applicationName) ? 'sync' : 'async',
      });
    }
    return rows.sort((a, b) => (a.applicationName < b.applicationName ? -1 : 1));
  }
}

/** Whether WAL ending at `replica`'s position on its timeline is a prefix of `primary`'s history:
 *  same timeline and not ahead, or an older timeline that `primary` forked from at or after it. */
export function fitsTimeline(replica: Pick<ClusterFiles, 'timeline' | 'walPosition'>, primary: Pick<ClusterFiles, 'timeline' | 'walPosition' | 'history'>): boolean {
  if (replica.timeline === primary.timeline) return replica.walPosition <= primary.walPosition;
  if (replica.timeline > primary.timeline) return false;
  const fork = primary.history.find((s) => s.parentTimeline === replica.timeline);
  return fork !== undefined && replica.walPosition <= fork.switchLsn;
}
