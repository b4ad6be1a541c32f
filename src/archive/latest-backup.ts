// When the newest base backup finished, for /metrics: listing S3 on every scrape would cost a
// LIST request per scrape per member, so the answer is cached and refreshed in the background at
// most every `refreshMs`. A scheduled backup this daemon took updates it at once.

export interface LatestBackupOptions {
  /** Finish times of the complete backups in storage (a listing). */
  list: () => Promise<Date[]>;
  refreshMs: number;
  /** How long a scrape waits for a refresh in flight before it answers with what it has. */
  waitMs: number;
  now?: () => number;
  onError?: (error: Error) => void;
}

export class LatestBackupTracker {
  private latest: Date | null = null;
  private refreshedAt: number | null = null;
  private refreshing: Promise<void> | null = null;
  private notedDuringRefresh: Date | null = null;
  private readonly now: () => number;

  constructor(private readonly options: LatestBackupOptions) {
    this.now = options.now ?? Date.now;
  }

  /** A backup finished (this daemon's scheduler took it). */
  note(finishedAt: Date): void {
    if (!this.latest || finishedAt > this.latest) this.latest = finishedAt;
    if (this.refreshing) this.notedDuringRefresh = finishedAt;
  }

  /** The newest finish time known; starts a refresh when the cached one is stale and waits for
   *  it at most waitMs. */
  async get(): Promise<Date | null> {
    const stale = this.refreshedAt === null || this.now() - this.refreshedAt >= this.options.refreshMs;
    if (stale && !this.refreshing) {
      this.refreshing = this.refresh().finally(() => {
        this.refreshing = null;
      });
    }
    if (this.refreshing) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, this.options.waitMs);
      });
      await Promise.race([this.refreshing, timeout]);
      clearTimeout(timer);
    }
    return this.latest;
  }

  private async refresh(): Promise<void> {
    // Counted from the start, so a failing storage is asked again after refreshMs, not at once.
    this.refreshedAt = this.now();
    this.notedDuringRefresh = null;
    try {
      const times = await this.options.list();
      const newest = latestOf([...times, ...(this.notedDuringRefresh ? [this.notedDuringRefresh] : [])]);
      // The listing is the truth (retention may have deleted what we knew), except for a backup
      // noted while it ran, which it may not show yet.
      this.latest = newest;
    } catch (error) {
      this.options.onError?.(error as Error);
    }
  }
}

function latestOf(times: Date[]): Date | null {
  return times.reduce<Date | null>((max, t) => (max === null || t > max ? t : max), null);
}
