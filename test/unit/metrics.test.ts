import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { collectMetrics, escapeHelp, escapeLabelValue, formatValue, renderExposition, type MetricsInput } from '../../src/api/metrics.js';
import { LatestBackupTracker } from '../../src/archive/latest-backup.js';
import type { PostgresStatus } from '../../src/postgres/types.js';

const replicaPg: PostgresStatus = {
  running: true,
  accepting: true,
  inRecovery: true,
  timeline: 3,
  walPosition: 5000,
  receivedLsn: 5000,
  replayedLsn: 4900,
  walReceiver: { status: 'streaming', senderHost: '127.0.0.1', senderPort: 5432, receivedLsn: 5000 },
  replication: [],
  systemIdentifier: '7000000000000000001',
  postmasterStartTime: '2026-01-01T00:00:00.500Z',
  serverVersion: 150000,
  pendingRestart: true,
};

const NOW = new Date('2026-01-01T01:00:00Z');

function input(over: Partial<MetricsInput> = {}): MetricsInput {
  return {
    scope: 'demo',
    member: 'node2',
    version: '0.1.0',
    pg: replicaPg,
    cluster: { initialize: '1', config: null, configRevision: null, leader: { name: 'node1', revision: '1', lease: '1' }, members: [], failover: null, sync: null, failsafe: null, history: [], leaderOptime: 6000 },
    isLeader: false,
    paused: true,
    lagBytes: 1000,
    leaderChanges: 2,
    archiver: { archivedCount: 12, failedCount: 1, lastArchivedAt: '2026-01-01T00:59:30Z', lastFailedAt: null },
    archive: null,
    lastBackupAt: new Date('2026-01-01T00:00:00Z'),
    dcsLastContactAgeSeconds: 0.25,
    loopIterationAgeSeconds: 0.5,
    now: NOW,
    ...over,
  };
}

/** metric name (with labels) → value, from the exposition text. */
function samples(text: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    map.set(line.slice(0, space).replace(/\{.*\}/, ''), line.slice(space + 1));
  }
  return map;
}

describe('exposition format', () => {
  test('HELP escapes backslash and line feed only', () => {
    assert.equal(escapeHelp('a\\b\nc "d"'), 'a\\\\b\\nc "d"');
  });
  test('label values escape backslash, double quote and line feed', () => {
    assert.equal(escapeLabelValue('a\\b\n"c"'), 'a\\\\b\\n\\"c\\"');
  });
  test('values: integers, rounded fractions, NaN and infinities as Prometheus spells them', () => {
    assert.deepEqual([1, 0.12345, NaN, Infinity, -Infinity, 1767225600.5].map(formatValue), ['1', '0.123', 'NaN', '+Inf', '-Inf', '1767225600.5']);
  });
  test('HELP and TYPE precede the samples; empty families are left out', () => {
    const text = renderExposition([
      { name: 'x_total', help: 'h\nx', type: 'counter', samples: [{ labels: { a: 'q"' }, value: 3 }] },
      { name: 'y', help: 'never shown', type: 'gauge', samples: [] },
    ]);
    assert.equal(text, '# HELP x_total h\\nx\n# TYPE x_total counter\nx_total{a="q\\""} 3\n');
  });
  test('invalid or repeated names are programming errors', () => {
    assert.throws(() => renderExposition([{ name: 'bad-name', help: '', type: 'gauge', samples: [] }]), /metric name/);
    assert.throws(() => renderExposition([{ name: 'x', help: '', type: 'gauge', samples: [{ labels: { 'bad-label': '' }, value: 1 }] }]), /label name/);
    const twice = { name: 'x', help: '', type: 'gauge' as const, samples: [] };
    assert.throws(() => renderExposition([twice, twice]), /twice/);
  });
});

