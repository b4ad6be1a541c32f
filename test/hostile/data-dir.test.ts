// Hostile data directories: content that is not a PostgreSQL cluster, the parent of a real cluster
// given as data_dir, a failed pg_rewind, a failed bootstrap. Real PostgreSQL 15 and etcd; governor
// must never delete what may be the only copy (DESIGN.md safety rule 3), and must say why.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdir, readdir, stat, utimes, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { createEtcdDcs, type EtcdDcs } from '../../src/dcs/etcd.js';
import { realHaIo } from '../../src/ha/io.js';
import { ActionExecutor } from '../../src/ha/execute.js';
import { memberData } from '../../src/ha/member.js';
import { createLogger } from '../../src/log/logger.js';
import { createPostgresController } from '../../src/postgres/controller.js';
import type { PostgresController } from '../../src/postgres/types.js';
import type { GovernorConfig } from '../../src/config/types.js';
import { sleep } from '../../src/util/time.js';
import { TestCluster } from '../helpers/cluster.js';
import { startTestEtcd, type TestEtcd } from '../helpers/etcd.js';
import { cleanupPg, makePgTestRoot, pgMemberConfig, pgPort } from '../helpers/postgres.js';
import { fingerprintTree, treeDifferences } from '../helpers/tree.js';

const logLines: string[] = [];
const logger = createLogger({ level: 'debug', write: (line) => logLines.push(line) });

describe('a failed bootstrap removes only what its initdb created', () => {
  let etcd: TestEtcd;
  let root = '';
  const configs: GovernorConfig[] = [];
  let blocker: Server;

  before(async () => {
    etcd = await startTestEtcd();
    root = await makePgTestRoot('governor-bootstrap-');
  });
  after(async () => {
    blocker?.close();
    await cleanupPg(root, configs);
    await etcd?.stop();
  });

  /** The bootstrap action of a lone member whose PostgreSQL cannot start: its port is taken. */
  async function failedBootstrap(name: string, prepare: (dataDir: string) => Promise<void>): Promise<{ config: GovernorConfig; dcs: EtcdDcs; pg: PostgresController }> {
    const config = await pgMemberConfig(root, name);
    config.scope = `bootstrap-${name}-${process.pid}`;
    config.etcd.hosts = [etcd.host];
    configs.push(config);
    await mkdir(path.dirname(config.postgresql.data_dir), { mode: 0o755 });
    await prepare(config.postgresql.data_dir);
    blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(pgPort(config), '127.0.0.1', resolve));
    const dcs = createEtcdDcs({ config, logger });
    await dcs.open(config.bootstrap.dcs.ttl);
    const pg = createPostgresController(config, logger.child(name));
    const executor = new ActionExecutor({
      config, dcs, pg, logger: logger.child(name),
      memory: { cleanHandoffTo: null, followTarget: null, notStreamingSince: null, failsafePromise: null, appliedParameters: null },
      requests: { restart: false, reinitialize: false },
      io: realHaIo(config, {}),
      current: () => ({ dynamic: config.bootstrap.dcs, cluster: null }),
      setPrimary: () => undefined,
      leaderKey: () => undefined,
      touchMember: async (state) => dcs.touchMember({ ...memberData(config, await pg.status()), ...(state ? { state } : {}) }),
    });
    try {
      assert.equal(await executor.run({ type: 'bootstrap' }), false, 'the bootstrap failed');
    } finally {
      await new Promise<void>((resolve) => blocker.close(() => resolve()));
    }
    // Failed where it should: PostgreSQL could not bind its port (initdb had made the cluster).
    assert.ok(logLines.some((l) => l.includes('bootstrap failed, undoing it') && /could not (bind|create any TCP)/.test(l)), 'the failure is logged with its cause');
    return { config, dcs, pg };
  }

  test('a pre-existing empty data_dir stays (same directory), emptied of what initdb made; initialize released', async () => {
    let inode = 0;
    const { config, dcs, pg } = await failedBootstrap('kept', async (dataDir) => {
      await mkdir(dataDir, { mode: 0o700 });
      await writeFile(path.join(path.dirname(dataDir), 'beside.txt'), 'not governor\'s');
      inode = (await stat(dataDir)).ino;
    });
    const dataDir = config.postgresql.data_dir;
    assert.equal((await stat(dataDir)).ino, inode, 'the same directory, not a new one');
    assert.deepEqual(await readdir(dataDir), [], 'what initdb created is gone');
    assert.ok((await readdir(path.dirname(dataDir))).includes('beside.txt'));
    assert.equal(await pg.dataDirState(), 'empty');
    assert.ok(logLines.some((l) => l.includes('what the failed bootstrap created (the directory was empty before)')), 'the removal says what and why');
    const view = await dcs.readCluster();
    assert.equal(view.initialize, null, 'another attempt can start clean');
    assert.equal(view.leader, null);
    await dcs.close();
    await pg.close();
  });

  test('a missing data_dir: the directory the attempt created goes too', async () => {
    const { config, dcs, pg } = await failedBootstrap('made', async () => undefined);
    assert.equal(await pg.dataDirState(), 'missing');
    assert.deepEqual(await readdir(path.dirname(config.postgresql.data_dir)).then((names) => names.filter((n) => n.startsWith('.governor-data.creating'))), [], 'no marker left');
    await dcs.close();
    await pg.close();
  });
});

