// HaproxyManager against a real HAProxy 2.6: fake PostgreSQL members (TCP servers that name
// themselves) with fake REST APIs, routing through rw_port/ro_port, leader changes with session
// cutting, reload survival, invalid configurations, crash restart, and stop by PID.
// Set HAPROXY_TEST_LOG=1 to see the manager's log lines.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { HaproxyConfigInvalid } from '../../src/haproxy/manager.js';
import { isAlive } from '../../src/util/process.js';
import { renderHaproxyConfig, routingLayout, type RoutingView } from '../../src/haproxy/render.js';
import { checkConfig } from '../../src/haproxy/files.js';
import {
  cleanupTestHaproxy,
  openSession,
  sleep,
  startFakeMember,
  startTestHaproxy,
  waitForAnswer,
  whoAnswers,
  type FakeMember,
  type TestHaproxy,
} from '../helpers/haproxy.js';

const timings: Record<string, number> = {};
after(() => console.log(`# haproxy timings (ms): ${JSON.stringify(timings)}`));

function view(leader: FakeMember | null, replicas: FakeMember[]): RoutingView {
  return { leader: leader?.member ?? null, replicas: replicas.map((r) => r.member) };
}

describe('haproxy: routing with a real HAProxy', { timeout: 120_000 }, () => {
  let hx: TestHaproxy;
  let a: FakeMember, b: FakeMember, c: FakeMember, d: FakeMember;

  before(async () => {
    a = await startFakeMember('node-a', 'primary');
    b = await startFakeMember('node-b', 'replica');
    c = await startFakeMember('node-c', 'replica');
    d = await startFakeMember('node-d', 'replica');
    hx = await startTestHaproxy();
  });

  after(async () => {
    await cleanupTestHaproxy(hx);
    await Promise.all([a, b, c, d].map((m) => m.close()));
  });

  it('renders configurations HAProxy accepts (haproxy -c)', async () => {
    const views: RoutingView[] = [view(a, [b, c]), view(null, []), view(a, []), view(null, [b]), { leader: { ...a.member, host: '::1' }, replicas: [] }];
    for (const [i, v] of views.entries()) {
      for (const fallback of [true, false]) {
        const file = `${hx.dir}/check-${i}-${fallback}.cfg`;
        fs.writeFileSync(file, renderHaproxyConfig(routingLayout(v), { ...hx.settings, replicas_fallback_to_master: fallback, stats_listen: '127.0.0.1:1' }, 'test'));
        const { valid, output } = await checkConfig(hx.settings.bin, file);
        assert.ok(valid, `view ${i}: ${output}`);
      }
    }
  });

  it('the standalone example haproxy/haproxy.standalone.cfg is valid', async () => {
    const { valid, output } = await checkConfig(hx.settings.bin, `${process.cwd()}/haproxy/haproxy.standalone.cfg`);
    assert.ok(valid, output);
  });

  it('no leader: rw_port reaches nobody', async () => {
    await hx.manager.apply(view(null, [b, c]));
    for (let i = 0; i < 3; i++) assert.equal(await whoAnswers(hx.settings.rw_port, 500), null);
  });

  it('rw_port reaches the leader, ro_port the replicas in round robin', async () => {
    const t0 = performance.now();
    await hx.manager.apply(view(a, [b, c]));
    timings.apply_first_leader = Math.round(performance.now() - t0);
    assert.equal(await whoAnswers(hx.settings.rw_port), 'node-a');
    const seen = new Set<string | null>();
    for (let i = 0; i < 6; i++) seen.add(await whoAnswers(hx.settings.ro_port));
    assert.deepEqual([...seen].sort(), ['node-b', 'node-c']);
  });

  it('an unchanged view returns at once without a reload', async () => {
    const worker = (await hx.manager.processes())?.workers[0];
    const t0 = performance.now();
    for (let i = 0; i < 100; i++) await hx.manager.apply(view(a, [c, b]));
    timings.apply_unchanged_avg = Number(((performance.now() - t0) / 100).toFixed(3));
    assert.equal((await hx.manager.processes())?.workers[0], worker);
  });

  it('leader change: new connections reach the new leader, old-leader sessions are cut, replica sessions survive', async () => {
    const writer = await openSession(hx.settings.rw_port);
    assert.equal(writer.name, 'node-a');
    // A member joining (d) reloads HAProxy, which moves this session to an old worker; it must
    // survive that...
    const reloadsBefore = (await hx.manager.processes())?.master?.reloads ?? 0;
    await hx.manager.apply(view(a, [b, c, d]));
    assert.equal(((await hx.manager.processes())?.master?.reloads ?? 0) - reloadsBefore, 1, 'a member joining reloads');
    assert.equal(await writer.roundTrip('still-there'), 'node-a:still-there');
    const reader = await openSession(hx.settings.ro_port);
    assert.equal(reader.name, 'node-b');
    await hx.track();

    // ...and still be cut when a loses the key, although it lives on the old worker now.
    a.health.primary = 503;
    b.health.primary = 200;
    b.health.replica = 503;
    let cutAt = 0;
    void writer.closed.then(() => (cutAt = performance.now()));
    const reloads = (await hx.manager.processes())?.master?.reloads ?? 0;
    const t0 = performance.now();
    await hx.manager.apply(view(b, [c]));
    const applied = performance.now();
    assert.equal((await hx.manager.processes())?.master?.reloads ?? 0, reloads, 'a leader change reloaded HAProxy');
    timings.apply_leader_change = Math.round(applied - t0);
    const name = await whoAnswers(hx.settings.rw_port);
    timings.first_connection_after_apply = Math.round(performance.now() - applied);
    assert.equal(name, 'node-b');
    assert.ok(timings.first_connection_after_apply < 100, `new leader reached ${timings.first_connection_after_apply} ms after apply()`);
    await Promise.race([writer.closed, sleep(1000)]);
    assert.ok(writer.isClosed(), 'the session to the former leader was not cut');
    timings.old_leader_session_closed_after_apply_start = Math.round(cutAt - t0);
    assert.ok(timings.apply_leader_change < 100, `apply took ${timings.apply_leader_change} ms`);
    await hx.track();
    reader.socket.destroy();

    const appliedLine = hx.lines.filter((l) => l.msg === 'haproxy routing applied over the runtime API').at(-1);
    assert.equal(appliedLine?.leader, 'node-b');
    assert.deepEqual(appliedLine?.replicas, ['node-c']);
    assert.equal(typeof appliedLine?.ms, 'number');
    assert.equal(appliedLine?.component, 'haproxy');
    // The session lived in the worker before the reload: cut there, by session.
    assert.match(JSON.stringify(appliedLine?.old_worker_cuts), /"\d+:leader"/);
    // The file matches what runs, so a restarted HAProxy routes the same way.
    const file = fs.readFileSync(hx.settings.config_file, 'utf8');
    assert.match(file, new RegExp(`server leader 127\\.0\\.0\\.1:${b.member.port} check`));
  });

  it('a replica session survives a routing change that keeps the replica', async () => {
    const reader = await openSession(hx.settings.ro_port);
    assert.equal(reader.name, 'node-c');
    await hx.manager.apply(view(b, [c, a])); // a rejoins as a replica
    a.health.replica = 200;
    assert.equal(await reader.roundTrip('ping'), 'node-c:ping');
    assert.ok(!reader.isClosed());
    await waitForAnswer(hx.settings.ro_port, ['node-a']);
    reader.socket.destroy();
  });

  it('leader lost with no successor: sessions cut, rw_port reaches nobody', async () => {
    const writer = await openSession(hx.settings.rw_port);
    assert.equal(writer.name, 'node-b');
    await hx.manager.apply(view(null, [a, c]));
    await Promise.race([writer.closed, sleep(1000)]);
    assert.ok(writer.isClosed());
    assert.equal(await whoAnswers(hx.settings.rw_port, 500), null);
  });

  it('replicas_fallback_to_master: ro_port reaches the leader when no replica is up', async () => {
    a.health.replica = 503;
    c.health.replica = 503;
    await hx.manager.apply(view(b, [a, c]));
    await waitForAnswer(hx.settings.ro_port, ['node-b']);
    a.health.replica = 200;
    c.health.replica = 200;
    await waitForAnswer(hx.settings.ro_port, ['node-a', 'node-c']);
  });

  it('concurrent calls are serialized and the newest view wins', async () => {
    const before = (await hx.manager.processes())?.master?.reloads ?? 0;
    await Promise.all([hx.manager.apply(view(a, [b, c])), hx.manager.apply(view(c, [a, b])), hx.manager.apply(view(b, [a, c]))]);
    assert.equal(await whoAnswers(hx.settings.rw_port), 'node-b');
    const reloads = ((await hx.manager.processes())?.master?.reloads ?? 0) - before;
    assert.equal(reloads, 0, `${reloads} reloads for leader changes among known members`);
  });
});

