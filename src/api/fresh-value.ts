// A value fetched on demand, shared by every caller that asks while one fetch runs, and reused for
// `maxAgeMs` after that fetch started: however many requests ask at once, at most one fetch runs,
// and no answer is older than one fetch plus maxAgeMs.

export class FreshValue<T> {
  private cached: { at: number; value: T } | null = null;
  private running: Promise<T> | null = null;

  constructor(
    private readonly fetch: () => Promise<T>,
    private readonly maxAgeMs: number,
    /** Monotonic milliseconds. */
    private readonly now: () => number,
  ) {}

  get(): Promise<T> {
    if (this.cached && this.now() - this.cached.at <= this.maxAgeMs) return Promise.resolve(this.cached.value);
    if (this.running) return this.running;
    const at = this.now();
    const running = this.fetch().then((value) => {
      this.cached = { at, value };
      return value;
    });
    this.running = running;
    const clear = () => {
      if (this.running === running) this.running = null;
    };
    running.then(clear, clear);
    return running;
  }
}
