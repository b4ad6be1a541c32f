// HaproxyManager with a HAProxy it did not start: systemd's (manage: false, reloaded through the
// master socket or with SIGUSR2), none at all, and one left running by an earlier governor.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { writeValidatedConfig } from '../../src/haproxy/files.js';
import { isAlive } from '../../src/util/process.js';
import { renderHaproxyConfig, routingLayout, type RoutingView } from '../../src/haproxy/render.js';
import { workerPid } from '../../src/haproxy/runtime.js';
import {
  cleanupTestHaproxy,
  openSession,
  sleep,
  startFakeMember,
  startTestHaproxy,
  whoAnswers,
  type FakeMember,
  type TestHaproxy,
} from '../helpers/haproxy.js';

function view(leader: FakeMember | null, replicas: FakeMember[]): RoutingView {
  return { leader: leader?.member ?? null, replicas: replicas.map((r) => r.member) };
}

describe('haproxy: HAProxy started by someone else', { timeout: 120_000 }, () => {
  let a: FakeMember, b: FakeMember;
  before(async () => {
    a = await startFakeMember('node-a', 'primary');
    b = await startFakeMember('node-b', 'replica');
  });
  after(async () => {
    await Promise.all([a, b].map((m) => m.close()));
  });

  /** HAProxy as systemd (or a crashed governor) would leave it, with or without a master socket. */
  async function external(hx: TestHaproxy, masterSocket: boolean): Promise<number> {
    const s = hx.settings;
    await writeValidatedConfig(s.bin, s.config_file, renderHaproxyConfig(routingLayout(view(null, [])), s, 'test'));
    const args = ['-W', '-f', s.config_file, ...(masterSocket ? ['-S', `${s.master_socket},mode,600`] : [])];
    const child = spawn(s.bin, args, { stdio: 'ignore', detached: true });
    child.unref();
    hx.pids.add(child.pid!);
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && !(await workerPid(s.stats_socket, 200).catch(() => null))) await sleep(20);
    return child.pid!;
  }

  for (const masterSocket of [true, false]) {
    it(`manage: false reloads it ${masterSocket ? 'through the master socket' : 'with SIGUSR2 (no master socket)'}`, async () => {
      const hx = await startTestHaproxy({ overrides: { manage: false }, start: false });
      try {
        const pid = await external(hx, masterSocket);
        await hx.manager.start();
        const warned = hx.lines.some((l) => l.level === 'warn' && l.socket === hx.settings.master_socket);
        assert.equal(warned, !masterSocket);
        await hx.manager.apply(view(a, [b]));
        assert.equal(await whoAnswers(hx.settings.rw_port), 'node-a');
        // The first view after start is a new shape (HAProxy's file had no members): a reload.
        const reloaded = hx.lines.filter((l) => l.msg === 'haproxy routing applied with a reload').at(-1);
        assert.equal(reloaded?.reload, masterSocket ? 'master-socket' : 'sigusr2');
        const writer = await openSession(hx.settings.rw_port);
        b.health.primary = 200;
        await hx.manager.apply(view(b, [a]));
        assert.equal(await whoAnswers(hx.settings.rw_port), 'node-b');
        await Promise.race([writer.closed, sleep(1000)]);
        assert.ok(writer.isClosed(), 'the session to the former leader was not cut');
        // The leader change: over the runtime API (stats socket), with or without a master socket.
        const applied = hx.lines.filter((l) => l.msg === 'haproxy routing applied over the runtime API').at(-1);
        assert.equal(applied?.leader, 'node-b');
        await hx.manager.stop();
        assert.ok(isAlive(pid), 'manage: false must leave HAProxy running');
        await hx.track();
      } finally {
        b.health.primary = 503;
        await cleanupTestHaproxy(hx);
      }
    });
  }

  it('manage: false with no HAProxy running writes the file and warns', async () => {
    const hx = await startTestHaproxy({ overrides: { manage: false }, start: false });
    try {
      await hx.manager.start();
      await hx.manager.apply(view(a, [b]));
      assert.match(fs.readFileSync(hx.settings.config_file, 'utf8'), /server node-a /);
      assert.ok(hx.lines.some((l) => l.msg === 'HAProxy is not running; it reads the new file when it starts'));
    } finally {
      await cleanupTestHaproxy(hx);
    }
  });

  it('manage: true stops a HAProxy left running by an earlier governor', async () => {
    const hx = await startTestHaproxy({ start: false });
    try {
      const leftover = await external(hx, true);
      await hx.manager.start();
      assert.ok(!isAlive(leftover), 'the leftover HAProxy still runs');
      assert.ok(hx.lines.some((l) => l.msg === 'stopping a HAProxy left running by an earlier governor' && l.pid === leftover));
      await hx.track();
      await hx.manager.apply(view(a, [b]));
      assert.equal(await whoAnswers(hx.settings.rw_port), 'node-a');
    } finally {
      await cleanupTestHaproxy(hx);
    }
  });
});
