// What only a series of cluster views can tell, kept in the loop's memory for the rules: whether
// this daemon has seen the cluster initialized (a missing `initialize` key later means etcd lost
// its data, not that there is no cluster), and since when the key has been missing.

import type { ClusterView } from '../dcs/types.js';
import type { LoopMemory } from './types.js';

/** Note one cluster view read from etcd; `now` in monotonic ms. */
export function noteClusterView(memory: LoopMemory, cluster: ClusterView, now: number): void {
  if (cluster.initialize) {
    memory.initializeSeen = true;
    memory.initializeMissingSince = null;
  } else if (cluster.initialize === null) {
    memory.initializeMissingSince ??= now;
  }
  // '' is a bootstrap in progress: the key is there, its value not yet.
}
