// The status query (one round trip), mapping its row to PostgresStatus, and a self-healing pg client.
import pg from 'pg';
import type { Logger } from '../log/logger.js';
import { SerialQueue } from '../util/serial-queue.js';
import { parseLsnOrNull, timelineFromWalFileName } from './lsn.js';
import type { PostgresStatus, ReplicationRow, WalPositionNow, WalReceiverStatus } from './types.js';

/** A replica's WAL position as an SQL expression: received and flushed, or replayed, whichever is
 *  further (walPosition below; a switchover's candidate and a promotion read it alone). */
export const REPLICA_WAL_POSITION_SQL = 'greatest(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())';

export const STATUS_SQL = `
SELECT
  pg_is_in_recovery() AS in_recovery,
  CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_lsn()::text END AS current_lsn,
  CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_walfile_name(pg_current_wal_lsn()) END AS current_walfile,
  pg_last_wal_receive_lsn()::text AS received_lsn,
  pg_last_wal_replay_lsn()::text AS replayed_lsn,
  (SELECT timeline_id FROM pg_control_checkpoint()) AS checkpoint_tli,
  (SELECT row_to_json(w) FROM (
     SELECT status, received_tli, sender_host, sender_port, flushed_lsn::text AS flushed_lsn
     FROM pg_stat_wal_receiver LIMIT 1) w) AS wal_receiver,
  (SELECT coalesce(json_agg(r), '[]'::json) FROM (
     SELECT application_name, client_addr::text AS client_addr, state, sent_lsn::text AS sent_lsn,
            write_lsn::text AS write_lsn, flush_lsn::text AS flush_lsn, replay_lsn::text AS replay_lsn, sync_state
     FROM pg_stat_replication ORDER BY application_name) r) AS replication,
  (SELECT system_identifier::text FROM pg_control_system()) AS system_identifier,
  pg_postmaster_start_time() AS postmaster_start_time,
  current_setting('server_version_num')::int AS server_version_num,
  (SELECT coalesce(bool_or(pending_restart), false) FROM pg_settings) AS pending_restart`;

/** Where WAL is now, and nothing else: what a peer's REST answer must give live (a switchover's
 *  handover check and the leader race compare it), at a fraction of STATUS_SQL's cost. */
export const WAL_POSITION_SQL = `
SELECT
  pg_is_in_recovery() AS in_recovery,
  CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_lsn()::text END AS current_lsn,
  pg_last_wal_receive_lsn()::text AS received_lsn,
  pg_last_wal_replay_lsn()::text AS replayed_lsn`;

export interface WalPositionRow {
  in_recovery: boolean;
  current_lsn: string | null;
  received_lsn: string | null;
  replayed_lsn: string | null;
}

/** Pure: WAL_POSITION_SQL's row; walPosition as in mapStatusRow (write position on a master,
 *  the further of received and replayed on a replica). */
export function mapWalPositionRow(row: WalPositionRow): WalPositionNow {
  const receivedLsn = parseLsnOrNull(row.received_lsn);
  const replayedLsn = parseLsnOrNull(row.replayed_lsn);
  const walPosition = !row.in_recovery && row.current_lsn !== null ? parseLsnOrNull(row.current_lsn) : maxOrNull(receivedLsn, replayedLsn);
  return { inRecovery: row.in_recovery, walPosition, receivedLsn, replayedLsn };
}

export interface StatusRow {
  in_recovery: boolean;
  current_lsn: string | null;
  current_walfile: string | null;
  received_lsn: string | null;
  replayed_lsn: string | null;
  checkpoint_tli: number | null;
  wal_receiver: {
    status: string;
    received_tli: number | null;
    sender_host: string | null;
    sender_port: number | null;
    flushed_lsn: string | null;
  } | null;
  replication: {
    application_name: string | null;
    client_addr: string | null;
    state: string | null;
    sent_lsn: string | null;
    write_lsn: string | null;
    flush_lsn: string | null;
    replay_lsn: string | null;
    sync_state: string | null;
  }[] | null;
  system_identifier: string | null;
  postmaster_start_time: Date | string | null;
  server_version_num: number | null;
  pending_restart: boolean | null;
}

export function offlineStatus(running: boolean): PostgresStatus {
  return {
    running,
    accepting: false,
    inRecovery: null,
    timeline: null,
    walPosition: null,
    receivedLsn: null,
    replayedLsn: null,
    walReceiver: null,
    replication: [],
    systemIdentifier: null,
    postmasterStartTime: null,
    serverVersion: null,
    pendingRestart: false,
  };
}

