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
import { cliCommand, showProc } from '../../src/haproxy/runtime.js';
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

/** Uid, gid and supplementary groups of an OS user. */
async function osUser(name: string): Promise<{ uid: number; gid: number }> {
  return { uid: Number((await run('id', ['-u', name])).stdout.trim()), gid: Number((await run('id', ['-g', name])).stdout.trim()) };
}

/** The real, effective, saved and file-system uids of a process (/proc/<pid>/status). */
function processUids(pid: number): number[] {
  const line = fs.readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('Uid:'))!;
  return line.split(/\s+/).slice(1).filter((w) => w !== '').map(Number);
}

describe('haproxy-governor.conf: HAProxy as user haproxy, never root', () => {
  it('User=haproxy, no capabilities, no privileged Exec line, a hardened read-only system', () => {
    const unit = readUnit('systemd', 'haproxy-governor.conf');
    assert.equal(unitValue(unit, 'Service', 'User'), 'haproxy');
    assert.equal(unitValue(unit, 'Service', 'Group'), 'haproxy');
    assert.equal(unitValue(unit, 'Service', 'NoNewPrivileges'), 'yes');
    assert.equal(unitValue(unit, 'Service', 'ProtectSystem'), 'strict');
    const raw = unit.get('Service')!;
    assert.ok(raw.some(([k, v]) => k === 'CapabilityBoundingSet' && v === ''), 'CapabilityBoundingSet= (empty: no capability at all)');
    assert.deepEqual(unitValues(unit, 'Service', 'CapabilityBoundingSet'), []);
    // "+" or "!" would run that command with full privileges despite User=.
    for (const key of ['ExecStart', 'ExecStartPre', 'ExecStartPost', 'ExecReload', 'ExecStop', 'ExecStopPost']) {
      for (const line of unitValues(unit, 'Service', key)) assert.doesNotMatch(line, /^[-@:]*[+!]/, `${key}=${line}`);
    }
    assert.equal(unitEnvironment(unit).CONFIG, '/etc/haproxy/governor/haproxy.cfg');
    const governor = readUnit('systemd', 'governor.service');
    assert.equal(unitValue(governor, 'Service', 'SupplementaryGroups'), 'haproxy');
  });
});

