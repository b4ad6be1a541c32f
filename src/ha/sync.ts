// Synchronous replication (pure): which replica the master makes its synchronous standby, and the
// order in which the DCS `sync` key and synchronous_standby_names change so that the member the
// key names always holds every commit the master acknowledged (safety rule 2, synchronous mode):
//   1. a standby that is no longer wanted loses its privilege in the key first (sync_standby: null:
//      nobody may take over automatically meanwhile);
//   2. synchronous_standby_names names the new one (or '*' in strict mode when there is none, so
//      commits wait rather than go unreplicated; '' otherwise);
//   3. once pg_stat_replication reports it 'sync', the key names it: from then on every commit
//      acknowledged was flushed by it, and only it may be promoted automatically.

import type { SyncState, Member } from '../dcs/types.js';
import type { ReplicationRow } from '../postgres/types.js';
import { memberCanFailover } from './candidate.js';

export interface SyncInput {
  self: string;
  /** synchronous_mode and synchronous_mode_strict from the dynamic config. */
  mode: boolean;
  strict: boolean;
  /** The DCS `sync` key as read this iteration. */
  key: SyncState | null;
  /** synchronous_standby_names in force ('' when unset). */
  names: string;
  /** pg_stat_replication on the master. */
  replication: ReplicationRow[];
  members: Member[];
}

export interface SyncStep {
  /** Write the sync key (only while holding the leader key). */
  writeKey?: SyncState;
  /** Set synchronous_standby_names and reload. */
  setNames?: string;
}

/** synchronous_standby_names for one standby: its application_name (= member name), quoted. */
export function standbyNames(picked: string | null, strict: boolean): string {
  if (picked === null) return strict ? '*' : '';
  return `"${picked.replace(/"/g, '""')}"`;
}

/** May become the synchronous standby: it could take over (candidate.ts) and is not tagged nosync. */
function eligible(member: Member | undefined): boolean {
  return member !== undefined && member.tags?.nosync !== true && memberCanFailover(member);
}

/**
 * The standby to make synchronous: a streaming replica that may fail over; the current one while
 * it still qualifies (no churn), else the one that has flushed the most WAL.
 */
export function pickSyncStandby(input: Pick<SyncInput, 'self' | 'key' | 'replication' | 'members'>): string | null {
  const byName = new Map(input.members.map((m) => [m.name, m]));
  const streaming = input.replication.filter((r) => r.state === 'streaming' && r.applicationName !== input.self && eligible(byName.get(r.applicationName)));
  const current = input.key?.leader === input.self ? input.key.sync_standby : null;
  if (current !== null && streaming.some((r) => r.applicationName === current)) return current;
  streaming.sort((a, b) => (b.flushLsn ?? -1) - (a.flushLsn ?? -1) || a.applicationName.localeCompare(b.applicationName));
  return streaming[0]?.applicationName ?? null;
}

/** What to change this iteration, in order (an empty list when everything is in place). */
export function planSync(input: SyncInput): SyncStep[] {
  const steps: SyncStep[] = [];
  const picked = input.mode ? pickSyncStandby(input) : null;
  let keyStandby = input.key?.leader === input.self ? input.key.sync_standby : undefined;
  if (keyStandby === undefined ? input.mode || (input.key?.sync_standby ?? null) !== null : keyStandby !== null && keyStandby !== picked) {
    // Another leader's key, or a standby we no longer want: revoke before anything else changes.
    steps.push({ writeKey: { leader: input.self, sync_standby: null } });
    keyStandby = null;
  }
  const names = input.mode ? standbyNames(picked, input.strict) : '';
  if (input.names !== names) {
    steps.push({ setNames: names });
    return steps; // the key names it only once PostgreSQL reports it synchronous under these names
  }
  if (picked !== null && keyStandby !== picked) {
    const row = input.replication.find((r) => r.applicationName === picked);
    if (row?.syncState === 'sync') steps.push({ writeKey: { leader: input.self, sync_standby: picked } });
  }
  return steps;
}