function maxOrNull(a: number | null, b: number | null): number | null {
  if (a === null) return b;
  if (b === null) return a;
  return Math.max(a, b);
}

/** Pure: the status row of a running server to PostgresStatus. */
export function mapStatusRow(row: StatusRow): PostgresStatus {
  const inRecovery = row.in_recovery;
  const receivedLsn = parseLsnOrNull(row.received_lsn);
  const replayedLsn = parseLsnOrNull(row.replayed_lsn);
  const w = row.wal_receiver;
  const walReceiver: WalReceiverStatus | null = w
    ? { status: w.status, senderHost: w.sender_host, senderPort: w.sender_port, receivedLsn: parseLsnOrNull(w.flushed_lsn) }
    : null;
  let timeline: number | null;
  let walPosition: number | null;
  if (!inRecovery && row.current_lsn !== null) {
    walPosition = parseLsnOrNull(row.current_lsn);
    timeline = row.current_walfile ? timelineFromWalFileName(row.current_walfile) : row.checkpoint_tli;
  } else {
    walPosition = maxOrNull(receivedLsn, replayedLsn);
    timeline = w?.received_tli ? w.received_tli : row.checkpoint_tli;
  }
  const replication: ReplicationRow[] = (row.replication ?? []).map((r) => ({
    applicationName: r.application_name ?? '',
    clientAddr: r.client_addr,
    state: r.state ?? '',
    sentLsn: parseLsnOrNull(r.sent_lsn),
    writeLsn: parseLsnOrNull(r.write_lsn),
    flushLsn: parseLsnOrNull(r.flush_lsn),
    replayLsn: parseLsnOrNull(r.replay_lsn),
    syncState: r.sync_state ?? '',
  }));
  const start = row.postmaster_start_time;
  return {
    running: true,
    accepting: true,
    inRecovery,
    timeline,
    walPosition,
    receivedLsn,
    replayedLsn,
    walReceiver,
    replication,
    systemIdentifier: row.system_identifier,
    postmasterStartTime: start instanceof Date ? start.toISOString() : start,
    serverVersion: row.server_version_num,
    pendingRestart: row.pending_restart === true,
  };
}

/** One persistent connection, reconnected on demand after any error; safe for concurrent callers:
 *  their queries run one after another (SerialQueue), never overlapping on the connection. */
export class SessionClient {
  private client: pg.Client | null = null;
  private connecting: Promise<pg.Client> | null = null;
  private readonly queue = new SerialQueue();

  constructor(private readonly options: pg.ClientConfig, private readonly logger: Logger) {}

  private discard(client: pg.Client): void {
    if (this.client === client) this.client = null;
    client.end().catch(() => undefined);
  }

  private connect(): Promise<pg.Client> {
    if (this.client) return Promise.resolve(this.client);
    if (!this.connecting) {
      this.connecting = (async () => {
        const client = new pg.Client(this.options);
        client.on('error', (err) => {
          this.logger.debug('PostgreSQL connection error', { error: err });
          this.discard(client);
        });
        try {
          await client.connect();
        } catch (err) {
          client.end().catch(() => undefined);
          throw err;
        }
        this.client = client;
        return client;
      })().finally(() => {
        this.connecting = null;
      });
    }
    return this.connecting;
  }

  /** Run a query once the queries before it finished (`urgent`: before the queued ones, for a
   *  promotion inside a write outage); a failure on a reused connection is retried once on a fresh one. */
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, params?: unknown[], options: { urgent?: boolean } = {}): Promise<pg.QueryResult<R>> {
    return this.queue.run(() => this.queryNow<R>(sql, params), options);
  }

  private async queryNow<R extends pg.QueryResultRow>(sql: string, params?: unknown[]): Promise<pg.QueryResult<R>> {
    const reused = this.client !== null;
    const client = await this.connect();
    try {
      return await client.query<R>(sql, params);
    } catch (err) {
      this.discard(client);
      // Only a connection that went stale (server restarted, socket closed) is worth a second try.
      const code = err instanceof pg.DatabaseError ? (err.code ?? '') : null;
      if (!reused || (code !== null && !code.startsWith('57P') && !code.startsWith('08'))) throw err;
      const fresh = await this.connect();
      try {
        return await fresh.query<R>(sql, params);
      } catch (err2) {
        this.discard(fresh);
        throw err2;
      }
    }
  }

  async close(): Promise<void> {
    const pending = this.connecting;
    this.connecting = null;
    if (pending) await pending.then((c) => this.discard(c), () => undefined);
    if (this.client) {
      const client = this.client;
      this.client = null;
      await client.end().catch(() => undefined);
    }
  }
}
