// The single executable (`make binary` → dist/governor), run as itself: never through node.
// `make test-binary` builds it and runs this file. Where the machine allows (root, unshare), the binary runs
// in a mount namespace in which the `node` executable and node_modules are hidden, to show it needs neither.
// Self-contained (node: modules only), so it runs whatever state the rest of the tree is in.

import assert from 'node:assert/strict';
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, realpathSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const BINARY = path.resolve(process.env.GOVERNOR_BINARY ?? path.join(ROOT, 'dist/governor'));
const VERSION = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const isRoot = process.getuid?.() === 0;

let tmp = '';
/** argv prefix that hides node and node_modules from what follows (empty when not possible here). */
let isolate: string[] = [];

function hideNodeScript(): string {
  const node = realpathSync(process.execPath);
  const hidden = [path.join(ROOT, 'node_modules'), '/usr/lib/node_modules', '/usr/local/lib/node_modules'].filter((d) => existsSync(d));
  // The mounts are private to the new namespace. `exec "$@"` runs the binary (or runuser) in it.
  return [`/usr/bin/mount --bind /dev/null '${node}'`, ...hidden.map((d) => `/usr/bin/mount -t tmpfs none '${d}'`), 'exec "$@"'].join(' && ');
}

function run(argv: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; asPostgres?: boolean; timeoutMs?: number } = {}): SpawnSyncReturns<string> {
  const user = options.asPostgres && isRoot ? ['/usr/sbin/runuser', '-u', 'postgres', '--'] : [];
  const [command, ...args] = [...isolate, ...user, ...argv];
  return spawnSync(command!, args, { cwd: options.cwd ?? tmp, env: options.env ?? process.env, encoding: 'utf8', timeout: options.timeoutMs ?? 60_000, maxBuffer: 64 * 1024 * 1024 });
}

function ok(result: SpawnSyncReturns<string>, what: string): string {
  assert.equal(result.status, 0, `${what}: exit ${result.status} (signal ${result.signal})\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
  return result.stdout;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function pgUser(): { uid: number; gid: number } | null {
  if (!isRoot) return null;
  const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('postgres:'));
  if (!line) return null;
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

/** A directory the PostgreSQL OS user owns (wal-push and wal-fetch run as that user). */
function pgDir(dir: string): string {
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const user = pgUser();
  if (user) chownSync(dir, user.uid, user.gid);
  return dir;
}

/** Processes running this binary (by /proc/PID/exe) whose command line mentions `needle`. */
function binaryProcesses(needle: string): Array<{ pid: number; argv: string[] }> {
  const binary = realpathSync(BINARY);
  const found: Array<{ pid: number; argv: string[] }> = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readlinkSync(`/proc/${entry}/exe`) !== binary) continue;
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').filter(Boolean);
      if (argv.join(' ').includes(needle)) found.push({ pid: Number(entry), argv });
    } catch {
      // gone, or not ours to read
    }
  }
  return found;
}

before(() => {
  assert.ok(existsSync(BINARY), `${BINARY} does not exist: run "make binary" first`);
  // A temporary directory every user may traverse: PostgreSQL (user postgres) runs in the demo under it.
  tmp = mkdtempSync(path.join(os.tmpdir(), 'governor-binary-'));
  chmodSync(tmp, 0o755);
  if (isRoot) {
    // Absolute paths: some runs get an empty PATH.
    const probe = spawnSync('/usr/bin/unshare', ['-m', '/bin/sh', '-c', hideNodeScript(), '--', '/bin/true'], { encoding: 'utf8' });
    if (probe.status === 0) isolate = ['/usr/bin/unshare', '-m', '/bin/sh', '-c', hideNodeScript(), '--'];
  }
  console.log(`# binary ${BINARY}; ${isolate.length ? 'node and node_modules hidden (unshare -m)' : 'node NOT hidden (needs root and unshare)'}`);
});

after(() => {
  if (tmp && !process.env.KEEP_TMP) rmSync(tmp, { recursive: true, force: true });
});

