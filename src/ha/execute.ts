// Performs the actions decide() returns. Each returns true to let the next action of the same
// decision run, false to stop the chain (for example: the leader race was lost, so never promote).

import { planSync } from './sync.js';
import type { Member } from '../dcs/types.js';
import { slotNameFor, type ReplicationRow, type StartRole, type StopMode } from '../postgres/types.js';
import { CAUSE_DESCRIPTIONS, classifyStartFailure } from '../postgres/start-failure.js';
import { adoptCluster, bootstrapCluster, makeRoomForClone } from './data-dir-actions.js';
import { memberPostgresAddress } from './member.js';
import type { ExecutorContext } from './executor-context.js';
import { SwitchoverSteps } from './switchover-steps.js';
import { START_TIMEOUT_MS, STOP_TIMEOUT_MS, type Action } from './types.js';

export type { ExecutorContext } from './executor-context.js';

const PROMOTE_TIMEOUT_MS = 30_000;


/** Actions the log does not report one by one: they run on every iteration or beside the loop. */
const QUIET_ACTIONS = new Set<Action['type']>(['confirmLeader', 'publishOptime', 'syncSlots', 'syncReplication', 'recordFailsafe', 'route']);

export class ActionExecutor {
  private readonly switchover: SwitchoverSteps;

  constructor(private readonly ctx: ExecutorContext) {
    this.switchover = new SwitchoverSteps(ctx, (mode) => this.stopPostgres(mode));
  }

  /** One action of the loop's decision; errors in a row are counted (memory.actionErrors) so the
   *  loop backs off from an action that keeps failing. */
  run(action: Action): Promise<boolean> {
    return this.execute(action, true);
  }

  /** An action of a reaction beside the loop (reactions.ts: the lease guard, routing): it does not
   *  wait for the loop and does not count towards the loop's back-off. */
  runBeside(action: Action): Promise<boolean> {
    return this.execute(action, false);
  }

  private async execute(action: Action, counted: boolean): Promise<boolean> {
    const { logger } = this.ctx;
    const started = this.ctx.io.clock.monotonic();
    try {
      const ok = await this.perform(action);
      if (counted) this.ctx.memory.actionErrors = 0;
      const ms = this.ctx.io.clock.monotonic() - started;
      if (!QUIET_ACTIONS.has(action.type)) {
        logger.info(`action ${action.type} ${ok ? 'done' : 'did not succeed'}`, { action: action.type, ms });
      }
      return ok;
    } catch (error) {
      if (counted) this.ctx.memory.actionErrors = (this.ctx.memory.actionErrors ?? 0) + 1;
      logger.error(`action ${action.type} failed: ${(error as Error).message}`, { action: action.type, ms: this.ctx.io.clock.monotonic() - started });
      return false;
    }
  }

  private replicaRole(leader: Member | null): StartRole {
    const { dynamic } = this.ctx.current();
    const role: StartRole = {
      role: 'replica',
      slotName: slotNameFor(this.ctx.config.name),
      clusterParameters: dynamic.postgresql.parameters,
    };
    if (leader) role.primary = { ...memberPostgresAddress(leader), applicationName: this.ctx.config.name };
    if (this.ctx.memory.restoredFromBackup) role.restoreFromArchive = true;
    return role;
  }

  /** One step of sync.ts's plan per call at most where order matters; the next iteration goes on. */
  private async syncReplication(replication: ReplicationRow[]): Promise<boolean> {
    const { dcs, pg, logger, config } = this.ctx;
    const { dynamic, cluster } = this.ctx.current();
    const steps = planSync({
      self: config.name,
      mode: dynamic.synchronous_mode === true,
      strict: dynamic.synchronous_mode_strict === true,
      key: cluster?.sync ?? null,
      names: await pg.synchronousStandbyNames(),
      replication,
      members: cluster?.members ?? [],
    });
    for (const step of steps) {
      if (step.writeKey) {
        if (!(await dcs.setSync(step.writeKey))) {
          logger.warn('sync key not written: this member no longer holds the leader key');
          return false;
        }
        logger.info(
          step.writeKey.sync_standby === null
            ? 'synchronous standby privilege revoked in the sync key (no automatic failover until one is confirmed)'
            : `synchronous standby is ${step.writeKey.sync_standby}: only it may take over automatically`,
          { sync_standby: step.writeKey.sync_standby },
        );
      }
      if (step.setNames !== undefined) await pg.setSynchronousStandbyNames(step.setNames);
    }
    return true;
  }

