// Whether this replica may race for a free leader key: safety rule 2 of DESIGN.md ("healthiest wins").

import type { Member } from '../dcs/types.js';
import type { PostgresStatus } from '../postgres/types.js';
import { RESTART_QUARANTINE_MARGIN_MS, type PeerStatus, type Snapshot } from './types.js';

export function isPrimaryStatus(pg: PostgresStatus): boolean {
  return pg.running && pg.accepting && pg.inRecovery === false;
}

export function isReplicaStatus(pg: PostgresStatus): boolean {
  return pg.running && pg.accepting && pg.inRecovery === true;
}

export const isRunningPrimary = (s: Snapshot): boolean => isPrimaryStatus(s.local.pg);
export const isRunningReplica = (s: Snapshot): boolean => isReplicaStatus(s.local.pg);

/** Compare (timeline, position): a later timeline wins, then more WAL. */
export function compareWal(
  a: { timeline: number | null; walPosition: number | null },
  b: { timeline: number | null; walPosition: number | null },
): number {
  const timelineA = a.timeline ?? 0;
  const timelineB = b.timeline ?? 0;
  if (timelineA !== timelineB) return timelineA - timelineB;
  return (a.walPosition ?? -1) - (b.walPosition ?? -1);
}

/** Tags of a member, read defensively (a member key written by other tools may lack them). */
export function memberCanFailover(member: Pick<Member, 'tags'>): boolean {
  const tags = member.tags ?? {};
  if (tags.nofailover === true) return false;
  const priority = typeof tags.failover_priority === 'number' ? tags.failover_priority : 1;
  return priority > 0;
}

function peerBeats(peer: PeerStatus, self: { timeline: number | null; walPosition: number | null; priority: number }): boolean {
  if (!peer.reachable || peer.nofailover || peer.failoverPriority <= 0) return false;
  if (peer.inRecovery !== true) return false;
  const order = compareWal(peer, self);
  if (order !== 0) return order > 0;
  return peer.failoverPriority > self.priority;
}

/**
 * null when this member may race for the leader key, otherwise the reason it must not.
 * The comparison uses positions the peers reported just now over their REST API; peers that did not
 * answer are presumed dead and do not block the race (etcd's transaction still picks one winner).
 */
export function whyNotCandidate(s: Snapshot): string | null {
  const tags = s.self.tags;
  if (tags.nofailover) return 'tagged nofailover';
  if (tags.failover_priority <= 0) return 'failover_priority is 0';
  if (!isRunningReplica(s)) return 'PostgreSQL is not running as a healthy replica';
  // The key is free, but a member that still says it runs read-write may still acknowledge writes
  // (its key deleted by hand or lost with etcd's data, while its lease guard and fence see a valid
  // lease): promoting beside it would make two writers. It stops, or takes the key back, first.
  const writable = (s.peers ?? []).find((peer) => peer.name !== s.self.name && peer.reachable && peer.inRecovery === false);
  if (writable) return `${writable.name} reports PostgreSQL running read-write: not racing while another master may accept writes`;
  const failsafe = failsafeBlocks(s);
  if (failsafe) return failsafe;
  // The peers asked are the members in the view: after etcd lost its keys a live master's member
  // key may not be back yet, and its leader key will be in a moment. Wait ttl for the list to fill.
  const lostAgo = s.memory.ownKeyLostAt === undefined ? Infinity : s.now - s.memory.ownKeyLostAt;
  if (lostAgo < s.dynamic.ttl * 1000) {
    return `this member's own key vanished from etcd ${(lostAgo / 1000).toFixed(1)} s ago (etcd lost its keys, or our lease expired): waiting ${s.dynamic.ttl} s for the members to publish theirs again`;
  }
  if (s.dynamic.synchronous_mode === true) {
    // Only the standby the sync key names flushed every commit the master acknowledged; it wins
    // even over an asynchronous replica that received more (unacknowledged) WAL.
    const standby = s.cluster?.sync?.sync_standby ?? null;
    return standby === s.self.name ? null : `synchronous_mode: only the synchronous standby may take over (${standby ?? 'none confirmed'})`;
  }
  const self = {
    timeline: s.local.pg.timeline,
    walPosition: s.local.pg.walPosition,
    priority: tags.failover_priority,
  };
  const leaderOptime = s.cluster?.leaderOptime ?? null;
  if (leaderOptime !== null && self.walPosition !== null) {
    const lag = leaderOptime - self.walPosition;
    if (lag > s.dynamic.maximum_lag_on_failover) {
      return `${lag} bytes behind the last known master position, more than maximum_lag_on_failover (${s.dynamic.maximum_lag_on_failover})`;
    }
  }
  for (const peer of s.peers ?? []) {
    if (peer.name === s.self.name) continue;
    if (peerBeats(peer, self)) {
      return `${peer.name} is a better candidate (timeline ${peer.timeline}, wal ${peer.walPosition}, priority ${peer.failoverPriority} vs ours ${self.timeline}, ${self.walPosition}, ${self.priority})`;
    }
  }
  return null;
}

/**
 * With failsafe_mode on, a master cut off from etcd may keep writing past its lease while every
 * member of its failsafe set promised not to race. Members outside the set recorded in the
 * failsafe key never promised anything and cannot know whether such a promise runs; a member that
 * restarted may have given one and forgotten it. Neither races until that cannot be so.
 */
function failsafeBlocks(s: Snapshot): string | null {
  if (s.dynamic.failsafe_mode === false) return null;
  const recorded = s.cluster?.failsafe ?? null;
  if (recorded !== null && Object.keys(recorded).length > 0 && !(s.self.name in recorded)) {
    return `not in the failsafe key (${Object.keys(recorded).sort().join(', ')}): a member outside it cannot know whether a failsafe promise to the last master still runs`;
  }
  const quarantineMs = s.dynamic.ttl * 1000 + RESTART_QUARANTINE_MARGIN_MS;
  if (s.now - s.startedAt < quarantineMs) {
    return `governor started ${((s.now - s.startedAt) / 1000).toFixed(1)} s ago: a failsafe promise given before the restart may still run (racing from ${(quarantineMs / 1000).toFixed(1)} s after start)`;
  }
  return null;
}

/** The replica a switchover without a named candidate should go to: most WAL, then priority. */
export function bestSwitchoverCandidate(members: Member[], exclude: string): Member | null {
  const eligible = members.filter(
    (m) => m.name !== exclude && m.role === 'replica' && m.state === 'streaming' && memberCanFailover(m),
  );
  eligible.sort((a, b) => {
    const order = compareWal(
      { timeline: b.timeline ?? null, walPosition: b.xlog_location ?? null },
      { timeline: a.timeline ?? null, walPosition: a.xlog_location ?? null },
    );
    if (order !== 0) return order;
    return (Number(b.tags?.failover_priority ?? 1) - Number(a.tags?.failover_priority ?? 1)) || a.name.localeCompare(b.name);
  });
  return eligible[0] ?? null;
}