describe('hostile data directories in a running cluster (2 members)', () => {
  let cluster: TestCluster;
  let loopWaitMs = 0;
  const names = () => cluster.manifest.nodes.map((n) => n.name);
  const other = (name: string) => names().find((n) => n !== name)!;
  const nodeDir = (name: string) => path.dirname(cluster.node(name).config_file);
  const patroni = async (name: string) => JSON.parse((await cluster.api(name, '/patroni')).body) as {
    state: string; data_directory?: { path: string; state: string; problem?: string; moved_aside: Array<{ path: string; reason: string }> };
  };
  const listRows = async () => JSON.parse((await cluster.ctl(['list', '--format', 'json'])).stdout) as Array<{ Member: string; State: string }>;

  /** The member's governor.yml with another data_dir (and, when given, another archive spool: it
   *  may not lie inside data_dir). */
  function setDataDir(name: string, dataDir: string, spoolDir?: string): void {
    const file = cluster.node(name).config_file;
    const doc = parse(readFileSync(file, 'utf8')) as { postgresql: { data_dir: string }; archive: { spool_dir: string } };
    doc.postgresql.data_dir = dataDir;
    if (spoolDir) doc.archive.spool_dir = spoolDir;
    writeFileSync(file, stringify(doc));
  }
  async function restartWith(name: string, dataDir: string, spoolDir?: string): Promise<void> {
    assert.equal((await cluster.demo(['stop-node', name])).code, 0);
    setDataDir(name, dataDir, spoolDir);
    const started = await cluster.demo(['start-node', name]);
    assert.equal(started.code, 0, started.stderr);
    cluster.reloadManifest();
  }
  async function waitRefused(name: string, problem: RegExp): Promise<string> {
    const status = await cluster.waitFor(`${name} to report its data directory refused`, async () => {
      const doc = await patroni(name);
      return doc.data_directory?.problem && problem.test(doc.data_directory.problem) ? doc : null;
    }, 30_000);
    await cluster.waitFor(`governorctl list to show ${name} refused`, async () => (await listRows()).find((r) => r.Member === name)?.State === 'data directory refused', 15_000);
    assert.equal(status.state, 'stopped');
    return status.data_directory!.problem!;
  }

  before(async () => {
    cluster = await TestCluster.start(2);
    ({ loopWaitMs } = await cluster.timing());
  });
  after(async () => {
    await cluster?.stop();
  });

  test('data_dir set to the parent of a real cluster: refused, the cluster in it untouched, found again once fixed', async () => {
    const leader = await cluster.waitHealthy();
    const replica = other(leader);
    const realDataDir = cluster.node(replica).data_dir;
    assert.equal((await cluster.demo(['stop-node', replica])).code, 0);
    const beforeCluster = await fingerprintTree(realDataDir);
    const beforeNames = await readdir(nodeDir(replica));
    const spoolDir = path.join(nodeDir(replica), 'archive-spool');
    await restartWith(replica, nodeDir(replica), `${nodeDir(replica)}-spool`);
    const problem = await waitRefused(replica, /holds no PostgreSQL cluster/);
    assert.match(problem, new RegExp(`${realDataDir.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} is a PostgreSQL data directory: did you mean postgresql\\.data_dir`));
    await sleep(3 * loopWaitMs); // a few more HA iterations with the refusal in force
    assert.deepEqual(treeDifferences(beforeCluster, await fingerprintTree(realDataDir)), []);
    const afterNames = await readdir(nodeDir(replica));
    assert.deepEqual(beforeNames.filter((n) => !afterNames.includes(n)), [], 'nothing removed beside it either');
    assert.match(cluster.logOf(replica), /is a PostgreSQL data directory: did you mean/);

    await restartWith(replica, realDataDir, spoolDir);
    assert.equal(await cluster.waitHealthy(), leader);
  });

  test('non-empty data_dir without PG_VERSION: refused with every file untouched; governorctl reinit moves it aside and clones', async () => {
    const leader = await cluster.waitHealthy();
    const replica = other(leader);
    const junk = path.join(nodeDir(replica), 'junk');
    await mkdir(path.join(junk, 'notes'), { recursive: true });
    await writeFile(path.join(junk, 'important.sql'), 'INSERT INTO accounts VALUES (1, 100);\n');
    await writeFile(path.join(junk, 'notes', 'todo.txt'), 'keep me\n');
    const old = new Date('2025-01-01T00:00:00Z');
    for (const file of ['important.sql', 'notes/todo.txt', 'notes', '.']) await utimes(path.join(junk, file), old, old);
    const before = await fingerprintTree(junk);

    await restartWith(replica, junk);
    const problem = await waitRefused(replica, /junk is not empty and holds no PostgreSQL cluster/);
    assert.match(problem, /\(no PG_VERSION; 2 entries: important\.sql, notes\)/);
    assert.match(problem, /governorctl reinit/);
    await sleep(3 * loopWaitMs);
    assert.deepEqual(treeDifferences(before, await fingerprintTree(junk)), [], 'every file as it was (content, mode, mtime)');

    const reinit = await cluster.ctl(['reinit', replica, '--force']);
    assert.equal(reinit.code, 0, reinit.stderr);
    assert.equal(await cluster.waitHealthy(), leader);
    const copies = (await readdir(nodeDir(replica))).filter((n) => /^junk\.reinit\.\d{8}T\d{6}Z$/.test(n));
    assert.equal(copies.length, 1, `one moved-aside copy: ${copies.join(', ')}`);
    const copy = path.join(nodeDir(replica), copies[0]!);
    const moved = await fingerprintTree(copy);
    // The copy is the same directory under a new name: only the renamed root's own times may differ.
    assert.deepEqual(treeDifferences(before, moved).filter((line) => !line.startsWith('.:')), []);
    const status = await patroni(replica);
    assert.deepEqual(status.data_directory?.moved_aside.map((c) => [c.path, c.reason]), [[copy, 'reinit']]);
    const list = await cluster.ctl(['list']);
    assert.match(list.stdout, new RegExp(`Data directories moved aside[^\\n]*\\n\\s+${replica}: ${copy.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}`));
  });

  test('pg_rewind fails for the old master: its data directory is moved aside intact and it rejoins as a streaming replica', async () => {
    const oldLeader = await cluster.waitHealthy();
    const survivor = other(oldLeader);
    const dataDir = cluster.node(oldLeader).data_dir;
    process.kill(cluster.governorPid(oldLeader), 'SIGKILL');
    process.kill(cluster.postmasterPid(oldLeader), 'SIGKILL');
    await cluster.waitFor(`${survivor} to take over`, async () => (await cluster.leader([survivor])) === survivor, 30_000);
    await cluster.waitFor(`${survivor} to accept writes`, async () => {
      await cluster.query(survivor, 'CREATE TABLE IF NOT EXISTS after_takeover (x int)');
      return true;
    }, 15_000);
    // pg_rewind (running as the PostgreSQL user) cannot read the old master's control file; governor
    // (root) still can, so it sees a former master to rejoin.
    await chmod(path.join(dataDir, 'global', 'pg_control'), 0o000);
    const data = (relative: string) => ['base', 'global', 'pg_wal'].some((top) => relative === top || relative.startsWith(`${top}/`));
    const before = await fingerprintTree(dataDir, (relative) => !data(relative));

    assert.equal((await cluster.demo(['start-node', oldLeader])).code, 0);
    cluster.reloadManifest();
    assert.equal(await cluster.waitHealthy(), survivor);
    await cluster.waitFor(`after_takeover on ${oldLeader}`, async () => (await cluster.query(oldLeader, "SELECT to_regclass('after_takeover') AS t"))[0]?.t !== null, 15_000);

    const copies = (await readdir(path.dirname(dataDir))).filter((n) => /^data\.rewind-failed\.\d{8}T\d{6}Z$/.test(n));
    assert.equal(copies.length, 1, copies.join(', '));
    const copy = path.join(path.dirname(dataDir), copies[0]!);
    assert.deepEqual(treeDifferences(before, await fingerprintTree(copy, (relative) => !data(relative))).filter((line) => !line.startsWith('.:')), [], 'the old master\'s data, as it was');
    const status = await patroni(oldLeader);
    assert.deepEqual(status.data_directory?.moved_aside.map((c) => [c.path, c.reason]), [[copy, 'rewind-failed']]);
    const log = cluster.logOf(oldLeader);
    assert.match(log, /pg_rewind failed/);
    assert.match(log, /moved the data directory aside \(rewind-failed\)/);
    assert.doesNotMatch(log, /removed the contents of/);
  });
});
