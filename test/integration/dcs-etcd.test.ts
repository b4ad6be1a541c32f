import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Etcd3 } from 'etcd3';
import type { GovernorConfig } from '../../src/config/types.js';
import { createEtcdDcs, type EtcdDcs } from '../../src/dcs/etcd.js';
import { DcsUnavailableError, type DcsEvent, type MemberData } from '../../src/dcs/types.js';
import { createLogger } from '../../src/log/logger.js';
import { monotonicMs, sleep } from '../../src/util/time.js';
import { startTestEtcd, type TestEtcd } from '../helpers/etcd.js';
import { stopProcess } from '../../src/cli/demo/etcd-process.js';

const RETRY_TIMEOUT = 2; // seconds
const scope = `it${process.pid}`;
const logLines: string[] = [];

function config(name: string, host: string): GovernorConfig {
  return {
    scope,
    namespace: '/service/',
    name,
    etcd: { hosts: [host], protocol: 'http', username: null, password: null, cacert: null, cert: null, key: null },
    restapi: { listen: '127.0.0.1:8008', connect_address: '127.0.0.1:8008', authentication: null },
    postgresql: {
      bin_dir: '/usr/bin',
      data_dir: '/tmp/none',
      listen: '127.0.0.1:5432',
      connect_address: '127.0.0.1:5432',
      socket_dir: '/tmp',
      authentication: { superuser: { username: 'postgres', password: 'x' }, replication: { username: 'r', password: 'y' } },
      parameters: {},
      pg_hba: [],
      run_as_user: null,
    },
    bootstrap: {
      dcs: { ttl: 30, loop_wait: 10, retry_timeout: RETRY_TIMEOUT, maximum_lag_on_failover: 1 << 20, postgresql: { parameters: {} } },
    },
    tags: { nofailover: false, noloadbalance: false, failover_priority: 1 },
    log: { level: 'debug' },
  };
}

function memberData(port: number): MemberData {
  return {
    conn_url: `postgres://127.0.0.1:${port}/postgres`,
    api_url: `http://127.0.0.1:${port + 1000}/patroni`,
    state: 'running',
    role: 'replica',
    xlog_location: 1000 + port,
    timeline: 1,
  };
}

/** Collects watch events with the monotonic time they arrived. */
function recorder() {
  const events: { event: DcsEvent; at: number }[] = [];
  return {
    events,
    onChange: (event: DcsEvent) => events.push({ event, at: monotonicMs() }),
    /** Where the event list stands now: later waitFor calls only look at events after it. */
    mark: () => ({ index: events.length, at: monotonicMs() }),
    async waitFor(event: DcsEvent, since: { index: number; at: number }, timeoutMs: number): Promise<number> {
      const deadline = monotonicMs() + timeoutMs;
      for (;;) {
        const hit = events.slice(since.index).find((e) => e.event === event);
        if (hit) return hit.at - since.at;
        if (monotonicMs() > deadline) assert.fail(`no '${event}' watch event within ${timeoutMs} ms`);
        await sleep(5);
      }
    },
  };
}

async function timeRejection(promise: Promise<unknown>): Promise<{ ms: number; error: unknown }> {
  const start = monotonicMs();
  try {
    await promise;
  } catch (error) {
    return { ms: monotonicMs() - start, error };
  }
  return assert.fail('expected a rejection');
}

