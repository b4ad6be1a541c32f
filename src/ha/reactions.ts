// Rows of the rule table that do not wait for the loop: the lease guard (every 100 ms, on its own
// timer, so an action the loop is stuck in, a 120 s start or a hung checkpoint, never delays a
// demotion) and routing (on every cluster view read, and beside the loop when the leader key
// moves). They decide in the same shape as rules.ts, from their own small input, and their actions
// are in the same vocabulary: the executor performs them.

import type { ClusterView } from '../dcs/types.js';
import type { FailsafeProbe, WriteWindow } from './failsafe.js';
import { say, type Decision } from './types.js';

/** A row of a table that runs beside the loop. */
export interface Reaction<I> {
  name: string;
  /** What the condition means, in words (`governor rules`). */
  if: string;
  /** The sentence it logs, with … where the log fills in details (`governor rules`). */
  logs: string;
  when: (input: I) => boolean;
  then: (input: I) => Omit<Decision, 'rule'>;
}

/** What the lease guard sees (lease.ts gathers it; this master runs read-write). */
export interface GuardInput {
  now: number;
  ttl: number;
  window: Pick<WriteWindow, 'isolated' | 'deadline'>;
  /** When the last renewal that counts for the leader key was sent (null: never). */
  keyRenewal: number | null;
  lastProbe: FailsafeProbe | null;
  /** The daemon finished its first iteration (undefined: not tracked). */
  adopted: boolean | undefined;
}

const seconds = (ms: number) => (ms / 1000).toFixed(1);

export const guardReactions: Array<Reaction<GuardInput>> = [
  {
    name: 'lease-guard-isolated',
    if: 'etcd is overdue and the failsafe probe reached no member, or one says another master may exist',
    logs: 'etcd has not confirmed a renewal for … s and no member could be reached (…): demoting now, since writes acknowledged from here on could be lost at failover',
    when: (i) => i.window.isolated,
    then: (i) =>
      say(
        `etcd has not confirmed a renewal for ${seconds(i.now - (i.keyRenewal ?? i.now))} s and ` +
          (i.lastProbe !== null && i.lastProbe.deposed > 0 ? 'a member says another master may exist' : 'no member could be reached') +
          ` (${i.lastProbe?.refused.join('; ') ?? ''}): demoting now, since writes acknowledged from here on could be lost at failover`,
        [{ type: 'stop', mode: 'immediate' }],
        'error',
      ),
  },
  {
    name: 'lease-guard-inherited',
    if: 'no write deadline yet and the first iteration has not run: PostgreSQL was made master by an earlier governor process',
    logs: '(nothing: that process\'s write fence guards it until the leader key is confirmed on this lease)',
    when: (i) => i.window.deadline === null && i.adopted === false,
    then: () => say('PostgreSQL runs read-write from an earlier governor process: its write fence guards it until the first iteration'),
  },
  {
    name: 'lease-guard-expired',
    if: 'the write deadline passed: no renewal etcd confirmed (or failsafe confirmation by every member) for ttl - safety margin',
    logs: 'etcd lease no confirmed renewal for … s (ttl … s): demoting before the leader key can expire, to protect against split brain',
    when: (i) => i.window.deadline === null || i.window.deadline <= i.now,
    then: (i) => {
      const since = i.keyRenewal === null ? 'the leader key was never confirmed on this lease' : `no confirmed renewal for ${seconds(i.now - i.keyRenewal)} s`;
      return say(`etcd lease ${since} (ttl ${i.ttl} s): demoting before the leader key can expire, to protect against split brain`, [{ type: 'stop', mode: 'immediate' }], 'error');
    },
  },
  {
    name: 'lease-guard-within-window',
    if: 'otherwise: the write deadline is ahead',
    logs: '(nothing)',
    when: () => true,
    then: () => say('within the write window'),
  },
];

export const routeReactions: Array<Reaction<ClusterView>> = [
  {
    name: 'route-to-leader',
    if: 'a cluster view was read from etcd (every iteration, and at once when the leader key changes)',
    logs: '(HAProxy logs the change: port 5000 to the member the leader key names, none without one)',
    when: () => true,
    then: (cluster) => say(`routing port 5000 to ${cluster.leader?.name ?? 'no member (no leader key)'}`, [{ type: 'route', cluster }]),
  },
];

export function react<I>(table: Array<Reaction<I>>, input: I): Decision {
  for (const row of table) if (row.when(input)) return { rule: row.name, ...row.then(input) };
  throw new Error('no reaction matched');
}

/** The tables that run beside the loop, with what triggers each (`governor rules`). */
export const besideTheLoop: Array<{ trigger: string; rows: Array<Reaction<never>> }> = [
  { trigger: 'the lease guard, every 100 ms while PostgreSQL runs read-write here', rows: guardReactions as Array<Reaction<never>> },
  { trigger: 'routing, on every cluster view read from etcd', rows: routeReactions as Array<Reaction<never>> },
];
