// Lease renewal and the lease guard: the two timers behind safety rule 1 ("one writer").
// They run beside the HA loop, so a long action (a base backup, a slow start) never delays a renewal,
// and a master whose renewals stop being confirmed demotes itself before etcd can expire its key,
// or at once when its peers do not confirm it either (failsafe.ts decides; this class does the I/O).

import type { Dcs } from '../dcs/types.js';
import type { Logger } from '../log/logger.js';
import { monotonicMs } from '../util/time.js';
import { guardReactions, react } from './reactions.js';
import type { Decision } from './types.js';
import { allConfirmed, ETCD_HEARTBEAT_INTERVAL_MS, FAILSAFE_PROBE_INTERVAL_MS, RENEW_RETRY_MS, renewIntervalMs, writeWindow, type FailsafeProbe, type WriteWindow } from './failsafe.js';

export interface LeaseKeeperOptions {
  dcs: Dcs;
  logger: Logger;
  /** Current ttl and loop_wait in seconds and failsafe_mode (they can change with the dynamic config). */
  timing: () => { ttl: number; loopWait: number; failsafeMode: boolean };
  /** Ask every other member of the last known view to confirm this master (POST /failsafe). */
  probePeers: () => Promise<Omit<FailsafeProbe, 'sentAt'>>;
  /** Called when the lease guard decides to demote (reactions.ts); must perform its actions (stop
   *  PostgreSQL from accepting writes) at once, beside whatever the loop is doing. */
  demote: (decision: Decision) => Promise<void>;
  /** Whether PostgreSQL runs read-write here right now. */
  isPrimary: () => boolean;
  /** Called whenever the master's write deadline may have moved: after every renewal etcd
   *  confirmed, every probe all peers confirmed, and every confirmation of the leader key. */
  onRenewed?: () => void;
  /** Whether the daemon has finished its first iteration. Before it, a PostgreSQL that runs
   *  read-write was started by an earlier governor process whose leader key (on that process's
   *  lease) is not confirmed on ours yet; its own write fence still guards it until then. */
  adopted?: () => boolean;
  /** Called when etcd had let the lease expire and a new one was granted: the keys that lived on
   *  the old one (this member's key) are gone and must be written again now, not at the next loop. */
  onLeaseReplaced?: () => void;
  /** Monotonic milliseconds (tests drive the keeper with a fake clock and call renew()/guard()). */
  now?: () => number;
}

export class LeaseKeeper {
  /** Monotonic ms at which the last renewal of the current lease that etcd confirmed was sent. */
  lastRenewal: number | null = null;
  /** Monotonic ms at which the last confirmed renewal of the lease the leader key is known to be
   *  on was sent: the master's write window counts from here. A lease etcd had to grant anew (the
   *  old one expired or vanished with etcd's data) does not carry the leader key, so its grant
   *  counts only once the key was created or confirmed on it (leaderKeyConfirmed). */
  private keyRenewal: number | null = null;
  /** The leader key was last seen attached to the current lease (acquired or confirmed on it). */
  private keyOnLease = false;
  /** Monotonic ms at which the last heartbeat etcd answered was sent. */
  private lastHeartbeat: number | null = null;
  private heartbeating = false;
  /** Monotonic ms this member last started running read-write (null: not now). It got there right
   *  after etcd answered (the acquire transaction, or a cluster read naming it leader), so the
   *  overdue clock starts there rather than at a heartbeat from an earlier reign: that stale
   *  heartbeat made every promotion open with failsafe probes. */
  private primarySince: number | null = null;
  private renewTimer: NodeJS.Timeout | null = null;
  private guardTimer: NodeJS.Timeout | null = null;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private renewing = false;
  private demoting = false;
  private failingSince: number | null = null;
  private probing = false;
  private lastProbe: FailsafeProbe | null = null;
  private lastConfirmedProbe: FailsafeProbe | null = null;

  private readonly now: () => number;

  constructor(private readonly options: LeaseKeeperOptions) {
    this.now = options.now ?? monotonicMs;
  }

  start(): void {
    this.scheduleRenewal(0);
    this.guardTimer = setInterval(() => void this.guard(), 100);
    this.heartbeatTimer = setInterval(() => void this.heartbeat(), ETCD_HEARTBEAT_INTERVAL_MS);
  }

  stop(): void {
    if (this.renewTimer) clearTimeout(this.renewTimer);
    if (this.guardTimer) clearInterval(this.guardTimer);
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.renewTimer = null;
    this.guardTimer = null;
    this.heartbeatTimer = null;
  }

  window(now = this.now()): WriteWindow {
    const { ttl, failsafeMode } = this.options.timing();
    return writeWindow({
      now,
      ttlMs: ttl * 1000,
      lastEtcdContact: latest(this.lastHeartbeat, this.primarySince, this.lastRenewal),
      failsafeMode,
      lastRenewal: this.keyRenewal,
      lastProbe: this.lastProbe,
      lastConfirmedProbe: this.lastConfirmedProbe,
    });
  }

  /** Monotonic ms by which a master must have stopped accepting writes (null: never renewed). */
  deadline(now = this.now()): number | null {
    const window = this.window(now);
    return window.isolated ? now : window.deadline;
  }