describe('etcd DCS against a real etcd', () => {
  let etcd: TestEtcd;
  let raw: Etcd3;
  const opened: EtcdDcs[] = [];
  const stops: (() => Promise<void>)[] = [];
  const logger = createLogger({ level: 'debug', cluster: scope, write: (line) => logLines.push(line) });
  const open = async (name: string, ttl = 30) => {
    const dcs = createEtcdDcs({ config: config(name, etcd.host), logger: logger.child(name) });
    opened.push(dcs);
    await dcs.open(ttl);
    return dcs;
  };
  const rawPut = (key: string, value: string) => raw.put(`/service/${scope}/${key}`).value(value);
  let a: EtcdDcs;
  let b: EtcdDcs;
  const bWatch = recorder();

  before(async () => {
    etcd = await startTestEtcd();
    raw = new Etcd3({ hosts: etcd.endpoint });
    a = await open('a');
    b = await open('b');
    stops.push(await b.watch(bWatch.onChange));
  });

  after(async () => {
    try {
      for (const stop of stops) await stop().catch(() => undefined);
      for (const dcs of opened) await dcs.close().catch(() => undefined);
      raw?.close();
    } finally {
      await etcd?.stop();
    }
    if (process.env.DCS_TEST_LOG) console.error(logLines.join('\n'));
  });

  it('members are visible with their data', async () => {
    await a.touchMember(memberData(5432));
    await b.touchMember({ ...memberData(5433), tags: { nofailover: true } });
    const view = await a.readCluster();
    assert.deepEqual(view.members.map((m) => m.name), ['a', 'b']);
    assert.deepEqual(view.members[0], { name: 'a', ...memberData(5432) });
    assert.equal(view.members[1]!.tags?.nofailover, true);
    assert.equal(view.leader, null);
    assert.equal(view.initialize, null);
  });

  it('leader election, confirmation and release with a watch event', async () => {
    assert.equal(await a.acquireLeader(), true);
    assert.equal(await b.acquireLeader(), false);
    const view = await b.readCluster();
    assert.equal(view.leader?.name, 'a');
    assert.equal(view.leader?.lease, a.leaseId);
    assert.match(view.leader!.revision, /^\d+$/);
    assert.equal(await a.confirmLeader(), true);
    assert.equal(await b.confirmLeader(), false);
    assert.equal(await b.releaseLeader(), false);

    const since = bWatch.mark();
    assert.equal(await a.releaseLeader(), true);
    const latency = await bWatch.waitFor('leader', since, 1000);
    console.error(`# watch latency after releaseLeader: ${latency} ms`);
    assert.equal((await b.readCluster()).leader, null);
  });

  it('an unrenewed lease drops the leader key within the ttl', async () => {
    const c = await open('c', 2);
    const t0 = bWatch.mark();
    assert.equal(await c.acquireLeader(), true);
    await bWatch.waitFor('leader', t0, 1000); // the put
    const since = bWatch.mark();
    const latency = await bWatch.waitFor('leader', since, 4000); // the delete on lease expiry
    console.error(`# leader key (ttl 2 s) gone after ${latency} ms`);
    assert.ok(latency >= 1500, `expired too early: ${latency} ms`);
    assert.equal((await b.readCluster()).leader, null);
    const renewal = await c.renewLease();
    assert.equal(renewal.renewed, false);
    assert.equal(await c.confirmLeader(), false);
    assert.equal(await c.acquireLeader(), true);
    assert.equal((await b.readCluster()).leader?.lease, c.leaseId);
    assert.equal(await c.releaseLeader(), true);
  });

  it('renewLease keeps the lease; a TTL change moves the leader key to a new lease', async () => {
    const before = a.leaseId;
    const r = await a.renewLease();
    assert.equal(r.renewed, true);
    assert.ok(r.sentAt <= monotonicMs());
    assert.equal(a.leaseId, before);
    assert.equal(await a.acquireLeader(), true);
    a.setTtl(20);
    assert.equal((await a.renewLease()).renewed, true);
    assert.notEqual(a.leaseId, before);
    // renewLease moved the leader and member keys onto the new lease
    const moved = await raw.get(`/service/${scope}/leader`).exec();
    assert.equal(moved.kvs[0]?.lease, a.leaseId);
    const member = await raw.get(`/service/${scope}/members/a`).exec();
    assert.equal(member.kvs[0]?.lease, a.leaseId);
    assert.equal(member.kvs[0]?.value.toString(), JSON.stringify(memberData(5432)));
    assert.equal(await a.confirmLeader(), true);
    assert.equal((await b.readCluster()).leader?.lease, a.leaseId);

    // our name on a foreign lease: confirmLeader re-attaches it to ours
    const foreign = raw.lease(60, { autoKeepAlive: false });
    await foreign.put(`/service/${scope}/leader`).value('a');
    assert.equal((await b.readCluster()).leader?.lease, await foreign.grant());
    assert.equal(await a.confirmLeader(), true);
    assert.equal((await b.readCluster()).leader?.lease, a.leaseId);
    await foreign.revoke();
    assert.equal((await b.readCluster()).leader?.name, 'a');
    assert.equal(await a.releaseLeader(), true);
  });

  it('raceInitialize has exactly one winner; cancel and set', async () => {
    const results = await Promise.all([a.raceInitialize(), b.raceInitialize()]);
    assert.equal(results.filter(Boolean).length, 1);
    const [winner, loser] = results[0] ? [a, b] : [b, a];
    assert.equal((await a.readCluster()).initialize, '');
    await loser.cancelInitialize(); // value is "" and loser never wrote: still allowed by the rule ("" = unfinished)
    assert.equal((await a.readCluster()).initialize, null);
    assert.equal(await winner.raceInitialize(), true);
    await winner.setInitialize('7312345678901234567');
    await loser.cancelInitialize(); // not "" and not what the loser wrote: untouched
    assert.equal((await a.readCluster()).initialize, '7312345678901234567');
    assert.equal(await loser.raceInitialize(), false);
  });

  it('config compare-and-swap, failover, history, optime, sync', async () => {
    const dyn = config('a', etcd.host).bootstrap.dcs;
    assert.equal(await a.setConfig(dyn), true);
    const rev = (await a.readCluster()).configRevision!;
    assert.equal(await a.setConfig({ ...dyn, ttl: 20 }, rev), true);
    assert.equal(await b.setConfig({ ...dyn, ttl: 40 }, rev), false);
    await a.setFailover({ leader: 'a', member: 'b' });
    await a.setHistory([[1, 100, 'no recovery target specified', '2024-01-01T00:00:00Z', 'a']]);
    await a.setLeaderOptime(123456);
    assert.equal(await b.setSync({ leader: 'b', sync_standby: 'a' }), false, 'only the leader-key holder writes the sync key');
    assert.equal(await a.acquireLeader(), true);
    assert.equal(await a.setSync({ leader: 'a', sync_standby: 'b' }), true);
    assert.equal(await a.releaseLeader(), true); // the later tests start without a leader
    const view = await b.readCluster();
    assert.equal(view.config?.ttl, 20);
    assert.deepEqual(view.failover, { leader: 'a', member: 'b' });
    assert.deepEqual(view.history, [[1, 100, 'no recovery target specified', '2024-01-01T00:00:00Z', 'a']]);
    assert.equal(view.leaderOptime, 123456);
    assert.deepEqual(view.sync, { leader: 'a', sync_standby: 'b' });
    await a.clearFailover();
    assert.equal((await b.readCluster()).failover, null);
    assert.ok(bWatch.events.some((e) => e.event === 'config'));
    assert.ok(bWatch.events.some((e) => e.event === 'failover'));
  });

  it('garbage values are logged once and read as absent', async () => {
    await rawPut('config', '{"ttl": "thirty"');
    await rawPut('members/x', 'not json at all');
    await rawPut('optime/leader', '0/3000060');
    await rawPut('failover', '{"member": 42}');
    await rawPut('history', '[[1, "x"]]');
    const before = logLines.length;
    const view = await a.readCluster();
    await a.readCluster();
    assert.equal(view.config, null);
    assert.equal(view.leaderOptime, null);
    assert.equal(view.failover, null);
    assert.deepEqual(view.history, []);
    assert.deepEqual(view.members.map((m) => m.name), ['a', 'b']);
    const warnings = logLines.slice(before).map((l) => JSON.parse(l)).filter((r) => r.level === 'warn' && r.msg === 'ignoring malformed value in etcd');
    const keys = warnings.map((w) => w.key).sort();
    assert.deepEqual(keys, ['config', 'failover', 'history', 'members/x', 'optime/leader'].map((k) => `/service/${scope}/${k}`));
    await raw.delete().prefix(`/service/${scope}/members/x`);
  });

  it('a frozen etcd makes calls fail within retry_timeout; they recover after SIGCONT', async () => {
    etcd.pause();
    let read, renew, watch;
    try {
      read = await timeRejection(a.readCluster());
      [renew, watch] = await Promise.all([timeRejection(a.renewLease()), timeRejection(a.watch(() => undefined))]);
    } finally {
      etcd.resume();
    }
    console.error(`# frozen etcd: readCluster rejected after ${read.ms} ms, renewLease after ${renew.ms} ms, watch after ${watch.ms} ms`);
    for (const { ms, error } of [read, renew, watch]) {
      assert.ok(error instanceof DcsUnavailableError, String(error));
      assert.ok(ms <= RETRY_TIMEOUT * 1000 + 500, `took ${ms} ms`);
    }
    const start = monotonicMs();
    const view = await a.readCluster();
    assert.equal(view.members.length, 2);
    assert.equal((await a.renewLease()).renewed, true);
    console.error(`# after SIGCONT: first readCluster + renewLease took ${monotonicMs() - start} ms`);
    const since = bWatch.mark();
    assert.equal(await a.acquireLeader(), true);
    console.error(`# watch latency after SIGCONT: ${await bWatch.waitFor('leader', since, 3000)} ms`);
  });

  it('a stopped etcd fails calls within retry_timeout; the watch survives a restart', async () => {
    await stopProcess(etcd.pid);
    const down = await timeRejection(a.touchMember(memberData(5432)));
    console.error(`# etcd down: touchMember rejected after ${down.ms} ms`);
    assert.ok(down.error instanceof DcsUnavailableError, String(down.error));
    assert.ok(down.ms <= RETRY_TIMEOUT * 1000 + 500, `took ${down.ms} ms`);
    const since = monotonicMs();
    await etcd.restart();
    const view = await a.readCluster();
    console.error(`# etcd restarted; first readCluster done ${monotonicMs() - since} ms after the start began`);
    assert.equal(view.leader?.name, 'a');
    assert.equal((await a.renewLease()).renewed, true, 'leases survive an etcd restart');
    const t = bWatch.mark();
    assert.equal(await a.releaseLeader(), true);
    const latency = await bWatch.waitFor('leader', t, 5000);
    console.error(`# watch event after etcd restart: ${latency} ms`);
  });
});