describe('the single executable', () => {
  test('is one self-contained file: size, permissions, no node needed', () => {
    const stat = statSync(BINARY);
    console.log(`# size: ${(stat.size / 1024 / 1024).toFixed(1)} MiB (${stat.size} bytes)`);
    assert.ok(stat.isFile());
    // PostgreSQL runs `<binary> wal-push` as its own user: the file must be r-x for others, and so must every
    // directory above it be traversable (or the binary be copied somewhere that is, e.g. /usr/local/bin).
    assert.equal(stat.mode & 0o005, 0o005, `mode ${(stat.mode & 0o777).toString(8)}: others need read and execute`);
    if (pgUser()) ok(run([BINARY, '--version'], { asPostgres: true }), 'the postgres user runs --version');
    // Nothing on PATH, working directory /.
    const empty = path.join(tmp, 'empty-path');
    mkdirSync(empty, { recursive: true });
    assert.equal(ok(run([BINARY, '--version'], { cwd: '/', env: { PATH: empty } }), '--version without PATH').trim(), VERSION);
  });

  test('--version prints the version', () => {
    assert.equal(ok(run([BINARY, '--version']), '--version').trim(), VERSION);
  });

  test('--help lists the subcommands', () => {
    const help = ok(run([BINARY, '--help']), '--help');
    assert.match(help, /^Usage: governor /m);
    for (const command of ['rules', 'demo', 'wal-push', 'wal-fetch', 'backup-push', 'backup-list', 'backup-fetch', 'backup-delete', 'ctl']) {
      assert.match(help, new RegExp(`^\\s+${command}\\b`, 'm'), `--help does not list ${command}:\n${help}`);
    }
    assert.match(ok(run([BINARY, 'rules']), 'rules'), /^\s*1\. /m);
  });

  test('a symlink named governorctl is governorctl', () => {
    const bin = path.join(tmp, 'bin');
    mkdirSync(bin, { recursive: true, mode: 0o755 });
    symlinkSync(BINARY, path.join(bin, 'governorctl'));
    const help = ok(run([path.join(bin, 'governorctl'), '--help']), 'governorctl --help');
    assert.match(help, /^Usage: governorctl /m);
    for (const command of ['list', 'switchover', 'failover', 'restart', 'reinit', 'history']) {
      assert.match(help, new RegExp(`^\\s+${command}\\b`, 'm'), `governorctl --help does not list ${command}:\n${help}`);
    }
    assert.doesNotMatch(help, /^\s+wal-push\b/m);
    // Found on PATH, as an operator types it (argv[0] is then the bare name).
    assert.match(ok(run(['governorctl', '--help'], { env: { PATH: bin } }), 'governorctl --help via PATH'), /^Usage: governorctl /m);
    // ... and `governor ctl` is the same program.
    assert.match(ok(run([BINARY, 'ctl', '--help']), 'governor ctl --help'), /^Usage: governor ctl /m);
  });

  test('startup time: median of 10 runs of --version', () => {
    const times: number[] = [];
    for (let i = 0; i < 10; i++) {
      const start = process.hrtime.bigint();
      // Not isolated: unshare and mounts would be counted too.
      const result = spawnSync(BINARY, ['--version'], { encoding: 'utf8' });
      times.push(Number(process.hrtime.bigint() - start) / 1e6);
      assert.equal(result.status, 0, result.stderr);
    }
    const m = median(times);
    console.log(`# startup (--version): median ${m.toFixed(0)} ms, min ${Math.min(...times).toFixed(0)} ms, max ${Math.max(...times).toFixed(0)} ms (load average ${os.loadavg()[0]!.toFixed(1)})`);
    assert.ok(m < 3000, `median start ${m.toFixed(0)} ms`);
  });
});

