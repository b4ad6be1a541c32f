// The systemd units themselves: systemd-analyze verify must catch a broken unit; the hardened
// governor.service must leave writable every path governor writes (its defaults and the AMI's
// configuration); and the HAProxy drop-in's command line, run for real, must give governor (as
// postgres) the master and runtime API sockets and nobody else.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { defaultHaproxyConfig } from '../../src/config/defaults.js';
import { loadConfig } from '../../src/config/load.js';
import type { GovernorConfig } from '../../src/config/types.js';
import { EMPTY_VIEW, renderHaproxyConfig, routingLayout } from '../../src/haproxy/render.js';
import { cliCommand } from '../../src/haproxy/runtime.js';
import { stopProcess } from '../../src/cli/demo/etcd-process.js';
import { freePort } from '../../src/util/ports.js';
import { isAlive, logTail } from '../../src/util/process.js';
import { sleep } from '../../src/util/time.js';
import { amiConfig, INSTALLED_UNITS, packagedRoot, readUnit, removeDir, repoPath, run, tempDir, verifyUnits } from '../helpers/packaging.js';
import { expandCommandLine, unitEnvironment, unitValue, unitValues } from '../helpers/systemd-unit.js';

/** A packaged root with the repository's units installed (and `mutate` applied to governor.service). */
function rootWithUnits(mutate: (text: string) => string = (t) => t, binary = true): string {
  const root = packagedRoot('gov-units-');
  for (const { source, installed } of INSTALLED_UNITS) {
    const text = fs.readFileSync(repoPath(source), 'utf8');
    fs.mkdirSync(path.dirname(path.join(root, installed)), { recursive: true });
    fs.writeFileSync(path.join(root, installed), source.endsWith('governor.service') ? mutate(text) : text);
  }
  if (binary) {
    fs.mkdirSync(path.join(root, 'usr/local/bin'), { recursive: true });
    fs.copyFileSync('/bin/true', path.join(root, 'usr/local/bin/governor')); // verify only checks it is executable
  }
  return root;
}

describe('systemd units', () => {
  const cleanup: string[] = [];
  after(() => cleanup.forEach(removeDir));

  it('systemd-analyze verify passes on the units as shipped', async () => {
    const root = rootWithUnits();
    cleanup.push(root);
    const result = await verifyUnits(root, ['governor.service', 'etcd-proxy.service', 'haproxy.service']);
    assert.ok(result.ok, result.output);
  });

  const broken: Array<{ name: string; mutate: (t: string) => string; binary?: boolean; expect: RegExp }> = [
    { name: 'an unknown key', mutate: (t) => t.replace(/^KillMode=process$/m, 'KillMode=process\nRestartOnFailure=yes'), expect: /Unknown key/ },
    { name: 'a bad value', mutate: (t) => t.replace(/^KillMode=process$/m, 'KillMode=processes'), expect: /kill mode/ },
    { name: 'a missing executable', mutate: (t) => t, binary: false, expect: /not executable/ },
  ];
  for (const c of broken) {
    it(`systemd-analyze verify fails the check on ${c.name}`, async () => {
      const root = rootWithUnits(c.mutate, c.binary ?? true);
      cleanup.push(root);
      const result = await verifyUnits(root, ['governor.service']);
      assert.equal(result.ok, false);
      assert.match(result.output, c.expect);
    });
  }

  it('governor.service: postgres user, process kill mode, environment file, restart policy', () => {
    const unit = readUnit('systemd', 'governor.service');
    assert.equal(unitValue(unit, 'Service', 'User'), 'postgres');
    assert.equal(unitValue(unit, 'Service', 'KillMode'), 'process');
    assert.equal(unitValue(unit, 'Service', 'EnvironmentFile'), '-/etc/governor/environment');
    assert.equal(unitValue(unit, 'Service', 'RestartPreventExitStatus'), '2');
    assert.deepEqual(expandCommandLine(unitValue(unit, 'Service', 'ExecStart'), {}), ['/usr/local/bin/governor', '-c', '/etc/governor/governor.yml']);
    // governor's own PostgreSQL stop timeout is 60 s (HaLoop.shutdown): systemd must wait longer.
    assert.ok(parseInt(unitValue(unit, 'Service', 'TimeoutStopSec'), 10) > 60);
  });

  const writable = (config: GovernorConfig): string[] => {
    const dataDir = config.postgresql.data_dir;
    return [
      dataDir,
      `${dataDir}.log`,
      path.dirname(dataDir), // .pgpass, fence pid file
      config.archive?.spool_dir ?? path.join(path.dirname(dataDir), 'archive-spool'),
      fs.realpathSync(path.dirname(config.postgresql.socket_dir)) + '/' + path.basename(config.postgresql.socket_dir),
      path.dirname((config.haproxy ?? defaultHaproxyConfig()).config_file),
    ];
  };
  const defaultsConfig = () => loadConfig({ text: 'scope: x', env: { PGPASSWORD_SUPERUSER: 'a', PGPASSWORD_STANDBY: 'b' } }).config;
  for (const [name, config] of [['defaults', defaultsConfig], ['the AMI\'s governor.yml', () => amiConfig()]] as const) {
    it(`governor.service leaves writable every path governor writes with ${name}`, () => {
      const unit = readUnit('systemd', 'governor.service');
      assert.equal(unitValue(unit, 'Service', 'ProtectSystem'), 'strict');
      const allowed = unitValues(unit, 'Service', 'ReadWritePaths').flatMap((v) => v.split(/\s+/)).map((p) => p.replace(/^-/, ''));
      for (const p of writable(config())) {
        assert.ok(allowed.some((a) => p === a || p.startsWith(`${a}/`)), `${p} is not under ReadWritePaths= (${allowed.join(' ')})`);
      }
    });
  }
});

