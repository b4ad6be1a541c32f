// etcd-proxy.service for real: the unit's own ExecStart (parsed from the file, the environment
// file's ETCD_HOSTS pointing at a real etcd, ETCD_PROXY_LISTEN moved to a free port), and
// governor's etcd DCS through it: lease grant and keep-alive, create-if-absent transactions, watch
// events, and a lease that is not renewed expiring (the proxy must not keep it alive).

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { createEtcdDcs, type EtcdDcs } from '../../src/dcs/etcd.js';
import type { DcsEvent } from '../../src/dcs/types.js';
import { createLogger } from '../../src/log/logger.js';
import { stopProcess } from '../../src/cli/demo/etcd-process.js';
import { freePort } from '../../src/util/ports.js';
import { isAlive, logTail } from '../../src/util/process.js';
import { monotonicMs, sleep } from '../../src/util/time.js';
import { startTestEtcd, type TestEtcd } from '../helpers/etcd.js';
import { amiConfig, readUnit, removeDir, run, tempDir } from '../helpers/packaging.js';
import { expandCommandLine, unitEnvironment, unitValue } from '../helpers/systemd-unit.js';

const TTL = 3;

function connects(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

describe('etcd-proxy.service: etcd grpc-proxy with the unit\'s command line', () => {
  let etcd: TestEtcd;
  let dir: string;
  let proxyPid = 0;
  let proxyHost = '';
  const opened: EtcdDcs[] = [];
  const stops: Array<() => Promise<void>> = [];
  const logLines: string[] = [];
  const logger = createLogger({ level: 'debug', cluster: 'proxy', write: (line) => logLines.push(line) });
  const scope = `proxy${process.pid}`;

  const open = async (name: string) => {
    const config = amiConfig({ SCOPE: scope, GOVERNOR_NAME: name, ETCD_HOSTS: proxyHost });
    assert.deepEqual(config.etcd.hosts, [proxyHost]);
    const dcs = createEtcdDcs({ config, logger: logger.child(name) });
    opened.push(dcs);
    await dcs.open(TTL);
    return dcs;
  };

  before(async () => {
    etcd = await startTestEtcd();
    dir = tempDir('gov-proxy-');
    const unit = readUnit('systemd', 'etcd-proxy.service');
    const listenPort = await freePort();
    proxyHost = `127.0.0.1:${listenPort}`;
    // What systemd passes: the unit's Environment=, then /etc/governor/environment on top.
    const env = { ...unitEnvironment(unit), ETCD_HOSTS: etcd.host, ETCD_PROXY_LISTEN: proxyHost };
    const [bin, ...args] = expandCommandLine(unitValue(unit, 'Service', 'ExecStart'), env);
    const logFile = path.join(dir, 'proxy.log');
    const fd = fs.openSync(logFile, 'a');
    const child = spawn(bin!, args, { stdio: ['ignore', fd, fd], cwd: dir });
    fs.closeSync(fd);
    proxyPid = child.pid!;
    const deadline = Date.now() + 10_000;
    while (!(await connects(listenPort))) {
      if (!isAlive(proxyPid) || Date.now() > deadline) assert.fail(`etcd grpc-proxy ${args.join(' ')} did not listen on ${proxyHost}:\n${logTail(logFile)}`);
      await sleep(50);
    }
  });

  after(async () => {
    for (const stop of stops) await stop().catch(() => undefined);
    for (const dcs of opened) await dcs.close().catch(() => undefined);
    if (proxyPid) await stopProcess(proxyPid, 5000);
    await etcd?.stop();
    if (dir) removeDir(dir);
    if (process.env.DCS_TEST_LOG) console.error(logLines.join('\n'));
  });

  it('listens where governor.yml on the AMI points governor by default', () => {
    const unit = readUnit('systemd', 'etcd-proxy.service');
    const defaults = unitEnvironment(unit);
    assert.equal(defaults.ETCD_PROXY_LISTEN, '127.0.0.1:2379');
    assert.deepEqual(amiConfig().etcd.hosts, [defaults.ETCD_PROXY_LISTEN]);
  });

  it('without ETCD_HOSTS the unit\'s command exits at once with a message (systemd retries it)', async () => {
    const unit = readUnit('systemd', 'etcd-proxy.service');
    const env = { ...unitEnvironment(unit), ETCD_PROXY_LISTEN: `127.0.0.1:${await freePort()}` };
    const [bin, ...args] = expandCommandLine(unitValue(unit, 'Service', 'ExecStart'), env);
    const result = await run(bin!, args, { timeout: 10_000, cwd: dir });
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /no available endpoints/);
  });

  it('leader key: create-if-absent through the proxy, seen by the other member\'s watch', async () => {
    const a = await open('a');
    const b = await open('b');
    const events: Array<{ event: DcsEvent; at: number }> = [];
    stops.push(await b.watch((event) => events.push({ event, at: monotonicMs() })));
    await sleep(200); // the watch is established
    const since = monotonicMs();
    assert.equal(await a.acquireLeader(), true);
    assert.equal(await b.acquireLeader(), false);
    const deadline = monotonicMs() + 3000;
    while (!events.some((e) => e.event === 'leader' && e.at >= since)) {
      if (monotonicMs() > deadline) assert.fail(`no leader watch event through the proxy; events: ${JSON.stringify(events)}`);
      await sleep(10);
    }
    assert.equal((await b.readCluster()).leader?.name, 'a');

    // Keep-alives through the proxy hold the key longer than the TTL ...
    const lease = a.leaseId;
    for (let i = 0; i < TTL + 1; i++) {
      const renewal = await a.renewLease();
      assert.equal(renewal.renewed, true, `keep-alive ${i + 1} through the proxy`);
      await sleep(1000);
    }
    assert.equal(a.leaseId, lease);
    const view = await b.readCluster();
    assert.equal(view.leader?.name, 'a');
    assert.equal(view.leader?.lease, lease);

    // ... and without them the key goes within the TTL: the proxy does not renew leases itself.
    const stoppedAt = monotonicMs();
    for (;;) {
      if ((await b.readCluster()).leader === null) break;
      if (monotonicMs() - stoppedAt > (TTL + 3) * 1000) assert.fail('the leader key outlived its lease behind the proxy');
      await sleep(100);
    }
    console.error(`# leader key gone ${monotonicMs() - stoppedAt} ms after the last keep-alive (ttl ${TTL} s)`);
    // b never renewed either: its lease is gone too, and renewLease grants a new one.
    assert.equal((await b.renewLease()).renewed, false);
    assert.equal(await b.acquireLeader(), true);
    assert.equal(await b.releaseLeader(), true);
  });
});
