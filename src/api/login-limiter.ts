// Failed REST logins, counted per source: after `maxFailures` within `windowMs` the source is
// refused (429) for `blockMs`, whatever it sends, so a password cannot be guessed at network speed.
// Pure (the clock is injected) and bounded: at most `maxSources` sources are remembered, so a flood
// from many addresses costs a fixed amount of memory (the least recently seen sources are forgotten
// first, which at worst lets a forgotten source start counting again).

export interface LoginLimiterOptions {
  maxFailures: number;
  windowMs: number;
  blockMs: number;
  maxSources: number;
  /** Monotonic milliseconds. */
  now: () => number;
}

export const DEFAULT_LOGIN_LIMITS = { maxFailures: 10, windowMs: 60_000, blockMs: 60_000, maxSources: 4096 } as const;

interface SourceState {
  windowStart: number;
  failures: number;
  blockedUntil: number;
}

export type FailureOutcome =
  /** Still allowed; `failures` within the current window. */
  | { blocked: false; failures: number }
  /** This failure crossed the limit: refused from now on until `retryAfterMs` has passed. */
  | { blocked: true; retryAfterMs: number };

/** The unit a limit applies to: an IPv4 address (also when mapped into IPv6), or an IPv6 /64 (one
 *  host usually has a whole /64 and could otherwise rotate through it). */
export function sourceKey(address: string | undefined): string {
  if (!address) return 'unknown';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (!address.includes(':')) return address;
  const [head = '', tail] = address.toLowerCase().split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? left : [...left, ...new Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right];
  return `${groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, '')).join(':')}::/64`;
}

export class LoginLimiter {
  private readonly sources = new Map<string, SourceState>();
  private readonly options: LoginLimiterOptions;

  constructor(options: Partial<LoginLimiterOptions> & Pick<LoginLimiterOptions, 'now'>) {
    this.options = { ...DEFAULT_LOGIN_LIMITS, ...options };
  }

  /** Sources remembered now (never more than maxSources). */
  get size(): number {
    return this.sources.size;
  }

  /** Milliseconds `source` is still refused for (0: it may try). */
  blockedFor(source: string): number {
    const state = this.sources.get(source);
    if (!state) return 0;
    return Math.max(0, state.blockedUntil - this.options.now());
  }

  recordFailure(source: string): FailureOutcome {
    const now = this.options.now();
    const { maxFailures, windowMs, blockMs } = this.options;
    let state = this.sources.get(source);
    if (state) this.sources.delete(source); // re-inserted below: Map order is least recently seen first
    if (!state || now - state.windowStart >= windowMs) state = { windowStart: now, failures: 0, blockedUntil: state?.blockedUntil ?? 0 };
    state.failures += 1;
    this.remember(source, state, now);
    if (state.blockedUntil > now) return { blocked: true, retryAfterMs: state.blockedUntil - now };
    if (state.failures >= maxFailures) {
      state.blockedUntil = now + blockMs;
      return { blocked: true, retryAfterMs: blockMs };
    }
    return { blocked: false, failures: state.failures };
  }

  /** A correct login: the source's count starts over (a block in force stays). */
  recordSuccess(source: string): void {
    const state = this.sources.get(source);
    if (state && state.blockedUntil <= this.options.now()) this.sources.delete(source);
  }

  private remember(source: string, state: SourceState, now: number): void {
    if (this.sources.size >= this.options.maxSources) this.forgetStale(now);
    while (this.sources.size >= this.options.maxSources) {
      const oldest = this.sources.keys().next().value as string;
      this.sources.delete(oldest);
    }
    this.sources.set(source, state);
  }

  /** Drop every source whose window and block are both over. */
  private forgetStale(now: number): void {
    for (const [source, state] of this.sources) {
      if (now - state.windowStart >= this.options.windowMs && state.blockedUntil <= now) this.sources.delete(source);
    }
  }
}
