// The HA loop: observe (DCS + PostgreSQL), decide (pure), act, publish. It runs every loop_wait
// seconds and at once whenever the DCS watch reports a change, so a freed leader key is noticed in
// milliseconds rather than on the next tick.

import type { DynamicConfig, GovernorConfig } from '../config/types.js';
import type { ClusterView, Dcs, DcsEvent } from '../dcs/types.js';
import type { Logger } from '../log/logger.js';
import type { PostgresController, PostgresStatus } from '../postgres/types.js';
import { isPrimaryStatus, isReplicaStatus } from './candidate.js';
import { decide } from './decide.js';
import { react, routeReactions } from './reactions.js';
import { failoverInForce, scheduledFailoverAt } from './rules.js';
import { noteClusterView } from './cluster-memory.js';
import { ActionExecutor } from './execute.js';
import type { WriteFence } from './fence.js';
import { LeaseKeeper } from './lease.js';
import { memberData } from './member.js';
import { answerFailsafe } from './failsafe-endpoint.js';
import { realHaIo, type HaIo } from './io.js';
import { failsafeTargets, restApiTls } from './peers.js';
import type { FailsafeAnswerDocument, FailsafeQuestion } from './failsafe-proof.js';
import type { TlsClientOptions } from '../util/http-client.js';
import type { Decision, LoopMemory, Requests, Snapshot } from './types.js';

const POSTMASTER_CHECK_MS = 100;

export interface HaStatus {
  cluster: ClusterView | null;
  /** Last cluster view that could be read, and when (monotonic ms). */
  lastCluster: ClusterView | null;
  lastClusterAt: number | null;
  pg: PostgresStatus | null;
  decision: Decision | null;
  dynamic: DynamicConfig;
  lastIterationAt: number | null;
  /** Times the leader key was seen to move to another member (counted from this daemon's start). */
  leaderChanges: number;
}

export interface HaLoopHooks {
  /** Called with every cluster view read from etcd (not when etcd is unreachable); must not block. */
  onCluster?: (cluster: ClusterView) => void;
  /** How members' REST certificates are verified (restApiTls); the daemon reads the CA once at start. */
  peerTls?: TlsClientOptions;
  /** Replica creation from a base backup (see ExecutorContext.restoreBackup). */
  restoreBackup?: (systemIdentifier: string | null) => Promise<string | null>;
  /** The clock, other members and data directory files (default: the real ones, realHaIo). */
  io?: HaIo;
}

export class HaLoop {
  readonly memory: LoopMemory = { cleanHandoffTo: null, followTarget: null, notStreamingSince: null, failsafePromise: null, appliedParameters: null };
  readonly requests: Requests = { restart: false, reinitialize: false };
  readonly status: HaStatus;
  readonly lease: LeaseKeeper;
  private readonly io: HaIo;
  private readonly executor: ActionExecutor;
  private primary = false;
  private stopping = false;
  private wakeRequested = false;
  private wakeTimer: NodeJS.Timeout | null = null;
  private wakeResolve: (() => void) | null = null;
  private stopWatch: (() => Promise<void>) | null = null;
  private running: Promise<void> | null = null;
  private lastLoggedDecision = '';
  private dcsDownSince: number | null = null;
  private postmasterWatch: NodeJS.Timeout | null = null;
  private checkingPostmaster = false;
  private tookOver = false;
  /** The leader key was acquired since the last cluster read (that view still names someone else). */
  private acquiredKey = false;
  private lastLeaderSeen: string | null = null;
  private scheduledWake: { at: number; timer: NodeJS.Timeout } | null = null;
  private readonly startedAt: number;
  private watchFailures = 0;

