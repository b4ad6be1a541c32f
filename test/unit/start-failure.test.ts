// classifyStartFailure on PostgreSQL 15's own log lines: only a data fault may lead to a re-clone.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classifyStartFailure, lastAttempt } from '../../src/postgres/start-failure.js';

const start = '2026-12-07 20:15:00.000 UTC [100] LOG:  starting PostgreSQL 15.10 on x86_64-pc-linux-gnu';
const shutDown = '2026-12-07 20:15:00.300 UTC [100] LOG:  database system is shut down';
const line = (text: string) => `2026-12-07 20:15:00.100 UTC [101] ${text}`;

const rows: Array<[scenario: string, log: string[], cause: string]> = [
  ['missing checkpoint record', [start, line('LOG:  database system was interrupted'), line('PANIC:  could not locate a valid checkpoint record'), line('LOG:  startup process (PID 101) was terminated by signal 6: Aborted'), shutDown], 'data'],
  ['invalid checkpoint record', [start, line('LOG:  invalid checkpoint record'), line('FATAL:  could not locate required checkpoint record'), shutDown], 'data'],
  ['timeline not a child', [start, line("FATAL:  requested timeline 3 is not a child of this server's history"), line('DETAIL:  Latest checkpoint is at 0/3000060 on timeline 2'), shutDown], 'data'],
  ['incompatible files', [start, line('FATAL:  database files are incompatible with server'), line('DETAIL:  The database cluster was initialized with CATALOG_VERSION_NO 1'), shutDown], 'data'],
  ['corrupt pg_control', [line('FATAL:  incorrect checksum in control file')], 'data'],
  ['missing pg_control', [line('FATAL:  could not open file "global/pg_control": No such file or directory')], 'data'],
  ['port in use', [start, line('LOG:  could not bind IPv4 address "127.0.0.1": Address already in use'), line('HINT:  Is another postmaster already running on port 5432?'), line('FATAL:  could not create any TCP/IP sockets'), shutDown], 'port'],
  ['lock file of another postmaster', [line('FATAL:  lock file "postmaster.pid" already exists'), line('HINT:  Is another postmaster (PID 4242) running in data directory "/pg/data"?')], 'port'],
  ['shared memory', [start, line('FATAL:  could not create shared memory segment: Invalid argument'), shutDown], 'shared-memory'],
  ['configuration errors', [line('LOG:  invalid value for parameter "shared_buffers": "lots"'), line('FATAL:  configuration file "/pg/data/postgresql.conf" contains errors')], 'config'],
  ['unknown parameter', [line('LOG:  unrecognized configuration parameter "shared_bufers" in file "/pg/data/postgresql.conf" line 3'), line('FATAL:  configuration file "/pg/data/postgresql.conf" contains errors')], 'config'],
  ['pg_control unreadable: permissions, not data', [line('FATAL:  could not open file "global/pg_control": Permission denied')], 'permission'],
  ['group-readable data directory', [line('FATAL:  data directory "/pg/data" has invalid permissions'), line('DETAIL:  Permissions should be u=rwx (0700) or u=rwx,g=rx (0750).')], 'permission'],
  ['nothing recognisable', [start, line('LOG:  something new went wrong'), shutDown], 'unknown'],
  ['empty log', [], 'unknown'],
  // An old data fault above the last attempt's start does not count for this attempt.
  ['old data fault, new port fault', [start, line('PANIC:  could not locate a valid checkpoint record'), shutDown, start, line('FATAL:  could not create any TCP/IP sockets'), shutDown], 'port'],
  ['old data fault, new unknown fault', [start, line('PANIC:  could not locate a valid checkpoint record'), shutDown, start, line('LOG:  something new went wrong'), shutDown], 'unknown'],
];

for (const [scenario, log, cause] of rows) {
  test(`start failure: ${scenario} → ${cause}`, () => {
    const diagnosis = classifyStartFailure(log.join('\n'));
    assert.equal(diagnosis.cause, cause, JSON.stringify(diagnosis));
    if (cause !== 'unknown') assert.ok(diagnosis.evidence && log.some((l) => l.trim() === diagnosis.evidence));
  });
}

test('lastAttempt keeps the last attempt, its own closing lines included', () => {
  assert.deepEqual(lastAttempt(['a', shutDown, 'b', 'c', shutDown, '']), ['b', 'c', shutDown, '']);
  assert.deepEqual(lastAttempt(['a', 'b']), ['a', 'b']);
});
