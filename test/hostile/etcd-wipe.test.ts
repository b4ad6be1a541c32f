// etcd loses every key of a running cluster (initialize, leader, members, config, history…) while
// clients write. Governor must treat that as lost bookkeeping, not as an empty cluster: the members
// record `initialize` again from their data, the master keeps its role, nothing is re-initialized,
// and there is never more than one writable member.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Etcd3 } from 'etcd3';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { startEtcdProcess } from '../../src/cli/demo/etcd-process.js';
import { writeManifest } from '../../src/cli/demo/manifest.js';
import { freePort } from '../../src/util/ports.js';
import { isAlive } from '../../src/util/process.js';
import { monotonicMs, sleep } from '../../src/util/time.js';
import { TestCluster } from '../helpers/cluster.js';
import { WritableMonitor } from '../helpers/writable.js';
import { OutageWriter } from '../helpers/writer.js';

type LossKind = 'keys deleted' | 'etcd restarted empty';

describe('etcd wiped under a running 3-member cluster with writes', () => {
  let cluster: TestCluster;
  let etcd: Etcd3;
  const names = () => cluster.manifest.nodes.map((n) => n.name);
  const prefix = () => cluster.etcdKey('');

  before(async () => {
    cluster = await TestCluster.start(3);
    etcd = new Etcd3({ hosts: cluster.manifest.etcd.endpoints });
  });
  after(async () => {
    etcd?.close();
    await cluster?.stop();
  });

  /** Delete every key of the cluster, then poll (100 ms) until it is whole again: `initialize`
   *  recorded with `system`, `leader` holding the leader key, every other member streaming from it
   *  as every member sees it. wholeAt is 0 when that did not happen within 60 s. */
  async function wipeAndWaitWhole(leader: string, system: string, how: LossKind): Promise<{ wipedAt: number; wholeAt: number; last: string }> {
    const wipedAt = monotonicMs();
    if (how === 'keys deleted') {
      const { deleted } = await etcd.delete().prefix(prefix());
      assert.ok(Number(deleted) >= 5, `deleted ${deleted} keys`);
    } else {
      await restartEtcdEmpty();
    }
    let last = '';
    while (monotonicMs() < wipedAt + 60_000) {
      const [initialize, leaderKey] = await Promise.all([etcd.get(`${prefix()}initialize`).string(), etcd.get(`${prefix()}leader`).string()]);
      const views = await Promise.all(names().map((n) => cluster.clusterDoc([n])));
      const whole = views.every((v) =>
        v.members.length === names().length &&
        v.members.every((m) => (m.name === leader ? m.role === 'leader' && m.state === 'running' : m.state === 'streaming')));
      if (initialize === system && leaderKey === leader && whole) return { wipedAt, wholeAt: monotonicMs(), last };
      last = `initialize ${initialize}, leader ${leaderKey}, views ${JSON.stringify(views.map((v) => v.members.map((m) => `${m.name}=${m.role}/${m.state}`)))}`;
      await sleep(100);
    }
    return { wipedAt, wholeAt: 0, last };
  }

  /** etcd dies and comes back on the same address with an empty data directory: every key and
   *  every lease gone (a lost disk, a restore gone wrong). */
  async function restartEtcdEmpty(): Promise<void> {
    const { pid, data_dir: dataDir, endpoints } = cluster.manifest.etcd;
    process.kill(pid, 'SIGKILL');
    await cluster.waitFor('etcd to exit', async () => !isAlive(pid), 10_000);
    rmSync(dataDir, { recursive: true, force: true });
    const clientPort = Number(new URL(endpoints[0]!).port);
    const started = await startEtcdProcess({ dataDir, clientPort, peerPort: await freePort(), logFile: path.join(cluster.dir, 'etcd.log'), detached: true });
    cluster.manifest.etcd.pid = started.pid;
    writeManifest(cluster.dir, cluster.manifest); // demo down stops the new one
  }

  for (const how of ['keys deleted', 'etcd restarted empty'] as const) test(`${how}: one master throughout, same system everywhere, initialize recorded again, no acknowledged write lost, every member streaming`, async () => {
    const leader = await cluster.waitHealthy();
    const systemOf = async (name: string) => (await cluster.query<{ id: string }>(name, 'SELECT system_identifier::text AS id FROM pg_control_system()'))[0]!.id;
    const system = await systemOf(leader);
    const postmasters = Object.fromEntries(names().map((n) => [n, cluster.postmasterPid(n)]));
    const logSizes = Object.fromEntries(names().map((n) => [n, cluster.logOf(n).length]));
    const newLog = (name: string) => cluster.logOf(name).slice(logSizes[name]);
    const { loopWaitMs } = await cluster.timing([leader]);

    const targets = names().map((name) => ({ name, config: cluster.connectionConfig(cluster.node(name)) }));
    await OutageWriter.prepare(targets.find((t) => t.name === leader)!);
    const writer = new OutageWriter(targets, 20);
    const watch = new WritableMonitor(targets, 50);
    watch.start();
    writer.start();
    let outcome = { wipedAt: 0, wholeAt: 0, last: '' };
    try {
      await cluster.waitFor('writes acknowledged before the wipe', async () => writer.acks.length >= 20, 10_000);
      outcome = await wipeAndWaitWhole(leader, system, how);
      await sleep(loopWaitMs); // writes go on for a loop after it is whole
    } finally {
      await writer.stop();
      await watch.stop();
    }
    const { wipedAt, wholeAt, last } = outcome;
    assert.ok(wholeAt > 0, `whole again within 60 s; last seen: ${last}\n${names().map((n) => `--- ${n}\n${newLog(n).split('\n').filter((l) => !l.includes('"debug"')).slice(0, 25).join('\n')}`).join('\n')}`);

    assert.deepEqual(watch.dual.map((d) => `${(d.from - wipedAt).toFixed(0)}-${(d.to - wipedAt).toFixed(0)} ms: ${d.members.join(', ')}`), [], 'never two writable members');
    const afterWipe = watch.answers.filter((a) => a.at > wipedAt);
    assert.ok(afterWipe.length > 30, `${afterWipe.length} answers polled after the wipe`);
    assert.deepEqual([...new Set(afterWipe.filter((a) => a.writable).map((a) => a.name))], [leader], 'only the master was ever writable');

    for (const name of names()) {
      assert.equal(await systemOf(name), system, `${name} still belongs to database system ${system}`);
      assert.equal(cluster.postmasterPid(name), postmasters[name], `${name}'s PostgreSQL was never restarted, let alone re-initialized`);
      assert.doesNotMatch(newLog(name), /racing to bootstrap|initialized data directory|"action":"(bootstrap|clone|reinitialize|recloneData|rewind|promote)"/, `${name} bootstrapped, re-cloned or promoted`);
    }
    assert.ok(names().some((n) => /recorded the initialize key again from this member's data/.test(newLog(n))));
    assert.ok(await etcd.get(`${prefix()}config`).string(), 'the dynamic configuration was written back');

    const acked = writer.acks.map((a) => a.id);
    const present = await cluster.query<{ id: string }>(leader, 'SELECT id::text AS id FROM outage_probe WHERE id = ANY($1::bigint[])', [acked]);
    assert.equal(present.length, acked.length, 'every acknowledged write is on the master');
    assert.ok(writer.acks.some((a) => a.at > wholeAt), 'the master kept acknowledging writes');
    const gap = writer.longestGap(wipedAt, wholeAt);
    process.stdout.write(`# etcd wipe (${how}): whole again after ${(wholeAt - wipedAt).toFixed(0)} ms; longest write gap ${gap.ms.toFixed(0)} ms; ${acked.length} acknowledged writes, ${watch.answers.length} read-write polls (${afterWipe.length} after the wipe)\n`);
  });
});
