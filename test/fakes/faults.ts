// Fault injection by method name and call number, shared by the fake DCS and the fake PostgreSQL:
// a call can fail, hang until the test releases it, or run something first (a crash of the
// postmaster in the middle of a promotion, say). Every call is counted and recorded in order, so a
// table of protocol steps can name "the 2nd call of stopAtShutdownCheckpoint" as the step to break.

export interface FailPlan {
  /** Calls of this method to let through before the first failing one (default 0: the next). */
  after?: number;
  /** How many calls in a row fail (default 1). */
  times?: number;
  /** The error to throw (default: an Error naming the method and the call). */
  error?: (method: string, call: number) => Error;
  /** Run before the call fails (e.g. crash the postmaster); the call then throws. */
  before?: () => void | Promise<void>;
}

export interface HangPlan {
  /** Calls of this method to let through before the one that hangs (default 0: the next). */
  after?: number;
}

/** A call held until the test releases it. */
export interface Hang {
  /** Resolves once the held call has been reached. */
  readonly reached: Promise<void>;
  /** Whether the held call has been reached. */
  readonly isReached: boolean;
  /** Let the held call go on normally, or fail with `error`. */
  release(error?: Error): void;
}

interface PendingFailure extends Required<Pick<FailPlan, 'times'>> {
  at: number; // the call number (1-based) of the first failing call
  plan: FailPlan;
}

interface PendingHang {
  at: number;
  handle: Hang;
  hold: Promise<Error | undefined>;
  reachedNow: () => void;
}

export class Faults {
  /** Every call made, in order: method names. */
  readonly history: string[] = [];
  private readonly counts = new Map<string, number>();
  private readonly failures = new Map<string, PendingFailure[]>();
  private readonly hangs = new Map<string, PendingHang[]>();

  constructor(private readonly defaultError: (method: string, call: number) => Error) {}

  /** How many times `method` was called. */
  calls(method: string): number {
    return this.counts.get(method) ?? 0;
  }

  /** The next call(s) of `method` fail (see FailPlan). */
  failOn(method: string, plan: FailPlan = {}): void {
    const list = this.failures.get(method) ?? [];
    list.push({ at: this.calls(method) + (plan.after ?? 0) + 1, times: plan.times ?? 1, plan });
    this.failures.set(method, list);
  }

  /** The next call (after `plan.after` more) of `method` hangs until released. */
  hangOn(method: string, plan: HangPlan = {}): Hang {
    let reachedNow!: () => void;
    let releaseNow!: (error: Error | undefined) => void;
    let isReached = false;
    const reached = new Promise<void>((resolve) => (reachedNow = () => {
      isReached = true;
      resolve();
    }));
    const hold = new Promise<Error | undefined>((resolve) => (releaseNow = resolve));
    const handle: Hang = {
      reached,
      get isReached() {
        return isReached;
      },
      release: (error?: Error) => releaseNow(error),
    };
    const list = this.hangs.get(method) ?? [];
    list.push({ at: this.calls(method) + (plan.after ?? 0) + 1, handle, hold, reachedNow });
    this.hangs.set(method, list);
    return handle;
  }

  /** Forget every planned failure and hang that has not happened yet (held calls stay held). */
  clear(): void {
    this.failures.clear();
    this.hangs.clear();
  }

  /** Called first by every faked method: counts the call, then fails or holds it as planned. */
  async enter(method: string): Promise<void> {
    const call = this.calls(method) + 1;
    this.counts.set(method, call);
    this.history.push(method);
    const hangs = this.hangs.get(method) ?? [];
    const hang = hangs.find((h) => h.at === call);
    if (hang) {
      this.hangs.set(method, hangs.filter((h) => h !== hang));
      hang.reachedNow();
      const error = await hang.hold;
      if (error) throw error;
    }
    const failures = this.failures.get(method) ?? [];
    const failure = failures.find((f) => call >= f.at && call < f.at + f.times);
    if (failure) {
      if (call === failure.at + failure.times - 1) this.failures.set(method, failures.filter((f) => f !== failure));
      await failure.plan.before?.();
      throw (failure.plan.error ?? this.defaultError)(method, call);
    }
  }
}
