// Restore: target time parsing, restore_command quoting, the restored copy's postgresql.conf, backup choice.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, test } from 'node:test';
import {
  buildRestoreCommand, parseTargetTime, type RecoveryTarget, renderRestoreConf, selectBackup,
} from '../../src/archive/restore.js';
import type { BackupSentinel } from '../../src/archive/sentinel.js';

describe('target time', () => {
  test('ISO 8601 and PostgreSQL output formats', () => {
    assert.deepEqual(parseTargetTime('2024-05-01T12:00:00Z'), { pg: '2024-05-01 12:00:00+00:00', date: new Date('2024-05-01T12:00:00Z') });
    const pgOut = parseTargetTime('2024-05-01 12:00:00.123456+00');
    assert.equal(pgOut.pg, '2024-05-01 12:00:00.123456+00:00');
    assert.equal(pgOut.date.toISOString(), '2024-05-01T12:00:00.123Z');
    assert.equal(parseTargetTime('2024-05-01 14:00:00+0200').date.toISOString(), '2024-05-01T12:00:00.000Z');
    assert.equal(parseTargetTime('2024-05-01 12:00').date.toISOString(), '2024-05-01T12:00:00.000Z');
    assert.equal(parseTargetTime('2024-05-01 12:00:00 UTC').pg, '2024-05-01 12:00:00+00:00');
  });
  test('garbage is refused', () => {
    assert.throws(() => parseTargetTime('yesterday'), /--target-time/);
    assert.throws(() => parseTargetTime('2024-13-45 12:00:00'), /not a valid time/);
    assert.throws(() => parseTargetTime("2024-05-01 12:00:00'; DROP"), /--target-time/);
  });
});

describe('restore_command', () => {
  test('the command survives /bin/sh with spaces, quotes and percent signs', () => {
    const cmd = buildRestoreCommand(['/usr/bin/printf', '%s|'], `/etc/it's 100% "governor".yml`);
    // PostgreSQL replaces %f and %p and turns %% into %; emulate that, then run it through sh.
    const expanded = cmd.replace(/%(.)/g, (_m, c: string) => (c === 'f' ? '000000010000000000000002' : c === 'p' ? 'pg_wal/RECOVERYXLOG' : c === '%' ? '%' : `%${c}`));
    const out = execFileSync('/bin/sh', ['-c', expanded], { encoding: 'utf8' });
    assert.equal(out, `wal-fetch|-c|/etc/it's 100% "governor".yml|000000010000000000000002|pg_wal/RECOVERYXLOG|`);
  });
});

describe('restored postgresql.conf', () => {
  const base = {
    backupName: 'base_x', port: 54321, socketDir: '/restore/dir', restoreCommand: `/usr/bin/node /opt/g.js wal-fetch -c '/etc/a b.yml' %f %p`,
    includeSource: true, writtenAt: new Date('2024-05-01T00:00:00Z'),
  };
  test('safe overrides after the source settings; targets and action', () => {
    const conf = renderRestoreConf({ ...base, target: { time: '2024-05-01 12:00:00+00:00', inclusive: true, action: 'promote' } });
    const lines = conf.split('\n');
    const include = lines.findIndex((l) => l.startsWith('include_if_exists'));
    assert.ok(include > 0);
    for (const expected of [
      "listen_addresses = '127.0.0.1'", 'port = 54321', "unix_socket_directories = '/restore/dir'", 'archive_mode = off',
      "primary_conninfo = ''", 'hot_standby = on', `restore_command = '/usr/bin/node /opt/g.js wal-fetch -c ''/etc/a b.yml'' %f %p'`,
      "recovery_target_time = '2024-05-01 12:00:00+00:00'", 'recovery_target_inclusive = on', "recovery_target_action = 'promote'",
    ]) {
      const at = lines.indexOf(expected);
      assert.ok(at > include, `${expected} after the include`);
    }
    assert.ok(!conf.includes('recovery_target_lsn'));
  });
  test('no target: no target settings (replay to the end of the archive)', () => {
    const conf = renderRestoreConf({ ...base, includeSource: false, target: { inclusive: true, action: 'pause' } });
    assert.ok(!conf.includes('recovery_target_action'));
    assert.ok(!conf.includes('include_if_exists'));
  });
  test('LSN target, exclusive', () => {
    const conf = renderRestoreConf({ ...base, target: { lsn: '0/3000060', inclusive: false, action: 'pause' } });
    assert.match(conf, /recovery_target_lsn = '0\/3000060'/);
    assert.match(conf, /recovery_target_inclusive = off/);
    assert.match(conf, /recovery_target_action = 'pause'/);
  });
});

describe('backup choice', () => {
  const mk = (name: string, finished: string, stop: string): BackupSentinel => ({
    name, finished_at: finished, started_at: finished, start_lsn: stop, stop_lsn: stop,
  } as BackupSentinel);
  const all = [mk('a', '2024-01-01T00:00:00Z', '0/2000000'), mk('b', '2024-01-02T00:00:00Z', '0/5000000')];
  const t = (target: Partial<RecoveryTarget>): RecoveryTarget => ({ inclusive: true, action: 'promote', ...target });
  test('automatic by time or LSN, LATEST otherwise', () => {
    assert.equal(selectBackup(all, undefined, t({})).name, 'b');
    assert.equal(selectBackup(all, undefined, t({ timeDate: new Date('2024-01-01T12:00:00Z') })).name, 'a');
    assert.equal(selectBackup(all, undefined, t({ lsn: '0/4000000' })).name, 'a');
  });
  test('a named backup that ends after the target is refused', () => {
    assert.throws(() => selectBackup(all, 'b', t({ timeDate: new Date('2024-01-01T12:00:00Z') })), /after the target time/);
    assert.throws(() => selectBackup(all, 'b', t({ lsn: '0/4000000' })), /after the target LSN/);
    assert.equal(selectBackup(all, 'a', t({ timeDate: new Date('2024-01-01T12:00:00Z') })).name, 'a');
  });
});

describe('backup end LSN from the manifest tail', () => {
  test('the last WAL range End-LSN', async () => {
    const { parseManifestStopLsn } = await import('../../src/archive/backup-push.js');
    const tail = '"Checksum": "43872087" }\n],\n"WAL-Ranges": [\n{ "Timeline": 1, "Start-LSN": "0/2000028", "End-LSN": "0/2000100" }\n],\n"Manifest-Checksum": "a2"}';
    assert.equal(parseManifestStopLsn(tail), 0x2000100);
    assert.equal(parseManifestStopLsn('{"Files": []}'), null);
  });
});