describe('haproxy-governor.conf: the drop-in\'s HAProxy command line, run for real', () => {
  let dir: string;
  let masterPid = 0;
  let masterSocket = '';
  let statsSocket = '';
  const postgres = { uid: 0, gid: 0 };

  before(async () => {
    postgres.uid = Number((await run('id', ['-u', 'postgres'])).stdout.trim());
    postgres.gid = Number((await run('id', ['-g', 'postgres'])).stdout.trim());
    dir = tempDir('gov-dropin-');
    fs.chmodSync(dir, 0o755); // other users reach the sockets only through their own modes
    const unit = readUnit('systemd', 'haproxy-governor.conf');
    // governor's rendered configuration, as governor running as postgres renders it.
    const settings = {
      ...defaultHaproxyConfig(),
      enabled: true,
      listen_address: '127.0.0.1',
      rw_port: await freePort(),
      ro_port: await freePort(),
      stats_socket: path.join(dir, 'admin.sock'),
      pid_file: path.join(dir, 'haproxy.pid'),
      config_file: path.join(dir, 'haproxy.cfg'),
    };
    fs.writeFileSync(settings.config_file, renderHaproxyConfig(routingLayout(EMPTY_VIEW), settings, 'test'));
    const env = unitEnvironment(unit);
    assert.equal(env.CONFIG, '/etc/haproxy/haproxy.cfg');
    const [bin, ...args] = expandCommandLine(unitValues(unit, 'Service', 'ExecStart').at(-1)!, { ...env, CONFIG: settings.config_file })
      .map((a) => a.replace('/run/haproxy/', `${dir}/`));
    masterSocket = path.join(dir, 'master.sock');
    statsSocket = settings.stats_socket;
    assert.ok(args.some((a) => a.startsWith(`${masterSocket},`)), `master socket option in ${args.join(' ')}`);
    const log = fs.openSync(path.join(dir, 'haproxy.log'), 'a');
    // -Ws without systemd's NOTIFY_SOCKET behaves like -W.
    const child = spawn(bin!, args, { stdio: ['ignore', log, log], env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });
    fs.closeSync(log);
    masterPid = child.pid!;
    const deadline = Date.now() + 10_000;
    while (!(fs.existsSync(masterSocket) && fs.existsSync(statsSocket))) {
      if (!isAlive(masterPid) || Date.now() > deadline) assert.fail(`HAProxy did not start:\n${logTail(path.join(dir, 'haproxy.log'))}`);
      await sleep(50);
    }
  });

  after(async () => {
    if (masterPid) await stopProcess(masterPid, 5000, 'SIGUSR1');
    if (dir) removeDir(dir);
  });

  /** Run the socket command as another OS user (node, the same program governor uses). */
  const asUser = (user: { uid: number; gid: number }, socket: string, command: string) =>
    run(process.execPath, ['--input-type=module', '-e', `
      import { cliCommand } from ${JSON.stringify(repoPath('dist/src/haproxy/runtime.js'))};
      cliCommand(${JSON.stringify(socket)}, ${JSON.stringify(command)}).then((o) => console.log(o), (e) => { console.error(e.message); process.exit(3); });
    `], { uid: user.uid, gid: user.gid, cwd: '/' });

  it('governor as postgres reaches the master socket (show proc) and the runtime API (show info)', async () => {
    const proc = await asUser(postgres, masterSocket, 'show proc');
    assert.equal(proc.code, 0, proc.stderr);
    assert.match(proc.stdout, /master/);
    const info = await asUser(postgres, statsSocket, 'show info');
    assert.equal(info.code, 0, info.stderr);
    assert.match(info.stdout, /^Name: HAProxy$/m);
    // root (HAProxy's own tools, an operator) still can.
    assert.match(await cliCommand(masterSocket, 'show proc'), /master/);
  });

  it('another user reaches neither socket', async () => {
    const nobody = { uid: Number((await run('id', ['-u', 'nobody'])).stdout.trim()), gid: Number((await run('id', ['-g', 'nobody'])).stdout.trim()) };
    for (const socket of [masterSocket, statsSocket]) {
      const result = await asUser(nobody, socket, 'show info');
      assert.notEqual(result.code, 0, `nobody reached ${socket}: ${result.stdout}`);
    }
  });
});
