// ActionExecutor on its own, against the fakes: each action is one step over the injected DCS,
// PostgreSQL and I/O, and what a protocol must remember goes into the loop's memory (where the rules
// read it), not into the executor. The member's own HaLoop is left idle while a test drives a
// separate executor over the same fakes.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ClusterView } from '../../src/dcs/types.js';
import { KEY } from '../../src/dcs/keys.js';
import { ActionExecutor, type ExecutorContext } from '../../src/ha/execute.js';
import { switchoverChain } from '../../src/ha/rules-leader.js';
import type { Handover, LoopMemory } from '../../src/ha/types.js';
import { createLogger } from '../../src/log/logger.js';
import { FakeCluster, flush } from '../fakes/cluster.js';

async function runningCluster(): Promise<FakeCluster> {
  const cluster = await FakeCluster.start();
  await cluster.settle();
  return cluster;
}

function executorFor(cluster: FakeCluster, name: string) {
  const m = cluster.member(name);
  const memory: LoopMemory = { cleanHandoffTo: null, followTarget: null, notStreamingSince: null, failsafePromise: null, appliedParameters: null };
  const seen = { primary: [] as boolean[], key: [] as boolean[], touched: [] as Array<string | undefined>, routed: [] as ClusterView[], logs: [] as string[] };
  let view: ClusterView | null = null;
  const ctx: ExecutorContext = {
    config: m.config,
    dcs: m.dcs,
    pg: m.pg,
    logger: createLogger({ level: 'debug', member: name, write: (line) => seen.logs.push(line) }),
    memory,
    requests: { restart: false, reinitialize: false },
    io: m.io,
    current: () => ({ dynamic: m.config.bootstrap.dcs, cluster: view }),
    setPrimary: (primary) => seen.primary.push(primary),
    touchMember: async (state) => {
      seen.touched.push(state);
    },
    leaderKey: (held) => seen.key.push(held),
    route: (cluster) => seen.routed.push(cluster),
  };
  const executor = new ActionExecutor(ctx);
  return {
    m,
    executor,
    memory,
    seen,
    /** Read the cluster view the next actions act on (the loop's current()). */
    async read(): Promise<ClusterView> {
      view = await m.dcs.readCluster();
      return view;
    },
  };
}

/** Run an action that waits in fake time (the handover check polls), letting time pass meanwhile. */
async function runWhileTimePasses(cluster: FakeCluster, run: Promise<boolean>): Promise<boolean> {
  let done = false;
  void run.finally(() => (done = true));
  for (let i = 0; i < 400 && !done; i++) {
    await cluster.advance(100); // timers too: the member's lease keeps being renewed meanwhile
    await flush();
  }
  return run;
}

