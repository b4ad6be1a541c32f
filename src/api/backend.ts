// What the REST API reads and asks of the daemon: the HA loop's last observations and a few
// requests (restart, reinitialize, wake). A module of its own so that the endpoint handlers
// (control.ts, config-endpoint.ts) can take it without importing the server that calls them.

import type { DynamicConfig, GovernorConfig } from '../config/types.js';
import type { ClusterView, Dcs } from '../dcs/types.js';
import type { FailsafeAnswerDocument, FailsafeQuestion } from '../ha/failsafe-proof.js';
import type { Logger } from '../log/logger.js';
import type { PostgresStatus, WalPositionNow } from '../postgres/types.js';
import type { MetricsInput } from './metrics.js';

/** What /metrics needs beyond the status: counters and ages only the daemon keeps. */
export type DaemonMetrics = Pick<MetricsInput, 'leaderChanges' | 'archiver' | 'archive' | 'lastBackupAt' | 'dcsLastContactAgeSeconds' | 'loopIterationAgeSeconds' | 'dcsInvalidValues'>;

export interface ApiBackend {
  config: GovernorConfig;
  dcs: Dcs;
  logger: Logger;
  /** Last known cluster view (may be stale while etcd is unreachable). */
  cluster(): ClusterView | null;
  /** The cluster configuration in force (the last valid one read from etcd: an invalid value there is ignored). */
  dynamic(): DynamicConfig;
  /** How long the last cluster read has been failing (ms; null: etcd answered the last one). */
  etcdUnreachableMs(): number | null;
  /** PostgreSQL's state as the HA loop last observed it (no query: health checks cost nothing). */
  pg(): PostgresStatus | null;
  /** Where WAL is now: one light query (/patroni, which peers compare positions from). */
  walPosition(): Promise<WalPositionNow | null>;
  isLeader(): boolean;
  paused(): boolean;
  /** The HA loop iterated recently. */
  alive(): boolean;
  /** POST /failsafe: confirm the asking master while etcd does not answer it (HaLoop.confirmFailsafe). */
  confirmFailsafe(question: FailsafeQuestion): { status: number; body: FailsafeAnswerDocument };
  /** Facts for /metrics that only the daemon keeps. */
  metrics(): Promise<DaemonMetrics>;
  requestRestart(): void;
  requestReinitialize(): void;
  wake(): void;
}
