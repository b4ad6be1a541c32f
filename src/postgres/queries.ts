// What governor asks its running PostgreSQL (and its control file): status, WAL position,
// replication slots, synchronous_standby_names, checkpoints, the archiver's counters. The SQL and
// the mapping of rows are status.ts and admin.ts; this runs them over the controller's session.

import fs from 'node:fs/promises';
import { controlDataFromSnapshot, parseControlData } from './controldata.js';
import type { ControllerContext } from './controller-context.js';
import { describeFailure } from './exec.js';
import { writeFileAtomic } from './files.js';
import { syncPhysicalSlots } from './admin.js';
import { parsePgControl } from './pg-control.js';
import { parseSyncConf, renderSyncConf, SYNC_CONF } from './render.js';
import { mapStatusRow, mapWalPositionRow, offlineStatus, STATUS_SQL, WAL_POSITION_SQL, type StatusRow, type WalPositionRow } from './status.js';
import type { ArchiverStatus, ControlData, PostgresController, PostgresStatus, WalPositionNow } from './types.js';

export type Queries = Pick<
  PostgresController,
  'controlData' | 'status' | 'walPosition' | 'checkpoint' | 'synchronousStandbyNames' | 'setSynchronousStandbyNames' | 'syncSlots' | 'archiverStatus'
>;

export function queries(ctx: ControllerContext): Queries {
  const { logger, dataDir, inData, session, owner, isRunning, directory } = ctx;

  /** PostgreSQL's own answer (the data directory's is added by status()). */
  const queryStatus = async (): Promise<PostgresStatus> => {
    let running = false;
    try {
      running = await isRunning();
      if (!running) return offlineStatus(false);
      const result = await session.query<StatusRow>(STATUS_SQL);
      const row = result.rows[0];
      return row ? mapStatusRow(row) : offlineStatus(true);
    } catch (err) {
      logger.debug('status query failed', { error: err });
      return offlineStatus(running);
    }
  };

  return {
    async controlData(): Promise<ControlData | null> {
      let file: Buffer;
      try {
        file = await fs.readFile(inData('global/pg_control'));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
        throw error;
      }
      // Read directly: a crashed master's restart waits on this, and pg_controldata is a process
      // spawned from a large one (50-150 ms here). A layout the parser does not know, or a torn
      // read, goes to pg_controldata.
      const snapshot = parsePgControl(file);
      if (snapshot) return controlDataFromSnapshot(snapshot);
      const result = await ctx.run('pg_controldata', ['-D', dataDir], { env: { LC_ALL: 'C' }, timeoutMs: 30_000 });
      if (result.code !== 0) throw new Error(describeFailure('pg_controldata', result));
      return parseControlData(result.stdout);
    },

    status: async () => directory.attachTo(await queryStatus()),

    async walPosition(): Promise<WalPositionNow | null> {
      try {
        const row = (await session.query<WalPositionRow>(WAL_POSITION_SQL)).rows[0];
        return row ? mapWalPositionRow(row) : null;
      } catch (err) {
        logger.debug('WAL position query failed', { error: err });
        return null;
      }
    },

    async checkpoint(): Promise<void> {
      await session.query('CHECKPOINT');
    },

    async synchronousStandbyNames(): Promise<string> {
      // The file is read once (an earlier daemon may have written it); after that only we change it.
      ctx.sync.names ??= parseSyncConf(await fs.readFile(inData(SYNC_CONF), 'utf8').catch(() => ''));
      return ctx.sync.names;
    },

    async setSynchronousStandbyNames(names: string): Promise<void> {
      await writeFileAtomic(inData(SYNC_CONF), renderSyncConf(names), await owner());
      ctx.sync.names = names;
      await session.query('SELECT pg_reload_conf()');
      logger.info('synchronous_standby_names set', { synchronous_standby_names: names });
    },

    async syncSlots(slotNames: string[]): Promise<void> {
      await syncPhysicalSlots((sql, params) => session.query(sql, params), slotNames, logger);
    },

    async archiverStatus(): Promise<ArchiverStatus | null> {
      if (!(await isRunning())) return null;
      try {
        const result = await session.query<{ archived_count: string; failed_count: string; last_archived_time: Date | null; last_failed_time: Date | null }>(
          'SELECT archived_count, failed_count, last_archived_time, last_failed_time FROM pg_stat_archiver',
        );
        const row = result.rows[0];
        if (!row) return null;
        const iso = (d: Date | null) => (d instanceof Date ? d.toISOString() : d);
        return {
          archivedCount: Number(row.archived_count),
          failedCount: Number(row.failed_count),
          lastArchivedAt: iso(row.last_archived_time),
          lastFailedAt: iso(row.last_failed_time),
        };
      } catch (err) {
        logger.debug('pg_stat_archiver query failed', { error: err });
        return null;
      }
    },
  };
}