describe('ActionExecutor against the fakes', () => {
  test('restart uses the role the rule gave it; it does not query PostgreSQL to guess one', async () => {
    const cluster = await runningCluster();
    const { m, executor, seen } = executorFor(cluster, 'm2');
    const statusReads = m.pg.faults.calls('status');
    assert.equal(await executor.run({ type: 'restart', role: 'replica' }), true);
    assert.equal(m.pg.faults.calls('status'), statusReads, 'no status query');
    assert.ok(m.pg.isReplica);
    assert.deepEqual(seen.primary, [false, false]);
    const master = executorFor(cluster, 'm1');
    assert.equal(await master.executor.run({ type: 'restart', role: 'primary' }), true);
    assert.ok(master.m.pg.isPrimary);
    assert.deepEqual(master.seen.primary, [false, true]);
  });

  test('a failed action counts towards the loop\'s back-off; one beside the loop does not; a success resets it', async () => {
    const cluster = await runningCluster();
    const { m, executor, memory } = executorFor(cluster, 'm2');
    m.pg.faults.failOn('stop', { times: 2 });
    assert.equal(await executor.runBeside({ type: 'stop', mode: 'immediate' }), false);
    assert.equal(memory.actionErrors ?? 0, 0, 'beside the loop: not counted');
    assert.equal(await executor.run({ type: 'stop', mode: 'immediate' }), false);
    assert.equal(memory.actionErrors, 1);
    assert.equal(await executor.run({ type: 'stop', mode: 'immediate' }), true);
    assert.equal(memory.actionErrors, 0);
  });

  test('route hands the view to the routing hook, beside the loop', async () => {
    const cluster = await runningCluster();
    const { executor, seen, read, memory } = executorFor(cluster, 'm2');
    const view = await read();
    assert.equal(await executor.runBeside({ type: 'route', cluster: view }), true);
    assert.deepEqual(seen.routed.map((v) => v.leader?.name), ['m1']);
    assert.equal(memory.actionErrors, undefined);
  });

  test('pg_rewind failing leaves rewindFailedFrom for rule rewind-failed and touches no data', async () => {
    const cluster = await runningCluster();
    const { m, executor, memory, read } = executorFor(cluster, 'm2');
    const view = await read();
    const master = view.members.find((x) => x.name === 'm1')!;
    m.pg.refuseRewinds = 1;
    const before = m.pg.cluster?.systemIdentifier;
    assert.equal(await executor.run({ type: 'rewind', source: master }), false);
    assert.equal(memory.rewindFailedFrom, 'm1');
    assert.equal(memory.actionErrors, 0, 'a failed pg_rewind is an outcome, not an error');
    assert.equal(m.pg.copiesMovedAside.length, 0, 'nothing moved: the rule decides');
    assert.equal(m.pg.cluster?.systemIdentifier, before);
    // A rewind that works clears it.
    assert.equal(await executor.run({ type: 'rewind', source: master }), true);
    assert.equal(memory.rewindFailedFrom, null);
  });

  test('a master start that fails is counted with its role, and the key stays (rule leader-start-failed releases it)', async () => {
    const cluster = await runningCluster();
    const { m, executor, memory } = executorFor(cluster, 'm1');
    m.pg.crash();
    m.pg.logText = 'FATAL:  could not bind IPv4 address "10.0.0.1": Address already in use';
    m.pg.faults.failOn('start');
    assert.equal(await executor.run({ type: 'startPrimary' }), false);
    assert.equal(memory.startFailures?.role, 'primary');
    assert.equal(memory.startFailures?.count, 1);
    assert.equal(memory.startFailures?.diagnosis.cause, 'port');
    assert.equal(cluster.leader, 'm1', 'the executor released nothing');
    assert.equal(await executor.run({ type: 'startPrimary' }), true);
    assert.equal(memory.startFailures, null, 'a start that works clears the count');
  });

  test('switchover steps: an unconfirmed handover is recorded for switchover-abort, and the key is kept', async () => {
    const cluster = await runningCluster();
    const { m, executor, memory, read } = executorFor(cluster, 'm1');
    const candidate = (await read()).members.find((x) => x.name === 'm2')!;
    m.io.faults.failOn('openWalPositionProbe', { times: 100 });
    m.io.faults.failOn('walPosition', { times: 1_000_000 });
    m.pg.write(1000);
    assert.equal(await executor.run({ type: 'prepareHandover', candidate }), true);
    assert.deepEqual(memory.handover, { candidate: 'm2', shutdownLsn: null });
    assert.equal(await executor.run({ type: 'stopForHandover', candidate }), true);
    assert.ok(typeof memory.handover?.shutdownLsn === 'number', 'the shutdown checkpoint is recorded');
    assert.equal(await runWhileTimePasses(cluster, executor.run({ type: 'confirmHandover', candidate })), false);
    const handover = memory.handover as Handover | null;
    assert.ok(handover?.unconfirmed && handover.unconfirmed.waitedMs >= 10_000, JSON.stringify(handover));
    assert.equal(cluster.leader, 'm1', 'no key handed over');
  });

  test('switchover steps: a confirmed handover hands the key over and remembers the clean handoff', async () => {
    const cluster = await runningCluster();
    const { executor, memory, read, seen } = executorFor(cluster, 'm1');
    const candidate = (await read()).members.find((x) => x.name === 'm2')!;
    for (const step of switchoverChain(candidate)) assert.equal(await runWhileTimePasses(cluster, executor.run(step)), true, step.type);
    assert.equal(cluster.leader, null, 'the key is free for the candidate');
    assert.equal(memory.cleanHandoffTo, 'm2');
    assert.equal(memory.handover, null);
    assert.deepEqual(seen.key, [true, false]);
  });

  test('cancelBootstrap removes the empty initialize placeholder, never a recorded system identifier', async () => {
    const cluster = await FakeCluster.start();
    const { executor } = executorFor(cluster, 'm2');
    assert.ok(await cluster.member('m1').dcs.raceInitialize());
    assert.equal(cluster.etcd.get(cluster.prefix + KEY.initialize)?.value, '');
    assert.equal(await executor.run({ type: 'cancelBootstrap' }), true);
    assert.equal(cluster.etcd.get(cluster.prefix + KEY.initialize), null);
    assert.ok(await cluster.member('m1').dcs.claimInitialize('7000000000000000001'));
    assert.equal(await executor.run({ type: 'cancelBootstrap' }), true);
    assert.equal(cluster.etcd.get(cluster.prefix + KEY.initialize)?.value, '7000000000000000001');
  });
});
