// Archiving never fails in silence (issue "Trust", item 9), on real clusters started the two ways the
// README documents:
//   - `npx governor demo up` from the repository, as root: npx runs governor through a link under
//     root's npm cache, which PostgreSQL's OS user cannot enter; a segment must still be archived;
//   - `node dist/src/cli/governor.js demo up` (TestCluster): archiving works; then the archive
//     directory turns unwritable: the failure shows in `governorctl list`, /metrics and the log
//     within seconds, backup-push exits with the archive error instead of waiting forever, and once
//     the directory is writable again everything recovers and a backup completes.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, chown, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import type { DemoManifest } from '../../src/cli/demo/manifest.js';
import { runGovernor, TestCluster } from '../helpers/cluster.js';
import { waitFor } from '../helpers/wait.js';

const REPOSITORY = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

function npx(args: string[], timeoutMs: number): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('npx', args, { cwd: REPOSITORY, timeout: timeoutMs, maxBuffer: 16 << 20 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

/** Write a little, switch to a new segment; resolves the name of the segment completed. */
async function switchWal(cluster: TestCluster, member: string): Promise<string> {
  await cluster.query(member, 'CREATE TABLE IF NOT EXISTS t (id serial, at timestamptz DEFAULT now())');
  await cluster.query(member, 'INSERT INTO t DEFAULT VALUES');
  const [row] = await cluster.query<{ name: string }>(member, 'SELECT pg_walfile_name(pg_switch_wal()) AS name');
  return row!.name;
}

async function archivedSegments(archiveDir: string): Promise<string[]> {
  return (await readdir(path.join(archiveDir, 'wal')).catch(() => [] as string[])).filter((n) => !n.endsWith('.meta.json'));
}

describe('npx governor demo up (as root, from the repository)', () => {
  test('archive_command runs governor by a path PostgreSQL\'s user can reach, and a segment is archived', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'governor-npx-'));
    await chmod(dir, 0o755);
    const started = Date.now();
    const up = await npx(['governor', 'demo', 'up', '--dir', dir, '--nodes', '1', '--timeout', '120'], 180_000);
    try {
      assert.equal(up.code, 0, `npx governor demo up failed:\n${up.stderr}\n${up.stdout}`);
      const manifest = JSON.parse(up.stdout) as DemoManifest;
      const cluster = new TestCluster(dir, manifest);
      const [command] = await cluster.query<{ archive_command: string }>('node1', 'SHOW archive_command');
      assert.doesNotMatch(command!.archive_command, /\/root\/|_npx/, 'not the link in root\'s npm cache');
      const segment = await switchWal(cluster, 'node1');
      await cluster.waitFor(`${segment} archived`, async () => {
        const [stats] = await cluster.query<{ last_archived_wal: string | null; failed_count: string }>('node1', 'SELECT last_archived_wal, failed_count FROM pg_stat_archiver');
        assert.equal(stats!.failed_count, '0', 'no failed archive attempt');
        return stats!.last_archived_wal !== null && stats!.last_archived_wal >= segment;
      }, 30_000);
      assert.ok((await archivedSegments(manifest.archive.storage!.slice('file://'.length))).some((n) => n.startsWith(segment)));
      console.log(`npx governor demo up: archived ${segment} ${((Date.now() - started) / 1000).toFixed(1)} s after the start`);
    } finally {
      await runGovernor(['demo', 'down', '--dir', dir]);
      if (!process.env.GOVERNOR_KEEP_TEST_DIRS) await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('a failing archive is visible, stops backup-push, and recovers (node dist/…)', () => {
  let cluster: TestCluster;
  let archiveDir: string;
  let walDir: string;
  before(async () => {
    cluster = await TestCluster.start(1);
    archiveDir = cluster.manifest.archive.storage!.slice('file://'.length);
    walDir = path.join(archiveDir, 'wal');
  });
  after(async () => {
    await chmod(walDir, 0o700).catch(() => undefined);
    await chmod(archiveDir, 0o700).catch(() => undefined);
    await cluster?.stop();
  });

  const metric = async (name: string): Promise<string> => (await cluster.api('node1', '/metrics')).body
    .split('\n').filter((l) => l.startsWith(`${name}{`)).join('\n');
  const configFile = () => cluster.node('node1').config_file;

  test('archiving works; then an unwritable archive shows in list, metrics and log, backup-push exits with its error; fixed, all recovers', async () => {
    const first = await switchWal(cluster, 'node1');
    await cluster.waitFor(`${first} archived`, async () => (await archivedSegments(archiveDir)).some((n) => n.startsWith(first)), 30_000);
    assert.match(await metric('governor_archive_failing'), / 0$/);

    // PostgreSQL's OS user owns the archive; read-only, every upload fails with EACCES.
    await chmod(walDir, 0o555);
    await chmod(archiveDir, 0o555);
    const brokenAt = Date.now();
    const failing = await switchWal(cluster, 'node1');
    await cluster.waitFor('the failure in /metrics', async () => / 1$/.test(await metric('governor_archive_failing')), 30_000);
    const seenMs = Date.now() - brokenAt;
    const info = await metric('governor_archive_failure_info');
    assert.match(info, new RegExp(`segment="${failing}"`));
    assert.match(info, /EACCES|permission denied/);
    assert.match(await metric('governor_archive_failing_seconds'), / \d/);

    const list = await cluster.ctl(['list']);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /\| Archive \|/);
    assert.match(list.stdout, new RegExp(`WAL archiving failing on node1 .*at ${failing}: wal-push ${failing}: .*(EACCES|permission denied)`));
    await cluster.waitFor('the failure in the log', async () => cluster.logOf('node1').split('\n')
      .find((l) => l.includes('WAL archiving is failing') && /EACCES|permission denied/.test(l)), 10_000);

    const pushStarted = Date.now();
    const pushed = await runGovernor(['backup-push', '-c', configFile()], { timeoutMs: 120_000 });
    const pushSeconds = (Date.now() - pushStarted) / 1000;
    assert.notEqual(pushed.code, 0, `backup-push must fail while archiving fails:\n${pushed.stderr}`);
    assert.match(pushed.stderr, /WAL archiving is failing .*(EACCES|permission denied)/);
    const failureLines = cluster.logOf('node1').split('\n').filter((l) => l.includes('WAL archiving is failing'));
    assert.equal(failureLines.length, 1, `one log line for one cause, however often it is retried:\n${failureLines.join('\n')}`);
    console.log(`governorctl list while failing:\n${list.stdout}\nbackup-push: ${pushed.stderr.trim().split('\n').at(-1)}`);
    console.log(`failure seen in /metrics ${(seenMs / 1000).toFixed(1)} s after the archive turned unwritable; backup-push exited ${pushed.code} after ${pushSeconds.toFixed(1)} s`);

    await chmod(archiveDir, 0o700);
    await chmod(walDir, 0o700);
    const fixedAt = Date.now();
    // New WAL wakes PostgreSQL's archiver, which otherwise retries only after a minute.
    const after = await switchWal(cluster, 'node1');
    await cluster.waitFor('recovery in /metrics', async () => / 0$/.test(await metric('governor_archive_failing')), 60_000);
    await cluster.waitFor('recovery in the log', async () => cluster.logOf('node1').includes('WAL archiving recovered'), 10_000);
    const archived = await archivedSegments(archiveDir);
    assert.ok([failing, after].every((s) => archived.some((n) => n.startsWith(s))), `${failing} and ${after} archived: ${archived.join(' ')}`);
    assert.doesNotMatch((await cluster.ctl(['list'])).stdout, /Archive|archiving failing/);
    const again = await runGovernor(['backup-push', '-c', configFile()], { timeoutMs: 120_000 });
    assert.equal(again.code, 0, `backup-push after recovery:\n${again.stderr}`);
    console.log(`recovered ${((Date.now() - fixedAt) / 1000).toFixed(1)} s after the archive was writable again (backup included)`);
  });

  test('governor itself failing before wal-push can record anything: seen through pg_stat_archiver, with the error from PostgreSQL\'s log', async () => {
    // The configuration file unreadable by PostgreSQL's OS user: archive_command's governor stops
    // before it knows where the status file is (as a governor that cannot be loaded at all would).
    // The storage fails too, or the running uploader (config already loaded) would store the
    // segment ahead and the shell fast path would archive it without starting governor.
    const file = configFile();
    const { uid, gid } = await stat(file);
    await chown(file, 0, 0);
    await chmod(walDir, 0o555);
    try {
      const failing = await switchWal(cluster, 'node1');
      await cluster.waitFor('the failure in /metrics', async () => / 1$/.test(await metric('governor_archive_failing')), 30_000);
      const info = await metric('governor_archive_failure_info');
      assert.match(info, /error="[^"]*governor\.yml[^"]*\(archive command failed with exit code \d+\) \(from PostgreSQL's log\)"/);
      console.log(`seen through pg_stat_archiver: ${info}`);
      assert.match((await cluster.ctl(['list'])).stdout, /WAL archiving failing on node1 for \d+ s: .*from PostgreSQL's log/);
      await chown(file, uid, gid);
      await chmod(walDir, 0o700);
      const next = await switchWal(cluster, 'node1');
      await cluster.waitFor('recovery in /metrics', async () => / 0$/.test(await metric('governor_archive_failing')), 60_000);
      const archived = await archivedSegments(archiveDir);
      assert.ok([failing, next].every((s) => archived.some((n) => n.startsWith(s))), `${failing} and ${next} archived`);
    } finally {
      await chown(file, uid, gid);
      await chmod(walDir, 0o700);
    }
  });
});