describe('wal-push and wal-fetch through the binary', () => {
  const SEGMENT = '000000010000000000000003';
  const EXTENSIONS: Record<string, string> = { lz4: '.lz4', zstd: '.zst', brotli: '.br', gzip: '.gz', none: '' };
  let content: Buffer;
  let digest = '';

  before(() => {
    // 16 MiB like a WAL segment: half random, half repetitive, so every codec has something to do.
    const random = randomBytes(8 * 1024 * 1024);
    const text = Buffer.from('INSERT INTO t VALUES (42, md5(random()::text), now());\n'.repeat(160_000)).subarray(0, 8 * 1024 * 1024);
    content = Buffer.concat([random.subarray(0, 4 * 1024 * 1024), text.subarray(0, 4 * 1024 * 1024), random.subarray(4 * 1024 * 1024), text.subarray(4 * 1024 * 1024)]);
    assert.equal(content.length, 16 * 1024 * 1024);
    digest = createHash('sha256').update(content).digest('hex');
  });

  for (const method of ['lz4', 'zstd', 'brotli', 'gzip', 'none']) {
    test(`${method}: push a 16 MiB segment to file:// storage and fetch it back, byte for byte`, () => {
      const dir = pgDir(path.join(tmp, `wal-${method}`));
      const store = pgDir(path.join(dir, 'store'));
      const data = pgDir(path.join(dir, 'data'));
      pgDir(path.join(data, 'pg_wal'));
      const restoreData = pgDir(path.join(dir, 'restore'));
      pgDir(path.join(restoreData, 'pg_wal'));
      // wal-fetch restores only into the pg_wal of a data directory (one holding PG_VERSION).
      writeFileSync(path.join(restoreData, 'PG_VERSION'), '15\n', { mode: 0o644 });
      const config = path.join(dir, 'governor.yml');
      writeFileSync(
        config,
        [
          'scope: binary-test',
          'name: member1',
          'postgresql:',
          `  data_dir: ${data}`,
          '  authentication:',
          '    superuser: { password: unused }',
          '    replication: { password: unused }',
          'archive:',
          '  enabled: true',
          `  storage: file://${store}`,
          `  compression: ${method}`,
          '  prefetch: 0',
          `  spool_dir: ${pgDir(path.join(dir, 'spool'))}`,
          '',
        ].join('\n'),
        { mode: 0o644 },
      );
      const segment = path.join(data, 'pg_wal', SEGMENT);
      writeFileSync(segment, content, { mode: 0o600 });
      const user = pgUser();
      if (user) chownSync(segment, user.uid, user.gid);

      // As PostgreSQL runs them: in the data directory, as its OS user, with %p relative.
      let start = Date.now();
      ok(run([BINARY, 'wal-push', '-c', config, `pg_wal/${SEGMENT}`], { cwd: data, asPostgres: true }), `wal-push (${method})`);
      const pushMs = Date.now() - start;
      const stored = path.join(store, 'wal', `${SEGMENT}${EXTENSIONS[method]}`);
      assert.ok(existsSync(stored), `${stored} not written; storage holds ${readdirSync(path.join(store, 'wal')).join(', ')}`);
      const storedBytes = statSync(stored).size;

      start = Date.now();
      ok(run([BINARY, 'wal-fetch', '-c', config, SEGMENT, 'pg_wal/RECOVERYXLOG'], { cwd: restoreData, asPostgres: true }), `wal-fetch (${method})`);
      const fetchMs = Date.now() - start;
      const fetched = readFileSync(path.join(restoreData, 'pg_wal', 'RECOVERYXLOG'));
      assert.equal(fetched.length, content.length);
      assert.equal(createHash('sha256').update(fetched).digest('hex'), digest, `${method}: fetched bytes differ from pushed bytes`);

      // Not in the archive: exit 1, which PostgreSQL reads as "no such file".
      const missing = run([BINARY, 'wal-fetch', '-c', config, '000000010000000000000009', 'pg_wal/RECOVERYXLOG'], { cwd: restoreData, asPostgres: true });
      assert.equal(missing.status, 1, `wal-fetch of a missing segment: exit ${missing.status}\n${missing.stderr}`);
      console.log(`# ${method.padEnd(6)} push ${String(pushMs).padStart(5)} ms, fetch ${String(fetchMs).padStart(5)} ms, stored ${(storedBytes / 1024 / 1024).toFixed(2)} MiB of 16 MiB`);
    });
  }
});

