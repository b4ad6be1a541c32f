// Table rows for decide.test.ts and rule-coverage.test.ts (not a test file itself).
import type { LoopMemory, Snapshot } from '../../src/ha/types.js';
import { cluster, controlOf, leaderKey, masterMember, member, NOW, peer, primaryPg, replicaPg, snapshot, stoppedPg } from '../helpers/snapshot.js';

export interface Row {
  scenario: string;
  snap: Snapshot;
  rule: string;
  actions: string[];
}

const startingPg = { ...stoppedPg, running: true };
const mem = (over: Partial<LoopMemory>): LoopMemory => ({ cleanHandoffTo: null, followTarget: 'a', notStreamingSince: null, failsafePromise: null, appliedParameters: {}, ...over });
const switchoverTo = (candidate: string) => ({ leader: 'a', member: candidate });

export const rows: Row[] = [
  {
    scenario: 'switchover whose candidate did not confirm the shutdown checkpoint: abort, start again as master, clear the request',
    snap: snapshot({ self: 'a', cluster: cluster({ leader: leaderKey('a'), failover: switchoverTo('b') }), local: { dataDir: 'initialized', control: controlOf(true), pg: stoppedPg }, memory: mem({ followTarget: null, handover: { candidate: 'b', shutdownLsn: 5000, unconfirmed: { lastSeen: 4000, waitedMs: 10_000 } } }) }),
    rule: 'switchover-abort',
    actions: ['finishStop', 'startPrimary', 'clearFailover'],
  },
  {
    scenario: 'switchover aborted while the postmaster is still finishing its shutdown: the same abort',
    snap: snapshot({ self: 'a', cluster: cluster({ leader: leaderKey('a'), failover: switchoverTo('b') }), local: { dataDir: 'initialized', control: null, pg: startingPg }, memory: mem({ followTarget: null, handover: { candidate: 'b', shutdownLsn: null, unconfirmed: { lastSeen: null, waitedMs: 0 } } }) }),
    rule: 'switchover-abort',
    actions: ['finishStop', 'startPrimary', 'clearFailover'],
  },
  {
    scenario: 'a switchover in progress (not aborted) does not stop the master from renewing',
    snap: snapshot({ self: 'a', cluster: cluster({ leader: leaderKey('a') }), local: { dataDir: 'initialized', control: null, pg: primaryPg }, memory: mem({ followTarget: null, handover: { candidate: 'b', shutdownLsn: null } }) }),
    rule: 'leader-renew',
    actions: ['confirmLeader', 'publishOptime', 'syncSlots', 'syncReplication'],
  },
  {
    scenario: 'daemon restarted mid-switchover (memory lost): PostgreSQL stopped cleanly as master with the key: start it again (the switchover then runs anew)',
    snap: snapshot({ self: 'a', cluster: cluster({ leader: leaderKey('a'), failover: switchoverTo('b') }), local: { dataDir: 'initialized', control: { ...controlOf(true), clusterState: 'shut down', cleanShutdown: true }, pg: stoppedPg } }),
    rule: 'leader-start',
    actions: ['startPrimary'],
  },
  {
    scenario: 'the master could not start PostgreSQL: release the key for a replica',
    snap: snapshot({ self: 'a', cluster: cluster({ leader: leaderKey('a') }), local: { dataDir: 'initialized', control: controlOf(true), pg: stoppedPg }, memory: mem({ startFailures: { count: 1, role: 'primary', diagnosis: { cause: 'port', evidence: 'could not bind' } } }) }),
    rule: 'leader-start-failed',
    actions: ['releaseLeader'],
  },
  {
    scenario: 'a replica start failure does not make the leader release the key',
    snap: snapshot({ self: 'a', cluster: cluster({ leader: leaderKey('a') }), local: { dataDir: 'initialized', control: controlOf(false), pg: stoppedPg }, memory: mem({ startFailures: { count: 1, role: 'replica', diagnosis: { cause: 'port', evidence: null } } }) }),
    rule: 'leader-start',
    actions: ['startReplica'],
  },
  {
    scenario: 'the leader waits while PostgreSQL starts',
    snap: snapshot({ self: 'a', cluster: cluster({ leader: leaderKey('a') }), local: { dataDir: 'initialized', control: null, pg: startingPg } }),
    rule: 'leader-wait-startup',
    actions: [],
  },
  {
    scenario: 'pg_rewind failed against the running master: the data makes way for a clone',
    snap: snapshot({ self: 'c', cluster: cluster({ leader: leaderKey('a') }), local: { dataDir: 'initialized', control: controlOf(true), pg: stoppedPg }, memory: mem({ rewindFailedFrom: 'a' }) }),
    rule: 'rewind-failed',
    actions: ['recloneData'],
  },
  {
    scenario: 'pg_rewind failed and the master is not running yet: wait, never re-clone blind',
    snap: snapshot({ self: 'c', cluster: cluster({ leader: leaderKey('a'), members: [member('a', { role: 'master', state: 'starting' }), member('b')] }), local: { dataDir: 'initialized', control: controlOf(true), pg: stoppedPg }, memory: mem({ rewindFailedFrom: 'a' }) }),
    rule: 'rewind-failed',
    actions: [],
  },
  {
    scenario: 'restart of a replica keeps it a replica',
    snap: snapshot({ cluster: cluster({ leader: leaderKey('a') }), memory: mem({}), requests: { restart: true, reinitialize: false } }),
    rule: 'replica-restart',
    actions: ['clearRequests', 'restart'],
  },
  {
    scenario: 'no leader while PostgreSQL is still starting: wait',
    snap: snapshot({ cluster: cluster(), local: { dataDir: 'initialized', control: null, pg: startingPg } }),
    rule: 'wait',
    actions: [],
  },
  {
    scenario: 'master cut off from etcd past ttl - margin demotes at once',
    snap: snapshot({ self: 'a', cluster: null, local: { dataDir: 'initialized', control: null, pg: primaryPg }, writeDeadline: NOW - 100 }),
    rule: 'dcs-unreachable-demote',
    actions: ['stop'],
  },
  {
    scenario: 'master cut off from etcd briefly keeps running',
    snap: snapshot({ self: 'a', cluster: null, local: { dataDir: 'initialized', control: null, pg: primaryPg }, writeDeadline: NOW + 1500 }),
    rule: 'dcs-unreachable',
    actions: [],
  },
  {
    scenario: 'master cut off from etcd but confirmed by every member (failsafe) keeps running past its lease',
    snap: snapshot({ self: 'a', cluster: null, local: { dataDir: 'initialized', control: null, pg: primaryPg }, writeDeadline: NOW + 4000 }),
    rule: 'dcs-unreachable',
    actions: [],
  },
  {
    scenario: 'master that was never renewed demotes when etcd is unreachable',
    snap: snapshot({ self: 'a', cluster: null, local: { dataDir: 'initialized', control: null, pg: primaryPg }, writeDeadline: null }),
    rule: 'dcs-unreachable-demote',
    actions: ['stop'],
  },
  {
    scenario: 'replica that confirmed the master over /failsafe does not race when the key is free',
    snap: snapshot({ memory: { cleanHandoffTo: null, followTarget: 'a', notStreamingSince: null, failsafePromise: { leader: 'a', until: NOW + 2000 }, appliedParameters: {} } }),
    rule: 'failsafe-promised',
    actions: [],
  },
  {
    scenario: 'an expired failsafe promise no longer holds the replica back',
    snap: snapshot({ memory: { cleanHandoffTo: null, followTarget: 'a', notStreamingSince: null, failsafePromise: { leader: 'a', until: NOW - 1 }, appliedParameters: {} } }),
    rule: 'race',
    actions: ['acquireLeader', 'promote'],
  },
  {
    scenario: 'replica cut off from etcd keeps streaming',
    snap: snapshot({ cluster: null, writeDeadline: NOW - 60_000 }),
    rule: 'dcs-unreachable',
    actions: [],
  },
  {
    scenario: 'paused leader only renews',
    snap: snapshot({
      self: 'a',
      dynamic: { ttl: 5, loop_wait: 1, retry_timeout: 2, maximum_lag_on_failover: 1, postgresql: { parameters: {} }, pause: true },
      cluster: cluster({ leader: leaderKey('a') }),
      local: { dataDir: 'initialized', control: null, pg: primaryPg },
    }),
    rule: 'paused',
    actions: ['confirmLeader', 'publishOptime'],
  },
  {
    scenario: 'paused replica does not race for a free key',
    snap: snapshot({ dynamic: { ttl: 5, loop_wait: 1, retry_timeout: 2, maximum_lag_on_failover: 1, postgresql: { parameters: {} }, pause: true } }),
    rule: 'paused',
    actions: [],
  },
  {
    scenario: 'paused leader whose PostgreSQL died: nothing is restarted, the key stays',
    snap: snapshot({
      self: 'a',
      dynamic: { ttl: 5, loop_wait: 1, retry_timeout: 2, maximum_lag_on_failover: 1, postgresql: { parameters: {} }, pause: true },
      cluster: cluster({ leader: leaderKey('a') }),
      local: { dataDir: 'initialized', control: controlOf(true), pg: stoppedPg },
    }),
    rule: 'paused',
    actions: [],
  },
  {
    scenario: 'paused replica with a stopped PostgreSQL and no leader stays stopped',
    snap: snapshot({
      dynamic: { ttl: 5, loop_wait: 1, retry_timeout: 2, maximum_lag_on_failover: 1, postgresql: { parameters: {} }, pause: true },
      local: { dataDir: 'initialized', control: controlOf(false), pg: stoppedPg },
    }),
    rule: 'paused',
    actions: [],
  },
  {
    scenario: 'paused, but an operator asked for a restart: it runs',
    snap: snapshot({
      dynamic: { ttl: 5, loop_wait: 1, retry_timeout: 2, maximum_lag_on_failover: 1, postgresql: { parameters: {} }, pause: true },
      cluster: cluster({ leader: leaderKey('a') }),
      requests: { restart: true, reinitialize: false },
    }),
    rule: 'paused-restart',
    actions: ['clearRequests', 'restart'],
  },
  {
    scenario: 'paused replica still applies changed cluster parameters (a reload, not a role change)',
    snap: snapshot({
      dynamic: { ttl: 5, loop_wait: 1, retry_timeout: 2, maximum_lag_on_failover: 1, postgresql: { parameters: { work_mem: '8MB' } }, pause: true },
      cluster: cluster({ leader: leaderKey('a') }),
    }),
    rule: 'paused',
    actions: ['applyParameters'],
  },
  {
    scenario: 'master applies changed cluster parameters while renewing',
    snap: snapshot({
      self: 'a',
      dynamic: { ttl: 5, loop_wait: 1, retry_timeout: 2, maximum_lag_on_failover: 1, postgresql: { parameters: { work_mem: '8MB' } } },
      cluster: cluster({ leader: leaderKey('a') }),
      local: { dataDir: 'initialized', control: null, pg: primaryPg },
    }),
    rule: 'leader-renew',
    actions: ['confirmLeader', 'publishOptime', 'syncSlots', 'syncReplication', 'applyParameters'],
  },
  {
    scenario: 'replica applies a removed cluster parameter',
    snap: snapshot({
      cluster: cluster({ leader: leaderKey('a') }),
      memory: { cleanHandoffTo: null, followTarget: 'a', failsafePromise: null, notStreamingSince: null, appliedParameters: { work_mem: '8MB' } },
    }),
    rule: 'replica-steady',
    actions: ['applyParameters'],
  },
  {
    scenario: 'a freshly started daemon re-renders the configuration of the PostgreSQL it found running',
    snap: snapshot({
      cluster: cluster({ leader: leaderKey('a') }),
      memory: { cleanHandoffTo: null, followTarget: 'a', failsafePromise: null, notStreamingSince: null, appliedParameters: null },
    }),
    rule: 'replica-steady',
    actions: ['applyParameters'],
  },
  {
    scenario: 'replica that does not accept connections yet leaves the parameters to its start',
    snap: snapshot({
      dynamic: { ttl: 5, loop_wait: 1, retry_timeout: 2, maximum_lag_on_failover: 1, postgresql: { parameters: { work_mem: '8MB' } } },
      cluster: cluster({ leader: leaderKey('a') }),
      local: { dataDir: 'initialized', control: null, pg: { ...stoppedPg, running: true } },
      memory: { cleanHandoffTo: null, followTarget: 'a', failsafePromise: null, notStreamingSince: null, appliedParameters: {} },
    }),
    rule: 'replica-steady',
    actions: [],
  },
  {
    scenario: 'scheduled switchover whose time has come: the master hands over',
    snap: snapshot({
      self: 'a',
      cluster: cluster({ leader: leaderKey('a'), failover: { leader: 'a', member: 'b', scheduled_at: '2025-12-31T23:59:59Z' } }),
      local: { dataDir: 'initialized', control: null, pg: primaryPg },
    }),
    rule: 'switchover',
    actions: ['confirmLeader', 'prepareHandover', 'stopForHandover', 'confirmHandover', 'handOverKey', 'finishStop'],
  },
  {
    scenario: 'master lost while a switchover is scheduled for later: the healthiest races, not only the named candidate',
    snap: snapshot({ self: 'c', cluster: cluster({ failover: { leader: 'a', member: 'b', scheduled_at: '2999-01-01T00:00:00Z' } }), peers: [peer('b', 900)] }),
    rule: 'race',
    actions: ['acquireLeader', 'promote'],
  },
  {
    scenario: 'failover_priority 0 never races',
    snap: snapshot({ tags: { failover_priority: 0 }, peers: [] }),
    rule: 'not-candidate',
    actions: [],
  },
  {
    scenario: 'a peer further ahead with failover_priority 0 does not block',
    snap: snapshot({ peers: [peer('c', 5000, { failoverPriority: 0 })] }),
    rule: 'race',
    actions: ['acquireLeader', 'promote'],
  },
  {
    scenario: 'equal WAL and our failover priority is the higher one: race',
    snap: snapshot({ tags: { failover_priority: 5 }, peers: [peer('c', 1000, { failoverPriority: 2 })] }),
    rule: 'race',
    actions: ['acquireLeader', 'promote'],
  },
  {
    scenario: 'empty cluster: race to bootstrap',
    snap: snapshot({ cluster: cluster({ initialize: null, members: [] }), local: { dataDir: 'missing', control: null, pg: stoppedPg } }),
    rule: 'bootstrap',
    actions: ['bootstrap'],
  },
  {
    scenario: 'another member is bootstrapping: wait',
    snap: snapshot({ cluster: cluster({ initialize: '', members: [] }), local: { dataDir: 'empty', control: null, pg: stoppedPg } }),
    rule: 'wait-for-data-source',
    actions: [],
  },
  {
    scenario: 'new member clones from the running master',
    snap: snapshot({ cluster: cluster({ leader: leaderKey('a') }), local: { dataDir: 'missing', control: null, pg: stoppedPg } }),
    rule: 'clone-from-leader',
    actions: ['clone'],
  },
  {
    scenario: 'new member does not clone while the leader is still promoting',
    snap: snapshot({
      cluster: cluster({ leader: leaderKey('c'), members: [member('c')] }),
      local: { dataDir: 'missing', control: null, pg: stoppedPg },
    }),
    rule: 'wait-for-data-source',
    actions: [],
  },
  {
    scenario: 'data of another database system: refuse to join, and say so in the member key (a hold)',
    snap: snapshot({ cluster: cluster({ leader: leaderKey('a') }), local: { dataDir: 'initialized', control: null, pg: { ...replicaPg, systemIdentifier: '42' } } }),
    rule: 'foreign-data',
    actions: ['holdDataDir'],
  },
  {
    scenario: 'master renews its key, publishes its position and keeps slots for the others',
    snap: snapshot({ self: 'a', cluster: cluster({ leader: leaderKey('a') }), local: { dataDir: 'initialized', control: null, pg: primaryPg } }),
    rule: 'leader-renew',
    actions: ['confirmLeader', 'publishOptime', 'syncSlots', 'syncReplication'],
  },
  {
    scenario: 'master records its members in the failsafe key when they changed',
    snap: snapshot({ self: 'a', cluster: cluster({ leader: leaderKey('a'), failsafe: { a: 'http://127.0.0.1:8008/patroni' } }), local: { dataDir: 'initialized', control: null, pg: primaryPg } }),
    rule: 'leader-renew',
    actions: ['confirmLeader', 'publishOptime', 'syncSlots', 'syncReplication', 'recordFailsafe'],
  },
  {
    scenario: 'master removes the failsafe key when failsafe_mode is off',
    snap: snapshot({
      self: 'a',
      dynamic: { ttl: 5, loop_wait: 1, retry_timeout: 2, maximum_lag_on_failover: 1048576, postgresql: { parameters: {} }, failsafe_mode: false },
      cluster: cluster({ leader: leaderKey('a') }),
      local: { dataDir: 'initialized', control: null, pg: primaryPg },
    }),
    rule: 'leader-renew',
    actions: ['confirmLeader', 'publishOptime', 'syncSlots', 'syncReplication', 'recordFailsafe'],
  },
  {
    scenario: 'new master clears the failover key that named it',
    snap: snapshot({ self: 'a', cluster: cluster({ leader: leaderKey('a'), failover: { leader: 'c', member: 'a' } }), local: { dataDir: 'initialized', control: null, pg: primaryPg } }),
    rule: 'leader-renew',
    actions: ['confirmLeader', 'publishOptime', 'syncSlots', 'syncReplication', 'clearFailover'],
  },
  {
    scenario: 'master with crashed PostgreSQL restarts it in place',
    snap: snapshot({ self: 'a', cluster: cluster({ leader: leaderKey('a') }), local: { dataDir: 'initialized', control: controlOf(true), pg: stoppedPg } }),
    rule: 'leader-start',
    actions: ['startPrimary'],
  },
  {
    scenario: 'key holder still in recovery promotes',
    snap: snapshot({ self: 'b', cluster: cluster({ leader: leaderKey('b') }) }),
    rule: 'leader-promote',
    actions: ['promote'],
  },
  {
    scenario: 'switchover: master hands over to the named streaming replica',
    snap: snapshot({ self: 'a', cluster: cluster({ leader: leaderKey('a'), failover: { leader: 'a', member: 'b' } }), local: { dataDir: 'initialized', control: null, pg: primaryPg } }),
    rule: 'switchover',
    actions: ['confirmLeader', 'prepareHandover', 'stopForHandover', 'confirmHandover', 'handOverKey', 'finishStop'],
  },
  {
    scenario: 'switchover to a nofailover member is refused',
    snap: snapshot({
      self: 'a',
      cluster: cluster({ leader: leaderKey('a'), failover: { leader: 'a', member: 'b' }, members: [masterMember('a'), member('b', { tags: { nofailover: true } })] }),
      local: { dataDir: 'initialized', control: null, pg: primaryPg },
    }),
    rule: 'switchover',
    actions: ['clearFailover'],
  },
  {
    scenario: 'scheduled switchover waits for its time',
    snap: snapshot({
      self: 'a',
      cluster: cluster({ leader: leaderKey('a'), failover: { leader: 'a', member: 'b', scheduled_at: '2999-01-01T00:00:00Z' } }),
      local: { dataDir: 'initialized', control: null, pg: primaryPg },
    }),
    rule: 'leader-renew',
    actions: ['confirmLeader', 'publishOptime', 'syncSlots', 'syncReplication'],
  },
  {
    scenario: 'primary that lost the key to another member demotes immediately',
    snap: snapshot({ self: 'a', cluster: cluster({ leader: leaderKey('b') }), local: { dataDir: 'initialized', control: null, pg: primaryPg } }),
    rule: 'demote',
    actions: ['stop'],
  },
  {
    scenario: 'crashed former master rewinds before following the new leader',
    snap: snapshot({
      self: 'a',
      cluster: cluster({ leader: leaderKey('b'), members: [member('a'), masterMember('b')] }),
      local: { dataDir: 'initialized', control: controlOf(true), pg: stoppedPg },
    }),
    rule: 'former-master-rewind',
    actions: ['rewind', 'startReplica'],
  },
  {
    scenario: 'former master waits until the new leader has promoted before rewinding',
    snap: snapshot({ self: 'a', cluster: cluster({ leader: leaderKey('b') }), local: { dataDir: 'initialized', control: controlOf(true), pg: stoppedPg } }),
    rule: 'former-master-rewind',
    actions: [],
  },
  {
    scenario: 'former master that handed over cleanly follows without rewind',
    snap: snapshot({
      self: 'a',
      cluster: cluster({ leader: leaderKey('b') }),
      local: { dataDir: 'initialized', control: controlOf(true), pg: stoppedPg },
      memory: { cleanHandoffTo: 'b', followTarget: null, notStreamingSince: null, failsafePromise: null, appliedParameters: {} },
    }),
    rule: 'replica-start',
    actions: ['startReplica'],
  },
  {
    scenario: 'stopped replica starts following the leader',
    snap: snapshot({ cluster: cluster({ leader: leaderKey('a') }), local: { dataDir: 'initialized', control: controlOf(false), pg: stoppedPg } }),
    rule: 'replica-start',
    actions: ['startReplica'],
  },
  {
    scenario: 'replica re-points to a new leader',
    snap: snapshot({ cluster: cluster({ leader: leaderKey('c') }), memory: { cleanHandoffTo: null, followTarget: 'a', notStreamingSince: null, failsafePromise: null, appliedParameters: {} } }),
    rule: 'replica-follow',
    actions: ['followLeader'],
  },
  {
    scenario: 'replica already following the leader does nothing',
    snap: snapshot({ cluster: cluster({ leader: leaderKey('a') }), memory: { cleanHandoffTo: null, followTarget: 'a', notStreamingSince: null, failsafePromise: null, appliedParameters: {} } }),
    rule: 'replica-steady',
    actions: [],
  },
  {
    scenario: 'replica whose WAL goes past the new timeline fork rewinds once the old lease must be gone',
    snap: snapshot({
      cluster: cluster({ leader: leaderKey('c'), members: [member('b'), member('c', { role: 'master', state: 'running', timeline: 2 })], history: [[1, 900, 'promoted']] }),
      local: { dataDir: 'initialized', control: null, pg: { ...replicaPg, walReceiver: null } },
      memory: { cleanHandoffTo: null, followTarget: 'c', notStreamingSince: NOW - 11_000, failsafePromise: null, appliedParameters: {} },
    }),
    rule: 'replica-diverged',
    actions: ['rewind', 'startReplica'],
  },
  {
    scenario: 'replica not streaming for less than ttl + 5 s waits (the master may just be gone)',
    snap: snapshot({
      cluster: cluster({ leader: leaderKey('c'), members: [member('b'), member('c', { role: 'master', state: 'running', timeline: 2 })] }),
      local: { dataDir: 'initialized', control: null, pg: { ...replicaPg, walReceiver: null } },
      memory: { cleanHandoffTo: null, followTarget: 'c', notStreamingSince: NOW - 6_000, failsafePromise: null, appliedParameters: {} },
    }),
    rule: 'replica-steady',
    actions: [],
  },
  {
    scenario: 'replica behind the timeline fork is not diverged, it only waits to stream',
    snap: snapshot({
      cluster: cluster({ leader: leaderKey('c'), members: [member('b'), member('c', { role: 'master', state: 'running', timeline: 2 })], history: [[1, 5000, 'promoted']] }),
      local: { dataDir: 'initialized', control: null, pg: { ...replicaPg, walReceiver: null } },
      memory: { cleanHandoffTo: null, followTarget: 'c', notStreamingSince: NOW - 60_000, failsafePromise: null, appliedParameters: {} },
    }),
    rule: 'replica-steady',
    actions: [],
  },
  {
    scenario: 'healthiest replica races when the key is free',
    snap: snapshot({ peers: [peer('c', 900)] }),
    rule: 'race',
    actions: ['acquireLeader', 'promote'],
  },
  {
    scenario: 'replica with equal WAL races too (etcd picks one)',
    snap: snapshot({ peers: [peer('c', 1000)] }),
    rule: 'race',
    actions: ['acquireLeader', 'promote'],
  },
  {
    scenario: 'synchronous_mode: the synchronous standby races even behind an asynchronous peer',
    snap: snapshot({
      dynamic: { ttl: 5, loop_wait: 1, retry_timeout: 2, maximum_lag_on_failover: 1048576, postgresql: { parameters: {} }, synchronous_mode: true },
      cluster: cluster({ sync: { leader: 'a', sync_standby: 'b' } }),
      peers: [peer('c', 2000)],
    }),
    rule: 'race',
    actions: ['acquireLeader', 'promote'],
  },
  {
    scenario: 'synchronous_mode: a replica that is not the synchronous standby never races',
    snap: snapshot({
      dynamic: { ttl: 5, loop_wait: 1, retry_timeout: 2, maximum_lag_on_failover: 1048576, postgresql: { parameters: {} }, synchronous_mode: true },
      cluster: cluster({ sync: { leader: 'a', sync_standby: 'c' } }),
      peers: [peer('c', 500)],
    }),
    rule: 'not-candidate',
    actions: [],
  },
  {
    scenario: 'synchronous_mode without a confirmed standby: nobody races',
    snap: snapshot({
      dynamic: { ttl: 5, loop_wait: 1, retry_timeout: 2, maximum_lag_on_failover: 1048576, postgresql: { parameters: {} }, synchronous_mode: true },
      cluster: cluster({ sync: { leader: 'a', sync_standby: null } }),
    }),
    rule: 'not-candidate',
    actions: [],
  },
  {
    scenario: 'replica behind a peer does not race',
    snap: snapshot({ peers: [peer('c', 2000)] }),
    rule: 'not-candidate',
    actions: [],
  },
  {
    scenario: 'equal WAL but the peer has a higher failover priority',
    snap: snapshot({ peers: [peer('c', 1000, { failoverPriority: 5 })] }),
    rule: 'not-candidate',
    actions: [],
  },
  {
    scenario: 'a peer further ahead but tagged nofailover does not block',
    snap: snapshot({ peers: [peer('c', 5000, { nofailover: true })] }),
    rule: 'race',
    actions: ['acquireLeader', 'promote'],
  },
  {
    scenario: 'an unreachable peer does not block',
    snap: snapshot({ peers: [peer('c', 5000, { reachable: false })] }),
    rule: 'race',
    actions: ['acquireLeader', 'promote'],
  },
  {
    scenario: 'a reachable peer that still runs read-write blocks the race (its key deleted, its lease alive)',
    snap: snapshot({ peers: [peer('a', 500, { inRecovery: false }), peer('c', 900)] }),
    rule: 'not-candidate',
    actions: [],
  },
  {
    scenario: 'synchronous_mode: a peer still running read-write blocks even the synchronous standby',
    snap: snapshot({
      dynamic: { ttl: 5, loop_wait: 1, retry_timeout: 2, maximum_lag_on_failover: 1048576, postgresql: { parameters: {} }, synchronous_mode: true },
      cluster: cluster({ sync: { leader: 'a', sync_standby: 'b' } }),
      peers: [peer('a', 500, { inRecovery: false })],
    }),
    rule: 'not-candidate',
    actions: [],
  },
  {
    scenario: 'an unreachable former master does not block the race',
    snap: snapshot({ peers: [peer('a', 500, { inRecovery: false, reachable: false })] }),
    rule: 'race',
    actions: ['acquireLeader', 'promote'],
  },
  {
    scenario: 'failsafe_mode: a replica missing from the failsafe key never races (it promised nothing)',
    snap: snapshot({ cluster: cluster({ failsafe: { a: 'http://127.0.0.1:8008/patroni', c: 'http://127.0.0.1:8008/patroni' } }), peers: [peer('c', 900)] }),
    rule: 'not-candidate',
    actions: [],
  },
  {
    scenario: 'failsafe_mode off: the failsafe key does not restrict the race',
    snap: snapshot({
      dynamic: { ttl: 5, loop_wait: 1, retry_timeout: 2, maximum_lag_on_failover: 1048576, postgresql: { parameters: {} }, failsafe_mode: false },
      cluster: cluster({ failsafe: { a: 'http://127.0.0.1:8008/patroni' } }),
      peers: [peer('c', 900)],
    }),
    rule: 'race',
    actions: ['acquireLeader', 'promote'],
  },
  {
    scenario: 'no failsafe key yet (a new cluster): the race is open',
    snap: snapshot({ cluster: cluster({ failsafe: null }), peers: [peer('c', 900)] }),
    rule: 'race',
    actions: ['acquireLeader', 'promote'],
  },
  {
    scenario: 'a member whose governor started less than ttl + 2 s ago does not race (a promise it gave may still run)',
    snap: snapshot({ startedAt: NOW - 6000, peers: [peer('c', 900)] }),
    rule: 'not-candidate',
    actions: [],
  },
  {
    scenario: 'ttl + 2 s after its start, a restarted member races',
    snap: snapshot({ startedAt: NOW - 7000, peers: [peer('c', 900)] }),
    rule: 'race',
    actions: ['acquireLeader', 'promote'],
  },
  {
    scenario: 'nofailover replica never races',
    snap: snapshot({ tags: { nofailover: true }, peers: [] }),
    rule: 'not-candidate',
    actions: [],
  },
  {
    scenario: 'replica beyond maximum_lag_on_failover never races',
    snap: snapshot({ cluster: cluster({ leaderOptime: 1000 + 2 * 1048576 }), peers: [] }),
    rule: 'not-candidate',
    actions: [],
  },
  {
    scenario: 'free key and a failover request for another member: wait for it',
    snap: snapshot({ cluster: cluster({ failover: { leader: 'a', member: 'c' } }), peers: [] }),
    rule: 'failover-to-other',
    actions: [],
  },
  {
    scenario: 'free key and a failover request for us: take over without comparing',
    snap: snapshot({ cluster: cluster({ failover: { leader: 'a', member: 'b' } }), peers: [peer('c', 9999)] }),
    rule: 'failover-to-me',
    actions: ['acquireLeader', 'promote'],
  },
  {
    scenario: 'failover request naming a member that is gone is ignored',
    snap: snapshot({ cluster: cluster({ failover: { member: 'zz' } }), peers: [] }),
    rule: 'race',
    actions: ['acquireLeader', 'promote'],
  },
  {
    scenario: 'primary whose key vanished tries to re-acquire it',
    snap: snapshot({ self: 'a', local: { dataDir: 'initialized', control: null, pg: primaryPg } }),
    rule: 'reacquire',
    actions: ['acquireLeader'],
  },
  {
    scenario: 'no leader and PostgreSQL stopped: start read-only to stand as candidate',
    snap: snapshot({ local: { dataDir: 'initialized', control: controlOf(false), pg: stoppedPg } }),
    rule: 'start-as-candidate',
    actions: ['startReplica'],
  },
  {
    scenario: 'reinitialize of a replica re-clones from the master',
    snap: snapshot({ cluster: cluster({ leader: leaderKey('a') }), requests: { restart: false, reinitialize: true } }),
    rule: 'reinitialize',
    actions: ['clearRequests', 'reinitialize'],
  },
  {
    scenario: 'reinitialize of the leader is refused',
    snap: snapshot({ self: 'a', cluster: cluster({ leader: leaderKey('a') }), local: { dataDir: 'initialized', control: null, pg: primaryPg }, requests: { restart: false, reinitialize: true } }),
    rule: 'reinitialize-leader-refused',
    actions: ['clearRequests'],
  },
  {
    scenario: 'restart of the master',
    snap: snapshot({ self: 'a', cluster: cluster({ leader: leaderKey('a') }), local: { dataDir: 'initialized', control: null, pg: primaryPg }, requests: { restart: true, reinitialize: false } }),
    rule: 'leader-restart',
    actions: ['clearRequests', 'restart'],
  },
];

