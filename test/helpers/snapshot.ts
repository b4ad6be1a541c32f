// Snapshots for table tests of the HA decision: a three-member cluster (a master, b and c
// replicas) seen from b unless told otherwise, and the PostgreSQL states a member can be in.

import type { Snapshot, PeerStatus } from '../../src/ha/types.js';
import type { ClusterView, Member } from '../../src/dcs/types.js';
import type { PostgresStatus } from '../../src/postgres/types.js';

export const NOW = 1_000_000;

export function member(name: string, over: Partial<Member> = {}): Member {
  return {
    name,
    conn_url: `postgres://127.0.0.1:5432/postgres`,
    api_url: `http://127.0.0.1:8008/patroni`,
    state: 'streaming',
    role: 'replica',
    xlog_location: 1000,
    timeline: 1,
    tags: {},
    ...over,
  };
}

export const masterMember = (name: string) => member(name, { role: 'master', state: 'running' });

export function cluster(over: Partial<ClusterView> = {}): ClusterView {
  return {
    initialize: '7000000000000000001',
    config: null,
    configRevision: null,
    leader: null,
    members: [masterMember('a'), member('b'), member('c')],
    failover: null,
    sync: null,
    failsafe: { a: 'http://127.0.0.1:8008/patroni', b: 'http://127.0.0.1:8008/patroni', c: 'http://127.0.0.1:8008/patroni' },
    history: [],
    leaderOptime: 1000,
    ...over,
  };
}

export const leaderKey = (name: string) => ({ name, revision: '5', lease: '77' });

export const primaryPg: PostgresStatus = {
  running: true,
  accepting: true,
  inRecovery: false,
  timeline: 1,
  walPosition: 1000,
  receivedLsn: null,
  replayedLsn: null,
  walReceiver: null,
  replication: [],
  systemIdentifier: '7000000000000000001',
  postmasterStartTime: null,
  serverVersion: 150000,
  pendingRestart: false,
};
export const replicaPg: PostgresStatus = {
  ...primaryPg,
  inRecovery: true,
  walPosition: 1000,
  receivedLsn: 1000,
  replayedLsn: 1000,
  walReceiver: { status: 'streaming', senderHost: '127.0.0.1', senderPort: 5432, receivedLsn: 1000 },
};
export const stoppedPg: PostgresStatus = {
  ...primaryPg,
  running: false,
  accepting: false,
  inRecovery: null,
  timeline: null,
  walPosition: null,
  systemIdentifier: null,
};

export const peer = (name: string, walPosition: number, over: Partial<PeerStatus> = {}): PeerStatus => ({
  name,
  reachable: true,
  inRecovery: true,
  timeline: 1,
  walPosition,
  nofailover: false,
  failoverPriority: 1,
  ...over,
});

export type SnapshotOverrides = Partial<Omit<Snapshot, 'self'>> & { self?: string; tags?: Partial<Snapshot['self']['tags']> };

export function snapshot(over: SnapshotOverrides = {}): Snapshot {
  const { self = 'b', tags = {}, ...rest } = over;
  return {
    now: NOW,
    wallClock: Date.parse('2026-01-01T00:00:00Z'),
    startedAt: NOW - 600_000,
    self: { name: self, tags: { nofailover: false, noloadbalance: false, failover_priority: 1, ...tags } },
    dynamic: { ttl: 5, loop_wait: 1, retry_timeout: 2, maximum_lag_on_failover: 1048576, postgresql: { parameters: {} } },
    cluster: cluster(),
    writeDeadline: NOW + 3000,
    local: { dataDir: 'initialized', control: null, pg: replicaPg },
    peers: null,
    memory: { cleanHandoffTo: null, followTarget: null, notStreamingSince: null, failsafePromise: null, appliedParameters: {} },
    requests: { restart: false, reinitialize: false },
    ...rest,
  };
}

export const controlOf = (wasPrimary: boolean) => ({
  systemIdentifier: '7000000000000000001',
  clusterState: wasPrimary ? 'in production' : 'shut down in recovery',
  timeline: 1,
  checkpointLsn: 900,
  wasPrimary,
  cleanShutdown: !wasPrimary,
});
