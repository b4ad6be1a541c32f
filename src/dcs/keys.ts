// Key layout of a cluster in etcd, Patroni-compatible: /<namespace>/<scope>/<key>.

import type { DcsEvent } from './types.js';

export const KEY = {
  leader: 'leader',
  config: 'config',
  initialize: 'initialize',
  history: 'history',
  failover: 'failover',
  sync: 'sync',
  failsafe: 'failsafe',
  leaderOptime: 'optime/leader',
  membersDir: 'members/',
} as const;

/** "/<namespace>/<scope>/" with exactly one slash between (and around) the parts. */
export function clusterPrefix(namespace: string, scope: string): string {
  const parts = [namespace, scope].flatMap((part) => part.split('/')).filter((part) => part.length > 0);
  if (parts.length === 0) throw new Error('cluster prefix: namespace and scope are both empty');
  return '/' + parts.join('/') + '/';
}

export function memberKey(name: string): string {
  return KEY.membersDir + name;
}

/** The member name of a key relative to the prefix, or null if it is not a member key. */
export function memberNameOf(relativeKey: string): string | null {
  if (!relativeKey.startsWith(KEY.membersDir)) return null;
  const name = relativeKey.slice(KEY.membersDir.length);
  return name.length > 0 && !name.includes('/') ? name : null;
}

/** What kind of change a modification of `relativeKey` is, for watchers. */
export function classifyKey(relativeKey: string): DcsEvent {
  if (relativeKey === KEY.leader) return 'leader';
  if (relativeKey === KEY.failover) return 'failover';
  if (relativeKey === KEY.config) return 'config';
  if (relativeKey === KEY.leaderOptime) return 'optime';
  if (memberNameOf(relativeKey) !== null) return 'members';
  return 'other';
}

/** First key after every key starting with `prefix` (etcd range_end for a prefix scan). */
export function prefixRangeEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i] = end[i]! + 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}
