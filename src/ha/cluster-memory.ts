// What only a series of cluster views can tell, kept in the loop's memory for the rules: whether
// this daemon has seen the cluster initialized (a missing `initialize` key later means etcd lost
// its data, not that there is no cluster), since when the key has been missing, and when this
// member's own key vanished from a view after it had been there (etcd lost its keys, or this
// member's lease expired): the member list is then being rebuilt and says nothing about who is dead.

import type { ClusterView } from '../dcs/types.js';
import type { LoopMemory } from './types.js';

/** Note one cluster view read from etcd by member `self`; `now` in monotonic ms. */
export function noteClusterView(memory: LoopMemory, cluster: ClusterView, self: string, now: number): void {
  const ownKey = cluster.members.some((m) => m.name === self);
  if (ownKey) memory.ownKeySeen = true;
  else if (memory.ownKeySeen) memory.ownKeyLostAt = now;
  if (cluster.initialize) {
    memory.initializeSeen = true;
    memory.initializeMissingSince = null;
  } else if (cluster.initialize === null) {
    memory.initializeMissingSince ??= now;
  }
  // '' is a bootstrap in progress: the key is there, its value not yet. A bootstrapper says so in
  // its member key; when none has for a while, its governor died in the middle (bootstrap-abandoned).
  const bootstrapping = cluster.members.some((m) => m.state === 'bootstrapping');
  if (cluster.initialize === '' && !bootstrapping) memory.bootstrapQuietSince ??= now;
  else memory.bootstrapQuietSince = null;
}
