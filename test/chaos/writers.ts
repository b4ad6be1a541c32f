// The chaos run's clients: one loop per target (a member's PostgreSQL directly, or a member's HAProxy
// write port), each inserting unique ids into chaos_writes with short timeouts and recording every
// attempt for the history checker: when it was sent, when (if ever) it was acknowledged, which
// member acknowledged it and on which timeline. Sessions are kept and replaced as the outage
// writer's are (test/helpers/session-loop.ts).

import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { SessionLoops, sessionSurvives, type SessionSpec } from '../helpers/session-loop.js';
import type { WriteAttempt } from './history.js';

export const TABLE = 'chaos_writes';

export interface ChaosTarget {
  /** "direct-node1", "haproxy-node1". */
  client: string;
  /** "node1" or "haproxy:node1". */
  target: string;
  config: pg.ClientConfig;
}

/** Which member a connection reached, from the server's address and port (inet_server_addr/port). */
export type MemberOf = (address: string | null, port: number) => string | null;

// One statement, so the timeline is read in the transaction that commits the row: PostgreSQL 15
// names pg_walfile_name() with the WAL insert timeline, the timeline this commit is written on.
const INSERT = `INSERT INTO ${TABLE} (id, client) VALUES ($1, $2)
  RETURNING host(inet_server_addr()) AS address, inet_server_port() AS port, pg_walfile_name(pg_current_wal_lsn()) AS walfile`;

const SYNC_CANCEL = /canceling wait for synchronous replication/i;

export class ChaosWriters extends SessionLoops<ChaosTarget> {
  readonly attempts: WriteAttempt[] = [];
  /** Acknowledged writes whose session got PostgreSQL's "canceling wait for synchronous replication"
   *  warning (committed locally, maybe not replicated). Nothing here cancels statements (no
   *  statement_timeout), so this should stay 0; it is counted, never dropped from the history. */
  syncCancelWarnings = 0;
  /** Acknowledgements that could not be attributed to a member (each fails the run). */
  readonly anomalies: string[] = [];
  private nextId = 1;

  constructor(
    targets: ChaosTarget[],
    private readonly memberOf: MemberOf,
    intervalMs = 25,
  ) {
    super(targets, intervalMs);
  }

  static async createTable(config: pg.ClientConfig): Promise<void> {
    const client = new pg.Client(config);
    client.on('error', () => undefined);
    await client.connect();
    try {
      await client.query(`CREATE TABLE IF NOT EXISTS ${TABLE} (id bigint PRIMARY KEY, client text NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp())`);
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  get acked(): number {
    return this.attempts.filter((a) => a.ackedAt !== null).length;
  }

  protected session(target: ChaosTarget): SessionSpec {
    let warned = false;
    return {
      // Client-side timeouts only: a server statement_timeout that fires while a commit waits for
      // the synchronous standby returns success with a warning, an acknowledgement nobody backs.
      config: { ...target.config, connectionTimeoutMillis: 1000, query_timeout: 3000, statement_timeout: 0 },
      onNotice: (message) => {
        if (SYNC_CANCEL.test(message)) warned = true;
      },
      // A refused statement (read-only replica) keeps the session; anything else gets a new one.
      keepSession: sessionSurvives,
      attempt: (client) =>
        this.attempt(client, target, () => {
          const was = warned;
          warned = false;
          return was;
        }),
    };
  }

  private async attempt(client: pg.Client, target: ChaosTarget, takeWarning: () => boolean): Promise<void> {
    const record: WriteAttempt = { client: target.client, id: this.nextId++, target: target.target, sentAt: performance.now(), ackedAt: null, member: null, timeline: null };
    this.attempts.push(record);
    takeWarning();
    const result = await client.query<{ address: string | null; port: number; walfile: string }>(INSERT, [record.id, target.client]);
    const ackedAt = performance.now();
    const row = result.rows[0];
    const member = row ? this.memberOf(row.address, Number(row.port)) : null;
    const timeline = row ? parseInt(row.walfile.slice(0, 8), 16) : NaN;
    if (!row || member === null || !Number.isInteger(timeline)) {
      // Committed, but we cannot say where: the history would be unjudgeable, so the run fails.
      this.anomalies.push(`unattributable acknowledgement of id ${record.id} via ${target.target}: ${JSON.stringify(row)}`);
      return;
    }
    record.ackedAt = ackedAt;
    record.member = member;
    record.timeline = timeline;
    if (takeWarning()) this.syncCancelWarnings++;
  }
}
