// The REST API under abuse, against a real 3-member cluster: bad and missing credentials (logged
// without the secret, limited per source to 429), bad JSON, huge bodies (413), path tricks, unknown
// members in switchover/failover bodies, PUT /config without a document, parameters that run
// commands (through PATCH, and written straight into etcd), and a 100-client GET flood during which
// /primary must answer correctly and the HA loop keep its pace.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { Etcd3 } from 'etcd3';
import { monotonicMs, sleep } from '../../src/util/time.js';
import { TestCluster } from '../helpers/cluster.js';

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One request as sent, byte for byte where it matters (raw path, any method, any headers), from
 *  `localAddress` when given (another loopback address is another source to the limiter). */
function raw(
  base: string,
  target: string,
  init: { method?: string; headers?: Record<string, string>; body?: string | Buffer; localAddress?: string; agent?: http.Agent; timeoutMs?: number } = {},
): Promise<Answer> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: url.hostname, port: url.port, path: target, method: init.method ?? 'GET', headers: init.headers, localAddress: init.localAddress, agent: init.agent ?? false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.setTimeout(init.timeoutMs ?? 10_000, () => req.destroy(new Error(`no answer to ${target.slice(0, 60)} within ${init.timeoutMs ?? 10_000} ms`)));
    // Which socket failed matters: a kept-alive socket the server closed at its keepAliveTimeout just
    // as the client reused it resets (ECONNRESET) without the request ever reaching the server.
    req.on('error', (error) => reject(Object.assign(error, { reusedSocket: req.reusedSocket })));
    req.end(init.body);
  });
}

