// Hostile failsafe answers (safety rule 1), against a real 3-member cluster in synchronous mode under
// write load, each case judged by the chaos suite's history checker (no two masters' writes
// interleaved, no acknowledged write lost) and by a monitor that asks every member every 50 ms
// whether it runs read-write (never two at once):
// - stand-ins on the members' REST addresses that answer 200 to everything, replay a valid answer
//   captured earlier, or answer with a valid proof for another cluster: the master cut off from
//   etcd must stop accepting writes within 2 s, as if nobody had answered;
// - a member that confirmed the master and then restarted during the etcd outage, and a member
//   that joined during it: neither races for the key while the master's failsafe promise can run.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { parse } from 'yaml';
import { signAnswer } from '../../src/ha/failsafe-proof.js';
import { isAlive } from '../../src/util/process.js';
import { monotonicMs, sleep } from '../../src/util/time.js';
import { TestCluster, type ClusterTiming } from '../helpers/cluster.js';
import { WritableMonitor } from '../helpers/writable.js';
import { finalState, waitRedundant } from '../chaos/cluster-state.js';
import { judge, describeVerdict } from '../chaos/history.js';
import { chaosTargets, memberLookup } from '../chaos/run.js';
import { ChaosWriters } from '../chaos/writers.js';

describe('hostile failsafe answers (3 members, synchronous mode, ttl 5)', { timeout: 600_000 }, () => {
  let cluster: TestCluster;
  let timing: ClusterTiming;
  let writers: ChaosWriters;
  let monitor: WritableMonitor;
  const measured: Record<string, number | string> = {};

  before(async () => {
    cluster = await TestCluster.start(3, ['--no-archive']);
    timing = await cluster.timing();
    const edit = await cluster.ctl(['edit-config', '--set', 'synchronous_mode=true', '--force', '--quiet']);
    assert.equal(edit.code, 0, edit.stderr);
    const ready = await waitRedundant(cluster, true, 120_000);
    assert.ok(ready.leader, `no synchronous standby: ${ready.problems.join('; ')}`);
    await ChaosWriters.createTable(cluster.connectionConfig(cluster.node(ready.leader)));
    // Direct clients only: HAProxy's write port is not what is being judged here.
    writers = new ChaosWriters(chaosTargets(cluster).filter((t) => t.client.startsWith('direct-')), memberLookup(cluster));
    writers.start();
    monitor = new WritableMonitor(cluster.manifest.nodes.map((n) => ({ name: n.name, config: cluster.connectionConfig(n) })), 50);
    monitor.start();
  });

  after(async () => {
    console.log(`# hostile failsafe: ${JSON.stringify(measured)}`);
    await writers?.stop();
    await monitor?.stop();
    await cluster?.stop();
  });

  const etcdPid = () => cluster.manifest.etcd.pid;
  /** How long an etcd outage lasts to outlive every lease taken before it: a lease and three
   *  loops more (8 s at ttl 5, loop_wait 1). */
  const pastAnyLeaseMs = () => timing.ttlMs + 3 * timing.loopWaitMs;
  const secret = (): string => (parse(readFileSync(cluster.manifest.nodes[0]!.config_file, 'utf8')) as { cluster_secret: string }).cluster_secret;

  /** The whole history so far, judged on a fully redundant cluster. */
  async function judgeHistory(what: string): Promise<void> {
    const back = await waitRedundant(cluster, true, 120_000);
    assert.ok(back.leader, `${what}: not back to full redundancy: ${back.problems.join('; ')}`);
    const verdict = judge({ attempts: [...writers.attempts], final: await finalState(cluster, 30_000), synchronous: true });
    assert.deepEqual(verdict.dualMasters, [], `${what}: two masters' writes interleaved\n${describeVerdict(verdict).join('\n')}`);
    assert.deepEqual(verdict.lostAcked, [], `${what}: acknowledged writes lost\n${describeVerdict(verdict).join('\n')}`);
    assert.deepEqual(monitor.dual, [], `${what}: two members ran read-write at once: ${JSON.stringify(monitor.dual)}`);
  }

  /** Members' governors frozen (their PostgreSQL streams on) and their member keys pointed at
   *  stand-ins, as anyone with write access to etcd could; resolves once the master's view has
   *  the stand-ins' addresses. Returns the undo. */
  async function replaceWithStandIns(
    leader: string,
    names: string[],
    answer: (body: Record<string, unknown>, member: string) => { status: number; body: string },
  ): Promise<() => Promise<void>> {
    const servers: http.Server[] = [];
    const frozen: number[] = [];
    const urls = new Map<string, string>();
    const undo = async () => {
      for (const pid of frozen) process.kill(pid, 'SIGCONT');
      for (const server of servers) {
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
    };
    try {
      for (const name of names) {
        const server = http.createServer((req, res) => {
          let text = '';
          req.on('data', (chunk) => (text += chunk));
          req.on('end', () => {
            let body: Record<string, unknown> = {};
            try {
              body = JSON.parse(text) as Record<string, unknown>;
            } catch {
              // not JSON: answer anyway
            }
            const reply = answer(body, name);
            res.writeHead(reply.status, { 'Content-Type': 'application/json' });
            res.end(reply.body);
          });
        });
        await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
        servers.push(server);
        const pid = cluster.governorPid(name);
        process.kill(pid, 'SIGSTOP');
        frozen.push(pid);
        const key = cluster.etcdKey(`members/${name}`);
        const current = JSON.parse(await cluster.etcdctl(['get', '--print-value-only', key])) as Record<string, unknown>;
        const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/patroni`;
        urls.set(name, url);
        await cluster.etcdctl(['put', key, JSON.stringify({ ...current, api_url: url })]);
      }
      await cluster.waitFor(`${leader}'s view to name the stand-ins`, async () => {
        const doc = JSON.parse((await cluster.api(leader, '/cluster')).body) as { members: Array<{ name: string; api_url: string }> };
        return names.every((name) => doc.members.find((m) => m.name === name)?.api_url === urls.get(name));
      }, 15_000);
    } catch (error) {
      await undo();
      throw error;
    }
    return undo;
  }

  /** etcd frozen with stand-ins in place: how long the master went on acknowledging writes. */
  async function isolatedMasterStops(what: string, answer: Parameters<typeof replaceWithStandIns>[2]): Promise<void> {
    const leader = (await waitRedundant(cluster, true, 120_000)).leader!;
    const others = cluster.manifest.nodes.map((n) => n.name).filter((n) => n !== leader);
    const restore = await replaceWithStandIns(leader, others, answer);
    const cutAt = performance.now();
    process.kill(etcdPid(), 'SIGSTOP');
    let lastAck = cutAt;
    try {
      await cluster.waitFor(`${leader} to stop acknowledging writes`, async () => {
        lastAck = Math.max(cutAt, ...writers.attempts.filter((a) => a.ackedAt !== null && a.member === leader).map((a) => a.ackedAt!));
        return performance.now() - lastAck > 1500;
      }, 20_000);
    } finally {
      process.kill(etcdPid(), 'SIGCONT');
      await restore();
    }
    measured[`${what}: isolated master's last acknowledged write after the cut (ms)`] = Math.round(lastAck - cutAt);
    assert.ok(lastAck - cutAt <= 2000, `${what}: the isolated master acknowledged writes for ${Math.round(lastAck - cutAt)} ms after losing etcd`);
    assert.match(cluster.logOf(leader), /answer not proven/);
    await judgeHistory(what);
  }

  test('a stand-in answering 200 to everything on the members\' addresses never extends the master\'s writes', async () => {
    await isolatedMasterStops('200 to everything', () => ({ status: 200, body: '{"ok":true}' }));
  });

  test('a valid answer captured earlier and replayed never extends the master\'s writes', async () => {
    const leader = (await waitRedundant(cluster, true, 120_000)).leader!;
    const captured = new Map<string, string>();
    for (const node of cluster.manifest.nodes.filter((n) => n.name !== leader)) {
      // What a real member answers this master, for a question an eavesdropper saw.
      const reply = await cluster.api(node.name, '/failsafe', { method: 'POST', body: JSON.stringify({ name: leader, scope: cluster.manifest.scope, nonce: '0'.repeat(32) }), auth: true });
      assert.equal(reply.status, 200, reply.body);
      captured.set(node.name, reply.body);
    }
    await isolatedMasterStops('replayed answer', (_body, member) => ({ status: 200, body: captured.get(member)! }));
  });

  test('a member of another cluster (same secret) answering with a valid proof for its own scope never extends the master\'s writes', async () => {
    const key = secret();
    await isolatedMasterStops('another scope', (body, member) => ({
      status: 200,
      body: JSON.stringify(
        signAnswer(key, {
          scope: 'another-cluster', member, requester: String(body.name), leader: String(body.name),
          confirmed: true, promise_ms: 5000, deposes: false, reason: null, nonce: String(body.nonce),
        }),
      ),
    }));
  });

  test('a member that confirmed the master and restarted during the etcd outage does not race while the promise can run', async () => {
    const leader = (await waitRedundant(cluster, true, 120_000)).leader!;
    const restarted = cluster.manifest.nodes.map((n) => n.name).find((n) => n !== leader)!;
    const cutAt = monotonicMs();
    process.kill(etcdPid(), 'SIGSTOP');
    try {
      await cluster.waitFor(`${restarted} to confirm ${leader}`, async () => new RegExp(`confirmed ${leader} as master over REST`).test(cluster.logOf(restarted)), 10_000);
      process.kill(cluster.governorPid(restarted), 'SIGKILL');
      await cluster.waitFor(`governor of ${restarted} to exit`, async () => !isAlive(cluster.node(restarted).governor_pid), 10_000);
      const started = await cluster.demo(['start-node', restarted]);
      assert.equal(started.code, 0, started.stderr);
      cluster.reloadManifest();
      await sleep(Math.max(0, pastAnyLeaseMs() - (monotonicMs() - cutAt)));
    } finally {
      process.kill(etcdPid(), 'SIGCONT');
    }
    await judgeHistory('confirmed, then restarted');
    measured['restarted member: leader after the outage'] = (await cluster.leader()) === leader ? 'unchanged' : 'changed';
  });

  test('a member that joined during the etcd outage (outside the failsafe key) does not race', async () => {
    const leader = (await waitRedundant(cluster, true, 120_000)).leader!;
    const joiner = cluster.manifest.nodes.map((n) => n.name).find((n) => n !== leader)!;
    // It leaves (its member key goes with its lease) and the master records the failsafe key without it.
    const stopped = await cluster.demo(['stop-node', joiner]);
    assert.equal(stopped.code, 0, stopped.stderr);
    await cluster.waitFor(`the failsafe key without ${joiner}`, async () => {
      const failsafe = JSON.parse((await cluster.api(leader, '/failsafe')).body) as Record<string, string>;
      return !(joiner in failsafe) && leader in failsafe;
    }, 30_000);
    const logBefore = cluster.logOf(leader).length;
    const cutAt = monotonicMs();
    process.kill(etcdPid(), 'SIGSTOP');
    try {
      // The joiner starts once the outage is one: the master keeps writing on its members' word.
      await cluster.waitFor(`${leader} to run on its members' confirmations`, async () =>
        /every member confirmed this master over REST \(failsafe\)/.test(cluster.logOf(leader).slice(logBefore)), timing.ttlMs);
      const started = await cluster.demo(['start-node', joiner]);
      assert.equal(started.code, 0, started.stderr);
      cluster.reloadManifest();
      await sleep(Math.max(0, pastAnyLeaseMs() - (monotonicMs() - cutAt)));
    } finally {
      process.kill(etcdPid(), 'SIGCONT');
    }
    await judgeHistory('joined during the outage');
    assert.doesNotMatch(cluster.logOf(joiner).split('\n').filter((l) => l.includes('"rule":"race"')).join('\n'), /taking over/, `${joiner} raced for the key`);
    measured['joiner: leader after the outage'] = (await cluster.leader()) === leader ? 'unchanged' : 'changed';
  });
});