  constructor(
    private readonly config: GovernorConfig,
    private readonly dcs: Dcs,
    private readonly pg: PostgresController,
    private readonly logger: Logger,
    private readonly fence: WriteFence | null = null,
    private readonly hooks: HaLoopHooks = {},
  ) {
    this.io = hooks.io ?? realHaIo(config, hooks.peerTls ?? restApiTls(config));
    this.startedAt = this.io.clock.monotonic();
    this.status = {
      cluster: null,
      lastCluster: null,
      lastClusterAt: null,
      pg: null,
      decision: null,
      dynamic: config.bootstrap.dcs,
      lastIterationAt: null,
      leaderChanges: 0,
    };
    this.lease = new LeaseKeeper({
      dcs,
      logger: logger.child('lease'),
      timing: () => ({ ttl: this.status.dynamic.ttl, loopWait: this.status.dynamic.loop_wait, failsafeMode: this.status.dynamic.failsafe_mode !== false }),
      probePeers: () => this.io.peers.probeFailsafe(failsafeTargets(this.status.lastCluster?.members ?? [], this.status.lastCluster?.failsafe ?? null, this.config.name)),
      now: this.io.clock.monotonic,
      isPrimary: () => this.primary,
      onRenewed: () => this.updateFence(),
      adopted: () => this.tookOver,
      // A rejoining member whose key vanished with its lease (partitioned longer than ttl) would
      // otherwise stay keyless while an action runs (a replica start waits up to 120 s), and the
      // master keeps replication slots only for members with a key: the replica could not stream.
      onLeaseReplaced: () => {
        void this.touchMember();
        this.wake();
      },
      // Performed here, beside the loop: an action the loop is stuck in must not delay it.
      demote: async (decision) => {
        for (const action of decision.actions) await this.executor.runBeside(action);
        this.wake();
      },
    });
    this.executor = new ActionExecutor({
      config,
      dcs,
      pg,
      logger: logger.child('ha'),
      memory: this.memory,
      requests: this.requests,
      current: () => ({ dynamic: this.status.dynamic, cluster: this.status.cluster }),
      setPrimary: (primary) => this.notePostgresRole(primary),
      touchMember: (state) => this.touchMember(state),
      leaderKey: (held) => (held ? this.lease.leaderKeyConfirmed() : this.lease.leaderKeyLost()),
      restoreBackup: hooks.restoreBackup,
      route: hooks.onCluster,
      io: this.io,
    });
  }

  /** PostgreSQL was just promoted or started as the master (true), or stopped (false) by governor.
   *  The REST health checks and peers' races read status.pg: keep it true between iterations. */
  private notePostgresRole(primary: boolean): void {
    this.setPrimary(primary);
    if (!this.status.pg) return;
    this.status.pg = primary
      ? { ...this.status.pg, running: true, accepting: true, inRecovery: false, walReceiver: null }
      : { ...this.status.pg, running: false, accepting: false };
  }

  private setPrimary(primary: boolean): void {
    this.primary = primary;
    this.updateFence();
  }

  /** Keep the write fence's deadline equal to the lease guard's, while PostgreSQL is the master.
   *  Without a deadline yet (a master adopted from an earlier governor process, its key not yet
   *  confirmed on our lease) the fence stays as it is: the predecessor's fence guards until then. */
  private updateFence(): void {
    if (!this.fence) return;
    if (!this.primary) return this.fence.disarm();
    const deadline = this.lease.deadline();
    if (deadline !== null) this.fence.arm(deadline);
  }

  /** POST /failsafe: confirm the asking master while etcd does not answer it (failsafe-endpoint.ts). */
  confirmFailsafe(question: FailsafeQuestion): { status: number; body: FailsafeAnswerDocument } {
    return answerFailsafe(question, {
      config: this.config,
      memory: this.memory,
      knownLeader: this.status.lastCluster?.leader?.name ?? null,
      primary: this.primary,
      dynamic: this.status.dynamic,
      now: this.io.clock.monotonic(),
      logger: this.logger,
    });
  }

  /** Whether this member holds the leader key (per the last view) and runs read-write. */
  isLeader(): boolean {
    const view = this.status.lastCluster;
    return this.primary && (view?.leader?.name === this.config.name || this.acquiredKey) && this.lease.remainingMs() > 0;
  }

  async start(): Promise<void> {
    // A governor started while etcd does not answer (a member restarted during an outage) serves
    // its REST API and keeps trying: the lease keeper grants a lease once etcd answers, and the
    // watch is set up then.
    await this.dcs.open(this.config.bootstrap.dcs.ttl).catch((error: Error) =>
      this.logger.warn(`etcd did not grant a lease at start (${error.message}): retrying while the loop runs`),
    );
    this.lease.start();
    await this.watchUntilEstablished();
    this.postmasterWatch = setInterval(() => void this.checkPostmaster(), POSTMASTER_CHECK_MS);
    this.running = this.run();
  }

  private async watchUntilEstablished(): Promise<void> {
    try {
      this.stopWatch = await this.dcs.watch((event) => this.onDcsEvent(event));
      if (this.watchFailures > 0) this.logger.info('etcd watch established');
      this.watchFailures = 0;
    } catch (error) {
      if (this.watchFailures++ === 0) this.logger.warn(`cannot watch etcd (${(error as Error).message}): retrying every second`);
      if (!this.stopping) setTimeout(() => void this.watchUntilEstablished(), 1000).unref();
    }
  }