describe('a demo cluster run by the binary', () => {
  let demo = '';

  after(() => {
    if (!demo) return;
    const down = spawnSync(BINARY, ['demo', 'down', '--dir', demo], { encoding: 'utf8', timeout: 120_000 });
    if (down.status !== 0) console.log(`# demo down failed: ${down.stderr}`);
    // Anything of ours still running there is a leak: report it and stop it.
    for (const leftover of binaryProcesses(demo)) {
      console.log(`# left running after demo down: pid ${leftover.pid}: ${leftover.argv.join(' ')}`);
      try {
        process.kill(leftover.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  });

  test('demo up --nodes 3, then ctl list shows one leader and two replicas; every child is the binary', { timeout: 180_000 }, async () => {
    demo = path.join(tmp, 'demo');
    const start = Date.now();
    // `demo up` returns once the cluster is ready; its governors run detached, so it is spawned (not
    // spawnSync) to keep the test's event loop free.
    const up = await new Promise<{ code: number | null; out: string }>((resolve) => {
      const [command, ...args] = [...isolate, BINARY, 'demo', 'up', '--dir', demo, '--nodes', '3', '--timeout', '150'];
      const child = spawn(command!, args, { cwd: tmp, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
      child.on('close', (code) => resolve({ code, out }));
    });
    assert.equal(up.code, 0, `demo up failed:\n${up.out}`);
    console.log(`# demo up: ${((Date.now() - start) / 1000).toFixed(1)} s`);

    const manifest = JSON.parse(readFileSync(path.join(demo, 'demo.json'), 'utf8')) as {
      nodes: Array<{ name: string; governor_pid: number; config_file: string; data_dir: string }>;
    };
    assert.equal(manifest.nodes.length, 3);
    const binary = realpathSync(BINARY);
    for (const node of manifest.nodes) {
      // The members were started as the binary itself (governorCommand() in SEA mode), not node + script.
      // (Its command line is the daemon's process title, "governor demo/<name>".)
      assert.equal(readlinkSync(`/proc/${node.governor_pid}/exe`), binary, `${node.name}: governor is not the binary`);
      // ... and so was the write fence each daemon starts beside itself.
      const fences = binaryProcesses(node.data_dir).filter((p) => p.argv.includes('fence'));
      assert.equal(fences.length, 1, `${node.name}: expected one write fence running the binary, found ${JSON.stringify(fences)}`);
    }

    // ctl gives etcd retry_timeout (2 s in the demo) per read; on a machine this busy one try may not do.
    let attempt = run([BINARY, 'ctl', '-c', manifest.nodes[0]!.config_file, 'list', '--format', 'json']);
    for (let i = 1; i < 3 && attempt.status !== 0; i++) {
      console.log(`# ctl list failed (${attempt.stderr.trim()}), again`);
      await new Promise((resolve) => setTimeout(resolve, 1000));
      attempt = run([BINARY, 'ctl', '-c', manifest.nodes[0]!.config_file, 'list', '--format', 'json']);
    }
    const listed = ok(attempt, 'ctl list');
    const rows = JSON.parse(listed) as Array<{ Member: string; Role: string; State: string }>;
    assert.equal(rows.length, 3, listed);
    assert.equal(rows.filter((r) => r.Role === 'Leader').length, 1, listed);
    assert.equal(rows.filter((r) => r.Role === 'Replica' || r.Role === 'Sync Standby').length, 2, listed);
    console.log(`# ctl list: ${rows.map((r) => `${r.Member}=${r.Role}/${r.State}`).join(', ')}`);

    // governorctl under its own name reads the same cluster.
    const ctl = path.join(tmp, 'bin', 'governorctl');
    if (existsSync(ctl)) {
      const again = JSON.parse(ok(run([ctl, '-c', manifest.nodes[1]!.config_file, 'list', '--format', 'json']), 'governorctl list')) as unknown[];
      assert.equal(again.length, 3);
    }

    // WAL archiving: PostgreSQL runs `<binary> wal-push` as its own user. The base backups that made the
    // replicas end a WAL segment, which the master archives.
    const leaderDir = manifest.nodes.find((n) => n.name === rows.find((r) => r.Role === 'Leader')!.Member)!.data_dir;
    const conf = readdirSync(leaderDir)
      .filter((f) => f.endsWith('.conf'))
      .map((f) => readFileSync(path.join(leaderDir, f), 'utf8'))
      .join('\n');
    const archiveCommand = /^\s*archive_command\s*=\s*'(.*)'\s*$/m.exec(conf)?.[1] ?? null;
    if (archiveCommand === null) {
      console.log('# archive_command not set in the members\' configuration: WAL archiving through the binary not checked');
    } else {
      assert.ok(archiveCommand.includes(binary) || archiveCommand.includes(BINARY), `archive_command does not run the binary: ${archiveCommand}`);
      const walDir = path.join(demo, 'archive', 'wal');
      const deadline = Date.now() + 30_000;
      while (Date.now() < deadline && !(existsSync(walDir) && readdirSync(walDir).some((f) => /^[0-9A-F]{24}/.test(f)))) {
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      const archived = existsSync(walDir) ? readdirSync(walDir).filter((f) => /^[0-9A-F]{24}/.test(f) && !f.endsWith('.json')) : [];
      assert.ok(archived.length > 0, `nothing archived to ${walDir} within 30 s (archive_command ${archiveCommand})`);
      console.log(`# archived by the binary as postgres: ${archived.join(', ')}`);
    }
  });
});