  private primaryRole(): StartRole {
    return { role: 'primary', clusterParameters: this.ctx.current().dynamic.postgresql.parameters };
  }

  private async perform(action: Action): Promise<boolean> {
    const { dcs, pg, memory, logger } = this.ctx;
    switch (action.type) {
      case 'bootstrap':
        return bootstrapCluster(this.ctx, (role) => this.writeConfig(role));
      case 'cancelBootstrap':
        await dcs.cancelInitialize();
        logger.warn('removed the bootstrap placeholder from the initialize key');
        return true;
      case 'adoptCluster':
        return adoptCluster(this.ctx, action.systemIdentifier);
      case 'clone':
        await this.ctx.touchMember('creating replica');
        return this.cloneFrom(action.source);
      case 'reinitialize':
        await this.stopPostgres('fast');
        // The operator's request is the consent the policy asks for: a hold ends here.
        pg.holdDataDir(null);
        memory.rewindFailedFrom = null;
        return this.recloneFrom(action.source, 'reinit');
      case 'recloneData':
        return this.recloneFrom(action.source, action.reason);
      case 'holdDataDir':
        pg.holdDataDir(action.hold);
        return true;
      case 'acquireLeader': {
        const won = await dcs.acquireLeader();
        if (!won) logger.info('another member acquired the leader key first');
        this.ctx.leaderKey(won);
        return won;
      }
      case 'confirmLeader': {
        const held = await dcs.confirmLeader();
        this.ctx.leaderKey(held);
        return held;
      }
      case 'releaseLeader':
        this.ctx.leaderKey(false);
        return dcs.releaseLeader();
      case 'promote':
        return this.promote();
      case 'startPrimary':
        // A failure is counted with its role: rule leader-start-failed then releases the key.
        await this.writeConfig(this.primaryRole());
        await this.startCounted('primary');
        this.ctx.setPrimary(true);
        return true;
      case 'startReplica':
        return this.startReplica(action.leader);
      case 'followLeader':
        await this.writeConfig(this.replicaRole(action.leader));
        await pg.reload();
        memory.followTarget = action.leader.name;
        memory.notStreamingSince = null;
        return true;
      case 'stop':
        await this.stopPostgres(action.mode);
        return true;
      case 'restart': {
        const primary = action.role === 'primary';
        await this.stopPostgres('fast');
        await this.writeConfig(primary ? this.primaryRole() : this.replicaRole(this.leaderMember()));
        await pg.start(START_TIMEOUT_MS);
        this.ctx.setPrimary(primary);
        return true;
      }
      case 'rewind':
        return this.rewind(action.source);
      case 'syncSlots':
        await pg.syncSlots(action.members);
        return true;
      case 'publishOptime': {
        const position = (await pg.status()).walPosition;
        if (position !== null && position !== memory.publishedOptime) {
          await dcs.setLeaderOptime(position);
          memory.publishedOptime = position;
        }
        return true;
      }
      case 'clearFailover':
        await dcs.clearFailover();
        return true;
      case 'recordFailsafe':
        if (!(await dcs.setFailsafe(action.members))) logger.warn('failsafe key not written: this member no longer holds the leader key');
        else logger.info(action.members === null ? 'failsafe key removed (failsafe_mode is off)' : 'failsafe key records who may race for the key', { members: action.members === null ? [] : Object.keys(action.members) });
        return true;
      case 'syncReplication':
        return this.syncReplication(action.replication);
      case 'prepareHandover':
        return this.switchover.prepareHandover(action.candidate);
      case 'stopForHandover':
        return this.switchover.stopForHandover(action.candidate);
      case 'confirmHandover':
        return this.switchover.confirmHandover(action.candidate);
      case 'handOverKey':
        return this.switchover.handOverKey(action.candidate);
      case 'finishStop':
        await this.finishStop();
        return true;
      case 'route':
        this.ctx.route?.(action.cluster);
        return true;
      case 'applyParameters':
        return this.applyParameters();
      case 'clearRequests':
        this.ctx.requests.restart = false;
        this.ctx.requests.reinitialize = false;
        return true;
    }
  }