describe('haproxy: failures', { timeout: 120_000 }, () => {
  // A member joining (c) changes the file's shape: that is the change that goes through
  // `haproxy -c` and a reload (a leader change alone is applied over the runtime API).
  let a: FakeMember, b: FakeMember, c: FakeMember;
  before(async () => {
    a = await startFakeMember('node-a', 'primary');
    b = await startFakeMember('node-b', 'replica');
    c = await startFakeMember('node-c', 'replica');
  });
  after(async () => {
    await Promise.all([a, b, c].map((m) => m.close()));
  });

  it('an invalid configuration is rejected with HAProxy\'s message; the old one keeps serving', async () => {
    let broken = false;
    const hx = await startTestHaproxy({
      manager: {
        render: (layout, s, scope) => renderHaproxyConfig(layout, broken ? { ...s, listen_address: 'no-such-host.invalid' } : s, scope),
      },
    });
    try {
      await hx.manager.apply(view(a, [b]));
      const before = fs.readFileSync(hx.settings.config_file, 'utf8');
      const worker = (await hx.manager.processes())?.workers[0];
      broken = true;
      await assert.rejects(hx.manager.apply(view(b, [a, c])), HaproxyConfigInvalid);
      const line = hx.lines.find((l) => l.level === 'error' && l.file === hx.settings.config_file);
      assert.ok(line, 'no error line naming the file');
      assert.match(String(line.haproxy), /invalid address: 'no-such-host\.invalid'/);
      assert.ok(fs.existsSync(`${hx.settings.config_file}.rejected`));
      assert.equal(fs.readFileSync(hx.settings.config_file, 'utf8'), before);
      assert.equal((await hx.manager.processes())?.workers[0], worker, 'HAProxy was reloaded');
      // Sessions to a were cut before validation (a lost the key), so rw_port has no server now:
      // writes are refused rather than sent to a member without the key.
      assert.equal(await whoAnswers(hx.settings.rw_port, 500), null);
      assert.equal(await whoAnswers(hx.settings.ro_port), 'node-b');
      // Once the configuration is valid again, the same view applies.
      broken = false;
      b.health.primary = 200;
      await hx.manager.apply(view(b, [a, c]));
      assert.equal(await whoAnswers(hx.settings.rw_port), 'node-b');
    } finally {
      await cleanupTestHaproxy(hx);
    }
  });

  it('a configuration that passes haproxy -c but cannot load is rolled back', async () => {
    let broken = false;
    const hx = await startTestHaproxy({
      manager: {
        timeoutMs: 5000,
        // 192.0.2.1 (TEST-NET-1) is not a local address: -c accepts it, binding fails.
        render: (layout, s, scope) => renderHaproxyConfig(layout, broken ? { ...s, listen_address: '192.0.2.1' } : s, scope),
      },
    });
    try {
      await hx.manager.apply(view(a, [b]));
      const before = fs.readFileSync(hx.settings.config_file, 'utf8');
      broken = true;
      const t0 = performance.now();
      await assert.rejects(hx.manager.apply(view(a, [b, c])), /could not load|did not start/);
      timings.failed_reload_detected = Math.round(performance.now() - t0);
      assert.equal(fs.readFileSync(hx.settings.config_file, 'utf8'), before);
      assert.equal(await whoAnswers(hx.settings.rw_port), 'node-a');
    } finally {
      await cleanupTestHaproxy(hx);
    }
  });

  it('HAProxy exiting unexpectedly is restarted; stop() leaves no HAProxy process', async () => {
    const hx = await startTestHaproxy({ manager: { restartBackoffMs: { initial: 50, max: 1000 } } });
    try {
      await hx.manager.apply(view(a, [b]));
      const first = await hx.track();
      const master = hx.manager.pid!;
      const t0 = performance.now();
      process.kill(master, 'SIGKILL');
      const deadline = Date.now() + 10_000;
      while ((hx.manager.pid === null || hx.manager.pid === master) && Date.now() < deadline) await sleep(10);
      assert.ok(hx.manager.pid !== null && hx.manager.pid !== master, 'not restarted');
      timings.restart_after_sigkill = Math.round(performance.now() - t0);
      assert.equal(await whoAnswers(hx.settings.rw_port), 'node-a', 'restarted HAProxy lost the routing');
      assert.ok(hx.lines.some((l) => l.msg === 'haproxy exited unexpectedly; restarting'));
      const second = await hx.track();
      assert.ok(second.length >= 2);
      await hx.manager.stop();
      await sleep(50);
      for (const pid of [...first, ...second]) assert.ok(!isAlive(pid), `haproxy process ${pid} still runs`);
      assert.equal(hx.manager.pid, null);
    } finally {
      await cleanupTestHaproxy(hx);
    }
  });
});
