// A client that tries an INSERT on every member every `intervalMs`, each member on its own
// connection and loop (a hung member never delays the others), and records which member
// acknowledged which write when. The write outage is the longest gap between acknowledged writes.

import pg from 'pg';
import { monotonicMs } from '../../src/util/time.js';
import { SessionLoops, sessionSurvives, type SessionSpec } from './session-loop.js';

export interface Ack {
  at: number; // monotonic ms when the acknowledgement arrived
  node: string;
  id: number;
  /** Port of the PostgreSQL that acknowledged it (inet_server_port()): tells the backend behind a proxy. */
  serverPort: number;
}

export interface WriterTarget {
  name: string;
  config: pg.ClientConfig;
}

/** PostgreSQL's warning when a commit stopped waiting for its synchronous standby (statement_timeout,
 *  cancel): the client sees success, but the commit may exist on the master alone. */
export function isUnreplicatedCommitNotice(message: string): boolean {
  return /canceling wait for synchronous replication/i.test(message);
}

export class OutageWriter extends SessionLoops<WriterTarget> {
  readonly acks: Ack[] = [];
  /** Writes PostgreSQL reported committed locally only (see isUnreplicatedCommitNotice): not
   *  acknowledgements in the sense synchronous_mode promises to keep. */
  readonly unreplicated: Ack[] = [];
  /** Unique across writers on the same table (each benchmark run starts a new writer): a restart
   *  from 1 would collide with the rows of earlier runs and read as an outage. */
  private nextId = Date.now() * 1000;

  constructor(targets: WriterTarget[], intervalMs = 20) {
    super(targets, intervalMs);
  }

  static async prepare(target: WriterTarget): Promise<void> {
    const client = new pg.Client(target.config);
    await client.connect();
    await client.query('CREATE TABLE IF NOT EXISTS outage_probe (id bigint PRIMARY KEY, node text NOT NULL, at timestamptz NOT NULL DEFAULT now())');
    await client.end();
  }

  protected session(target: WriterTarget): SessionSpec {
    let unreplicated = false;
    return {
      config: { ...target.config, connectionTimeoutMillis: 500, statement_timeout: 500, query_timeout: 1000 },
      onNotice: (message) => {
        if (isUnreplicatedCommitNotice(message)) unreplicated = true;
      },
      // A refused write on a replica leaves the session usable: keep it, as an application's pool
      // would, instead of paying a new connection every 20 ms.
      keepSession: sessionSurvives,
      attempt: async (client) => {
        const id = this.nextId++;
        unreplicated = false;
        const result = await client.query<{ port: number }>('INSERT INTO outage_probe (id, node) VALUES ($1, $2) RETURNING inet_server_port() AS port', [id, target.name]);
        const ack = { at: monotonicMs(), node: target.name, id, serverPort: Number(result.rows[0]?.port) };
        (unreplicated ? this.unreplicated : this.acks).push(ack);
      },
    };
  }

  /** Longest interval without any acknowledged write, within [from, to] (monotonic ms). `counts`
   *  leaves out acknowledgements that do not count (a partitioned master's, which are lost). */
  longestGap(from: number, to: number, counts: (ack: Ack) => boolean = () => true): { ms: number; start: number; end: number } {
    const times = this.acks.filter(counts).map((a) => a.at).filter((t) => t >= from && t <= to).sort((a, b) => a - b);
    let best = { ms: 0, start: from, end: from };
    let previous = from;
    for (const t of [...times, to]) {
      if (t - previous > best.ms) best = { ms: t - previous, start: previous, end: t };
      previous = t;
    }
    return best;
  }

  /** Members that acknowledged writes in [from, to]. */
  writersBetween(from: number, to: number): Set<string> {
    return new Set(this.acks.filter((a) => a.at >= from && a.at <= to).map((a) => a.node));
  }
}
