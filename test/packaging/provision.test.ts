// The AMI's provisioning (ami/scripts/provision.sh, what Packer runs) against a scratch root that
// holds what the Debian packages provide: the package step resolves the real package set with apt
// (simulated: apt cannot install into a directory), the file step installs for real; then the
// tree is inspected, and systemd-analyze verifies the installed units there.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../../src/config/load.js';
import { governorBinary, governorServiceEnvironment, INSTALLED_UNITS, packagedRoot, removeDir, repoPath, run, tempDir, verifyUnits } from '../helpers/packaging.js';
import { parseEnvironmentFile } from '../helpers/systemd-unit.js';

const POSTGRES = { uid: Number(fs.statSync('/var/lib/postgresql').uid) };

function provision(root: string, scripts = repoPath('ami', 'scripts'), binary = governorBinary()) {
  return run(path.join(scripts, 'provision.sh'), [], { env: { ...process.env, ROOT: root, GOVERNOR_BINARY: binary }, timeout: 300_000 });
}

/** A copy of the files provision.sh reads (ami/, systemd/, README.md), to break one of them. */
function scriptsCopy(): string {
  const dir = tempDir('gov-ami-copy-');
  fs.cpSync(repoPath('ami'), path.join(dir, 'ami'), { recursive: true });
  fs.cpSync(repoPath('systemd'), path.join(dir, 'systemd'), { recursive: true });
  fs.copyFileSync(repoPath('README.md'), path.join(dir, 'README.md'));
  return dir;
}

function mode(file: string): string {
  return (fs.statSync(file).mode & 0o7777).toString(8);
}

