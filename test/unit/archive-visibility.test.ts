// Archiving never fails in silence: the status wal-push records, the daemon's judgement of it, the
// backup guard's verdicts, governorctl's reading of /metrics, and whether PostgreSQL's OS user can
// run governor at all. Pure logic, by tables.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { archiveErrorFromPostgresLog, archiveHealth, failureKey, UNRECORDED_FAILURE } from '../../src/archive/archive-health.js';
import { afterFailure, afterSuccess, cleanErrorMessage, MAX_ERROR_LENGTH, parseArchiveStatus, type ArchiveStatusRecord } from '../../src/archive/archive-status.js';
import { guardVerdict, type GuardSample, type GuardState } from '../../src/archive/backup-archive-guard.js';
import { pathArgumentProblem } from '../../src/archive/wal-paths.js';
import { archiveFooter, archiveStateFromMetrics, parseSampleLine } from '../../src/cli/ctl-archive.js';
import { formatTable, listRows } from '../../src/cli/ctl-format.js';
import { commandFiles, pathAccessProblem, type StatFacts } from '../../src/cli/self-runnable.js';
import { collectMetrics, renderExposition } from '../../src/api/metrics.js';
import { registerSecret } from '../../src/log/logger.js';
import type { ClusterView } from '../../src/dcs/types.js';

const SEG = '000000010000000000000007';
const T0 = new Date('2026-01-01T00:00:00Z');
const at = (seconds: number) => new Date(T0.getTime() + seconds * 1000).toISOString();

const failingRecord: ArchiveStatusRecord = { failing: true, segment: SEG, at: at(10), since: at(0), failures: 4, error: 'wal-push: EACCES' };

describe('archive status record', () => {
  test('a failure run counts up and keeps its start; success after it is written once, success after success not at all', () => {
    const first = afterFailure(null, SEG, 'boom', T0);
    assert.deepEqual(first, { failing: true, segment: SEG, at: at(0), since: at(0), failures: 1, error: 'boom' });
    const second = afterFailure(first, SEG, 'boom again', new Date(at(5)));
    assert.equal(second.failures, 2);
    assert.equal(second.since, at(0));
    const recovered = afterSuccess(second, '000000010000000000000008', new Date(at(9)));
    assert.deepEqual(recovered, { failing: false, segment: '000000010000000000000008', at: at(9), since: null, failures: 0, error: null });
    assert.equal(afterSuccess(recovered, SEG, new Date(at(10))), null);
    assert.equal(afterSuccess(null, SEG, new Date(at(10))), null);
    assert.equal(afterFailure(recovered, SEG, 'x', new Date(at(11))).failures, 1, 'a new run after recovery');
  });

  test('error messages: one line, secrets redacted, bounded', () => {
    registerSecret('s3cr3t-key-value');
    assert.equal(cleanErrorMessage('denied\n  for s3cr3t-key-value\tnow'), 'denied for ****** now');
    assert.equal(cleanErrorMessage('x'.repeat(2000)).length, MAX_ERROR_LENGTH);
  });

  const garbage: Array<[string, string]> = [
    ['not JSON', '{'],
    ['an array', '[]'],
    ['a path for a segment', JSON.stringify({ ...failingRecord, segment: '../../etc/passwd' })],
    ['a non-boolean failing', JSON.stringify({ ...failingRecord, failing: 'yes' })],
    ['a bad time', JSON.stringify({ ...failingRecord, at: 'yesterday' })],
    ['negative failures', JSON.stringify({ ...failingRecord, failures: -1 })],
    ['a fractional count', JSON.stringify({ ...failingRecord, failures: 1.5 })],
    ['failing without an error', JSON.stringify({ ...failingRecord, error: null })],
    ['a numeric error', JSON.stringify({ ...failingRecord, error: 42 })],
    ['an oversized file', JSON.stringify({ ...failingRecord, error: 'e'.repeat(9000) })],
  ];
  for (const [what, text] of garbage) {
    test(`garbage is ignored, never acted on: ${what}`, () => assert.equal(parseArchiveStatus(text), null));
  }
  test('a well-formed record reads back as written', () => {
    assert.deepEqual(parseArchiveStatus(JSON.stringify(failingRecord)), failingRecord);
  });
});

