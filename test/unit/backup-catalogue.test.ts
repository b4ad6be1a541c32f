// Backup names, WAL positions, backup_label parsing, the catalogue, backup choice and retention plans.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { describePlan, planRetention } from '../../src/archive/backup-delete.js';
import { formatBackupTable } from '../../src/archive/backup-list.js';
import {
  type BackupCatalogue, type BackupSentinel, backupName, chooseBackup, chooseBackupForLsn, chooseBackupForTime, compactUtc,
  groupBackupObjects, parseBackupLabel, parseSentinel, serializeSentinel, walFileName, walFileNameBefore, walPosition,
} from '../../src/archive/sentinel.js';
import type { ObjectInfo } from '../../src/archive/types.js';
import { parseLsn } from '../../src/postgres/lsn.js';

const MB16 = 16 * 1024 * 1024;

function sentinel(name: string, startWal: string, finishedAt: string, extra: Partial<BackupSentinel> = {}): BackupSentinel {
  return {
    format: 1, name, start_lsn: '0/2000028', stop_lsn: '0/2000138', timeline: parseInt(startWal.slice(0, 8), 16), start_wal_file: startWal,
    stop_wal_file: startWal, system_identifier: '7300000000000000001', pg_version: 150004, wal_segment_size: MB16,
    compressed_size: 100, raw_size: 1000, sha256: 'a'.repeat(64), compression: 'lz4',
    started_at: new Date(Date.parse(finishedAt) - 5000).toISOString(), finished_at: finishedAt, host: 'h', member: 'm', is_replica: false,
    parts: [{ name: 'base', key: `basebackups/${name}/base.tar.lz4`, compressed_size: 100, raw_size: 1000, sha256: 'a'.repeat(64) }],
    ...extra,
  };
}

const obj = (key: string, lastModified = new Date('2024-01-01T00:00:00Z')): ObjectInfo => ({ key, size: 1, lastModified });

describe('names and WAL positions', () => {
  test('backup name from the start WAL file and the UTC start time', () => {
    assert.equal(compactUtc(new Date('2024-03-05T07:08:09.123Z')), '20240305T070809Z');
    assert.equal(backupName('000000010000000000000002', new Date('2024-03-05T07:08:09Z')), 'base_000000010000000000000002_20240305T070809Z');
  });

  test('WAL file names from LSNs', () => {
    assert.equal(walFileName(1, parseLsn('0/2000028'), MB16), '000000010000000000000002');
    assert.equal(walFileName(3, parseLsn('1/FF000000'), MB16), '0000000300000001000000FF');
    assert.equal(walFileNameBefore(1, parseLsn('0/3000000'), MB16), '000000010000000000000002');
    assert.equal(walFileNameBefore(1, parseLsn('0/3000001'), MB16), '000000010000000000000003');
    assert.equal(walFileName(1, parseLsn('2/40000000'), 1024 * 1024 * 1024), '000000010000000200000001');
  });

  test('positions: segments, partial and backup files; history files have none', () => {
    assert.deepEqual(walPosition('0000000200000001000000FE'), { timeline: 2, segno: 256 + 254 });
    assert.deepEqual(walPosition('000000020000000100000003.partial'), { timeline: 2, segno: 259 });
    assert.deepEqual(walPosition('000000010000000000000002.00000028.backup'), { timeline: 1, segno: 2 });
    assert.equal(walPosition('00000002.history'), null);
    assert.equal(walPosition('garbage'), null);
  });

  test('backup_label', () => {
    const label = parseBackupLabel([
      'START WAL LOCATION: 0/9000028 (file 000000020000000000000009)',
      'CHECKPOINT LOCATION: 0/9000060',
      'BACKUP METHOD: streamed',
      'BACKUP FROM: standby',
      'START TIME: 2024-03-05 07:08:09 UTC',
      'LABEL: governor m1',
      'START TIMELINE: 2',
      '',
    ].join('\n'));
    assert.equal(label.startLsn, parseLsn('0/9000028'));
    assert.equal(label.startWalFile, '000000020000000000000009');
    assert.equal(label.timeline, 2);
    assert.equal(label.checkpointLsn, parseLsn('0/9000060'));
    assert.equal(label.backupFrom, 'standby');
    assert.throws(() => parseBackupLabel('LABEL: x\n'), /START WAL LOCATION/);
  });
});

