// Starting, stopping, promoting and reloading the member's PostgreSQL. The postmaster itself is
// started, awaited and signalled by postmaster.ts (the runner restore uses too); this adds what a
// member needs around it: retries while a killed postmaster's processes exit, shutdown modes, the
// shutdown checkpoint a switchover hands over at, and a promotion that is over in milliseconds.

import fs from 'node:fs/promises';
import { redact } from '../log/logger.js';
import { sleep } from '../util/time.js';
import type { ControllerContext } from './controller-context.js';
import { describeFailure, type RunResult } from './exec.js';
import { readPostmasterPid, signalChildOf } from './files.js';
import { parseLsnOrNull } from './lsn.js';
import { parsePgControl } from './pg-control.js';
import { retireOldTimelineReady } from './provisioning.js';
import { REPLICA_WAL_POSITION_SQL } from './status.js';
import type { PostgresController, PostgresStatus, PromoteResult, StopMode } from './types.js';

/** Postmaster signals for pg_ctl's shutdown modes. */
const STOP_SIGNALS: Record<StopMode, NodeJS.Signals> = { smart: 'SIGTERM', fast: 'SIGINT', immediate: 'SIGQUIT' };

/** The promotion's queries (inside the write outage of every failover) go before queued ones on the shared session. */
const URGENT = { urgent: true } as const;

export type Lifecycle = Pick<
  PostgresController,
  'start' | 'stop' | 'stopAtShutdownCheckpoint' | 'reload' | 'promote' | 'isRunning' | 'logTail' | 'close'
>;

