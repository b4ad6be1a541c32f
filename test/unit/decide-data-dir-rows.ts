// Table rows for decide-data-dir.test.ts and rule-coverage.test.ts (not a test file itself).
// The rules about data directories and the initialize key, row by row (rules-data-dir.ts, and the
// start-failure rows of rules.ts), plus the properties every row must keep: nothing destructive on
// a directory governor cannot prove is a cluster of this scope, no bootstrap while a cluster may
// exist, no race while another member says it is the master.

import type { LoopMemory, Snapshot } from '../../src/ha/types.js';
import type { DataDirHold, DataDirReport, PostgresStatus } from '../../src/postgres/types.js';
import { cluster, controlOf, leaderKey, masterMember, member, NOW, peer, primaryPg, replicaPg, snapshot, stoppedPg } from '../helpers/snapshot.js';

export const memory = (over: Partial<LoopMemory> = {}): LoopMemory => ({
  cleanHandoffTo: null, followTarget: 'a', notStreamingSince: null, failsafePromise: null, appliedParameters: {}, ...over,
});

const report = (over: Partial<DataDirReport> = {}): DataDirReport => ({ path: '/pg/data', state: 'initialized', problem: null, hold: null, movedAside: [], ...over });
const withDir = (pg: PostgresStatus, over: Partial<DataDirReport>): PostgresStatus => ({ ...pg, dataDirectory: report(over) });

const FOREIGN = 'data directory /pg/data is not empty and holds no PostgreSQL cluster (no PG_VERSION; 2 entries: a.txt, b.txt): governor leaves it untouched.';
const waitingHold: DataDirHold = { state: 'waiting for reinit', reason: 'rewind-failed: 2 moved-aside copies kept already' };
const refusedHold: DataDirHold = { state: 'data directory refused', reason: 'data directory belongs to database system 42 but cluster 7000000000000000001' };

/** etcd lost every key: no initialize, no leader, no failover, and member keys only as members re-publish them. */
const wiped = (members = [masterMember('a'), member('b'), member('c')]) => cluster({ initialize: null, leader: null, members, leaderOptime: null });

const stoppedWithData = (wasPrimary = false) => ({ dataDir: 'initialized' as const, control: controlOf(wasPrimary), pg: stoppedPg });
const failures = (count: number, cause: 'data' | 'port' | 'unknown') => ({ count, diagnosis: { cause, evidence: cause === 'data' ? 'PANIC:  could not locate a valid checkpoint record' : null } });

export interface Row {
  scenario: string;
  snap: Snapshot;
  rule: string;
  actions: string[];
  says?: RegExp;
}

