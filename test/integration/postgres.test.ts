// Real PostgreSQL 15: initdb, replication through a slot, promotion, divergence, pg_rewind, re-follow.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { GovernorConfig } from '../../src/config/types.js';
import { createLogger } from '../../src/log/logger.js';
import { createPostgresController, sidecarPaths } from '../../src/postgres/controller.js';
import type { PostgresController } from '../../src/postgres/types.js';
import { readPostmasterPid } from '../../src/postgres/files.js';
import { parseControlData } from '../../src/postgres/controldata.js';
import { cleanupPg, makePgTestRoot, pgMemberConfig, pgPort, pgQuery, processGroupAndSession, waitFor } from '../helpers/postgres.js';

/** What pg_controldata says about a data directory (controlData() reads pg_control itself). */
function pgControldata(dataDir: string) {
  const binDir = process.env.GOVERNOR_PG_BIN_DIR ?? '/usr/lib/postgresql/15/bin';
  return parseControlData(execFileSync(path.join(binDir, 'pg_controldata'), ['-D', dataDir], { env: { ...process.env, LC_ALL: 'C' }, encoding: 'utf8' }));
}

const logLines: string[] = [];
const logger = createLogger({
  level: 'debug',
  write: (line) => {
    logLines.push(line);
    if (process.env.GOVERNOR_TEST_VERBOSE) process.stderr.write(line + '\n');
  },
});

// Quotes, colons and backslashes exercise every escaping layer (SQL, pgpass, conninfo, postgresql.conf).
const SU_PASSWORD = `su'pa:ss\\w rd`;
const REPL_PASSWORD = `re:pl'\\pw "x"`;

let root = '';
let configA: GovernorConfig;
let configB: GovernorConfig;
let a: PostgresController;
let b: PostgresController;

before(async () => {
  root = await makePgTestRoot();
  const options = { superuserPassword: SU_PASSWORD, replicationUsername: 'repl-user', replicationPassword: REPL_PASSWORD };
  configA = await pgMemberConfig(root, 'a', options);
  configB = await pgMemberConfig(root, 'b', options);
  a = createPostgresController(configA, logger.child('pg-a'));
  b = createPostgresController(configB, logger.child('pg-b'));
});

after(async () => {
  await a?.close().catch(() => undefined);
  await b?.close().catch(() => undefined);
  await cleanupPg(root, [configA, configB].filter(Boolean));
});

const hostPort = (config: GovernorConfig) => ({ host: '127.0.0.1', port: pgPort(config) });
const srcValues = async (config: GovernorConfig) =>
  (await pgQuery<{ src: string }>(config, 'SELECT src FROM t ORDER BY id')).map((r) => r.src);

async function waitStreaming(controller: PostgresController, what: string): Promise<void> {
  await waitFor(`${what} to stream`, async () => (await controller.status()).walReceiver?.status === 'streaming', 20_000);
}