export function lifecycle(ctx: ControllerContext, status: () => Promise<PostgresStatus>): Lifecycle {
  const { logger, dataDir, logFile, inData, session, postmaster, isRunning } = ctx;

  const pgCtlFailure = async (what: string, result: RunResult, program = 'pg_ctl'): Promise<Error> => {
    const tail = redact(await postmaster.logTail(20));
    return new Error(`${what}: ${describeFailure(program, result)}${tail ? `\nlast lines of ${logFile}:\n${tail}` : ''}`);
  };

  /** Ask the running postmaster to stop in `mode`; false when none runs. Our own session goes
   *  first: a smart shutdown would wait for it. */
  async function signalPostmaster(mode: StopMode): Promise<boolean> {
    await session.close();
    const pid = await postmaster.runningPid();
    if (pid === null) return false;
    // Gone since (ESRCH) counts as signalled: the wait that follows sees it gone.
    postmaster.signal(pid, STOP_SIGNALS[mode]);
    return true;
  }

  return {
    isRunning,

    async start(timeoutMs: number): Promise<void> {
      const deadline = Date.now() + timeoutMs;
      if (await isRunning()) {
        logger.info('PostgreSQL is already running; waiting until it accepts connections');
        while (Date.now() < deadline) {
          if ((await status()).accepting) return;
          await sleep(200);
        }
        throw new Error(`PostgreSQL is running but did not accept connections within ${timeoutMs} ms`);
      }
      await ctx.prepareDirs();
      await postmaster.prepareLog();
      // Backends of a killed postmaster take a moment to notice and exit; until then PostgreSQL
      // refuses to start on their shared memory. Those refusals are retried, anything else is not.
      for (;;) {
        await ctx.removeStalePidFile();
        const started = await postmaster.spawn();
        // A 20 ms poll: pg_ctl -w would only look every 100 ms.
        const exit = await postmaster.waitUntilReady(started, async () => (await status()).accepting, {
          deadline, pollMs: 20, timeoutMessage: `PostgreSQL did not accept connections within ${timeoutMs} ms`, tailLines: 20,
        });
        if (!exit) break;
        const failure: RunResult = { ...exit, stdout: '', stderr: '', timedOut: false };
        const recent = await postmaster.logTail(5);
        const transient = /pre-existing shared memory block|lock file "[^"]*" already exists/.test(recent);
        if (!transient || Date.now() + 50 > deadline) throw await pgCtlFailure('PostgreSQL failed to start', failure, 'postgres');
        logger.info('PostgreSQL refused to start while the processes of its previous postmaster exit; retrying');
        await sleep(50);
      }
      logger.info('PostgreSQL started', { dataDir });
    },

    async stop(mode: StopMode, timeoutMs: number): Promise<void> {
      // Signal the postmaster directly and poll every 10 ms: pg_ctl -w only looks every 100 ms,
      // and a switchover's write outage is counted in those milliseconds.
      if (!(await signalPostmaster(mode))) return;
      if (await postmaster.waitUntilGone(async () => !(await isRunning()), timeoutMs, 10)) {
        logger.info('PostgreSQL stopped', { mode });
        return;
      }
      throw await postmaster.failure(`PostgreSQL did not stop within ${timeoutMs} ms (mode ${mode})`, 20);
    },

    async stopAtShutdownCheckpoint(timeoutMs: number): Promise<{ checkpointLsn: number } | null> {
      if (!(await signalPostmaster('fast'))) return null;
      const readControl = async () => parsePgControl(await fs.readFile(inData('global/pg_control')).catch(() => Buffer.alloc(0)));
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        const control = await readControl();
        if (control?.state === 'shut down') {
          logger.info('shutdown checkpoint written', { lsn: control.checkpointLsn });
          return { checkpointLsn: control.checkpointLsn };
        }
        if (!(await isRunning())) {
          // It may have written the checkpoint and exited since the read above: look once more.
          const last = await readControl();
          if (last?.state === 'shut down') return { checkpointLsn: last.checkpointLsn };
          // Gone without a clean shutdown checkpoint (crashed, or killed): nothing to hand over.
          throw new Error(`PostgreSQL exited during the fast shutdown (pg_control: ${last?.state ?? 'unreadable'})`);
        }
        await sleep(5);
      }
      throw await postmaster.failure(`PostgreSQL wrote no shutdown checkpoint within ${timeoutMs} ms`, 20);
    },

    async reload(): Promise<void> {
      const result = await ctx.run('pg_ctl', ['reload', '-D', dataDir], { timeoutMs: 30_000 });
      if (result.code !== 0) throw await pgCtlFailure('PostgreSQL reload failed', result);
    },

    async promote(timeoutMs: number): Promise<PromoteResult> {
      // pg_promote() over our session instead of pg_ctl: no process to spawn. Only light queries on
      // this path: it is inside the write outage of every failover, and the full status query every
      // 10 ms took CPU from the promoting PostgreSQL on a small machine.
      const before = await session.query<{ in_recovery: boolean; lsn: string | null }>(
        `SELECT pg_is_in_recovery() AS in_recovery, ${REPLICA_WAL_POSITION_SQL}::text AS lsn`,
        undefined,
        URGENT,
      );
      const lsnBefore = parseLsnOrNull(before.rows[0]?.lsn ?? null);
      if (before.rows[0]?.in_recovery === false) {
        logger.info('promote: PostgreSQL is already out of recovery');
        return { promoted: false, lsnBefore: null };
      }
      // Never in the way of a promotion: at worst archiving meets that segment later, loudly.
      await retireOldTimelineReady(ctx).catch((error: Error) => logger.warn(`could not mark old-timeline WAL before promotion: ${error.message}`));
      await session.query('SELECT pg_promote(wait => false)', undefined, URGENT);
      // The startup process can take the promote request and then sleep out the rest of
      // wal_retrieve_retry_interval before acting on it (its walreceiver had just failed to reach
      // the master that is gone): 150-200 ms of a switchover's outage in traces. SIGUSR2, the
      // signal the postmaster sends it for pg_promote, sets its latch again and ends that sleep;
      // once the request is taken a repeated one changes nothing else.
      const startup = await session.query<{ pid: number }>("SELECT pid FROM pg_stat_activity WHERE backend_type = 'startup'", undefined, URGENT).catch(() => null);
      const startupPid = startup?.rows[0]?.pid ?? null;
      const postmasterPid = await readPostmasterPid(inData('postmaster.pid'));
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        try {
          const result = await session.query<{ in_recovery: boolean }>('SELECT pg_is_in_recovery() AS in_recovery', undefined, URGENT);
          if (result.rows[0]?.in_recovery === false) {
            logger.info('PostgreSQL promoted');
            return { promoted: true, lsnBefore };
          }
        } catch (error) {
          logger.debug('recovery check failed while promoting', { error });
        }
        if (startupPid !== null && postmasterPid !== null) await signalChildOf(startupPid, postmasterPid, 'SIGUSR2');
        await sleep(10);
      }
      throw await postmaster.failure(`PostgreSQL was asked to promote but is still in recovery after ${timeoutMs} ms`, 20);
    },

    async logTail(lines: number): Promise<string> {
      return redact(await postmaster.logTail(lines));
    },

    async close(): Promise<void> {
      await session.close();
    },
  };
}
