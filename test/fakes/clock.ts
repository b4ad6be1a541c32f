// A clock the test moves by hand: monotonic milliseconds for lease arithmetic and wall-clock
// milliseconds for times other members wrote (scheduled_at). Nothing in it moves by itself, so a
// scenario runs the same way on a loaded machine as on an idle one.

import type { Clock } from '../../src/ha/io.js';

export class FakeClock implements Clock {
  private monotonicMs: number;
  private wallMs: number;

  /** Monotonic time starts well above 0 (as process.hrtime does) so "0" and "never" stay apart;
   *  wall time starts at the real time, because decide() still reads the real wall clock for
   *  scheduled switchovers (a seam the lead is adding). */
  constructor(start: { monotonic?: number; wall?: number } = {}) {
    this.monotonicMs = start.monotonic ?? 1_000_000;
    this.wallMs = start.wall ?? Date.now();
  }

  // Arrow properties: LeaseKeeper and HaLoop take `clock.monotonic` unbound.
  readonly monotonic = (): number => this.monotonicMs;
  readonly wall = (): number => this.wallMs;

  /** Sleepers wake when advance() moves the clock past their time (never by themselves): a wait
   *  inside an action (the switchover's handover check) takes fake time, not real time. */
  private sleepers: Array<{ at: number; wake: () => void }> = [];
  readonly sleep = (ms: number): Promise<void> =>
    new Promise((wake) => {
      this.sleepers.push({ at: this.monotonicMs + Math.max(0, ms), wake });
    });

  advance(ms: number): void {
    if (!(ms >= 0)) throw new RangeError(`a fake clock only moves forward (asked to move ${ms} ms)`);
    this.monotonicMs += ms;
    this.wallMs += ms;
    const due = this.sleepers.filter((s) => s.at <= this.monotonicMs);
    this.sleepers = this.sleepers.filter((s) => s.at > this.monotonicMs);
    for (const sleeper of due) sleeper.wake();
  }
}
