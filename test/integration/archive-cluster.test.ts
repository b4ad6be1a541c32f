// The archive inside a running cluster: the demo archives WAL to its local storage, a base backup
// taken from the master through the CLI is listed, and a replica whose data is wiped is rebuilt
// from that backup plus archived WAL (not from the master) and then streams.

import assert from 'node:assert/strict';
import { readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runGovernor, TestCluster } from '../helpers/cluster.js';

describe('archive in a 3-member cluster (file storage, real PostgreSQL and etcd)', () => {
  let cluster: TestCluster;
  let leader: string;

  before(async () => {
    cluster = await TestCluster.start(3);
    leader = await cluster.waitHealthy();
  });

  after(async () => {
    await cluster?.stop();
  });

  it('WAL reaches the archive; backup-push from the master is listed; a wiped replica is rebuilt from it', async () => {
    const config = cluster.node(leader).config_file;
    await cluster.query(leader, 'CREATE TABLE archived (id int PRIMARY KEY, note text)');
    await cluster.query(leader, "INSERT INTO archived SELECT g, 'before backup' FROM generate_series(1, 1000) g");

    const pushed = await runGovernor(['backup-push', '-c', config]);
    assert.equal(pushed.code, 0, `backup-push failed: ${pushed.stderr}`);
    const listed = await runGovernor(['backup-list', '-c', config, '--format', 'json']);
    assert.equal(listed.code, 0, listed.stderr);
    const backups = JSON.parse(listed.stdout) as Array<{ name: string; system_identifier: string }>;
    assert.equal(backups.length, 1);

    await cluster.query(leader, "INSERT INTO archived SELECT g, 'after backup' FROM generate_series(1001, 2000) g");
    await cluster.query(leader, 'SELECT pg_switch_wal()');

    const storage = cluster.manifest.archive.storage ?? '';
    assert.match(storage, /^file:\/\//);
    const walDir = path.join(new URL(storage).pathname, 'wal');
    await cluster.waitFor('archived WAL segments', async () => readdirSync(walDir).filter((f) => /^[0-9A-F]{24}/.test(f)).length >= 2, 30_000);

    const replica = cluster.manifest.nodes.find((n) => n.name !== leader)!;
    const stopped = await cluster.demo(['stop-node', replica.name]);
    assert.equal(stopped.code, 0, stopped.stderr);
    rmSync(replica.data_dir, { recursive: true, force: true });
    const started = await cluster.demo(['start-node', replica.name]);
    assert.equal(started.code, 0, started.stderr);
    // Members' cached views may still show the stopped replica streaming for a loop_wait: wait for
    // the restarted daemon to say where its data came from before waiting for a healthy cluster.
    await cluster.waitFor('the rebuilt replica to restore from the backup', async () => /base backup restored/.test(cluster.logOf(replica.name)), 60_000);
    await cluster.waitHealthy(120_000);

    const log = cluster.logOf(replica.name);
    assert.match(log, /restoring the data directory from a base backup/);
    assert.match(log, new RegExp(`"backup":"${backups[0]!.name}"`));
    const rows = await cluster.waitFor('rows written after the backup on the rebuilt replica', async () => {
      const result = await cluster.query<{ n: string }>(replica.name, 'SELECT count(*) AS n FROM archived');
      return Number(result[0]?.n) === 2000 ? 2000 : null;
    }, 60_000);
    assert.equal(rows, 2000);
  });
});
