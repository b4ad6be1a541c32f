// When must a master stop accepting writes? (pure; safety rule 1)
//
// - etcd confirms renewals: until the lease could expire, ttl - margin after the last confirmed
//   renewal was sent.
// - etcd stops answering (neither a renewal nor a heartbeat answered for ETCD_HEARTBEAT_INTERVAL_MS +
//   ETCD_OVERDUE_GRACE_MS): the master asks every other member of the last known view, and every
//   member of the failsafe key, over REST (POST /failsafe). A member that confirms it sees this
//   master and no other also promises not to race for the key for ttl seconds. Only answers that
//   carry a valid proof count (failsafe-proof.ts); anything else is no answer at all. When they all
//   confirm and failsafe_mode is on, writes may go on until ttl - margin after that probe was sent,
//   and never past the shortest promise (the cluster survives an etcd outage with 0 s of write
//   outage).
// - A probe that no member confirms, while etcd is overdue, means this master is cut off from both:
//   it stops at once. In asynchronous mode whatever it acknowledged from then on would be lost at
//   failover, so waiting for the lease to run out would only grow that loss. (When some but not all
//   confirm, the lease deadline stands: a member that did not confirm may take the key after it.)

import { LEASE_SAFETY_MARGIN_MS } from './types.js';

/** While it runs read-write the master asks etcd this often whether it answers (a linearizable read
 *  that leaves the lease alone): how soon a cut-off master notices etcd is gone bounds the writes it
 *  acknowledges in isolation (heartbeat + grace + probe timeout + guard tick: about 1.3 s). */
export const ETCD_HEARTBEAT_INTERVAL_MS = 500;
/** No answer from etcd for this long beyond the heartbeat interval makes the master ask its peers. */
export const ETCD_OVERDUE_GRACE_MS = 200;
/** How long each member gets to answer a failsafe probe. */
export const FAILSAFE_PROBE_TIMEOUT_MS = 500;
/** Probes repeat this often while etcd is overdue. */
export const FAILSAFE_PROBE_INTERVAL_MS = 300;

/**
 * How often the lease is renewed while renewals succeed: ttl / 3 (1.7 s at ttl 5, 3.3 s at ttl 10),
 * at least 0.5 s. A dead master's key lives ttl after its last renewal, so at a random moment of
 * death it expires (ttl - interval / 2) later on average: renewing less often makes node loss
 * shorter. What bounds the interval is the master's own deadline (ttl - LEASE_SAFETY_MARGIN_MS after
 * the last confirmed renewal): a failed renewal is retried every RENEW_RETRY_MS, so at ttl 5 there
 * are still four tries between the first miss and the deadline, and the heartbeat, not the
 * renewal, detects etcd going away.
 */
export function renewIntervalMs(ttlMs: number): number {
  return Math.max(500, Math.round(ttlMs / 3));
}

/** After a failed renewal, the next try comes this soon. */
export const RENEW_RETRY_MS = 500;

export interface FailsafeProbe {
  /** Monotonic ms the probe was sent. */
  sentAt: number;
  /** Other members of the last known view asked, how many answered at all, and how many confirmed. */
  asked: number;
  answered: number;
  confirmed: number;
  /** Members whose refusal says another master may exist (they see another leader, or run
   *  read-write themselves), or whose answer could not be read as a failsafe answer. */
  deposed: number;
  /** Members that did not confirm, with why (for the log). */
  refused: string[];
  /** The shortest promise (ms) among the confirmations (null: none, or no other member). */
  promiseMs?: number | null;
}

/** Vacuously true without other members. */
export function allConfirmed(probe: FailsafeProbe): boolean {
  return probe.confirmed === probe.asked;
}

export interface WriteWindowInput {
  now: number;
  ttlMs: number;
  /** Monotonic ms at which the last request etcd answered was sent (renewal or heartbeat). */
  lastEtcdContact: number | null;
  failsafeMode: boolean;
  /** Monotonic ms the last renewal etcd confirmed was sent (null: never). */
  lastRenewal: number | null;
  /** The newest probe all members confirmed (null: none). */
  lastConfirmedProbe: FailsafeProbe | null;
  /** The newest completed probe. */
  lastProbe: FailsafeProbe | null;
}

