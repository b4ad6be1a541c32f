// Sessions to another member's PostgreSQL as superuser: can it be reached right now (asked before
// anything destructive, pg_rewind or re-cloning, so an unreachable source never costs us our data),
// and how much WAL has it (a switchover's handover check).

import type { PostgresqlConfig } from '../config/types.js';
import { parseLsnOrNull } from './lsn.js';
import { connectPeer } from './peer-session.js';
import { REPLICA_WAL_POSITION_SQL } from './status.js';
import type { HostPort } from './types.js';

/** What a session to a peer needs from the configuration: the superuser, and how to connect
 *  (postgresql.ssl; postgresql.parameters.password_encryption for MD5). */
export type PeerConfig = Pick<PostgresqlConfig, 'authentication' | 'ssl' | 'parameters'>;

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
export async function probeServer(source: HostPort, pgc: PeerConfig, timeoutMs = 2000): Promise<ProbeResult> {
  let client: Awaited<ReturnType<typeof connectPeer>> | null = null;
  try {
    client = await connectPeer(source, pgc.authentication.superuser, pgc, { timeoutMs, applicationName: 'governor-probe' });
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
    await client?.end().catch(() => undefined);
  }
}

/** An open session to another member's PostgreSQL that reports how much WAL it has. */
export interface WalPositionProbe {
  /** The greater of the WAL received and flushed by its walreceiver and the WAL replayed. */
  position(): Promise<number | null>;
  close(): Promise<void>;
}

/**
 * Open a superuser session to `source` for repeated WAL-position reads. A switchover polls its
 * candidate this way: one light query on a session opened in advance, where the candidate's REST
 * status runs its full status query (40-80 ms per poll measured while a switchover loads the host).
 */
export async function openWalPositionProbe(source: HostPort, pgc: PeerConfig, timeoutMs = 1000): Promise<WalPositionProbe> {
  // Client side as well: a candidate cut off mid-query must not hold the handover past its deadline.
  const client = await connectPeer(source, pgc.authentication.superuser, pgc, {
    timeoutMs,
    applicationName: 'governor-handover',
    extra: { query_timeout: timeoutMs },
  });
  return {
    async position() {
      const result = await client.query<{ lsn: string | null }>(`SELECT ${REPLICA_WAL_POSITION_SQL}::text AS lsn`);
      return parseLsnOrNull(result.rows[0]?.lsn ?? null);
    },
    close: () => client.end().catch(() => undefined),
  };
}

/**
 * The size of `source`'s data as a clone copies it, in bytes: every database plus pg_wal. A data
 * directory is moved aside only when its file system has room for this beside it.
 */
export async function measureDataSize(source: HostPort, pgc: PeerConfig, timeoutMs = 5000): Promise<number> {
  let client: Awaited<ReturnType<typeof connectPeer>> | null = null;
  try {
    client = await connectPeer(source, pgc.authentication.superuser, pgc, { timeoutMs, applicationName: 'governor-size' });
    const result = await client.query<{ bytes: string }>(
      `SELECT ((SELECT coalesce(sum(pg_database_size(oid)), 0) FROM pg_database)
             + (SELECT coalesce(sum(size), 0) FROM pg_ls_waldir()))::text AS bytes`,
    );
    const bytes = Number(result.rows[0]?.bytes);
    if (!Number.isSafeInteger(bytes) || bytes < 0) throw new Error(`unexpected answer ${JSON.stringify(result.rows[0]?.bytes)}`);
    return bytes;
  } catch (error) {
    throw new Error(`cannot measure the data size of ${source.host}:${source.port} (needed before moving the data directory aside): ${(error as Error).message}`);
  } finally {
    await client?.end().catch(() => undefined);
  }
}
