// Lease renewal and the lease guard: the two timers behind safety rule 1 ("one writer").
// They run beside the HA loop, so a long action (a base backup, a slow start) never delays a renewal,
// and a master whose renewals stop being confirmed demotes itself before etcd can expire its key.

import type { Dcs } from '../dcs/types.js';
import type { Logger } from '../log/logger.js';
import { monotonicMs } from '../util/time.js';
import { LEASE_SAFETY_MARGIN_MS } from './types.js';

export interface LeaseKeeperOptions {
  dcs: Dcs;
  logger: Logger;
  /** Current ttl and loop_wait in seconds (they can change with the dynamic config). */
  timing: () => { ttl: number; loopWait: number };
  /** Called when the lease guard fires; must stop PostgreSQL from accepting writes at once. */
  demote: (reason: string) => Promise<void>;
  /** Whether PostgreSQL runs read-write here right now. */
  isPrimary: () => boolean;
  /** Called after every renewal etcd confirmed. */
  onRenewed?: () => void;
}

export class LeaseKeeper {
  /** Monotonic ms at which the last renewal that etcd confirmed was sent. */
  lastRenewal: number | null = null;
  private renewTimer: NodeJS.Timeout | null = null;
  private guardTimer: NodeJS.Timeout | null = null;
  private renewing = false;
  private demoting = false;
  private failingSince: number | null = null;

  constructor(private readonly options: LeaseKeeperOptions) {}

  start(): void {
    this.scheduleRenewal(0);
    this.guardTimer = setInterval(() => void this.guard(), 100);
  }

  stop(): void {
    if (this.renewTimer) clearTimeout(this.renewTimer);
    if (this.guardTimer) clearInterval(this.guardTimer);
    this.renewTimer = null;
    this.guardTimer = null;
  }

  /** Milliseconds until a master must have demoted, counted from the last confirmed renewal. */
  remainingMs(now = monotonicMs()): number {
    if (this.lastRenewal === null) return -1;
    return this.lastRenewal + this.options.timing().ttl * 1000 - LEASE_SAFETY_MARGIN_MS - now;
  }

  private scheduleRenewal(delayMs: number): void {
    this.renewTimer = setTimeout(() => void this.renew(), delayMs);
  }

  async renew(): Promise<void> {
    if (this.renewing) return;
    this.renewing = true;
    const { dcs, logger, timing } = this.options;
    try {
      const result = await dcs.renewLease();
      // A freshly granted lease is valid from the moment we asked for it, like a renewed one.
      this.lastRenewal = result.sentAt;
      this.options.onRenewed?.();
      if (!result.renewed) logger.warn('lease had expired: granted a new one (keys on the old lease are gone)');
      if (this.failingSince !== null) {
        logger.info(`lease renewal works again after ${((monotonicMs() - this.failingSince) / 1000).toFixed(1)} s`);
        this.failingSince = null;
      }
    } catch (error) {
      if (this.failingSince === null) {
        this.failingSince = monotonicMs();
        logger.warn(`lease renewal failed: ${(error as Error).message}`);
      }
    } finally {
      this.renewing = false;
      if (this.guardTimer) this.scheduleRenewal(timing().loopWait * 1000);
    }
  }

  private async guard(): Promise<void> {
    if (this.demoting || !this.options.isPrimary()) return;
    const remaining = this.remainingMs();
    if (remaining > 0) return;
    this.demoting = true;
    const since = this.lastRenewal === null ? 'never renewed' : `no confirmed renewal for ${((monotonicMs() - this.lastRenewal) / 1000).toFixed(1)} s`;
    const reason = `etcd lease ${since} (ttl ${this.options.timing().ttl} s): demoting before the leader key can expire, to protect against split brain`;
    this.options.logger.error(reason);
    try {
      await this.options.demote(reason);
    } finally {
      this.demoting = false;
    }
  }
}
