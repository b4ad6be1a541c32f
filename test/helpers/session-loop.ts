// One client's loop against one PostgreSQL, shared by the outage writer, the read-write monitor and
// the chaos writers: it keeps one session open as an application's pool would, replaces it when an
// error says it is gone, and paces its attempts every `intervalMs` (a slow attempt is not followed
// by a pause). Each target gets its own loop, so a hung member never delays the others.

import pg from 'pg';
import { monotonicMs, sleep } from '../../src/util/time.js';

/** After `error`, is the session still worth using? A refused statement (a read-only replica's
 *  SQLSTATE 25006) leaves it usable; a timeout, a reset, a shutdown (classes 08 and 57) or an error
 *  without a SQLSTATE does not. */
export function sessionSurvives(error: unknown): boolean {
  const code = (error as { code?: string }).code ?? '';
  return /^[0-9A-Z]{5}$/.test(code) && !/^(08|57)/.test(code);
}

export interface SessionLoop {
  /** The connection settings, with the loop's own timeouts already applied. */
  config: pg.ClientConfig;
  intervalMs: number;
  /** Read before every attempt: the loop ends (closing its session) once it returns false. */
  running: () => boolean;
  /** One attempt on the open session; a rejection counts as the attempt failing. */
  attempt: (client: pg.Client) => Promise<void>;
  /** Each notice the server sends on the session (e.g. a commit that stopped waiting for its standby). */
  onNotice?: (message: string) => void;
  /** Each failed attempt or connection, before the session is kept or dropped. */
  onError?: (error: unknown) => void;
  /** Keep the session after `error` (default: never). */
  keepSession?: (error: unknown) => boolean;
}

export async function runSessionLoop(loop: SessionLoop): Promise<void> {
  let client: pg.Client | null = null;
  while (loop.running()) {
    const started = monotonicMs();
    try {
      if (!client) {
        client = new pg.Client(loop.config);
        client.on('error', () => undefined);
        const onNotice = loop.onNotice;
        if (onNotice) client.on('notice', (notice) => onNotice(notice.message ?? ''));
        await client.connect();
      }
      await loop.attempt(client);
    } catch (error) {
      loop.onError?.(error);
      if (!loop.keepSession?.(error)) {
        // Not awaited: end() on a connection the server (or HAProxy) already cut can wait a long
        // time, and the loop must go on trying as a client's pool would.
        void client?.end().catch(() => undefined);
        client = null;
      }
    }
    await sleep(Math.max(0, loop.intervalMs - (monotonicMs() - started)));
  }
  await client?.end().catch(() => undefined);
}

/** What one loop of SessionLoops connects with and does: its pacing and lifetime are the group's. */
export type SessionSpec = Omit<SessionLoop, 'intervalMs' | 'running'>;

/** One session loop per target, started and stopped together: the outage writer, the read-write
 *  monitor and the chaos writers differ only in what one loop does (`session`). */
export abstract class SessionLoops<Target> {
  private running = false;
  private loops: Promise<void>[] = [];

  constructor(
    protected readonly targets: Target[],
    protected readonly intervalMs: number,
  ) {}

  start(): void {
    this.running = true;
    this.loops = this.targets.map((target) => runSessionLoop({ ...this.session(target), intervalMs: this.intervalMs, running: () => this.running }));
  }

  /** Ends every loop after its attempt in flight, which is answered (or fails) first. */
  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }

  /** What `target`'s loop connects with and does on each attempt. */
  protected abstract session(target: Target): SessionSpec;
}
