// Watches which members run PostgreSQL read-write: every `intervalMs` each member is asked
// `pg_is_in_recovery()` over its own connection (a hung member never delays the others), and every
// stretch of time in which two or more members answered "read-write" is recorded. Safety rule 1
// says there is none.

import pg from 'pg';
import { monotonicMs } from '../../src/util/time.js';
import { SessionLoops, type SessionSpec } from './session-loop.js';

export interface WritableTarget {
  name: string;
  config: pg.ClientConfig;
}

export interface DualWritable {
  /** Monotonic ms: the first poll round in which two members said read-write, and the last. */
  from: number;
  to: number;
  members: string[];
}

export class WritableMonitor extends SessionLoops<WritableTarget> {
  /** Per member, the monotonic time of its latest "read-write" answer (null: none yet). */
  private readonly writableAt = new Map<string, number | null>();
  /** Every answer, in the order they came. */
  readonly answers: Array<{ name: string; at: number; writable: boolean }> = [];
  /** Per member, every monotonic time it answered read-write (for reports). */
  readonly writableSeen = new Map<string, number[]>();
  readonly dual: DualWritable[] = [];

  constructor(targets: WritableTarget[], intervalMs = 50) {
    super(targets, intervalMs);
  }

  /** Milliseconds during which two or more members were seen read-write (each poll round counts
   *  as one interval long). */
  dualWritableMs(): number {
    return this.dual.reduce((sum, d) => sum + (d.to - d.from) + this.intervalMs, 0);
  }

  /** The last time `name` answered read-write, or null. */
  lastWritable(name: string): number | null {
    return this.writableSeen.get(name)?.at(-1) ?? null;
  }

  private record(name: string, writable: boolean, at: number): void {
    this.answers.push({ name, at, writable });
    this.writableAt.set(name, writable ? at : null);
    if (!writable) return;
    const seen = this.writableSeen.get(name) ?? [];
    seen.push(at);
    this.writableSeen.set(name, seen);
    // Two members whose read-write answers lie within one poll interval of each other were
    // writable at the same time (each answer holds for the moment it was given).
    const others = [...this.writableAt.entries()].filter(([other, t]) => other !== name && t !== null && at - t <= this.intervalMs);
    if (others.length === 0) return;
    const members = [name, ...others.map(([other]) => other)].sort();
    const last = this.dual.at(-1);
    if (last && at - last.to <= 2 * this.intervalMs && last.members.join() === members.join()) last.to = at;
    else this.dual.push({ from: at, to: at, members });
  }

  protected session(target: WritableTarget): SessionSpec {
    return {
      config: { ...target.config, connectionTimeoutMillis: 500, query_timeout: 500 },
      attempt: async (client) => {
        const { rows } = await client.query<{ recovery: boolean }>('SELECT pg_is_in_recovery() AS recovery');
        this.record(target.name, rows[0]?.recovery === false, monotonicMs());
      },
      // No answer counts as "not read-write"; the session is replaced after any error.
      onError: () => this.record(target.name, false, monotonicMs()),
    };
  }
}