test('primary, replica, promotion, rewind and re-follow', async (t) => {
  await t.test('stopped member: status does not throw', async () => {
    assert.equal(await b.dataDirState(), 'missing');
    const status = await b.status();
    assert.equal(status.running, false);
    assert.equal(status.accepting, false);
    assert.equal(await b.controlData(), null);
  });

  await t.test('a data_dir the postgres user cannot reach is refused, naming the directory', { skip: process.getuid?.() !== 0 }, async () => {
    const hidden = path.join(root, 'hidden');
    await mkdir(hidden, { mode: 0o700 });
    const config = structuredClone(configA);
    config.postgresql.data_dir = path.join(hidden, 'data');
    const controller = createPostgresController(config, logger);
    await assert.rejects(controller.initdb(), (err: Error) => err.message.includes(`directory ${hidden} is not traversable`));
    await controller.close();
  });

  await t.test('initdb and start member A as primary', async () => {
    await a.initdb();
    assert.equal(await a.dataDirState(), 'initialized');
    const control = await a.controlData();
    assert.ok(control);
    assert.equal(control.clusterState, 'shut down');
    assert.equal(control.wasPrimary, true);
    assert.equal(control.cleanShutdown, true);
    assert.equal(control.timeline, 1);
    assert.deepEqual(control, pgControldata(configA.postgresql.data_dir));
    await a.writeConfig({ role: 'primary', clusterParameters: { max_connections: 50, work_mem: '8MB' } });

    const dataDir = configA.postgresql.data_dir;
    const hba = await readFile(path.join(dataDir, 'pg_hba.conf'), 'utf8');
    assert.doesNotMatch(hba, /trust/);
    assert.match(hba, /host replication "repl-user" 0\.0\.0\.0\/0 scram-sha-256/);
    const pgUid = process.getuid?.() === 0 ? (await stat(dataDir)).uid : process.getuid?.();
    if (process.getuid?.() === 0) assert.notEqual(pgUid, 0, 'data_dir must not be owned by root');
    for (const file of [path.join(dataDir, 'postgresql.conf'), path.join(dataDir, 'pg_hba.conf'), sidecarPaths(dataDir).passFile]) {
      const s = await stat(file);
      assert.equal(s.mode & 0o777, 0o600, file);
      assert.equal(s.uid, pgUid, file);
    }
    assert.equal((await stat(dataDir)).mode & 0o777, 0o700);

    await a.start(30_000);
    const status = await a.status();
    assert.equal(status.running, true);
    assert.equal(status.accepting, true);
    assert.equal(status.inRecovery, false);
    assert.equal(status.timeline, 1);
    assert.ok(status.walPosition && status.walPosition > 0);
    assert.match(status.systemIdentifier ?? '', /^\d+$/);
    assert.equal(status.systemIdentifier, control.systemIdentifier);
    // The postmaster must survive governor: its own session, not our process group.
    const pid = await readPostmasterPid(path.join(dataDir, 'postmaster.pid'));
    assert.ok(pid);
    const ours = await processGroupAndSession('self');
    const theirs = await processGroupAndSession(pid);
    assert.notEqual(theirs.session, ours.session);
    assert.notEqual(theirs.pgrp, ours.pgrp);
    assert.ok(status.serverVersion && status.serverVersion >= 150000);
    const settings = await pgQuery<{ name: string; setting: string }>(configA,
      "SELECT name, setting FROM pg_settings WHERE name IN ('max_connections', 'work_mem', 'wal_level') ORDER BY name");
    assert.deepEqual(settings.map((s) => `${s.name}=${s.setting}`), ['max_connections=50', 'wal_level=replica', 'work_mem=8192']);
  });

  await t.test('createRoles is idempotent and never logs the password', async () => {
    await a.createRoles();
    await a.createRoles();
    const roles = await pgQuery<{ rolreplication: boolean; rolcanlogin: boolean; scram: boolean }>(configA,
      "SELECT rolreplication, rolcanlogin, rolpassword LIKE 'SCRAM-SHA-256$%' AS scram FROM pg_authid WHERE rolname = 'repl-user'");
    assert.deepEqual(roles, [{ rolreplication: true, rolcanlogin: true, scram: true }]);
    await pgQuery(configA, 'CREATE TABLE t (id serial PRIMARY KEY, src text NOT NULL)');
    await pgQuery(configA, "INSERT INTO t (src) VALUES ('a1'), ('a2'), ('a3')");
    const serverLog = await a.logTail(10_000);
    assert.ok(!serverLog.includes(REPL_PASSWORD) && !serverLog.includes(SU_PASSWORD));
  });

  await t.test('syncSlots creates wanted slots and drops stray inactive ones', async () => {
    await pgQuery(configA, "SELECT pg_create_physical_replication_slot('stray')");
    await a.syncSlots(['b']);
    await a.syncSlots(['b']);
    const slots = await pgQuery<{ slot_name: string }>(configA, 'SELECT slot_name FROM pg_replication_slots ORDER BY 1');
    assert.deepEqual(slots.map((s) => s.slot_name), ['b']);
  });

  await t.test('member B: base backup and streaming through slot b', async () => {
    await b.basebackup(hostPort(configA));
    assert.equal(await b.dataDirState(), 'initialized');
    assert.equal((await b.status()).running, false);
    await b.writeConfig({ role: 'replica', primary: { ...hostPort(configA), applicationName: 'b' }, slotName: 'b' });
    await b.start(30_000);
    await waitStreaming(b, 'B');
    assert.deepEqual(await waitFor('rows on B', async () => ((await srcValues(configB)).length === 3 ? srcValues(configB) : null)), ['a1', 'a2', 'a3']);
    const status = await b.status();
    assert.equal(status.inRecovery, true);
    assert.equal(status.timeline, 1);
    assert.equal(status.walReceiver?.senderPort, pgPort(configA));
    assert.ok(status.walPosition && status.receivedLsn && status.replayedLsn);
    // Replay position arrives with B's first feedback message (wal_receiver_status_interval = 1s).
    const row = await waitFor('A to see B replaying in pg_stat_replication', async () =>
      (await a.status()).replication.find((r) => r.applicationName === 'b' && r.state === 'streaming' && (r.replayLsn ?? 0) > 0));
    assert.equal(row.syncState, 'async');
    const slot = await pgQuery<{ active: boolean }>(configA, "SELECT active FROM pg_replication_slots WHERE slot_name = 'b'");
    assert.deepEqual(slot, [{ active: true }]);
  });

  await t.test('promote B, diverge A, rewind A and follow B', async () => {
    const replicaLsn = (await b.status()).walPosition;
    const result = await b.promote(30_000);
    assert.equal(result.promoted, true);
    assert.ok(result.lsnBefore !== null && replicaLsn !== null && result.lsnBefore >= replicaLsn, `lsnBefore ${result.lsnBefore} vs ${replicaLsn}`);
    const promoted = await b.status();
    assert.equal(promoted.inRecovery, false);
    assert.equal(promoted.timeline, 2);
    assert.deepEqual(await b.promote(30_000), { promoted: false, lsnBefore: null }, 'a second promote finds it out of recovery');
    await b.syncSlots(['a']);

    await pgQuery(configA, "INSERT INTO t (src) VALUES ('diverged')");
    await a.stop('immediate', 10_000);
    assert.equal((await a.status()).running, false);
    const crashed = await a.controlData();
    assert.deepEqual(crashed, pgControldata(configA.postgresql.data_dir));
    assert.equal(crashed?.cleanShutdown, false);
    assert.equal(crashed?.wasPrimary, true);
    await pgQuery(configB, "INSERT INTO t (src) VALUES ('b1')");

    assert.equal(await a.rewind(hostPort(configB)), true);
    await a.writeConfig({ role: 'replica', primary: { ...hostPort(configB), applicationName: 'a' }, slotName: 'a' });
    await a.start(30_000);
    await waitStreaming(a, 'A');
    const rows = await waitFor('b1 on A', async () => {
      const v = await srcValues(configA);
      return v.includes('b1') ? v : null;
    });
    assert.deepEqual(rows, ['a1', 'a2', 'a3', 'b1']);
    const status = await a.status();
    assert.equal(status.inRecovery, true);
    assert.equal(status.timeline, 2);
    assert.equal(status.walReceiver?.senderPort, pgPort(configB));
  });

  await t.test('stop both (the primary to its shutdown checkpoint first, as a switchover does); stopping a stopped server succeeds', async () => {
    await a.stop('fast', 20_000);
    const shutdown = await b.stopAtShutdownCheckpoint(20_000);
    assert.ok(shutdown);
    await b.stop('smart', 20_000);
    await b.stop('fast', 20_000);
    assert.equal(await b.stopAtShutdownCheckpoint(1000), null);
    for (const c of [a, b]) {
      const status = await c.status();
      assert.equal(status.running, false);
      assert.equal(status.accepting, false);
    }
    assert.equal((await a.controlData())?.clusterState, 'shut down in recovery');
    const control = await b.controlData();
    assert.equal(control?.cleanShutdown, true);
    // pg_control read directly agrees with pg_controldata, field by field.
    assert.equal(shutdown.checkpointLsn, control?.checkpointLsn);
    assert.deepEqual(control, pgControldata(configB.postgresql.data_dir));
    assert.equal(control?.timeline, 2);
    assert.deepEqual(await a.controlData(), pgControldata(configA.postgresql.data_dir));
  });

  await t.test('governor log lines never carry a password', () => {
    const all = logLines.join('\n');
    assert.ok(!all.includes(REPL_PASSWORD) && !all.includes(SU_PASSWORD));
  });
});
