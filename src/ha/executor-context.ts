// What the executor (execute.ts) and its step modules (switchover-steps.ts, data-dir-actions.ts)
// act on: the DCS, the local PostgreSQL, the loop's memory and the I/O around them, all injected.

import type { GovernorConfig, DynamicConfig } from '../config/types.js';
import type { ClusterView, Dcs } from '../dcs/types.js';
import type { Logger } from '../log/logger.js';
import type { PostgresController } from '../postgres/types.js';
import type { HaIo } from './io.js';
import type { LoopMemory, Requests } from './types.js';

export interface ExecutorContext {
  config: GovernorConfig;
  dcs: Dcs;
  pg: PostgresController;
  logger: Logger;
  memory: LoopMemory;
  requests: Requests;
  /** The clock, other members and the data directory's files (io.ts; fakes in unit tests). */
  io: HaIo;
  /** The dynamic config in force and the cluster view of the current iteration. */
  current: () => { dynamic: DynamicConfig; cluster: ClusterView | null };
  /** Tell the lease guard whether PostgreSQL now runs read-write here; false also records that
   *  governor itself stopped it (so the crash watch does not report a planned stop). */
  setPrimary: (primary: boolean) => void;
  /** Publish this member's state at once (other members wait on it). */
  touchMember: (stateOverride?: string) => Promise<void>;
  /** Tell the lease guard whether the leader key is ours on the current lease (acquired or
   *  confirmed: true; a confirmation that failed, or a release: false). */
  leaderKey: (held: boolean) => void;
  /** Unpack the newest base backup of this cluster into the empty data directory; the backup's
   *  name, or null when there is none. Absent when archiving is off. */
  restoreBackup?: (systemIdentifier: string | null) => Promise<string | null>;
  /** Point this node's HAProxy at the leader the view names; must not block. Absent: no routing. */
  route?: (cluster: ClusterView) => void;
}