export const rows: Row[] = [
  {
    scenario: 'a bootstrap placeholder nobody has reported working on for ttl: removed',
    snap: snapshot({ cluster: cluster({ initialize: '', leader: null, members: [member('a', { role: 'uninitialized', state: 'stopped' })] }), local: { dataDir: 'empty', control: null, pg: stoppedPg }, memory: memory({ bootstrapQuietSince: NOW - 5000 }) }),
    rule: 'bootstrap-abandoned',
    actions: ['cancelBootstrap'],
    says: /no member has reported bootstrapping for 5\.0 s/,
  },
  {
    scenario: 'a bootstrap placeholder quiet for less than ttl: wait (the bootstrapper may be about to report)',
    snap: snapshot({ cluster: cluster({ initialize: '', leader: null, members: [member('a', { role: 'uninitialized', state: 'stopped' })] }), local: { dataDir: 'empty', control: null, pg: stoppedPg }, memory: memory({ bootstrapQuietSince: NOW - 4999 }) }),
    rule: 'wait-for-data-source',
    actions: [],
  },
  {
    scenario: 'a bootstrap in progress (a member says bootstrapping): wait',
    snap: snapshot({ cluster: cluster({ initialize: '', leader: null, members: [member('a', { role: 'uninitialized', state: 'bootstrapping' })] }), local: { dataDir: 'empty', control: null, pg: stoppedPg }, memory: memory({ bootstrapQuietSince: null }) }),
    rule: 'wait-for-data-source',
    actions: [],
  },
  {
    scenario: 'foreign content in data_dir: refused, nothing done, the refusal names it',
    snap: snapshot({ cluster: cluster({ leader: leaderKey('a') }), local: { dataDir: 'foreign', control: null, pg: withDir(stoppedPg, { state: 'foreign', problem: FOREIGN }) } }),
    rule: 'data-dir-foreign',
    actions: [],
    says: /\/pg\/data is not empty and holds no PostgreSQL cluster/,
  },
  {
    scenario: 'foreign content and no leader: still refused (no bootstrap over it)',
    snap: snapshot({ cluster: cluster({ initialize: null, leader: null, members: [] }), local: { dataDir: 'foreign', control: null, pg: withDir(stoppedPg, { state: 'foreign', problem: FOREIGN }) } }),
    rule: 'data-dir-foreign',
    actions: [],
  },
  {
    scenario: 'foreign content, governorctl reinit: move aside and clone',
    snap: snapshot({ cluster: cluster({ leader: leaderKey('a') }), local: { dataDir: 'foreign', control: null, pg: stoppedPg }, requests: { restart: false, reinitialize: true } }),
    rule: 'reinitialize',
    actions: ['clearRequests', 'reinitialize'],
  },
  {
    scenario: 'another system, the refusal already recorded: nothing more',
    snap: snapshot({ cluster: cluster({ leader: leaderKey('a') }), local: { dataDir: 'initialized', control: null, pg: withDir({ ...replicaPg, systemIdentifier: '42' }, { hold: { ...refusedHold, reason: 'data directory belongs to database system 42 but cluster 7000000000000000001: refusing to join, nothing in it is touched; run "governorctl reinit b" to move it aside and clone' } }) } }),
    rule: 'foreign-data',
    actions: [],
  },
  {
    scenario: 'another system, governorctl reinit: move aside and clone',
    snap: snapshot({ cluster: cluster({ leader: leaderKey('a') }), local: { dataDir: 'initialized', control: controlOf(false), pg: withDir({ ...stoppedPg, systemIdentifier: '42' }, { hold: refusedHold }) }, requests: { restart: false, reinitialize: true } }),
    rule: 'reinitialize',
    actions: ['clearRequests', 'reinitialize'],
  },
  {
    scenario: 'refused, and the cluster is this one again: the refusal ends',
    snap: snapshot({ cluster: cluster({ leader: leaderKey('a') }), local: { dataDir: 'initialized', control: null, pg: withDir(replicaPg, { hold: refusedHold }) } }),
    rule: 'data-dir-held',
    actions: ['holdDataDir'],
  },
  {
    scenario: 'refused, and etcd lost initialize: the refused data never records the cluster',
    snap: snapshot({ cluster: wiped(), local: { dataDir: 'initialized', control: controlOf(false), pg: withDir(stoppedPg, { hold: refusedHold }) }, memory: memory({ initializeMissingSince: NOW - 60_000 }) }),
    rule: 'data-dir-held',
    actions: [],
  },
  {
    scenario: 'rewind failed with no room: PostgreSQL stays stopped until governorctl reinit',
    snap: snapshot({ cluster: cluster({ leader: leaderKey('c'), members: [masterMember('c'), member('b')] }), local: { ...stoppedWithData(true), pg: withDir(stoppedPg, { hold: waitingHold }) } }),
    rule: 'data-dir-held',
    actions: [],
    says: /waiting for "governorctl reinit b"/,
  },
  {
    scenario: 'held, no leader: not even started as a candidate',
    snap: snapshot({ cluster: cluster({ leader: null }), local: { ...stoppedWithData(true), pg: withDir(stoppedPg, { hold: waitingHold }) } }),
    rule: 'data-dir-held',
    actions: [],
  },
  {
    scenario: 'held, governorctl reinit: the operator consents',
    snap: snapshot({ cluster: cluster({ leader: leaderKey('a') }), local: { ...stoppedWithData(true), pg: withDir(stoppedPg, { hold: waitingHold }) }, requests: { restart: false, reinitialize: true } }),
    rule: 'reinitialize',
    actions: ['clearRequests', 'reinitialize'],
  },
  {
    scenario: 'etcd wiped under the running master: it records initialize from its PostgreSQL and takes its key back',
    snap: snapshot({ self: 'a', cluster: wiped([]), local: { dataDir: 'initialized', control: null, pg: primaryPg }, memory: memory({ initializeSeen: true, initializeMissingSince: NOW }) }),
    rule: 'adopt-cluster',
    actions: ['adoptCluster', 'acquireLeader'],
    says: /recording this member's database system 7000000000000000001 \(from the running PostgreSQL\); nothing is re-initialized/,
  },
  {
    scenario: 'etcd wiped under a streaming replica: it records initialize too (same system), never the key',
    snap: snapshot({ cluster: wiped([]), memory: memory({ initializeSeen: true, initializeMissingSince: NOW }) }),
    rule: 'adopt-cluster',
    actions: ['adoptCluster'],
  },
  {
    scenario: 'initialize missing, PostgreSQL stopped: wait for members whose PostgreSQL runs',
    snap: snapshot({ cluster: wiped([]), local: stoppedWithData(), memory: memory({ initializeSeen: true, initializeMissingSince: NOW - 1000 }) }),
    rule: 'adopt-wait',
    actions: [],
  },
  {
    scenario: 'initialize missing for ttl, PostgreSQL stopped, a running master is back in etcd: it records, not us',
    snap: snapshot({ cluster: wiped([masterMember('a')]), local: stoppedWithData(), memory: memory({ initializeSeen: true, initializeMissingSince: NOW - 60_000 }) }),
    rule: 'adopt-wait',
    actions: [],
    says: /a run PostgreSQL and record the cluster first/,
  },
  {
    scenario: 'whole cluster restarted after etcd lost its data: after ttl a stopped member records its cluster from pg_control',
    snap: snapshot({ cluster: wiped([member('a', { role: 'uninitialized', state: 'stopped' })]), local: stoppedWithData(), memory: memory({ initializeMissingSince: NOW - 5000 }) }),
    rule: 'adopt-cluster',
    actions: ['adoptCluster'],
    says: /from pg_control/,
  },
  {
    scenario: 'empty member that saw the cluster initialized: etcd lost its keys, no bootstrap',
    snap: snapshot({ cluster: wiped([]), local: { dataDir: 'empty', control: null, pg: stoppedPg }, memory: memory({ initializeSeen: true }) }),
    rule: 'bootstrap-refused',
    actions: [],
    says: /this member saw the cluster initialized: not bootstrapping a new cluster/,
  },
  {
    scenario: 'new empty member, initialize missing but member keys say others run PostgreSQL: no bootstrap',
    snap: snapshot({ cluster: wiped(), local: { dataDir: 'missing', control: null, pg: stoppedPg }, memory: memory({ initializeSeen: false }) }),
    rule: 'bootstrap-refused',
    actions: [],
    says: /a, c have data/,
  },
  {
    scenario: 'new empty member after a whole-cluster stop and etcd data loss: a stopped member with data (role replica) holds it back',
    snap: snapshot({ cluster: wiped([member('a', { role: 'replica', state: 'stopped' })]), local: { dataDir: 'empty', control: null, pg: stoppedPg }, memory: memory({ initializeSeen: false }) }),
    rule: 'bootstrap-refused',
    actions: [],
    says: /a have data/,
  },
  {
    scenario: 'whole cluster stopped and etcd lost its data: stopped members with data do not wait for each other',
    snap: snapshot({ cluster: wiped([member('a', { role: 'replica', state: 'stopped' }), member('c', { role: 'replica', state: 'stopped' })]), local: stoppedWithData(), memory: memory({ initializeMissingSince: NOW - 5000 }) }),
    rule: 'adopt-cluster',
    actions: ['adoptCluster'],
  },
  {
    scenario: 'new cluster, everyone uninitialized: bootstrap',
    snap: snapshot({ cluster: cluster({ initialize: null, members: [member('a', { role: 'uninitialized', state: 'stopped' })] }), local: { dataDir: 'missing', control: null, pg: stoppedPg }, memory: memory({ initializeSeen: false, initializeMissingSince: NOW }) }),
    rule: 'bootstrap',
    actions: ['bootstrap'],
  },
  {
    scenario: 'new cluster, leftovers of our own interrupted initdb: bootstrap (they are cleared first)',
    snap: snapshot({ cluster: cluster({ initialize: null, members: [] }), local: { dataDir: 'incomplete', control: null, pg: stoppedPg } }),
    rule: 'bootstrap',
    actions: ['bootstrap'],
  },
  {
    scenario: 'leftovers of our own interrupted clone: clone again (they are cleared first)',
    snap: snapshot({ cluster: cluster({ leader: leaderKey('a') }), local: { dataDir: 'incomplete', control: null, pg: stoppedPg } }),
    rule: 'clone-from-leader',
    actions: ['clone'],
  },
  {
    scenario: 'leader key gone, a peer says it still runs as master: no race',
    snap: snapshot({ cluster: cluster({ leader: null }), peers: [peer('a', 2000, { inRecovery: false }), peer('c', 900)] }),
    rule: 'not-candidate',
    actions: [],
    says: /a reports PostgreSQL running read-write/,
  },
  {
    scenario: 'etcd lost its keys a moment ago (our own key vanished): no race until ttl has passed, the master may not be listed yet',
    snap: snapshot({ cluster: cluster({ leader: null, members: [member('b'), member('c')] }), peers: [peer('c', 900)], memory: memory({ ownKeySeen: true, ownKeyLostAt: NOW - 100 }) }),
    rule: 'not-candidate',
    actions: [],
    says: /own key vanished from etcd 0\.1 s ago/,
  },
  {
    scenario: 'own key lost more than ttl ago: the race is open again',
    snap: snapshot({ cluster: cluster({ leader: null }), peers: [peer('c', 900)], memory: memory({ ownKeySeen: true, ownKeyLostAt: NOW - 5000 }) }),
    rule: 'race',
    actions: ['acquireLeader', 'promote'],
  },
  {
    scenario: 'three failed starts for a data fault with a master running: re-clone once (through the move-aside policy)',
    snap: snapshot({ cluster: cluster({ leader: leaderKey('a') }), local: stoppedWithData(), memory: memory({ startFailures: failures(3, 'data') }) }),
    rule: 'replica-start-failed-data',
    actions: ['recloneData'],
    says: /could not locate a valid checkpoint record/,
  },
  {
    scenario: 'data fault again after the one re-clone: keep trying, touch nothing',
    snap: snapshot({ cluster: cluster({ leader: leaderKey('a') }), local: stoppedWithData(), memory: memory({ startFailures: failures(3, 'data'), reclonedAfterStartFailures: true }) }),
    rule: 'replica-start-failing',
    actions: ['startReplica'],
    says: /not touched \(it was cloned again once already\)/,
  },
  {
    scenario: 'three failed starts for a port conflict: keep trying, touch nothing',
    snap: snapshot({ cluster: cluster({ leader: leaderKey('a') }), local: stoppedWithData(), memory: memory({ startFailures: failures(3, 'port') }) }),
    rule: 'replica-start-failing',
    actions: ['startReplica'],
    says: /address, port, socket or lock file is in use.*not a data fault/,
  },
  {
    scenario: 'unknown start failures: never a data cause',
    snap: snapshot({ cluster: cluster({ leader: leaderKey('a') }), local: stoppedWithData(), memory: memory({ startFailures: failures(5, 'unknown') }) }),
    rule: 'replica-start-failing',
    actions: ['startReplica'],
  },
  {
    scenario: 'two failed starts: just start again',
    snap: snapshot({ cluster: cluster({ leader: leaderKey('a') }), local: stoppedWithData(), memory: memory({ startFailures: failures(2, 'data') }) }),
    rule: 'replica-start',
    actions: ['startReplica'],
  },
];

