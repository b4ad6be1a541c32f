// Can another member's PostgreSQL be reached as superuser right now? Asked before anything
// destructive (pg_rewind, re-cloning) so an unreachable source never costs us our data.

import pg from 'pg';
import type { Credentials } from '../config/types.js';
import type { HostPort } from './types.js';

export interface ProbeResult {
  reachable: boolean;
  inRecovery: boolean | null;
  error: string | null;
}

/**
 * Probe `source`; when it is a primary whose control file still names the timeline it had before
 * promotion (no checkpoint since), run CHECKPOINT there: pg_rewind reads the source's timeline from
 * its control file and would otherwise rewind against the old timeline.
 */
export async function probeServer(source: HostPort, superuser: Credentials, timeoutMs = 2000): Promise<ProbeResult> {
  const client = new pg.Client({
    host: source.host,
    port: source.port,
    user: superuser.username,
    password: superuser.password,
    database: 'postgres',
    connectionTimeoutMillis: timeoutMs,
    statement_timeout: timeoutMs,
    application_name: 'governor-probe',
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    const result = await client.query<{ in_recovery: boolean; checkpoint_timeline: number; current_timeline: number | null }>(
      `SELECT pg_is_in_recovery() AS in_recovery,
              (SELECT timeline_id FROM pg_control_checkpoint()) AS checkpoint_timeline,
              CASE WHEN pg_is_in_recovery() THEN NULL
                   ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int END AS current_timeline`,
    );
    const row = result.rows[0];
    if (row && row.in_recovery === false && row.current_timeline !== null && row.current_timeline !== row.checkpoint_timeline) {
      await client.query('CHECKPOINT');
    }
    return { reachable: true, inRecovery: row?.in_recovery ?? null, error: null };
  } catch (error) {
    return { reachable: false, inRecovery: null, error: (error as Error).message };
  } finally {
    await client.end().catch(() => undefined);
  }
}