  /** Every postgresql.conf governor writes goes through here, so the loop knows which cluster
   *  parameters PostgreSQL was last given. */
  private async writeConfig(role: StartRole): Promise<void> {
    await this.ctx.pg.writeConfig(role);
    this.ctx.memory.appliedParameters = { ...(role.clusterParameters ?? {}) };
  }

  /** Re-render postgresql.conf for the role PostgreSQL runs in now, and reload it. Parameters that
   *  need a restart show up as pending_restart in the next status query. */
  private async applyParameters(): Promise<boolean> {
    const { pg, memory } = this.ctx;
    const status = await pg.status();
    if (!status.accepting) return true;
    if (status.inRecovery === false) {
      await this.writeConfig(this.primaryRole());
    } else {
      const cluster = this.ctx.current().cluster;
      const target = cluster?.members.find((m) => m.name === memory.followTarget) ?? null;
      await this.writeConfig(this.replicaRole(target));
    }
    await pg.reload();
    return true;
  }

  /** Every stop governor makes goes through here, so the crash watch knows it was planned. */
  private async stopPostgres(mode: StopMode): Promise<void> {
    this.ctx.setPrimary(false);
    await this.ctx.pg.stop(mode, STOP_TIMEOUT_MS);
  }

  private async startReplica(leader: Member | null): Promise<boolean> {
    const { memory } = this.ctx;
    await this.writeConfig(this.replicaRole(leader));
    memory.followTarget = leader?.name ?? null;
    memory.cleanHandoffTo = null;
    await this.startCounted('replica');
    return true;
  }

  /** Start PostgreSQL as configured; a failure is counted (per role) and diagnosed from its log for
   *  the rules (as master: release the key; as replica: a data fault re-clones once, anything else
   *  never touches the data). A start that works ends whatever protocol stopped PostgreSQL. */
  private async startCounted(role: 'primary' | 'replica'): Promise<void> {
    const { pg, memory, logger } = this.ctx;
    try {
      await pg.start(START_TIMEOUT_MS);
    } catch (error) {
      const diagnosis = classifyStartFailure(await pg.logTail(40).catch(() => ''));
      // A failure in the other role starts the count again (unset role: counted as this one).
      const previous = memory.startFailures;
      const count = previous && (previous.role ?? role) === role ? previous.count + 1 : 1;
      memory.startFailures = { count, role, diagnosis };
      logger.error(`PostgreSQL failed to start as ${role === 'primary' ? 'master' : 'replica'} (${count} in a row): ${CAUSE_DESCRIPTIONS[diagnosis.cause]}${diagnosis.evidence ? ` (${diagnosis.evidence})` : ''}`, { cause: diagnosis.cause });
      throw error;
    }
    memory.startFailures = null;
    memory.reclonedAfterStartFailures = false;
    memory.handover = null;
    memory.rewindFailedFrom = null;
  }

  /** Clear the data directory the way policy allows (move aside, remove, or hold) and clone again. */
  private async recloneFrom(source: Member, reason: 'reinit' | 'start-failed' | 'rewind-failed'): Promise<boolean> {
    const { memory } = this.ctx;
    await this.ctx.touchMember('creating replica');
    if (!(await makeRoomForClone(this.ctx, reason, source))) return false;
    if (reason === 'start-failed') memory.reclonedAfterStartFailures = true;
    memory.startFailures = null;
    memory.rewindFailedFrom = null;
    return this.cloneFrom(source);
  }

  private leaderMember(): Member | null {
    const cluster = this.ctx.current().cluster;
    const name = cluster?.leader?.name;
    return cluster?.members.find((m) => m.name === name) ?? null;
  }

  private async cloneFrom(source: Member): Promise<boolean> {
    const { memory } = this.ctx;
    await this.createReplicaData(source);
    await this.writeConfig(this.replicaRole(source));
    memory.followTarget = source.name;
    memory.cleanHandoffTo = null;
    await this.startCounted('replica');
    return true;
  }