  /** Milliseconds until a master must have demoted (negative: it must have already). */
  remainingMs(now = this.now()): number {
    const deadline = this.deadline(now);
    return deadline === null ? -1 : deadline - now;
  }

  private scheduleRenewal(delayMs: number): void {
    this.renewTimer = setTimeout(() => void this.renew(), delayMs);
  }

  async renew(): Promise<void> {
    if (this.renewing) return;
    this.renewing = true;
    const { dcs, logger, timing } = this.options;
    let failed = false;
    try {
      const result = await dcs.renewLease();
      // A freshly granted lease is valid from the moment we asked for it, like a renewed one.
      this.lastRenewal = result.sentAt;
      if (result.renewed && this.keyOnLease) this.keyRenewal = result.sentAt;
      if (!result.renewed) {
        // The leader key lived on the old lease: it is gone, and the write window does not move
        // until the key is acquired again on this one (a daemon that hung past its lease must not
        // wake up, get a new lease and count it as a renewal of a key someone else may hold).
        this.keyOnLease = false;
        logger.warn('lease had expired: granted a new one (keys on the old lease are gone)');
        this.options.onLeaseReplaced?.();
      }
      this.options.onRenewed?.();
      if (this.failingSince !== null) {
        logger.info(`lease renewal works again after ${((this.now() - this.failingSince) / 1000).toFixed(1)} s`);
        this.failingSince = null;
      }
    } catch (error) {
      failed = true;
      if (this.failingSince === null) {
        this.failingSince = this.now();
        logger.warn(`lease renewal failed: ${(error as Error).message}`);
      }
    } finally {
      this.renewing = false;
      if (this.guardTimer) this.scheduleRenewal(failed ? RENEW_RETRY_MS : renewIntervalMs(timing().ttl * 1000));
    }
  }

  /** The leader key was just created or confirmed with our name on the current lease: it lives as
   *  long as that lease, whose last confirmed renewal was sent at lastRenewal. */
  leaderKeyConfirmed(): void {
    this.keyOnLease = true;
    if (this.lastRenewal !== null && (this.keyRenewal === null || this.lastRenewal > this.keyRenewal)) this.keyRenewal = this.lastRenewal;
    this.options.onRenewed?.();
  }

  /** The leader key is not (or no longer) ours on the current lease: renewals stop extending the
   *  write window. */
  leaderKeyLost(): void {
    this.keyOnLease = false;
  }

  /** Only a master needs to know within a second that etcd stopped answering (see failsafe.ts). */
  async heartbeat(): Promise<void> {
    if (this.heartbeating || !this.options.isPrimary()) return;
    this.heartbeating = true;
    try {
      this.lastHeartbeat = await this.options.dcs.ping();
    } catch {
      // Unanswered: the guard sees etcd overdue and asks the peers; renew() logs etcd failures.
    } finally {
      this.heartbeating = false;
    }
  }

  /** One check of the lease guard (start() runs it every 100 ms). */
  async guard(): Promise<void> {
    if (!this.options.isPrimary()) {
      this.primarySince = null;
      return;
    }
    if (this.primarySince === null) {
      this.primarySince = this.now();
      void this.heartbeat();
    }
    if (this.demoting) return;
    const now = this.now();
    const window = this.window(now);
    if (window.etcdOverdue && !this.probing && this.keyRenewal !== null && (this.lastProbe === null || now - this.lastProbe.sentAt >= FAILSAFE_PROBE_INTERVAL_MS)) {
      void this.probe();
    }
    const decision = react(guardReactions, {
      now,
      ttl: this.options.timing().ttl,
      window,
      keyRenewal: this.keyRenewal,
      lastProbe: this.lastProbe,
      adopted: this.options.adopted?.(),
    });
    if (decision.actions.length === 0) return;
    this.demoting = true;
    this.options.logger.error(decision.message, { rule: decision.rule });
    try {
      await this.options.demote(decision);
    } finally {
      this.demoting = false;
    }
  }

  private async probe(): Promise<void> {
    this.probing = true;
    const sentAt = this.now();
    try {
      const result = await this.options.probePeers();
      const probe = { sentAt, ...result };
      if (sentAt < (this.keyRenewal ?? 0)) return; // etcd answered meanwhile: nothing to add
      const first = this.lastProbe === null || this.lastProbe.sentAt <= (this.keyRenewal ?? 0);
      this.lastProbe = probe;
      if (allConfirmed(probe)) {
        this.lastConfirmedProbe = probe;
        if (first) this.options.logger.warn('etcd is not confirming lease renewals: every member confirmed this master over REST (failsafe)', { members: probe.asked });
        this.options.onRenewed?.();
      }
    } catch (error) {
      this.lastProbe = { sentAt, asked: 1, answered: 0, confirmed: 0, deposed: 0, refused: [`probe failed: ${(error as Error).message}`] };
    } finally {
      this.probing = false;
    }
  }
}

function latest(...times: Array<number | null>): number | null {
  const known = times.filter((t): t is number => t !== null);
  return known.length > 0 ? Math.max(...known) : null;
}
