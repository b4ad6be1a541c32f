// Scheduled backups: next-run computation (cron, UTC) and what one slot does.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { BackupScheduler, checkSchedule, nextRun } from '../../src/archive/schedule.js';
import type { ArchiveConfig, GovernorConfig } from '../../src/config/types.js';
import { createLogger } from '../../src/log/logger.js';

describe('next run', () => {
  const at = (iso: string) => new Date(iso);
  test('every day at 01:30 UTC', () => {
    assert.equal(nextRun('30 1 * * *', at('2024-03-05T00:00:00Z')).toISOString(), '2024-03-05T01:30:00.000Z');
    assert.equal(nextRun('30 1 * * *', at('2024-03-05T01:30:00Z')).toISOString(), '2024-03-06T01:30:00.000Z');
    assert.equal(nextRun('30 1 * * *', at('2024-03-05T01:29:59.900Z')).toISOString(), '2024-03-05T01:30:00.000Z');
  });
  test('strictly after the given time, across month and year ends', () => {
    assert.equal(nextRun('0 0 1 * *', at('2024-12-15T10:00:00Z')).toISOString(), '2025-01-01T00:00:00.000Z');
    assert.equal(nextRun('0 */6 * * *', at('2024-02-29T23:59:00Z')).toISOString(), '2024-03-01T00:00:00.000Z');
  });
  test('weekdays and steps', () => {
    // 2024-03-09 is a Saturday
    assert.equal(nextRun('0 3 * * 1-5', at('2024-03-09T12:00:00Z')).toISOString(), '2024-03-11T03:00:00.000Z');
    assert.equal(nextRun('*/15 * * * *', at('2024-03-09T12:07:00Z')).toISOString(), '2024-03-09T12:15:00.000Z');
  });
  test('UTC whatever the local zone', () => {
    const saved = process.env.TZ;
    process.env.TZ = 'America/New_York';
    try {
      assert.equal(nextRun('0 2 * * *', at('2024-03-10T00:00:00Z')).toISOString(), '2024-03-10T02:00:00.000Z');
    } finally {
      if (saved === undefined) delete process.env.TZ;
      else process.env.TZ = saved;
    }
  });
  test('a bad expression is reported', () => {
    assert.equal(checkSchedule('0 1 * * *'), null);
    assert.ok(checkSchedule('61 * * * *'));
    assert.ok(checkSchedule('not cron'));
  });
});

function config(schedule: string | null): GovernorConfig {
  const archive: ArchiveConfig = {
    enabled: true, storage: 'file:///tmp/nowhere', compression: 'lz4',
    s3: { region: null, endpoint: null, force_path_style: false, sse: 'none', sse_kms_key_id: null, access_key_id: null, secret_access_key: null },
    upload_concurrency: 4, prefetch: 4, backup_schedule: schedule, backup_num_to_retain: 2, backup_wal_timeout: 300, spool_dir: '/tmp/spool', create_replica_methods: ['basebackup'],
  };
  return { archive } as GovernorConfig;
}

describe('scheduler slots', () => {
  const lines: string[] = [];
  const logger = createLogger({ level: 'debug', write: (l) => lines.push(l) });

  test('only the master backs up; retention follows a successful backup', async () => {
    const calls: string[] = [];
    let master = false;
    const scheduler = new BackupScheduler({
      config: config('0 1 * * *'), configFile: '/etc/governor/governor.yml', governorArgv: ['governor'], logger,
      isMaster: () => master,
      runBackup: async () => void calls.push('backup'),
      applyRetention: async () => void calls.push('retention'),
    });
    await scheduler.runSlot();
    assert.deepEqual(calls, []);
    assert.equal(scheduler.status.lastRun?.skipped, 'not master');
    master = true;
    await scheduler.runSlot();
    assert.deepEqual(calls, ['backup', 'retention']);
    assert.equal(scheduler.status.lastRun?.ok, true);
  });

  test('a failed backup is logged, skips retention, and the scheduler keeps going', async () => {
    const calls: string[] = [];
    const scheduler = new BackupScheduler({
      config: config('0 1 * * *'), configFile: '/x', governorArgv: ['governor'], logger, isMaster: () => true,
      runBackup: async () => { throw new Error('storage unreachable'); },
      applyRetention: async () => void calls.push('retention'),
    });
    await scheduler.runSlot();
    assert.deepEqual(calls, []);
    assert.equal(scheduler.status.lastRun?.ok, false);
    assert.match(scheduler.status.lastRun?.error ?? '', /storage unreachable/);
    assert.ok(lines.some((l) => l.includes('scheduled base backup failed')));
  });

  test('start() arms the timer for the next slot; stop() clears it', async () => {
    const fixed = new Date('2024-03-05T00:00:00Z');
    const scheduler = new BackupScheduler({
      config: config('30 1 * * *'), configFile: '/x', governorArgv: ['governor'], logger, isMaster: () => true, now: () => fixed,
      runBackup: async () => undefined, applyRetention: async () => undefined,
    });
    scheduler.start();
    assert.equal(scheduler.status.nextRunAt?.toISOString(), '2024-03-05T01:30:00.000Z');
    await scheduler.stop();
    assert.equal(scheduler.status.nextRunAt, null);
  });

  test('slots run at their time, one at a time', async () => {
    let running = 0;
    let maxRunning = 0;
    let runs = 0;
    const scheduler = new BackupScheduler({
      config: config('* * * * * *'), configFile: '/x', governorArgv: ['governor'], logger, isMaster: () => true,
      runBackup: async () => {
        running++;
        maxRunning = Math.max(maxRunning, running);
        runs++;
        await new Promise((r) => setTimeout(r, 1500));
        running--;
      },
      applyRetention: async () => undefined,
    });
    scheduler.start();
    await new Promise((r) => setTimeout(r, 3600));
    await scheduler.stop();
    assert.ok(runs >= 1 && runs <= 2, `runs ${runs}`);
    assert.equal(maxRunning, 1);
  });

  test('the default runner starts `governor backup-push -c CONFIG` and reports its failure', async () => {
    const governorJs = fileURLToPath(new URL('../../src/cli/governor.js', import.meta.url));
    const scheduler = new BackupScheduler({
      config: config('0 1 * * *'), configFile: '/nonexistent/governor.yml', governorArgv: [process.execPath, governorJs], logger, isMaster: () => true,
      applyRetention: async () => assert.fail('no retention after a failed backup'),
    });
    await scheduler.runSlot();
    assert.equal(scheduler.status.lastRun?.ok, false);
    assert.match(scheduler.status.lastRun?.error ?? '', /backup-push exited with code 2: configuration error: config file \/nonexistent\/governor\.yml: not found/);
  });

  test('no schedule: start() does nothing; a bad one is refused at construction', () => {
    const scheduler = new BackupScheduler({ config: config(null), configFile: '/x', governorArgv: ['g'], logger, isMaster: () => true });
    scheduler.start();
    assert.equal(scheduler.status.nextRunAt, null);
    assert.throws(() => new BackupScheduler({ config: config('99 * * * *'), configFile: '/x', governorArgv: ['g'], logger, isMaster: () => true }), /backup_schedule/);
  });
});
