// Every multi-step protocol of the HA runtime, failed and, separately, interrupted by a daemon
// restart at every one of its steps, against the fakes (test/fakes): a 3-member cluster on one fake
// clock, no process. The steps are not listed by hand: each protocol first runs once cleanly while
// the fakes record every call its member makes (PostgreSQL, etcd, other members), and each recorded
// call of a protocol method becomes two cases: that call fails, or the daemon is killed while that
// call is in flight (it never returns) and started again with empty memory. In every case the
// harness checks after each step that there is never a second writer within its lease window and
// that a clean handover loses no acknowledged WAL; at the end the cluster must have settled on one
// master holding the key, every other member streaming from it, and the protocol's own end state
// (finished or undone).

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { KEY } from '../../src/dcs/keys.js';
import { FakeCluster, type FakeMember } from '../fakes/cluster.js';
import type { Faults } from '../fakes/faults.js';

/** A place to break: the n-th call (1-based, counted from the fakes' creation) of a method. */
interface Step {
  source: 'pg' | 'dcs' | 'io';
  method: string;
  call: number;
}

interface Protocol {
  name: string;
  /** The member that runs the protocol. */
  actor: string;
  /** Bring a fresh cluster to the point just before the protocol. */
  prepare: (cluster: FakeCluster) => Promise<void>;
  /** Start the protocol. */
  trigger: (cluster: FakeCluster) => Promise<void>;
  /** Methods that are part of the protocol (others, like status reads, are every iteration's). */
  methods: string[];
  /** Rules the clean run must have gone through (so the table tests the protocol it names). */
  rules: string[];
  /** A step's failure may end in a hold for the operator (a data directory that cannot be moved
   *  aside stays untouched, PostgreSQL stopped, until governorctl reinit): safety before liveness. */
  mayHold?: boolean;
  /** The protocol's end state once settled, finished or undone. */
  check: (cluster: FakeCluster) => void;
}

const TTL_MS = 5000;

async function runningCluster(): Promise<FakeCluster> {
  const cluster = await FakeCluster.start();
  await cluster.settle();
  await cluster.run(8000);
  await cluster.settle();
  return cluster;
}

function faultsOf(m: FakeMember, source: Step['source']): Faults {
  return source === 'pg' ? m.pg.faults : source === 'dcs' ? m.dcs.faults : m.io.faults;
}

/** Let the cluster run (timers, an iteration per member every loop_wait, as the daemons do) until it
 *  has one master holding the key and every other member streaming from it, for two loop_waits in a
 *  row; at most 90 s of fake time. Only run(): an action waiting in fake time (the handover check)
 *  needs the clock to move while it is in flight. */
async function converge(cluster: FakeCluster): Promise<void> {
  let healthyFor = 0;
  for (let ms = 0; ms < 90_000 && healthyFor < 2; ms += 1000) {
    await cluster.run(1000);
    const leader = cluster.leader;
    const others = [...cluster.members.values()].filter((m) => m.name !== leader);
    const healthy = leader !== null && cluster.primaries.length === 1 && cluster.primaries[0] === leader && others.every((m) => m.pg.streamingFrom?.member === leader);
    healthyFor = healthy ? healthyFor + 1 : 0;
  }
}

function assertHealthy(cluster: FakeCluster, label: string, mayHold = false): void {
  const leader = cluster.assertSettledMaster();
  for (const m of cluster.members.values()) {
    if (m.name === leader) continue;
    if (mayHold && m.rule === 'data-dir-held' && !m.pg.up && m.pg.cluster !== null) continue;
    assert.equal(m.pg.streamingFrom?.member, leader, `${label}: ${m.name} streams from the master\n${cluster.describe()}`);
  }
  assert.deepEqual(cluster.violations, [], label);
}

const SWITCHOVER_METHODS = ['confirmLeader', 'checkpoint', 'openWalPositionProbe', 'walPosition', 'stopAtShutdownCheckpoint', 'releaseLeader', 'stop', 'writeConfig', 'start', 'clearFailover', 'rewind', 'promote', 'acquireLeader'];