describe('sentinels and the catalogue', () => {
  test('round trip and validation', () => {
    const s = sentinel('base_000000010000000000000002_20240101T000000Z', '000000010000000000000002', '2024-01-01T00:00:05.000Z');
    assert.deepEqual(parseSentinel(serializeSentinel(s), 'k'), s);
    assert.throws(() => parseSentinel('{', 'basebackups/x.json'), /basebackups\/x\.json is not valid JSON/);
    assert.throws(() => parseSentinel(JSON.stringify({ ...s, parts: [] }), 'k'), /lists no parts/);
    const foreign = { ...s, parts: [{ ...s.parts[0]!, key: 'wal/000000010000000000000001' }] };
    assert.throws(() => parseSentinel(JSON.stringify(foreign), 'k'), /outside its backup/);
  });

  test('objects group into sentinels and parts', () => {
    const { sentinels, parts } = groupBackupObjects([
      obj('basebackups/a.json'), obj('basebackups/a/base.tar.lz4'), obj('basebackups/b/base.tar'), obj('wal/x'),
    ]);
    assert.deepEqual([...sentinels.keys()], ['a']);
    assert.deepEqual([...parts.keys()], ['a', 'b']);
  });

  const b1 = sentinel('b1', '000000010000000000000002', '2024-01-01T00:00:00Z', { start_lsn: '0/2000028', stop_lsn: '0/2000100' });
  const b2 = sentinel('b2', '000000010000000000000005', '2024-01-02T00:00:00Z', { start_lsn: '0/5000028', stop_lsn: '0/5000100' });
  const b3 = sentinel('b3', '000000020000000000000009', '2024-01-03T00:00:00Z', { start_lsn: '0/9000028', stop_lsn: '0/9000100' });

  test('choosing a backup: by name, LATEST, by time, by LSN', () => {
    const all = [b1, b2, b3];
    assert.equal(chooseBackup(all, 'LATEST').name, 'b3');
    assert.equal(chooseBackup(all, 'latest').name, 'b3');
    assert.equal(chooseBackup(all, 'b1').name, 'b1');
    assert.throws(() => chooseBackup(all, 'nope'), /no complete base backup named "nope"/);
    assert.throws(() => chooseBackup([], 'LATEST'), /no complete base backups/);
    assert.equal(chooseBackupForTime(all, new Date('2024-01-02T12:00:00Z')).name, 'b2');
    assert.equal(chooseBackupForTime(all, new Date('2024-01-02T00:00:00Z')).name, 'b2');
    assert.throws(() => chooseBackupForTime(all, new Date('2023-12-31T00:00:00Z')), /no base backup finished before/);
    assert.equal(chooseBackupForLsn(all, parseLsn('0/6000000')).name, 'b2');
    assert.throws(() => chooseBackupForLsn(all, parseLsn('0/1000000')), /no base backup ended before/);
  });

  test('the table lists each backup', () => {
    const table = formatBackupTable([b1, b2]);
    assert.match(table, /^NAME\s+FINISHED \(UTC\)\s+START WAL/);
    assert.match(table, /b1\s+2024-01-01 00:00:00Z\s+000000010000000000000002/);
    assert.equal(formatBackupTable([]), 'no complete base backups\n');
  });

  describe('retention', () => {
    const now = new Date('2024-01-04T00:00:00Z');
    const catalogue = (complete: BackupSentinel[], extra: Partial<BackupCatalogue> = {}): BackupCatalogue => ({
      complete, incomplete: [], unreadable: [], objects: new Map(complete.map((b) => [b.name, [obj(b.parts[0]!.key)]])), ...extra,
    });
    const wal = [
      '000000010000000000000001.lz4', '000000010000000000000002.lz4', '000000010000000000000002.00000028.backup.lz4',
      '000000010000000000000004', '000000010000000000000005.zst', '000000010000000000000008.partial.lz4', '00000002.history.lz4',
      '000000020000000000000008.lz4', '000000020000000000000009.lz4', '00000002000000000000000A.lz4',
    ].map((n) => obj(`wal/${n}`));

    test('keep the newest N; WAL before the oldest kept start goes, on every timeline; history stays', () => {
      const plan = planRetention(catalogue([b1, b2, b3]), wal, 2, now);
      assert.deepEqual(plan.keep.map((b) => b.name), ['b2', 'b3']);
      assert.deepEqual(plan.deleteBackups.map((b) => b.name), ['b1']);
      assert.equal(plan.walCutoff, '000000010000000000000005');
      assert.deepEqual(plan.deleteWal, [
        'wal/000000010000000000000001.lz4', 'wal/000000010000000000000002.lz4', 'wal/000000010000000000000002.00000028.backup.lz4', 'wal/000000010000000000000004',
      ]);
      assert.equal(plan.keptWal, wal.length - 4);
      const text = describePlan(plan).join('\n');
      assert.match(text, /delete backup b1/);
      assert.match(text, /delete 4 WAL object\(s\) before 000000010000000000000005/);
    });

    test('retain 1 keeps only the newest and its WAL', () => {
      const plan = planRetention(catalogue([b1, b2, b3]), wal, 1, now);
      assert.deepEqual(plan.deleteBackups.map((b) => b.name), ['b1', 'b2']);
      assert.ok(!plan.deleteWal.includes('wal/00000002.history.lz4'));
      assert.ok(plan.deleteWal.includes('wal/000000020000000000000008.lz4'));
      assert.ok(plan.deleteWal.includes('wal/000000010000000000000008.partial.lz4'));
      assert.ok(!plan.deleteWal.includes('wal/000000020000000000000009.lz4'));
    });

    test('more retained than exist: nothing goes', () => {
      const plan = planRetention(catalogue([b1]), wal, 3, now);
      assert.equal(plan.deleteBackups.length, 0);
      assert.equal(plan.walCutoff, '000000010000000000000002');
      assert.deepEqual(plan.deleteWal, ['wal/000000010000000000000001.lz4']);
    });

    test('no complete backup, or an unreadable sentinel: WAL is kept', () => {
      assert.equal(planRetention(catalogue([]), wal, 1, now).deleteWal.length, 0);
      const plan = planRetention(catalogue([b1, b2], { unreadable: [{ key: 'basebackups/x.json', error: 'bad' }] }), wal, 1, now);
      assert.equal(plan.deleteWal.length, 0);
      assert.match(plan.walNote ?? '', /unreadable/);
      assert.deepEqual(plan.deleteBackups.map((b) => b.name), ['b1']);
    });

    test('incomplete backups older than an hour go; recent ones (maybe in progress) stay', () => {
      const plan = planRetention(catalogue([b1], {
        incomplete: [
          { name: 'old', keys: ['basebackups/old/base.tar'], lastModified: new Date(now.getTime() - 2 * 3600_000) },
          { name: 'new', keys: ['basebackups/new/base.tar'], lastModified: new Date(now.getTime() - 60_000) },
        ],
      }), [], 1, now);
      assert.deepEqual(plan.deleteIncomplete.map((b) => b.name), ['old']);
    });

    test('retain must be positive', () => {
      assert.throws(() => planRetention(catalogue([b1]), [], 0, now), /positive integer/);
    });
  });
});