  /** A crashed postmaster is noticed within POSTMASTER_CHECK_MS instead of on the next loop. */
  private async checkPostmaster(): Promise<void> {
    if (this.checkingPostmaster || !this.status.pg?.running) return;
    this.checkingPostmaster = true;
    try {
      if (!(await this.pg.isRunning()) && this.status.pg?.running) {
        this.logger.warn('PostgreSQL exited unexpectedly');
        this.status.pg = { ...this.status.pg, running: false, accepting: false };
        this.wake();
      }
    } finally {
      this.checkingPostmaster = false;
    }
  }

  private onDcsEvent(event: DcsEvent): void {
    // Member keys and the master's optime change on every iteration of every member: waking on
    // them would make the members wake each other in an endless ping-pong. Nothing urgent depends
    // on them; the next tick (loop_wait) picks them up.
    if (event === 'members' || event === 'optime') return;
    this.logger.debug(`dcs change: ${event}`);
    // Routing (onCluster) must not wait for an iteration busy with a switchover or a promotion:
    // read the new leader now, beside the loop.
    if (event === 'leader') void this.readCluster(this.io.clock.monotonic());
    this.wake();
  }

  /** Run an iteration now (or right after the current one). */
  wake(): void {
    this.wakeRequested = true;
    this.wakeResolve?.();
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      this.wakeRequested = false;
      try {
        await this.iterate();
      } catch (error) {
        this.logger.error(`HA iteration failed: ${(error as Error).message}`);
      }
      if (this.wakeRequested || this.stopping) continue;
      await new Promise<void>((resolve) => {
        this.wakeResolve = resolve;
        this.wakeTimer = setTimeout(resolve, this.status.dynamic.loop_wait * 1000);
      });
      if (this.wakeTimer) clearTimeout(this.wakeTimer);
      this.wakeResolve = null;
    }
  }

  /** How long reading the cluster from etcd has been failing (null: the last read succeeded). */
  etcdUnreachableMs(now = this.io.clock.monotonic()): number | null {
    return this.dcsDownSince === null ? null : now - this.dcsDownSince;
  }

  private async readCluster(now: number): Promise<ClusterView | null> {
    try {
      const cluster = await this.dcs.readCluster();
      if (this.dcsDownSince !== null) {
        this.logger.info(`etcd reachable again after ${((now - this.dcsDownSince) / 1000).toFixed(1)} s`);
        this.dcsDownSince = null;
      }
      this.status.lastCluster = cluster;
      this.status.lastClusterAt = now;
      // Whether this daemon has seen the cluster initialized, and when its own key vanished: the
      // rules tell etcd that lost its keys from a cluster never bootstrapped (cluster-memory.ts).
      noteClusterView(this.memory, cluster, this.config.name, now);
      this.acquiredKey = false;
      const leader = cluster.leader?.name ?? null;
      if (leader !== null && leader !== this.lastLeaderSeen) {
        if (this.lastLeaderSeen !== null) this.status.leaderChanges += 1;
        this.lastLeaderSeen = leader;
      }
      for (const action of react(routeReactions, cluster).actions) void this.executor.runBeside(action);
      return cluster;
    } catch (error) {
      if (this.dcsDownSince === null) {
        this.dcsDownSince = now;
        this.logger.warn(`cannot read the cluster from etcd: ${(error as Error).message}`);
      }
      return null;
    }
  }

  async iterate(): Promise<void> {
    const now = this.io.clock.monotonic();
    // etcd, PostgreSQL and the data directory are read at once: after a watch event (a freed
    // leader key) this is the first step of a takeover, inside the write outage.
    const [cluster, pgStatus, dataDir] = await Promise.all([this.readCluster(now), this.pg.status(), this.pg.dataDirState()]);
    const control = !pgStatus.running && dataDir === 'initialized' ? await this.pg.controlData() : null;
    this.setPrimary(isPrimaryStatus(pgStatus));

    if (cluster?.config) {
      if (cluster.config.ttl !== this.status.dynamic.ttl) this.dcs.setTtl(cluster.config.ttl);
      this.status.dynamic = cluster.config;
    }
    this.status.cluster = cluster;
    this.status.pg = pgStatus;

    if (isReplicaStatus(pgStatus) && pgStatus.walReceiver?.status !== 'streaming') {
      this.memory.notStreamingSince ??= now;
    } else {
      this.memory.notStreamingSince = null;
    }

    const snapshot: Snapshot = {
      now,
      wallClock: this.io.clock.wall(),
      startedAt: this.startedAt,
      self: { name: this.config.name, tags: this.config.tags },
      dynamic: this.status.dynamic,
      cluster,
      writeDeadline: this.lease.deadline(now),
      local: { dataDir, control, pg: pgStatus },
      peers: null,
      memory: this.memory,
      requests: this.requests,
    };
    // Peers are asked only for an open race: a failover request in force already names the winner.
    const scheduledAt = scheduledFailoverAt(snapshot);
    if (scheduledAt !== null) this.wakeAt(scheduledAt);
    if (cluster && !cluster.leader && !failoverInForce(snapshot) && isReplicaStatus(pgStatus) && !this.config.tags.nofailover) {
      const timeout = Math.min(1000, this.status.dynamic.retry_timeout * 1000);
      snapshot.peers = await this.io.peers.statuses(cluster.members, this.config.name, timeout);
    }

    const decision = decide(snapshot);
    this.status.decision = decision;
    this.logDecision(decision);
    for (const action of decision.actions) {
      if (this.stopping) break;
      if (!(await this.executor.run(action))) {
        // Retry at once (a lost race, a first error); an action that keeps failing waits loop_wait
        // between attempts instead of spinning (a clone against a master that refuses us, say).
        if ((this.memory.actionErrors ?? 0) <= 1) this.wake();
        break;
      }
      // /primary answers for us as soon as PostgreSQL is promoted, not after the next iteration's
      // read (our own key's watch event re-points this node's HAProxy meanwhile: onDcsEvent).
      if (action.type === 'acquireLeader') this.acquiredKey = true;
    }
    this.status.lastIterationAt = this.io.clock.monotonic();
    if (cluster) await this.touchMember();
    if (!this.tookOver) {
      this.tookOver = true;
      this.fence?.takeOver();
    }
  }

  /** A scheduled switchover happens at its time, not at the first loop_wait tick after it. */
  private wakeAt(wallClockMs: number): void {
    const delay = wallClockMs - this.io.clock.wall();
    if (delay <= 0 || this.scheduledWake?.at === wallClockMs) return;
    if (this.scheduledWake) clearTimeout(this.scheduledWake.timer);
    const timer = setTimeout(() => {
      this.scheduledWake = null;
      this.wake();
    }, Math.min(delay, 2 ** 31 - 1));
    timer.unref();
    this.scheduledWake = { at: wallClockMs, timer };
  }

  private logDecision(decision: Decision): void {
    const key = `${decision.rule}|${decision.message}`;
    if (key === this.lastLoggedDecision) return;
    this.lastLoggedDecision = key;
    const fields = { rule: decision.rule, actions: decision.actions.map((a) => a.type) };
    this.logger[decision.level ?? 'info'](decision.message, fields);
  }

  async touchMember(stateOverride?: string): Promise<void> {
    try {
      const pgStatus = await this.pg.status();
      this.status.pg = pgStatus;
      const data = memberData(this.config, pgStatus, { paused: this.status.dynamic.pause === true });
      if (stateOverride) data.state = stateOverride;
      await this.dcs.touchMember(data);
    } catch (error) {
      this.logger.debug(`could not update the member key: ${(error as Error).message}`);
    }
  }

  /** Graceful shutdown (SIGTERM): stop PostgreSQL cleanly and free the leader key for a fast failover. */
  async shutdown(): Promise<void> {
    this.stopping = true;
    this.wake();
    await this.running?.catch(() => undefined);
    this.lease.stop();
    if (this.postmasterWatch) clearInterval(this.postmasterWatch);
    if (this.scheduledWake) clearTimeout(this.scheduledWake.timer);
    const wasLeader = this.status.lastCluster?.leader?.name === this.config.name;
    try {
      await this.pg.stop('fast', 60_000);
      this.setPrimary(false);
      this.fence?.stop();
    } catch (error) {
      this.logger.error(`could not stop PostgreSQL cleanly: ${(error as Error).message}`);
    }
    if (wasLeader) await this.dcs.releaseLeader().catch(() => false);
    await this.touchMember('stopped');
    await this.stopWatch?.().catch(() => undefined);
    await this.dcs.close().catch(() => undefined);
    await this.pg.close().catch(() => undefined);
    this.logger.info('governor stopped');
  }
}