export interface WriteWindow {
  /** Monotonic ms by which PostgreSQL must no longer accept writes (null: never renewed). */
  deadline: number | null;
  /** etcd has not confirmed a renewal in time: probes are due. */
  etcdOverdue: boolean;
  /** Stop now: etcd is overdue, and since then no member could be reached (cut off from both), or a
   *  member answered that another master may exist. Members that answer but refuse only because
   *  they see no leader (etcd expired the key while it was frozen, and they read etcd again before
   *  this master could) are not a reason: the deadline from the last probe they all confirmed
   *  stands, and they promised not to race for the key until after it. */
  isolated: boolean;
}

export function writeWindow(input: WriteWindowInput): WriteWindow {
  const { now, ttlMs, lastRenewal } = input;
  if (lastRenewal === null) return { deadline: null, etcdOverdue: true, isolated: false };
  let deadline = lastRenewal + ttlMs - LEASE_SAFETY_MARGIN_MS;
  const confirmed = input.lastConfirmedProbe;
  if (input.failsafeMode && confirmed !== null && confirmed.sentAt > lastRenewal && allConfirmed(confirmed)) {
    const promised = Math.min(ttlMs, confirmed.promiseMs ?? ttlMs);
    deadline = Math.max(deadline, confirmed.sentAt + promised - LEASE_SAFETY_MARGIN_MS);
  }
  const contact = Math.max(lastRenewal, input.lastEtcdContact ?? lastRenewal);
  const etcdOverdue = now - contact > ETCD_HEARTBEAT_INTERVAL_MS + ETCD_OVERDUE_GRACE_MS;
  const probe = input.lastProbe;
  const fresh = etcdOverdue && probe !== null && probe.sentAt > contact;
  const isolated = fresh && (probe.deposed > 0 || (probe.asked > 0 && probe.answered === 0));
  return { deadline, etcdOverdue, isolated };
}

export interface FailsafeRequest {
  /** This member, and its cluster. */
  self: string;
  scope: string;
  /** The cluster the asking master says it belongs to. */
  requestScope: string;
  /** The member asking to be confirmed as master. */
  requester: string;
  /** The leader named in this member's last known cluster view (null: none or never read). */
  knownLeader: string | null;
  /** PostgreSQL runs read-write here. */
  primary: boolean;
  failsafeMode: boolean;
}

/**
 * A member's answer to POST /failsafe: confirm only a master it still sees as the one leader, and
 * never while it runs read-write itself. Confirming is a promise not to race for the leader key
 * for ttl seconds (the caller records it).
 */
export type FailsafeAnswer = { ok: true } | { ok: false; reason: string; deposes: boolean };

export function failsafeAnswer(r: FailsafeRequest): FailsafeAnswer {
  if (r.requestScope !== r.scope) return { ok: false, reason: `${r.self} is a member of ${r.scope}, not ${r.requestScope}`, deposes: false };
  if (!r.failsafeMode) return { ok: false, reason: 'failsafe_mode is off in the dynamic configuration', deposes: false };
  if (r.requester === r.self) return { ok: false, reason: 'a member cannot confirm itself', deposes: false };
  if (r.primary) return { ok: false, reason: `${r.self} runs PostgreSQL read-write itself`, deposes: true };
  if (r.knownLeader === null) return { ok: false, reason: `${r.self} sees no leader, not ${r.requester}`, deposes: false };
  if (r.knownLeader !== r.requester) return { ok: false, reason: `${r.self} sees leader ${r.knownLeader}, not ${r.requester}`, deposes: true };
  return { ok: true };
}

/** Reads a refusal from a cluster without cluster_secret (nothing can be proven there); anything
 *  that is not one (a foreign or garbled answer) counts as deposing, the safe side. */
export function parseRefusal(body: string): { reason: string; deposes: boolean } {
  try {
    const parsed = JSON.parse(body) as { reason?: unknown; deposes?: unknown };
    if (typeof parsed.reason === 'string' && typeof parsed.deposes === 'boolean') return { reason: parsed.reason, deposes: parsed.deposes };
  } catch {
    // not ours
  }
  return { reason: body.slice(0, 200), deposes: true };
}