describe('REST API under abuse (3 members, real PostgreSQL and etcd)', () => {
  let cluster: TestCluster;
  let etcd: Etcd3;
  let leader: string;
  const names = () => cluster.manifest.nodes.map((n) => n.name);
  const base = (name: string) => cluster.node(name).api_url;
  const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
  const goodAuth = () => basic(cluster.manifest.api.username, cluster.manifest.api.password);
  const authed = (name: string, method: string, target: string, body?: string) =>
    raw(base(name), target, { method, body, headers: { Authorization: goodAuth(), 'Content-Type': 'application/json' } });
  const configKey = () => cluster.etcdKey('config');
  const metricValue = (text: string, name: string, labels = '') => {
    const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(labels));
    return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : null;
  };

  before(async () => {
    cluster = await TestCluster.start(3);
    etcd = new Etcd3({ hosts: cluster.manifest.etcd.endpoints });
    leader = await cluster.waitHealthy();
  });
  after(async () => {
    etcd?.close();
    await cluster?.stop();
  });

  it('missing and wrong credentials: 401, logged without the secret, then 429 for that source only', async () => {
    const target = names().find((n) => n !== leader)!;
    const offset = cluster.logOf(target).length;
    const wrongPassword = 'not-the-password-' + Date.now();
    const from = { localAddress: '127.0.0.2' };
    const missing = await raw(base(target), '/restart', { method: 'POST', ...from });
    assert.equal(missing.status, 401);
    assert.match(String(missing.headers['www-authenticate']), /^Basic/);
    for (let i = 2; i <= 9; i++) {
      const answer = await raw(base(target), '/restart', { method: 'POST', headers: { Authorization: basic('admin', wrongPassword) }, ...from });
      assert.equal(answer.status, 401, `attempt ${i}`);
      assert.doesNotMatch(answer.body, new RegExp(wrongPassword));
    }
    const tenth = await raw(base(target), '/restart', { method: 'POST', headers: { Authorization: basic(cluster.manifest.api.username, wrongPassword) }, ...from });
    assert.equal(tenth.status, 429, 'the 10th failure within a minute blocks the source');
    assert.ok(Number(tenth.headers['retry-after']) >= 1 && Number(tenth.headers['retry-after']) <= 60, `Retry-After ${tenth.headers['retry-after']}`);
    // Blocked: even the right credentials from that source, and nothing is restarted.
    const blocked = await raw(base(target), '/restart', { method: 'POST', headers: { Authorization: goodAuth() }, ...from });
    assert.equal(blocked.status, 429);
    // Another source is not affected; read-only endpoints never need credentials.
    assert.equal((await raw(base(target), '/replica', from)).status, 200);
    const other = await raw(base(target), '/switchover', { method: 'POST', headers: { Authorization: goodAuth() }, body: '{"candidate": "nobody"}', localAddress: '127.0.0.3' });
    assert.equal(other.status, 412, other.body);

    const log = cluster.logOf(target).slice(offset);
    const failures = log.split('\n').filter((l) => l.includes('REST API login failed')).map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(failures.length, 9, 'each failure before the block is logged');
    assert.deepEqual(new Set(failures.map((f) => f.source)), new Set(['127.0.0.2']));
    assert.deepEqual(new Set(failures.map((f) => f.path)), new Set(['/restart']));
    assert.deepEqual(failures.map((f) => f.reason), ['missing', ...new Array(8).fill('invalid')]);
    assert.match(log, /too many failed logins from 127\.0\.0\.2/);
    assert.ok(!log.includes(wrongPassword), 'the wrong password is never logged');
    assert.ok(!log.includes(cluster.manifest.api.password), 'the right password is never logged');
    assert.ok(!/Basic [A-Za-z0-9+/=]{8,}/.test(log), 'no Authorization header in the log');
  });

  it('bad JSON, wrong shapes and huge bodies', async () => {
    const cases: [label: string, body: string, status: number][] = [
      ['truncated JSON', '{"candidate": ', 400],
      ['an array', '["node1"]', 400],
      ['a string', '"node1"', 400],
      ['candidate a number', '{"candidate": 7}', 400],
      ['candidate an object', '{"candidate": {"$ne": null}}', 400],
      ['scheduled_at nonsense', '{"scheduled_at": "tomorrow-ish"}', 400],
    ];
    for (const [label, body, status] of cases) {
      const answer = await authed(leader, 'POST', '/switchover', body);
      assert.equal(answer.status, status, `${label}: ${answer.body}`);
    }
    // Announced too large: refused before a byte of the body is sent (none is).
    const announced = await raw(base(leader), '/switchover', { method: 'POST', headers: { Authorization: goodAuth(), 'Content-Length': String(50 * 1024 * 1024) } });
    assert.equal(announced.status, 413);
    assert.equal(announced.headers.connection, 'close');
    // Sent too large without a length (chunked): refused once it passes the limit.
    const chunked = await raw(base(leader), '/config', { method: 'PATCH', headers: { Authorization: goodAuth(), 'Transfer-Encoding': 'chunked' }, body: Buffer.alloc(1024 * 1024, 0x20) });
    assert.equal(chunked.status, 413);
  });

  it('path tricks never crash or misroute', async () => {
    const replica = names().find((n) => n !== leader)!;
    const cases: [target: string, expected: number | number[]][] = [
      ['//primary', 404],
      ['//replica', 404], // read as host "replica" + path "/" it would be the primary check
      ['/%2e%2e/primary', 404],
      ['/%70rimary', 404],
      ['/../primary', 404],
      ['/primary/..', 404],
      ['/primary?lag=a-lot', 400],
      ['/primary?x=%zz&&&=&lag', 400],
      ['/primary?%00=%00', 503], // a replica: its real answer, the junk ignored
      ['/primary/', 503],
      ['/replica?lag=' + '9'.repeat(5000), 400],
      ['/' + 'a'.repeat(4000), 414],
      ['/primary?' + 'q'.repeat(20_000), 431], // Node's header limit answers first
      ['/__proto__', 404],
      ['/constructor', 404],
    ];
    for (const [target, expected] of cases) {
      const answer = await raw(base(replica), target);
      assert.ok([expected].flat().includes(answer.status), `${target.slice(0, 40)}: ${answer.status} ${answer.body.slice(0, 100)}`);
    }
    const methods: [method: string, target: string, expected: number][] = [
      ['POST', '/primary', 405],
      ['GET', '/switchover', 405],
      ['DELETE', '/config', 405],
      ['PUT', '/failover', 405],
    ];
    for (const [method, target, expected] of methods) {
      const answer = await raw(base(replica), target, { method, headers: { Authorization: goodAuth() } });
      assert.equal(answer.status, expected, `${method} ${target}`);
      assert.ok(answer.headers.allow, `${method} ${target}: Allow header`);
    }
    // Every member still answers its true role.
    for (const name of names()) assert.equal((await raw(base(name), '/primary')).status, name === leader ? 200 : 503, name);
  });

  it('unknown members in switchover and failover bodies', async () => {
    const cases: [path: string, body: unknown, status: number, mentions: RegExp][] = [
      ['/switchover', { candidate: 'nobody' }, 412, /candidate: nobody is not a member/],
      ['/switchover', { leader: 'ghost', candidate: names().find((n) => n !== leader) }, 412, /leader: ghost is not the current leader/],
      ['/switchover', { candidate: 'x'.repeat(10_000) }, 412, /candidate/],
      ['/switchover', { candidate: leader }, 412, /already the leader/],
      ['/failover', { candidate: 'nobody\nreally' }, 412, /candidate/],
      ['/failover', {}, 400, /candidate: required/],
    ];
    for (const [path, body, status, mentions] of cases) {
      const answer = await authed(leader, 'POST', path, JSON.stringify(body));
      assert.equal(answer.status, status, `${path} ${JSON.stringify(body).slice(0, 60)}: ${answer.body}`);
      assert.match(answer.body, mentions);
    }
    assert.equal((await etcd.get(cluster.etcdKey('failover')).string()), null, 'no failover key was written');
    assert.equal(await cluster.leader(), leader);
  });

  it('PUT /config without a whole document is a 400 and changes nothing; weaponising parameters are refused', async () => {
    const patched = await authed(leader, 'PATCH', '/config', '{"synchronous_mode": true}');
    assert.equal(patched.status, 200, patched.body);
    const before = await etcd.get(configKey()).exec();
    const revision = before.kvs[0]!.mod_revision;
    const cases: [method: string, body: string, mentions: RegExp][] = [
      ['PUT', '', /request body is empty/],
      ['PUT', '{}', /config\.ttl: required/],
      ['PUT', '{"ttl": 30, "loop_wait": 10, "retry_timeout": 10}', /config\.maximum_lag_on_failover: required[\s\S]*config\.synchronous_mode: required/],
      ['PATCH', '', /request body is empty/],
      ['PATCH', '{"postgresql": {"parameters": {"archive_command": "touch /tmp/pwned"}}}', /config\.postgresql\.parameters\.archive_command: runs a shell command/],
      ['PATCH', '{"postgresql": {"parameters": {"ssl_passphrase_command": "x"}}}', /ssl_passphrase_command: runs a shell command/],
      ['PATCH', '{"postgresql": {"parameters": {"Shared_Preload_Libraries": "/tmp/x.so"}}}', /Shared_Preload_Libraries: loads shared libraries/],
      ['PATCH', '{"postgresql": {"parameters": {"log_directory": "/etc"}}}', /log_directory: names a directory/],
      ['PATCH', '{"ttl": "never"}', /config\.ttl: must be/],
      ['PATCH', '{"shared_buffers": "1GB"}', /config\.shared_buffers: unknown field/],
    ];
    for (const [method, body, mentions] of cases) {
      const answer = await authed(leader, method, '/config', body);
      assert.equal(answer.status, 400, `${method} ${body}: ${answer.body}`);
      assert.match(answer.body, mentions);
    }
    // governorctl edit-config applies the same rules before writing anything.
    const edit = await cluster.ctl(['edit-config', '-p', 'shared_preload_libraries=/tmp/x.so', '--force']);
    assert.notEqual(edit.code, 0);
    assert.match(edit.stderr, /config\.postgresql\.parameters\.shared_preload_libraries: loads shared libraries/);
    const afterwards = await etcd.get(configKey()).exec();
    assert.equal(afterwards.kvs[0]!.mod_revision, revision, 'the config key was not written');
    const config = JSON.parse(afterwards.kvs[0]!.value.toString()) as { synchronous_mode: boolean };
    assert.equal(config.synchronous_mode, true, 'synchronous_mode untouched');
  });

  it('a weaponised config written straight into etcd is ignored: the last good one stays, counted in /metrics', async () => {
    const good = await etcd.get(configKey()).string();
    const goodConfig = JSON.parse(good!) as Record<string, unknown>;
    const hostile = { ...goodConfig, synchronous_mode: false, postgresql: { parameters: { archive_command: 'touch /tmp/governor-pwned-%f' } } };
    await etcd.put(configKey()).value(JSON.stringify(hostile));
    try {
      await cluster.waitFor('every member to count the invalid config', async () => {
        for (const name of names()) {
          const metrics = (await raw(base(name), '/metrics')).body;
          if (!((metricValue(metrics, 'governor_dcs_invalid_values_total', 'key="config"') ?? 0) >= 1)) return false;
        }
        return true;
      }, 15_000);
      for (const name of names()) {
        const inForce = JSON.parse((await raw(base(name), '/config')).body) as { synchronous_mode: boolean; postgresql: { parameters: Record<string, unknown> } };
        assert.equal(inForce.synchronous_mode, true, `${name}: the last good config stays in force`);
        assert.equal(inForce.postgresql.parameters.archive_command, undefined);
        const setting = (await cluster.query<{ setting: string }>(name, "SELECT setting FROM pg_settings WHERE name = 'archive_command'"))[0]!.setting;
        assert.ok(!setting.includes('pwned'), `${name}: archive_command ${setting}`);
        const logged = cluster.logOf(name).split('\n').filter((l) => l.includes('ignoring malformed value in etcd') && l.includes('archive_command'));
        assert.equal(logged.length, 1, `${name}: logged once, not per loop`);
        assert.ok(!logged[0]!.includes('governor-pwned'), 'the value itself is not logged');
      }
      // PATCH onto an invalid key is refused; PUT of a whole document repairs it.
      const patch = await authed(leader, 'PATCH', '/config', '{"loop_wait": 1}');
      assert.equal(patch.status, 409, patch.body);
      assert.match(patch.body, /replace it whole with PUT/);
      const put = await authed(leader, 'PUT', '/config', JSON.stringify({ ...goodConfig, synchronous_mode: false }));
      assert.equal(put.status, 200, put.body);
      await cluster.waitFor('synchronous_mode off everywhere', async () => {
        for (const name of names()) if ((JSON.parse((await raw(base(name), '/config')).body) as { synchronous_mode: boolean }).synchronous_mode) return false;
        return true;
      }, 15_000);
    } finally {
      const now = await etcd.get(configKey()).string();
      if (now !== null && now.includes('governor-pwned')) await etcd.put(configKey()).value(good!);
    }
  });

  it('a 100-client GET flood: /primary always right, the HA loop keeps its pace, the master keeps its key', async () => {
    leader = await cluster.waitHealthy();
    const { ttlMs, loopWaitMs } = await cluster.timing([leader]);
    const loopWait = loopWaitMs / 1000;
    const leaderChanges = async () => metricValue((await raw(base(leader), '/metrics')).body, 'governor_leader_changes_total') ?? 0;
    const changesBefore = await leaderChanges();
    const agent = new http.Agent({ keepAlive: true, maxSockets: 100 });
    const paths = ['/primary', '/replica', '/patroni'];
    const counts = { total: 0, primary: 0, wrongPrimary: 0, leaderRefused: 0, errors: 0, other: 0, reusedSocketResets: 0 };
    const errorMessages: string[] = [];
    const durationMs = 2 * ttlMs; // two leases (10 s at ttl 5): the master renews its key through the flood
    const started = monotonicMs();
    const deadline = started + durationMs;
    let worstAge = 0;
    const ages = (async () => {
      // The loop's iteration age on every member, from a connection outside the flood.
      while (monotonicMs() < deadline) {
        for (const name of names()) {
          try {
            const age = metricValue((await raw(base(name), '/metrics', { timeoutMs: 5000 })).body, 'governor_ha_loop_iteration_age_seconds');
            if (age !== null) worstAge = Math.max(worstAge, age);
          } catch {
            counts.errors += 1;
          }
        }
        await sleep(200);
      }
    })();
    const client = async (id: number) => {
      let i = id;
      while (monotonicMs() < deadline) {
        const name = names()[i % names().length]!;
        const path = paths[Math.floor(i / names().length) % paths.length]!;
        i += 1;
        try {
          const answer = await raw(base(name), path, { agent, timeoutMs: 5000 });
          counts.total += 1;
          if (path === '/primary') {
            counts.primary += 1;
            if (answer.status === 200 && name !== leader) counts.wrongPrimary += 1;
            if (answer.status !== 200 && name === leader) counts.leaderRefused += 1;
          } else if (answer.status !== 200 && answer.status !== 503) counts.other += 1;
        } catch (error) {
          // The keep-alive race Node's documentation describes (retry on a reused socket's reset): a
          // client artefact, not an answer the server failed to give; counted apart, and bounded.
          const { code, reusedSocket } = error as NodeJS.ErrnoException & { reusedSocket?: boolean };
          if (reusedSocket === true && code === 'ECONNRESET') counts.reusedSocketResets += 1;
          else {
            counts.errors += 1;
            if (errorMessages.length < 5) errorMessages.push(`${name}${path}: ${(error as Error).message}`);
          }
        }
      }
    };
    await Promise.all([...Array.from({ length: 100 }, (_, id) => client(id)), ages]);
    const seconds = (monotonicMs() - started) / 1000;
    agent.destroy();
    console.log(
      `GET flood, 100 keep-alive clients, ${seconds.toFixed(1)} s over ${names().length} members (loop_wait ${loopWait} s): ` +
        `${counts.total} answers (${Math.round(counts.total / seconds)}/s), /primary ${counts.primary} answers, ${counts.wrongPrimary} 200s from a replica, ` +
        `${counts.leaderRefused} refusals by the leader, ${counts.errors} errors, ${counts.reusedSocketResets} resets of a reused keep-alive socket, ` +
        `${counts.other} unexpected statuses; worst HA loop iteration age ${worstAge.toFixed(2)} s${errorMessages.length ? ` (errors: ${errorMessages.join('; ')})` : ''}`,
    );
    // The rate depends on what else the (shared, 2-core) machine runs: measured 179-1300 requests/s.
    assert.ok(counts.primary > 100, `the flood ran (${counts.primary} /primary answers)`);
    assert.equal(counts.wrongPrimary, 0, 'no replica ever answered /primary with 200');
    assert.equal(counts.leaderRefused, 0, 'the leader always answered /primary with 200');
    assert.equal(counts.other, 0);
    assert.equal(counts.errors, 0, errorMessages.join('; '));
    assert.ok(counts.reusedSocketResets <= counts.total / 1000, `${counts.reusedSocketResets} keep-alive resets in ${counts.total} answers`);
    assert.ok(worstAge < loopWait + 1, `HA loop iteration age ${worstAge} s stayed below loop_wait + 1 s`);
    assert.equal(await cluster.leader(), leader, 'no leader change');
    assert.equal(await leaderChanges(), changesBefore);
    // node-postgres warns (to the daemon's stderr, in its log) when queries overlap on one
    // connection, which pg 9 refuses: the flood's /patroni reads and the loop share the session.
    for (const name of names()) assert.ok(!cluster.logOf(name).includes('already executing a query'), `${name}: overlapping queries on the PostgreSQL session`);
  });
});
