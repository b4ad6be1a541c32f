// Asks every member "are you writable?" (NOT pg_is_in_recovery()) every `intervalMs`, each over its
// own kept session, and records each round: the proof that there was never more than one writer.

import pg from 'pg';
import { monotonicMs, sleep } from '../../src/util/time.js';

export interface WritableRound {
  at: number; // monotonic ms the round started
  writable: string[];
  /** Members that did not answer this round (down, restarting, or slow). */
  silent: string[];
}

export class WritableWatch {
  readonly rounds: WritableRound[] = [];
  private running = false;
  private loop: Promise<void> | null = null;
  private readonly clients = new Map<string, pg.Client | null>();

  constructor(
    private readonly targets: Array<{ name: string; config: pg.ClientConfig }>,
    private readonly intervalMs = 50,
  ) {}

  start(): void {
    this.running = true;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
    for (const client of this.clients.values()) void client?.end().catch(() => undefined);
  }

  /** The rounds in which more than one member was writable. */
  dualWritable(): WritableRound[] {
    return this.rounds.filter((r) => r.writable.length > 1);
  }

  private async ask(target: { name: string; config: pg.ClientConfig }): Promise<boolean | null> {
    let client = this.clients.get(target.name) ?? null;
    try {
      if (!client) {
        client = new pg.Client({ ...target.config, connectionTimeoutMillis: 500, query_timeout: 500 });
        client.on('error', () => undefined);
        this.clients.set(target.name, client);
        await client.connect();
      }
      const result = await client.query<{ writable: boolean }>('SELECT NOT pg_is_in_recovery() AS writable');
      return result.rows[0]?.writable ?? null;
    } catch {
      void client?.end().catch(() => undefined);
      this.clients.set(target.name, null);
      return null;
    }
  }

  private async run(): Promise<void> {
    while (this.running) {
      const at = monotonicMs();
      const answers = await Promise.all(this.targets.map(async (t) => [t.name, await this.ask(t)] as const));
      this.rounds.push({
        at,
        writable: answers.filter(([, w]) => w === true).map(([n]) => n),
        silent: answers.filter(([, w]) => w === null).map(([n]) => n),
      });
      await sleep(Math.max(0, this.intervalMs - (monotonicMs() - at)));
    }
  }
}
