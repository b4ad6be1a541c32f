// The switchover's handover check: poll the candidate until it has WAL past the old master's
// shutdown checkpoint. Its PostgreSQL is asked over an open session while that works (one light
// query); its REST API (the full status query behind it) when that session cannot be had or fails.

import { monotonicMs, sleep } from '../util/time.js';
import type { Clock } from './io.js';

/** Somewhere to read the candidate's WAL position from; may throw. */
export interface WalPositionSource {
  position(): Promise<number | null>;
}

export interface HandoverCheck {
  confirmed: boolean;
  /** The last position the candidate reported (null: none). */
  lastSeen: number | null;
  /** Which source confirmed it. */
  via: 'postgres' | 'rest' | null;
}

export interface HandoverCheckOptions {
  timeoutMs: number;
  /** Poll intervals: the session query is cheap, the REST status is not. */
  directIntervalMs?: number;
  restIntervalMs?: number;
  /** Called once when the direct source fails and the check moves to REST. */
  onDirectFailure?: (error: Error) => void;
  /** The clock the deadline and the polling run on (default: the real one). */
  clock?: Pick<Clock, 'monotonic' | 'sleep'>;
}

export async function waitForWalPast(lsn: number, direct: WalPositionSource | null, rest: WalPositionSource, options: HandoverCheckOptions): Promise<HandoverCheck> {
  const clock = options.clock ?? { monotonic: monotonicMs, sleep };
  const deadline = clock.monotonic() + options.timeoutMs;
  let source = direct;
  let lastSeen: number | null = null;
  while (clock.monotonic() < deadline) {
    let position: number | null = null;
    let via: HandoverCheck['via'] = null;
    if (source) {
      try {
        position = await source.position();
        via = 'postgres';
      } catch (error) {
        options.onDirectFailure?.(error as Error);
        source = null;
      }
    }
    if (!source) {
      try {
        position = await rest.position();
        via = 'rest';
      } catch {
        // The candidate's API may be busy; keep asking until the deadline.
      }
    }
    lastSeen = position ?? lastSeen;
    if (position !== null && position > lsn) return { confirmed: true, lastSeen, via };
    await clock.sleep(source ? (options.directIntervalMs ?? 5) : (options.restIntervalMs ?? 20));
  }
  return { confirmed: false, lastSeen, via: null };
}