const protocols: Protocol[] = [
  {
    name: 'switchover',
    actor: 'm1',
    prepare: async (cluster) => {
      cluster.member('m1').pg.write(20_000);
    },
    trigger: async (cluster) => {
      await cluster.member('m1').dcs.setFailover({ leader: 'm1', member: 'm2' });
    },
    methods: SWITCHOVER_METHODS,
    rules: ['switchover'],
    check: (cluster) => {
      assert.ok(['m1', 'm2'].includes(cluster.leader!), `the master is the old one or the candidate, not ${cluster.leader}`);
      assert.equal(cluster.etcd.get(cluster.prefix + KEY.failover), null, 'the request is done or cleared');
    },
  },
  {
    name: 'switchover aborted (the candidate never confirms the shutdown checkpoint)',
    actor: 'm1',
    prepare: async (cluster) => {
      const io = cluster.member('m1').io;
      // The candidate cannot be asked: neither its PostgreSQL nor its REST API answers m1.
      io.faults.failOn('openWalPositionProbe', { times: 1_000_000 });
      io.faults.failOn('walPosition', { times: 1_000_000 });
    },
    trigger: async (cluster) => {
      await cluster.member('m1').dcs.setFailover({ leader: 'm1', member: 'm2' });
    },
    methods: ['confirmLeader', 'checkpoint', 'stopAtShutdownCheckpoint', 'stop', 'writeConfig', 'start', 'clearFailover'],
    rules: ['switchover', 'switchover-abort'],
    check: (cluster) => {
      // Undone (m1 stays master), or, when m1's daemon died while its PostgreSQL was stopped for the
      // handover, finished by the candidate once the key expired: never anything else.
      assert.ok(['m1', 'm2'].includes(cluster.leader!), `the master is m1 or the candidate, not ${cluster.leader}`);
      assert.equal(cluster.etcd.get(cluster.prefix + KEY.failover), null, 'the request is cleared');
    },
  },
  {
    name: 'former master rejoins: pg_rewind fails, the data makes way for a clone',
    actor: 'm1',
    prepare: async (cluster) => {
      const m1 = cluster.member('m1');
      m1.pg.write(5000);
      cluster.killMachine('m1');
      await converge(cluster);
      cluster.member(cluster.leader!).pg.write(1000);
      m1.pg.refuseRewinds = 1;
    },
    trigger: async (cluster) => {
      await cluster.reviveMachine('m1');
    },
    methods: ['rewind', 'stop', 'moveDataDirAside', 'createDataDir', 'basebackup', 'writeConfig', 'start'],
    rules: ['former-master-rewind', 'rewind-failed'],
    mayHold: true,
    check: (cluster) => {
      const m1 = cluster.member('m1');
      assert.notEqual(cluster.leader, 'm1');
      assert.ok(m1.pg.copiesMovedAside.length <= 1, 'at most the one copy moved aside');
    },
  },
  {
    name: 'a replica fails to start three times for a data fault: cloned again once',
    actor: 'm3',
    prepare: async (cluster) => {
      const m3 = cluster.member('m3');
      m3.pg.logText = 'PANIC:  could not locate a valid checkpoint record';
      m3.pg.crash();
      m3.pg.faults.failOn('start', { times: 3 });
    },
    trigger: async () => undefined,
    methods: ['start', 'writeConfig', 'moveDataDirAside', 'createDataDir', 'basebackup'],
    rules: ['replica-start', 'replica-start-failed-data'],
    mayHold: true,
    check: (cluster) => {
      assert.equal(cluster.leader, 'm1');
    },
  },
  {
    name: 'the master cannot start PostgreSQL: it releases the key and a replica takes over',
    actor: 'm1',
    prepare: async (cluster) => {
      const m1 = cluster.member('m1');
      m1.pg.logText = 'FATAL:  could not bind IPv4 address "10.0.0.1": Address already in use';
      m1.pg.crash();
      m1.pg.faults.failOn('start');
    },
    trigger: async () => undefined,
    methods: ['start', 'writeConfig', 'releaseLeader', 'rewind', 'stop'],
    rules: ['leader-start', 'leader-start-failed'],
    check: (cluster) => {
      assert.ok(cluster.leader !== null);
    },
  },
  {
    name: 'bootstrap of a new cluster',
    actor: 'm1',
    prepare: async () => undefined,
    trigger: async () => undefined,
    methods: ['raceInitialize', 'createDataDir', 'initdb', 'writeConfig', 'start', 'createRoles', 'acquireLeader', 'setConfig', 'setHistory', 'setInitialize'],
    rules: ['bootstrap'],
    check: (cluster) => {
      const initialize = cluster.etcd.get(cluster.prefix + KEY.initialize)?.value;
      assert.equal(initialize, cluster.member(cluster.leader!).pg.cluster?.systemIdentifier, 'initialize records the master\'s system');
    },
  },
];