describe('AMI provisioning into a scratch root', () => {
  let root: string;
  const inRoot = (p: string) => path.join(root, p);
  const cleanup: string[] = [];

  before(async () => {
    root = packagedRoot();
    cleanup.push(root);
    fs.chmodSync(root, 0o755); // like /: other users (haproxy) may pass
    const started = Date.now();
    const result = await provision(root);
    assert.equal(result.code, 0, `provision.sh failed:\n${result.stdout}\n${result.stderr}`);
    console.error(`# provision.sh into ${root}: ${Date.now() - started} ms`);
  });

  after(() => cleanup.forEach(removeDir));

  it('installs the executable, and governorctl runs as governorctl through its symlink', async () => {
    const bin = inRoot('usr/local/bin/governor');
    assert.equal(mode(bin), '755');
    assert.equal(fs.statSync(bin).uid, 0);
    assert.equal(fs.readlinkSync(inRoot('usr/local/bin/governorctl')), 'governor');
    const version = await run(bin, ['--version']);
    assert.equal(version.code, 0, version.stderr);
    assert.match(version.stdout.trim(), /^\d+\.\d+\.\d+/);
    const ctl = await run(inRoot('usr/local/bin/governorctl'), ['--help']);
    assert.equal(ctl.code, 0, ctl.stderr);
    assert.match(ctl.stdout, /switchover/);
  });

  it('installs the units, enables governor and the proxy, masks Debian\'s postgresql.service', () => {
    for (const { source, installed } of INSTALLED_UNITS) {
      assert.equal(fs.readFileSync(inRoot(installed), 'utf8'), fs.readFileSync(repoPath(source), 'utf8'), installed);
      assert.equal(mode(inRoot(installed)), '644');
    }
    const wants = inRoot('etc/systemd/system/multi-user.target.wants');
    assert.equal(fs.readlinkSync(path.join(wants, 'governor.service')), '/etc/systemd/system/governor.service');
    assert.equal(fs.readlinkSync(path.join(wants, 'etcd-proxy.service')), '/etc/systemd/system/etcd-proxy.service');
    assert.ok(fs.existsSync(path.join(wants, 'haproxy.service')));
    assert.equal(fs.readlinkSync(inRoot('etc/systemd/system/postgresql.service')), '/dev/null');
  });

  it('the installed units pass systemd-analyze verify in that root', async () => {
    const result = await verifyUnits(root, ['governor.service', 'etcd-proxy.service', 'haproxy.service']);
    assert.ok(result.ok, result.output);
  });

  it('PostgreSQL: no default cluster, directories owned by postgres', () => {
    const conf = fs.readFileSync(inRoot('etc/postgresql-common/createcluster.conf'), 'utf8');
    assert.match(conf, /^create_main_cluster = false$/m);
    for (const dir of ['var/lib/postgresql', 'var/lib/postgresql/15']) {
      assert.equal(fs.statSync(inRoot(dir)).uid, POSTGRES.uid, dir);
      assert.equal(mode(inRoot(dir)), '755', dir);
    }
  });

  it('HAProxy: governor (postgres) replaces haproxy.cfg in its own directory; /etc/haproxy stays root\'s; the placeholder is valid', async () => {
    const etc = fs.statSync(inRoot('etc/haproxy'));
    assert.equal(etc.uid, 0);
    assert.equal(etc.gid, 0);
    assert.equal(mode(inRoot('etc/haproxy')), '755');
    const overrides = fs.existsSync(inRoot('var/lib/dpkg/statoverride')) ? fs.readFileSync(inRoot('var/lib/dpkg/statoverride'), 'utf8') : '';
    assert.doesNotMatch(overrides, /\/etc\/haproxy$/m, 'no statoverride opens /etc/haproxy');
    const own = fs.statSync(inRoot('etc/haproxy/governor'));
    assert.equal(own.uid, POSTGRES.uid);
    assert.equal(mode(inRoot('etc/haproxy/governor')), '755');
    const placeholder = inRoot('etc/haproxy/governor/haproxy.cfg');
    assert.equal(fs.statSync(placeholder).uid, POSTGRES.uid);
    assert.equal(mode(placeholder), '644');
    assert.doesNotMatch(fs.readFileSync(placeholder, 'utf8'), /\buser\b|\buid\b/, 'HAProxy as haproxy cannot hand its socket to another user');
    // Checked as haproxy.service checks it: as haproxy.
    const haproxy = Number((await run('id', ['-u', 'haproxy'])).stdout.trim());
    const check = await run('/usr/sbin/haproxy', ['-c', '-f', placeholder], { uid: haproxy, gid: Number((await run('id', ['-g', 'haproxy'])).stdout.trim()), cwd: '/' });
    assert.equal(check.code, 0, check.stdout + check.stderr);
  });

  it('ownership and modes: every file and directory the provisioning makes, as README\'s table says', async () => {
    const pgGid = Number((await run('id', ['-g', 'postgres'])).stdout.trim());
    // [path, owner uid, group gid, mode]
    const table: Array<[string, number, number, string]> = [
      ['usr/local/bin/governor', 0, 0, '755'],
      ['etc/governor', 0, 0, '755'],
      ['etc/governor/governor.yml', 0, pgGid, '640'],
      ['etc/governor/environment.example', 0, 0, '644'],
      ['etc/systemd/system/governor.service', 0, 0, '644'],
      ['etc/systemd/system/etcd-proxy.service', 0, 0, '644'],
      ['etc/systemd/system/haproxy.service.d/governor.conf', 0, 0, '644'],
      ['etc/sysctl.d/60-governor.conf', 0, 0, '644'],
      ['etc/haproxy', 0, 0, '755'],
      ['etc/haproxy/governor', POSTGRES.uid, pgGid, '755'],
      ['etc/haproxy/governor/haproxy.cfg', POSTGRES.uid, pgGid, '644'],
      ['var/lib/postgresql', POSTGRES.uid, pgGid, '755'],
      ['var/lib/postgresql/15', POSTGRES.uid, pgGid, '755'],
    ];
    for (const [file, uid, gid, expected] of table) {
      const stat = fs.statSync(inRoot(file));
      assert.deepEqual([file, stat.uid, stat.gid, mode(inRoot(file))], [file, uid, gid, expected]);
    }
  });

  it('no path to root: nothing postgres can write is outside its own directories, and every unit runs only root-owned files', async () => {
    const pgGid = Number((await run('id', ['-g', 'postgres'])).stdout.trim());
    const writableByPostgres = (stat: fs.Stats) =>
      !stat.isSymbolicLink() && (stat.uid === POSTGRES.uid || (stat.gid === pgGid && (stat.mode & 0o020) !== 0) || (stat.mode & 0o002) !== 0);
    const allowed = ['var/lib/postgresql', 'etc/haproxy/governor'];
    for (const entry of fs.readdirSync(root, { recursive: true, withFileTypes: true })) {
      const file = path.join(entry.parentPath ?? entry.path, entry.name);
      const relative = path.relative(root, file);
      const stat = fs.lstatSync(file);
      if (!writableByPostgres(stat)) continue;
      assert.ok(allowed.some((a) => relative === a || relative.startsWith(`${a}/`)), `postgres can write ${relative} (uid ${stat.uid}, gid ${stat.gid}, mode ${(stat.mode & 0o7777).toString(8)})`);
    }
    // What systemd runs or reads for these units, and every directory above it: root's alone.
    const units = [
      'etc/systemd/system/governor.service',
      'etc/systemd/system/etcd-proxy.service',
      'usr/lib/systemd/system/haproxy.service',
      'etc/systemd/system/haproxy.service.d/governor.conf',
    ];
    const paths = new Set<string>();
    for (const unit of units) {
      assert.ok(fs.existsSync(inRoot(unit)), unit);
      paths.add(`/${unit}`);
      for (const line of fs.readFileSync(inRoot(unit), 'utf8').split('\n')) {
        const match = /^(ExecStart|ExecStartPre|ExecReload|ExecStop|EnvironmentFile)=[-@:+!]*(\/\S+)/.exec(line.trim());
        if (match) paths.add(match[2]!);
      }
    }
    assert.ok(paths.has('/usr/local/bin/governor') && paths.has('/usr/sbin/haproxy') && paths.has('/etc/governor/environment'), [...paths].join(' '));
    for (const target of paths) {
      for (let p = target; p !== '/'; p = path.dirname(p)) {
        const stat = fs.statSync(inRoot(p), { throwIfNoEntry: false });
        if (!stat) continue; // /etc/governor/environment: written at launch, as root (its directory is checked)
        assert.ok(!writableByPostgres(stat), `postgres can write ${p}, which systemd uses for ${target}`);
      }
    }
  });

  it('sysctl settings: every key exists in this kernel, with the values we chose', () => {
    const text = fs.readFileSync(inRoot('etc/sysctl.d/60-governor.conf'), 'utf8');
    const settings = Object.fromEntries(
      text.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#')).map((l) => l.split('=').map((s) => s.trim()) as [string, string]),
    );
    for (const key of Object.keys(settings)) assert.ok(fs.existsSync(`/proc/sys/${key.replace(/\./g, '/')}`), `${key} is not a sysctl of this kernel`);
    assert.equal(settings['vm.swappiness'], '1');
    assert.equal(settings['vm.overcommit_memory'], '2');
    assert.equal(settings['net.ipv4.tcp_keepalive_time'], '60');
  });

  it('configuration: governor.yml 0640 root:postgres, no environment file, no secrets anywhere', async () => {
    const yml = inRoot('etc/governor/governor.yml');
    assert.equal(mode(yml), '640');
    assert.equal(fs.statSync(yml).gid, Number((await run('id', ['-g', 'postgres'])).stdout.trim()));
    assert.ok(!fs.existsSync(inRoot('etc/governor/environment')), '/etc/governor/environment must be written at launch, not baked in');
    const example = parseEnvironmentFile(fs.readFileSync(inRoot('etc/governor/environment.example'), 'utf8'));
    for (const [name, value] of Object.entries(example)) if (/PASSWORD/.test(name)) assert.equal(value, 'change-me', name);
    // No password, key or credential value in any text file installed under /etc.
    const files = fs.readdirSync(inRoot('etc'), { recursive: true, withFileTypes: true }).filter((e) => e.isFile());
    for (const entry of files) {
      const file = path.join(entry.parentPath ?? entry.path, entry.name);
      const text = fs.readFileSync(file, 'utf8');
      assert.doesNotMatch(text, /^\s*password:\s*(?!null)\S/im, file);
      assert.doesNotMatch(text, /AWS_SECRET_ACCESS_KEY=|aws_secret_access_key|BEGIN [A-Z ]*PRIVATE KEY/, file);
    }
  });

  it('the installed governor.yml with a launch environment is a valid configuration for the units', () => {
    const envText = fs.readFileSync(inRoot('etc/governor/environment.example'), 'utf8');
    const env = governorServiceEnvironment(envText);
    assert.equal(env.ETCD_HOSTS, undefined, 'governor.service must not pass the cluster endpoints to governor');
    const { config } = loadConfig({ file: inRoot('etc/governor/governor.yml'), env });
    assert.deepEqual(config.etcd.hosts, ['127.0.0.1:2379']);
    assert.equal(config.scope, 'example-cluster');
    assert.equal(config.haproxy?.manage, false);
    assert.equal(config.archive?.enabled, true);
    assert.equal(config.archive?.storage, 's3://example-governor-wal/example-cluster');
  });

  it('a broken step fails the provisioning: an unknown package, an executable that does not run', async () => {
    const copy = scriptsCopy();
    cleanup.push(copy);
    const packages = path.join(copy, 'ami', 'scripts', 'packages.sh');
    fs.writeFileSync(packages, fs.readFileSync(packages, 'utf8').replace('etcd-client haproxy', 'etcd-client haproxy no-such-package-governor'));
    const scratch = packagedRoot('gov-root-broken-');
    cleanup.push(scratch);
    const brokenPackages = await provision(scratch, path.join(copy, 'ami', 'scripts'));
    assert.notEqual(brokenPackages.code, 0);
    assert.match(brokenPackages.stderr, /no-such-package-governor/);

    // The file step alone (provision.sh runs it after the packages).
    const brokenBinary = await run(repoPath('ami', 'scripts', 'install.sh'), [], { env: { ...process.env, ROOT: scratch, GOVERNOR_BINARY: '/bin/false' } });
    assert.notEqual(brokenBinary.code, 0);
    assert.match(brokenBinary.stderr, /governor --version failed/);
  });
});
