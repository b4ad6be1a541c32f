// The executor's steps that create, record or make way for a data directory: bootstrap (initdb
// into an empty directory, undone to exactly what it created if it fails), recording the cluster
// again from existing data (etcd lost `initialize`), and clearing the way for a clone (move aside,
// remove only where policy allows, or hold for the operator).

import type { Member } from '../dcs/types.js';
import { decideDisposal, type MoveAsideReason } from '../postgres/data-dir-policy.js';
import type { StartRole } from '../postgres/types.js';
import type { ExecutorContext } from './executor-context.js';
import { START_TIMEOUT_MS, STOP_TIMEOUT_MS } from './types.js';

/** initdb and start a new cluster, claim it in etcd. A failure before `initialize` holds the system
 *  identifier is undone: PostgreSQL stopped, keys released, and what initdb created removed. */
export async function bootstrapCluster(ctx: ExecutorContext, writeConfig: (role: StartRole) => Promise<void>): Promise<boolean> {
  const { dcs, pg, config, logger } = ctx;
  const state = await pg.dataDirState();
  if (state !== 'missing' && state !== 'empty' && state !== 'incomplete') {
    throw new Error(`not bootstrapping: ${config.postgresql.data_dir} is ${state} (the rules record or refuse it)`);
  }
  if (!(await dcs.raceInitialize())) {
    logger.info('another member is bootstrapping the cluster');
    return false;
  }
  try {
    await pg.createDataDir('bootstrap', async () => {
      try {
        await ctx.touchMember('bootstrapping');
        await pg.initdb();
        await writeConfig({ role: 'primary', clusterParameters: config.bootstrap.dcs.postgresql.parameters });
        await pg.start(START_TIMEOUT_MS);
        await pg.createRoles();
        if (!(await dcs.acquireLeader())) throw new Error('the leader key was taken during bootstrap');
        ctx.leaderKey(true);
        ctx.setPrimary(true);
        const status = await pg.status();
        if (!status.systemIdentifier) throw new Error('PostgreSQL did not report its system identifier after initdb');
        await dcs.setConfig(config.bootstrap.dcs, '0');
        await dcs.setHistory([]);
        // Last: from here on the cluster exists and nothing may undo it.
        await dcs.setInitialize(status.systemIdentifier);
        logger.info(`bootstrapped database system ${status.systemIdentifier}`);
      } catch (error) {
        logger.error(`bootstrap failed, undoing it so another attempt can start clean: ${(error as Error).message}`);
        ctx.setPrimary(false);
        await pg.stop('immediate', STOP_TIMEOUT_MS).catch(() => undefined);
        ctx.leaderKey(false);
        await dcs.releaseLeader().catch(() => false);
        if (await pg.isRunning()) {
          // Never remove the files of a live postmaster: leave the half-made cluster claimed by us.
          throw new Error(`${(error as Error).message}; PostgreSQL in ${config.postgresql.data_dir} could not be stopped, so the failed bootstrap was not undone: stop it and clear the directory`);
        }
        throw error;
      }
    });
  } catch (error) {
    if (!(await pg.isRunning())) await dcs.cancelInitialize().catch(() => undefined);
    throw error;
  }
  await ctx.touchMember();
  return true;
}

/** etcd lost `initialize` (and maybe `config`): record them again from this member's cluster. */
export async function adoptCluster(ctx: ExecutorContext, systemIdentifier: string): Promise<boolean> {
  const { dcs, logger } = ctx;
  if (!(await dcs.claimInitialize(systemIdentifier))) {
    logger.info('another member recorded the initialize key first');
    return false;
  }
  logger.warn(`recorded the initialize key again from this member's data: database system ${systemIdentifier}; nothing was re-initialized`);
  // The dynamic configuration in force here is the last one read from etcd.
  if (await dcs.setConfig(ctx.current().dynamic, '0')) logger.warn('the config key was missing too: wrote back the dynamic configuration in force on this member');
  return true;
}

/**
 * Make the data directory free for a clone from `source` after `trigger`: move it aside, or remove
 * it where policy allows (data-dir-policy.ts decideDisposal), or hold it for the operator. True when
 * the directory is free (missing or empty), false when it is held (nothing touched).
 */
export async function makeRoomForClone(ctx: ExecutorContext, trigger: MoveAsideReason, source: Member): Promise<boolean> {
  const { pg, config, logger } = ctx;
  const state = await pg.dataDirState();
  // Nothing to keep; a creation's own leftovers are cleared by the next creation.
  if (state === 'missing' || state === 'empty' || state === 'incomplete') return true;
  const control = state === 'initialized' ? await pg.controlData().catch(() => null) : null;
  const initialize = ctx.current().cluster?.initialize ?? null;
  const ofThisScope = Boolean(initialize) && control?.systemIdentifier === initialize;
  const room = await pg.dataDirRoom();
  const masterBytes = await ctx.io.peers.dataSize(source);
  const disposal = decideDisposal({
    trigger,
    dataDir: config.postgresql.data_dir,
    member: config.name,
    removeOnFailure: config.postgresql.remove_data_directory_on_rewind_failure === true,
    maxCopies: config.postgresql.max_moved_aside_copies ?? 2,
    copies: room.copies.length,
    freeBytes: room.freeBytes,
    masterBytes,
    ofThisScope,
  });
  // The numbers behind the decision; the step itself (move, removal, hold) logs what it did and why.
  logger.info(`data directory must make way for a clone (${trigger}): ${disposal.action}`, {
    trigger, free_bytes: room.freeBytes, master_bytes: masterBytes, copies: room.copies.map((c) => c.path),
  });
  if (disposal.action === 'hold') {
    pg.holdDataDir({ state: 'waiting for reinit', reason: disposal.reason });
    return false;
  }
  if (disposal.action === 'remove') {
    await pg.removeDataDir(disposal.reason);
    return true;
  }
  try {
    await pg.moveDataDirAside(trigger);
  } catch (error) {
    // A directory that cannot be renamed (a mount point) has no room to be kept either: the
    // operator's reinit is the consent to remove it, as with no space; nothing else is.
    const mountPoint = ['EBUSY', 'EXDEV'].includes((error as NodeJS.ErrnoException).code ?? '');
    if (trigger === 'reinit' && ofThisScope && mountPoint) {
      await pg.removeDataDir(`${(error as Error).message}: removed at the operator's request (governorctl reinit)`);
      return true;
    }
    pg.holdDataDir({ state: 'waiting for reinit', reason: `${trigger}: ${(error as Error).message}; PostgreSQL stays stopped and the directory untouched until "governorctl reinit ${config.name}"` });
    return false;
  }
  return true;
}