describe('archive health', () => {
  const archiver = (archived: number | null, failed: number | null) => ({
    archivedCount: 5, failedCount: 3, lastArchivedAt: archived === null ? null : at(archived), lastFailedAt: failed === null ? null : at(failed),
  });
  const rows: Array<[string, Parameters<typeof archiveHealth>[0], boolean, string | null]> = [
    ['nothing recorded, nothing failed', { record: null, archiver: archiver(5, null), primary: true, segmentReady: null }, false, null],
    ['wal-push recorded a failure, the segment waits', { record: failingRecord, archiver: archiver(-5, 10), primary: true, segmentReady: true }, true, 'wal-push'],
    ['a later success (through the shell marker path) ends it', { record: failingRecord, archiver: archiver(12, 10), primary: true, segmentReady: true }, false, null],
    ['the failed segment no longer waits', { record: failingRecord, archiver: null, primary: true, segmentReady: false }, false, null],
    ['a replica: an old record counts only while its segment provably waits', { record: failingRecord, archiver: null, primary: false, segmentReady: null }, false, null],
    ['a replica whose segment still waits', { record: failingRecord, archiver: null, primary: false, segmentReady: true }, true, 'wal-push'],
    ['PostgreSQL counts failures but wal-push never ran', { record: null, archiver: archiver(1, 10), primary: true, segmentReady: null }, true, 'pg_stat_archiver'],
    ['never archived, failures only', { record: null, archiver: archiver(null, 10), primary: true, segmentReady: null }, true, 'pg_stat_archiver'],
    ['a failure followed by a success', { record: null, archiver: archiver(11, 10), primary: true, segmentReady: null }, false, null],
    ['statistics of a replica are its master days', { record: null, archiver: archiver(1, 10), primary: false, segmentReady: null }, false, null],
  ];
  for (const [what, input, failing, source] of rows) {
    test(what, () => {
      const health = archiveHealth(input);
      assert.equal(health.failing, failing);
      assert.equal(health.source, source);
    });
  }
  test('without a record the error comes from PostgreSQL\'s log, or says where to look', () => {
    const input = { record: null, archiver: { archivedCount: 0, failedCount: 3, lastArchivedAt: null, lastFailedAt: at(3) }, primary: true, segmentReady: null };
    assert.equal(archiveHealth(input).error, UNRECORDED_FAILURE);
    assert.match(archiveHealth({ ...input, postgresLogError: "Error: Cannot find module '/root/x'" }).error!, /Cannot find module '\/root\/x' \(from PostgreSQL's log\)/);
  });

  test('a retry of the same cause is the same failure for the log; another cause or segment is not', () => {
    const a = { segment: SEG, error: "wal-push: EACCES: permission denied, open '/a/wal/.tmp-11553-324ce5f09832.data'" };
    const b = { segment: SEG, error: "wal-push: EACCES: permission denied, open '/a/wal/.tmp-11929-6ef9257190f2.data'" };
    assert.equal(failureKey(a), failureKey(b));
    assert.notEqual(failureKey(a), failureKey({ ...a, error: 'wal-push: ENOSPC: no space left on device' }));
    assert.notEqual(failureKey(a), failureKey({ ...a, segment: '000000010000000000000008' }));
  });

  test('the archive command\'s own error is found in PostgreSQL\'s log', () => {
    const log = [
      '2026-01-01 00:00:00.000 UTC [10] LOG:  database system is ready to accept connections',
      'node:internal/modules/cjs/loader:1228',
      '  throw err;',
      '  ^',
      '',
      "Error: Cannot find module '/root/.npm/_npx/ab/node_modules/.bin/governor'",
      '    at Module._resolveFilename (node:internal/modules/cjs/loader:1225:15)',
      '2026-01-01 00:00:01.000 UTC [11] LOG:  archive command failed with exit code 1',
      '2026-01-01 00:00:01.000 UTC [11] DETAIL:  The failed archive command was: node /root/x wal-push',
    ].join('\n');
    assert.equal(archiveErrorFromPostgresLog(log), "Error: Cannot find module '/root/.npm/_npx/ab/node_modules/.bin/governor' (archive command failed with exit code 1)");
    assert.equal(archiveErrorFromPostgresLog('2026-01-01 00:00:00.000 UTC [10] LOG:  checkpoint complete'), null);
    assert.equal(archiveErrorFromPostgresLog('x LOG:  archive command failed with exit code 2'), 'archive command failed with exit code 2');
  });
});

describe('backup-push archive guard', () => {
  const start: GuardState = { baselineFailed: 3, startedAt: at(0), waitingSinceMs: null };
  const sample = (over: Partial<GuardSample>): GuardSample => ({
    archiver: { archivedCount: 5, failedCount: 3, lastArchivedAt: at(-60), lastFailedAt: at(-100) }, waitingForArchive: false, record: null, segmentReady: null, atMs: 1000, ...over,
  });
  test('healthy archiving: no reason', () => assert.equal(guardVerdict(start, sample({}), true, 300).reason, null));
  test('failing, but fewer new attempts than PostgreSQL makes in one round: wait', () => {
    const s = sample({ archiver: { archivedCount: 5, failedCount: 5, lastArchivedAt: at(-60), lastFailedAt: at(2) }, record: failingRecord, segmentReady: true });
    assert.equal(guardVerdict(start, s, true, 300).reason, null);
  });
  test('failing for a round: stop with the archive error', () => {
    const s = sample({ archiver: { archivedCount: 5, failedCount: 6, lastArchivedAt: at(-60), lastFailedAt: at(2) }, record: failingRecord, segmentReady: true });
    assert.match(guardVerdict(start, s, true, 300).reason!, /WAL archiving is failing \(3 failed attempts since this backup started\).*wal-push: EACCES/);
  });
  test('failures without pg_stat_archiver: the record\'s count after the start', () => {
    const noStats: GuardState = { ...start, baselineFailed: null };
    assert.match(guardVerdict(noStats, sample({ archiver: null, record: failingRecord, segmentReady: true }), true, 300).reason!, /4 failed attempts/);
    assert.equal(guardVerdict({ ...noStats, startedAt: at(20) }, sample({ archiver: null, record: failingRecord, segmentReady: true }), true, 300).reason, null, 'recorded before the backup');
  });
  test('a wait longer than archive.backup_wal_timeout stops it, naming the setting', () => {
    let state = guardVerdict(start, sample({ waitingForArchive: true, atMs: 1000 }), true, 5).state;
    assert.equal(state.waitingSinceMs, 1000);
    const early = guardVerdict(state, sample({ waitingForArchive: true, atMs: 5900 }), true, 5);
    assert.equal(early.reason, null);
    state = early.state;
    assert.match(guardVerdict(state, sample({ waitingForArchive: true, atMs: 6500 }), true, 5).reason!, /waited 6 s .*archive\.backup_wal_timeout \(5 s\).*hung archive_command/);
  });
});

describe('governorctl list: archiving per member', () => {
  const failing = {
    failing: true, source: 'wal-push' as const, segment: SEG, since: at(0), lastFailureAt: at(40), failures: 7, error: 'wal-push: open "/x": EACCES, a\\b',
  };
  const metricsText = (archive: typeof failing | null) => renderExposition(collectMetrics({
    scope: 'demo', member: 'node1', version: '0.1.0', pg: null, cluster: null, isLeader: true, paused: false, lagBytes: null, leaderChanges: 0,
    archiver: null, archive, lastBackupAt: null, dcsLastContactAgeSeconds: null, loopIterationAgeSeconds: null, now: new Date(at(42)),
  }));

  test('the state survives the exposition format (escaped quotes and backslashes included)', () => {
    assert.deepEqual(archiveStateFromMetrics(metricsText(failing)), { failing: true, failingSeconds: 42, segment: SEG, error: failing.error });
    assert.deepEqual(archiveStateFromMetrics(metricsText({ ...failing, failing: false })), { failing: false, failingSeconds: null, segment: null, error: null });
    assert.equal(archiveStateFromMetrics(metricsText(null)), null, 'archiving off');
    assert.equal(archiveStateFromMetrics('garbage {\n'), null);
    assert.equal(parseSampleLine('x{a="1" b} 1'), null, 'malformed labels are not read');
  });

  test('an Archive column and one footer line per failing member; none while all archive', () => {
    const cluster = {
      members: [{ name: 'node1', state: 'running', conn_url: 'postgres://127.0.0.1:5432/postgres' }, { name: 'node2', state: 'streaming', conn_url: 'postgres://127.0.0.1:5433/postgres' }],
      leader: { name: 'node1' }, leaderOptime: null, sync: null,
    } as unknown as ClusterView;
    const states = new Map([['node1', archiveStateFromMetrics(metricsText(failing))!]]);
    const rows = listRows('demo', cluster, states);
    assert.deepEqual(rows.map((r) => r.Archive), ['failing', '']);
    assert.match(formatTable(rows), /\| Archive \|/);
    assert.deepEqual(archiveFooter(states), [` WAL archiving failing on node1 for 42 s at ${SEG}: ${failing.error}`]);
    const healthy = new Map([['node1', { failing: false, failingSeconds: null, segment: null, error: null }]]);
    assert.equal('Archive' in listRows('demo', cluster, healthy)[0]!, false);
    assert.deepEqual(archiveFooter(healthy), []);
  });
});

describe('can PostgreSQL\'s OS user run governor?', () => {
  const dir = (uid: number, mode: number): StatFacts => ({ uid, gid: uid, mode: 0o40000 | mode, isDirectory: () => true, isFile: () => false });
  const file = (uid: number, mode: number): StatFacts => ({ uid, gid: uid, mode: 0o100000 | mode, isDirectory: () => false, isFile: () => true });
  const tree = (entries: Record<string, StatFacts>) => (p: string) => entries[p] ?? null;
  const postgres = { name: 'postgres', uid: 101, gid: 104 };
  const npxCache = tree({
    '/': dir(0, 0o755), '/root': dir(0, 0o700), '/root/.npm': dir(0, 0o755), '/root/.npm/bin': dir(0, 0o755), '/root/.npm/bin/governor.js': file(0, 0o755),
    '/opt': dir(0, 0o755), '/opt/g': dir(0, 0o755), '/opt/g/governor.js': file(0, 0o644), '/opt/g/private.js': file(0, 0o600),
    '/opt/g/group.js': file(0, 0o640), '/opt/g/mine.js': file(101, 0o400), '/usr': dir(0, 0o755), '/usr/bin': dir(0, 0o755),
    '/usr/bin/node': file(0, 0o755), '/usr/bin/noexec': file(0, 0o644),
  });
  const rows: Array<[string, string, 'read' | 'execute', RegExp | null]> = [
    ['a script under /root (npx cache)', '/root/.npm/bin/governor.js', 'read', /cannot enter \/root \(mode 700, owner 0:0\)/],
    ['a script under /opt', '/opt/g/governor.js', 'read', null],
    ['a script only root may read', '/opt/g/private.js', 'read', /cannot read \/opt\/g\/private\.js \(mode 600/],
    ['group bits of another group do not help', '/opt/g/group.js', 'read', /cannot read/],
    ['owner bits of its own file', '/opt/g/mine.js', 'read', null],
    ['node itself', '/usr/bin/node', 'execute', null],
    ['a binary without x', '/usr/bin/noexec', 'execute', /cannot execute/],
    ['a missing file', '/opt/g/none.js', 'read', /does not exist/],
    ['a directory on the way that is missing', '/srv/x/governor.js', 'read', /\/srv does not exist/],
  ];
  for (const [what, target, need, expected] of rows) {
    test(what, () => {
      const problem = pathAccessProblem(target, need, postgres, npxCache);
      if (expected === null) assert.equal(problem, null);
      else assert.match(problem ?? '', expected);
    });
  }
  test('root may do anything', () => assert.equal(pathAccessProblem('/root/.npm/bin/governor.js', 'read', { name: 'root', uid: 0, gid: 0 }, npxCache), null));
  test('the files of an argv prefix: node executed, the script read, options skipped', () => {
    assert.deepEqual(commandFiles(['/usr/bin/node', '--enable-source-maps', '/opt/g/governor.js']), [
      { file: '/usr/bin/node', need: 'execute' }, { file: '/opt/g/governor.js', need: 'read' },
    ]);
    assert.deepEqual(commandFiles(['/usr/local/bin/governor']), [{ file: '/usr/local/bin/governor', need: 'execute' }]);
  });
});

describe('WAL path arguments', () => {
  const rows: Array<[string, string | null]> = [
    ['pg_wal/000000010000000000000001', null],
    ['', 'is empty'],
    ['pg_wal/\0/etc/passwd', 'contains a NUL byte'],
    ['x'.repeat(5000), 'is 5000 characters long (at most 1024)'],
  ];
  for (const [value, problem] of rows) test(`${JSON.stringify(value.slice(0, 30))}`, () => assert.equal(pathArgumentProblem(value), problem));
});