  /** Fill the empty data directory by the configured methods in order: the newest base backup in
   *  storage (then archived WAL, then streaming), or pg_basebackup from the master. A failed method
   *  leaves the directory as it found it (createDataDir removes only what it created). */
  private async createReplicaData(source: Member): Promise<void> {
    const { pg, config, logger } = this.ctx;
    const methods = config.archive?.enabled ? config.archive.create_replica_methods : ['basebackup' as const];
    let lastError: unknown = null;
    for (const method of methods) {
      try {
        let filled = false;
        await pg.createDataDir('clone', async () => {
          if (method === 'basebackup') {
            await pg.basebackup(memberPostgresAddress(source));
            this.ctx.memory.restoredFromBackup = false;
            filled = true;
          } else if (await this.ctx.restoreBackup?.(this.ctx.current().cluster?.initialize ?? null)) {
            this.ctx.memory.restoredFromBackup = true;
            filled = true;
          }
        });
        if (filled) return;
        logger.info('no base backup of this cluster in storage; trying the next replica creation method');
      } catch (error) {
        lastError = error;
        logger.warn(`replica creation by ${method} failed: ${(error as Error).message}`);
      }
    }
    throw lastError instanceof Error ? lastError : new Error(`no replica creation method succeeded (${methods.join(', ')})`);
  }

  private async promote(): Promise<boolean> {
    const { pg, dcs, config, memory, logger } = this.ctx;
    // No status query first: pg.promote checks recovery itself, and this runs inside the outage.
    const result = await pg.promote(PROMOTE_TIMEOUT_MS);
    this.ctx.setPrimary(true);
    if (!result.promoted) return true;
    memory.followTarget = null;
    memory.cleanHandoffTo = null;
    memory.handover = null;
    // Replicas wait for our member key to say "master" before they rewind against us: publish first.
    await this.ctx.touchMember();
    const after = await pg.status();
    const timeline = after.timeline;
    if (timeline !== null && timeline > 1) {
      const fork = await this.ctx.io.files.timelineSwitch(timeline);
      const history = [...(this.ctx.current().cluster?.history ?? [])];
      if (!history.some((row) => row[0] === (fork?.parentTimeline ?? timeline - 1))) {
        history.push([fork?.parentTimeline ?? timeline - 1, fork?.switchLsn ?? result.lsnBefore ?? 0, fork?.reason ?? 'promoted', new Date().toISOString(), config.name]);
        await dcs.setHistory(history).catch((error) => logger.warn(`could not record timeline history: ${(error as Error).message}`));
      }
    }
    return true;
  }

  /** pg_rewind from the master; a failure is recorded for rule rewind-failed (re-clone after moving
   *  the data aside): it may hold transactions the new master never received (safety rule 3). */
  private async rewind(source: Member): Promise<boolean> {
    const { pg, logger, memory } = this.ctx;
    const address = memberPostgresAddress(source);
    // Nothing destructive unless the source is up and already a primary: an unreachable or still
    // promoting source says nothing about our data, and re-cloning from it would fail anyway.
    const probe = await this.ctx.io.peers.probePostgres(source);
    if (!probe.reachable || probe.inRecovery !== false) {
      throw new Error(`cannot rewind from ${source.name} yet: ${probe.reachable ? 'it is still in recovery' : `unreachable (${probe.error})`}`);
    }
    await this.stopPostgres('fast');
    await this.ctx.touchMember('rewinding');
    if (await pg.rewind(address)) {
      memory.rewindFailedFrom = null;
      return true;
    }
    logger.warn(`pg_rewind from ${source.name} failed`);
    memory.rewindFailedFrom = source.name;
    return false;
  }

  /** Wait for the postmaster that a switchover asked to stop; stop it at once if it hangs. */
  private async finishStop(): Promise<void> {
    try {
      await this.stopPostgres('fast');
    } catch (error) {
      this.ctx.logger.warn(`PostgreSQL did not finish its shutdown: ${(error as Error).message}; stopping immediately`);
      await this.stopPostgres('immediate');
    }
  }
}