describe('haproxy-governor.conf: the drop-in\'s HAProxy command line, run for real as haproxy', () => {
  let dir: string;
  let runtimeDir: string;
  let masterPid = 0;
  let masterSocket = '';
  let statsSocket = '';
  let postgres = { uid: 0, gid: 0 };
  let haproxy = { uid: 0, gid: 0 };

  before(async () => {
    postgres = await osUser('postgres');
    haproxy = await osUser('haproxy');
    dir = tempDir('gov-dropin-');
    fs.chmodSync(dir, 0o755);
    // What RuntimeDirectory=haproxy with User=haproxy makes: /run/haproxy, haproxy:haproxy 0750.
    runtimeDir = path.join(dir, 'run');
    fs.mkdirSync(runtimeDir, { mode: 0o750 });
    fs.chownSync(runtimeDir, haproxy.uid, haproxy.gid);
    fs.chmodSync(runtimeDir, 0o750);
    const unit = readUnit('systemd', 'haproxy-governor.conf');
    // governor's rendered configuration (manage: false), in governor's directory (postgres 0755).
    const configDir = path.join(dir, 'etc');
    fs.mkdirSync(configDir, { mode: 0o755 });
    fs.chownSync(configDir, postgres.uid, postgres.gid);
    const settings = {
      ...defaultHaproxyConfig(),
      enabled: true,
      listen_address: '127.0.0.1',
      rw_port: await freePort(),
      ro_port: await freePort(),
      stats_socket: path.join(runtimeDir, 'admin.sock'),
      pid_file: path.join(runtimeDir, 'haproxy.pid'),
      config_file: path.join(configDir, 'haproxy.cfg'),
    };
    fs.writeFileSync(settings.config_file, renderHaproxyConfig(routingLayout(EMPTY_VIEW), settings, 'test'), { mode: 0o644 });
    fs.chownSync(settings.config_file, postgres.uid, postgres.gid);
    const env = unitEnvironment(unit);
    const [bin, ...args] = expandCommandLine(unitValues(unit, 'Service', 'ExecStart').at(-1)!, { ...env, CONFIG: settings.config_file })
      .map((a) => a.replace('/run/haproxy/', `${runtimeDir}/`));
    masterSocket = path.join(runtimeDir, 'master.sock');
    statsSocket = settings.stats_socket;
    assert.ok(args.some((a) => a.startsWith(`${masterSocket},`)), `master socket option in ${args.join(' ')}`);
    const log = fs.openSync(path.join(dir, 'haproxy.log'), 'a');
    // -Ws without systemd's NOTIFY_SOCKET behaves like -W. As User=/Group= start it: haproxy.
    const child = spawn(bin!, args, { stdio: ['ignore', log, log], env: { PATH: process.env.PATH ?? '/usr/bin:/bin' }, uid: haproxy.uid, gid: haproxy.gid, cwd: '/' });
    fs.closeSync(log);
    masterPid = child.pid!;
    const deadline = Date.now() + 10_000;
    // Serving: the master lists a worker and that worker answers on the runtime API socket.
    const serving = async () => {
      const [worker] = (await showProc(masterSocket, 500)).workers;
      return worker !== undefined && (await cliCommand(statsSocket, 'show info', 500)).includes(`Pid: ${worker}`);
    };
    while (!(await serving().catch(() => false))) {
      if (!isAlive(masterPid) || Date.now() > deadline) assert.fail(`HAProxy did not start:\n${logTail(path.join(dir, 'haproxy.log'))}`);
      await sleep(50);
    }
  });

  after(async () => {
    if (masterPid) await stopProcess(masterPid, 5000, 'SIGUSR1');
    if (dir) removeDir(dir);
  });

  /** Run the socket command as an OS user with exactly `groups` as supplementary groups (setpriv:
   *  governor.service's User=postgres with SupplementaryGroups=haproxy), with the program governor uses. */
  const asUser = (user: string, groups: string[], socket: string, command: string) =>
    run('setpriv', [`--reuid=${user}`, `--regid=${user}`, ...(groups.length ? [`--groups=${groups.join(',')}`] : ['--clear-groups']), process.execPath, '--input-type=module', '-e', `
      import { cliCommand } from ${JSON.stringify(repoPath('dist/src/haproxy/runtime.js'))};
      cliCommand(${JSON.stringify(socket)}, ${JSON.stringify(command)}).then((o) => console.log(o), (e) => { console.error(e.message); process.exit(3); });
    `], { cwd: '/' });

  const workers = async () => (await showProc(masterSocket, 2000)).workers;

  it('the master and its worker run as haproxy, not root', async () => {
    assert.deepEqual(processUids(masterPid), [haproxy.uid, haproxy.uid, haproxy.uid, haproxy.uid]);
    const [worker] = await workers();
    assert.ok(worker !== undefined);
    assert.deepEqual(processUids(worker), [haproxy.uid, haproxy.uid, haproxy.uid, haproxy.uid]);
    for (const socket of [masterSocket, statsSocket]) {
      const stat = fs.statSync(socket);
      assert.equal(stat.uid, haproxy.uid, socket);
      assert.equal(stat.gid, haproxy.gid, socket);
      assert.equal(stat.mode & 0o777, 0o660, socket);
    }
  });

  it('governor as postgres in group haproxy reaches the master socket (show proc) and the runtime API (show info)', async () => {
    const proc = await asUser('postgres', ['haproxy'], masterSocket, 'show proc');
    assert.equal(proc.code, 0, proc.stderr);
    assert.match(proc.stdout, /master/);
    const info = await asUser('postgres', ['haproxy'], statsSocket, 'show info');
    assert.equal(info.code, 0, info.stderr);
    assert.match(info.stdout, /^Name: HAProxy$/m);
    // root (HAProxy's own tools, an operator) still can.
    assert.match(await cliCommand(masterSocket, 'show proc'), /master/);
  });

  it('without the haproxy group, postgres reaches neither socket; nor does nobody', async () => {
    for (const user of ['postgres', 'nobody']) {
      for (const socket of [masterSocket, statsSocket]) {
        const result = await asUser(user, [], socket, 'show info');
        assert.notEqual(result.code, 0, `${user} reached ${socket}: ${result.stdout}`);
      }
    }
  });

  it('a reload asked by governor (postgres, group haproxy) re-executes HAProxy as haproxy: the new worker is not root', async () => {
    const [before] = await workers();
    const reload = await asUser('postgres', ['haproxy'], masterSocket, 'reload');
    assert.equal(reload.code, 0, reload.stderr);
    let fresh: number | undefined;
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && (fresh === undefined || fresh === before)) {
      fresh = (await workers().catch(() => []))[0];
      await sleep(50);
    }
    assert.ok(fresh !== undefined && fresh !== before, `no new worker after the reload:\n${logTail(path.join(dir, 'haproxy.log'))}`);
    assert.deepEqual(processUids(fresh), [haproxy.uid, haproxy.uid, haproxy.uid, haproxy.uid]);
    assert.deepEqual(processUids(masterPid), [haproxy.uid, haproxy.uid, haproxy.uid, haproxy.uid]);
  });
});