describe('governor metrics', () => {
  test('a paused streaming replica with a pending restart', () => {
    const text = renderExposition(collectMetrics(input()));
    const m = samples(text);
    assert.equal(m.get('governor_master'), '0');
    assert.equal(m.get('governor_replica'), '1');
    assert.equal(m.get('governor_paused'), '1');
    assert.equal(m.get('governor_pending_restart'), '1');
    assert.equal(m.get('governor_timeline'), '3');
    assert.equal(m.get('governor_replication_lag_bytes'), '1000');
    assert.equal(m.get('governor_postmaster_start_time_seconds'), '1767225600.5');
    assert.equal(m.get('governor_leader_changes_total'), '2');
    assert.equal(m.get('governor_archiver_archived_total'), '12');
    assert.equal(m.get('governor_archiver_failed_total'), '1');
    assert.equal(m.get('governor_archiver_last_archived_age_seconds'), '30');
    assert.equal(m.get('governor_last_base_backup_age_seconds'), '3600');
    assert.equal(m.get('governor_dcs_last_contact_age_seconds'), '0.25');
    assert.equal(m.get('governor_ha_loop_iteration_age_seconds'), '0.5');
    assert.equal(m.get('governor_cluster_unlocked'), '0');
    assert.match(text, /^governor_master\{scope="demo",name="node2"\} 0$/m);
    assert.match(text, /^# TYPE governor_leader_changes_total counter$/m);
  });

  test('a master: no lag metric; unknown ages and a stopped archiver are left out, not zero', () => {
    const primary = { ...replicaPg, inRecovery: false, walReceiver: null, pendingRestart: false };
    const m = samples(renderExposition(collectMetrics(input({ pg: primary, isLeader: true, paused: false, archiver: null, lastBackupAt: null, dcsLastContactAgeSeconds: null }))));
    assert.equal(m.get('governor_master'), '1');
    assert.equal(m.get('governor_replica'), '0');
    assert.equal(m.get('governor_paused'), '0');
    assert.equal(m.get('governor_pending_restart'), '0');
    for (const absent of ['governor_replication_lag_bytes', 'governor_archiver_archived_total', 'governor_last_base_backup_age_seconds', 'governor_dcs_last_contact_age_seconds']) {
      assert.equal(m.has(absent), false, absent);
    }
  });

  test('archiving failing: the gauge, its ages and the last error as labels; healthy: only the gauge, 0', () => {
    const failing = {
      failing: true, source: 'wal-push' as const, segment: '000000010000000000000007', since: '2026-01-01T00:58:00Z',
      lastFailureAt: '2026-01-01T00:59:50Z', failures: 9, error: 'wal-push 000000010000000000000007: EACCES: permission denied, open "/a\\b"',
    };
    const archiver = { archivedCount: 12, failedCount: 9, lastArchivedAt: '2026-01-01T00:57:00Z', lastFailedAt: '2026-01-01T00:59:50Z' };
    const text = renderExposition(collectMetrics(input({ archive: failing, archiver })));
    const m = samples(text);
    assert.equal(m.get('governor_archive_failing'), '1');
    assert.equal(m.get('governor_archive_failing_seconds'), '120');
    assert.equal(m.get('governor_archive_last_failure_age_seconds'), '10');
    assert.equal(m.get('governor_archiver_last_failed_age_seconds'), '10');
    assert.match(text, /^governor_archive_failure_info\{scope="demo",name="node2",segment="000000010000000000000007",error="wal-push 000000010000000000000007: EACCES: permission denied, open \\"\/a\\\\b\\""\} 1$/m);
    const healthy = samples(renderExposition(collectMetrics(input({ archive: { ...failing, failing: false } }))));
    assert.equal(healthy.get('governor_archive_failing'), '0');
    for (const absent of ['governor_archive_failing_seconds', 'governor_archive_last_failure_age_seconds', 'governor_archive_failure_info', 'governor_archiver_last_failed_age_seconds']) {
      assert.equal(healthy.has(absent), false, absent);
    }
    assert.equal(samples(renderExposition(collectMetrics(input({ archive: null })))).has('governor_archive_failing'), false, 'archiving off: no gauge');
  });

  test('PostgreSQL down and etcd never read', () => {
    const m = samples(renderExposition(collectMetrics(input({ pg: null, cluster: null, archiver: null }))));
    assert.equal(m.get('governor_postgres_running'), '0');
    assert.equal(m.has('governor_timeline'), false);
    assert.equal(m.has('governor_cluster_unlocked'), false);
  });

  test('invalid etcd values: one counter sample per key, sorted; none while there were none', () => {
    const text = renderExposition(collectMetrics(input({ dcsInvalidValues: { members: 2, config: 1, 'optime/leader': 3 } })));
    const lines = text.split('\n').filter((l) => l.startsWith('governor_dcs_invalid_values_total'));
    assert.deepEqual(lines, [
      'governor_dcs_invalid_values_total{scope="demo",name="node2",key="config"} 1',
      'governor_dcs_invalid_values_total{scope="demo",name="node2",key="members"} 2',
      'governor_dcs_invalid_values_total{scope="demo",name="node2",key="optime/leader"} 3',
    ]);
    assert.match(text, /# TYPE governor_dcs_invalid_values_total counter/);
    assert.doesNotMatch(renderExposition(collectMetrics(input({ dcsInvalidValues: {} }))), /governor_dcs_invalid_values_total/);
  });
});

describe('newest backup for /metrics', () => {
  test('lists at most once per refresh interval; a noted backup counts at once', async () => {
    let now = 0;
    let listings = 0;
    let stored = [new Date('2026-01-01T00:00:00Z')];
    const tracker = new LatestBackupTracker({ list: async () => (listings++, stored), refreshMs: 1000, waitMs: 100, now: () => now });
    assert.deepEqual(await tracker.get(), stored[0]);
    now = 500;
    await tracker.get();
    assert.equal(listings, 1);
    tracker.note(new Date('2026-01-01T02:00:00Z'));
    assert.deepEqual(await tracker.get(), new Date('2026-01-01T02:00:00Z'));
    now = 1500;
    stored = [];
    assert.equal(await tracker.get(), null, 'retention deleted every backup');
    assert.equal(listings, 2);
  });

  test('a slow listing does not hold the scrape; a failing one is reported and retried later', async () => {
    const errors: string[] = [];
    let release: () => void = () => undefined;
    const slow = new LatestBackupTracker({
      list: () => new Promise<Date[]>((resolve) => (release = () => resolve([new Date(0)]))),
      refreshMs: 1000,
      waitMs: 20,
      onError: (e) => errors.push(e.message),
    });
    assert.equal(await slow.get(), null);
    release();
    await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(await slow.get(), new Date(0));
    const failing = new LatestBackupTracker({ list: async () => { throw new Error('S3 down'); }, refreshMs: 1000, waitMs: 20, onError: (e) => errors.push(e.message) });
    assert.equal(await failing.get(), null);
    assert.deepEqual(errors, ['S3 down']);
  });
});