/** A fresh cluster brought to the protocol's start (bootstrap starts from nothing). */
async function fresh(protocol: Protocol): Promise<FakeCluster> {
  const cluster = protocol.rules.includes('bootstrap') ? await FakeCluster.start() : await runningCluster();
  await protocol.prepare(cluster);
  return cluster;
}

/** Run the protocol once without a fault and list its steps from the calls its member made. */
async function discoverSteps(protocol: Protocol): Promise<{ steps: Step[]; rules: string[] }> {
  const cluster = await fresh(protocol);
  const actor = cluster.member(protocol.actor);
  const sources: Step['source'][] = ['pg', 'dcs', 'io'];
  const before = Object.fromEntries(sources.map((s) => [s, faultsOf(actor, s).history.length]));
  const firstIteration = cluster.iterations.length;
  await protocol.trigger(cluster);
  await converge(cluster);
  assertHealthy(cluster, `${protocol.name}, clean run`);
  protocol.check(cluster);
  const steps: Step[] = [];
  for (const source of sources) {
    const history = faultsOf(actor, source).history;
    const counts = new Map<string, number>();
    history.forEach((method, index) => {
      counts.set(method, (counts.get(method) ?? 0) + 1);
      if (index < before[source]! || !protocol.methods.includes(method)) return;
      // The first three calls of a method in the protocol's run: later ones (a master renewing its
      // key every loop_wait once it is over) are the steady state, not the protocol.
      if (steps.filter((s) => s.source === source && s.method === method).length >= 3) return;
      steps.push({ source, method, call: counts.get(method)! });
    });
  }
  const rules = cluster.iterations.slice(firstIteration).filter((i) => i.member === protocol.actor).map((i) => i.rule ?? '');
  return { steps, rules };
}

const label = (s: Step) => `${s.source}.${s.method} #${s.call}`;

for (const protocol of protocols) {
  describe(`protocol: ${protocol.name}`, async () => {
    const { steps, rules } = await discoverSteps(protocol);

    test('the clean run goes through the protocol\'s rules and has steps to break', () => {
      for (const rule of protocol.rules) assert.ok(rules.includes(rule), `rule ${rule} in ${rules.join(' ')}`);
      assert.ok(steps.length >= 2, `steps found: ${steps.map(label).join(', ')}`);
    });

    for (const step of steps) {
      for (const how of ['fails at', 'daemon restarted during'] as const) {
        test(`${how} ${label(step)}: one writer throughout, then settled and ${protocol.name.split(' (')[0]} finished or undone`, async () => {
          const cluster = await fresh(protocol);
          const faults = faultsOf(cluster.member(protocol.actor), step.source);
          const after = step.call - 1 - faults.calls(step.method);
          if (how === 'fails at') {
            faults.failOn(step.method, { after });
            await protocol.trigger(cluster);
          } else {
            const hang = faults.hangOn(step.method, { after });
            await protocol.trigger(cluster);
            for (let i = 0; i < 600 && !hang.isReached; i++) await cluster.advance(100, { iterate: true });
            assert.ok(hang.isReached, `${label(step)} was reached`);
            // The daemon dies inside that call: it never returns (the held promise is left behind).
            cluster.stopDaemon(protocol.actor);
            await cluster.startDaemon(protocol.actor);
          }
          await converge(cluster);
          assertHealthy(cluster, `${how} ${label(step)}`, protocol.mayHold);
          protocol.check(cluster);
        });
      }
    }
  });
}
