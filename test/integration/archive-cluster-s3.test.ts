// The archive inside a running cluster with S3 storage (s3rver): the members archive WAL to a bucket,
// a base backup taken from the master is listed, and a replica whose data is wiped is rebuilt from
// that backup plus archived WAL fetched from S3 (not from the master), joins and streams.
// S3 settings reach the members (and PostgreSQL's archive/restore commands) through AWS_* variables.

import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { WAL_PREFIX } from '../../src/archive/layout.js';
import { openStorage } from '../../src/archive/storage/index.js';
import { defaultArchiveConfig } from '../../src/config/defaults.js';
import type { ArchiveConfig } from '../../src/config/types.js';
import { createLogger } from '../../src/log/logger.js';
import { runGovernor, TestCluster } from '../helpers/cluster.js';
import { startTestS3, type TestS3 } from '../helpers/s3.js';
import { overrideEnvironment } from '../helpers/env.js';

describe('archive in a 3-member cluster (S3 storage via s3rver, real PostgreSQL and etcd)', () => {
  let s3: TestS3;
  let cluster: TestCluster;
  let leader: string;
  let restoreEnvironment: () => void = () => undefined;

  before(async () => {
    s3 = await startTestS3();
    restoreEnvironment = overrideEnvironment(s3.environment);
    cluster = await TestCluster.start(3, ['--archive', `${s3.url}/cluster`]);
    leader = await cluster.waitHealthy();
  });

  after(async () => {
    await cluster?.stop();
    await s3?.stop();
    restoreEnvironment();
  });

  it('WAL reaches the bucket; a wiped replica is rebuilt from the S3 backup and archived WAL, then streams', async () => {
    assert.equal(cluster.manifest.archive.storage, `${s3.url}/cluster`);
    const storage = openStorage({
      ...defaultArchiveConfig(), enabled: true, storage: `${s3.url}/cluster`, s3: s3.archiveS3,
    } as ArchiveConfig, createLogger({ level: 'warn' }));
    const config = cluster.node(leader).config_file;
    await cluster.query(leader, 'CREATE TABLE archived (id int PRIMARY KEY, note text)');
    await cluster.query(leader, "INSERT INTO archived SELECT g, 'before backup' FROM generate_series(1, 1000) g");

    const pushed = await runGovernor(['backup-push', '-c', config]);
    assert.equal(pushed.code, 0, `backup-push failed: ${pushed.stderr}`);
    const listed = await runGovernor(['backup-list', '-c', config, '--format', 'json']);
    assert.equal(listed.code, 0, listed.stderr);
    const backups = JSON.parse(listed.stdout) as Array<{ name: string }>;
    assert.equal(backups.length, 1);

    await cluster.query(leader, "INSERT INTO archived SELECT g, 'after backup' FROM generate_series(1001, 2000) g");
    await cluster.query(leader, 'SELECT pg_switch_wal()');
    await cluster.waitFor('archived WAL segments in the bucket', async () => {
      const objects = await storage.list(WAL_PREFIX);
      return objects.filter((o) => /^[0-9A-F]{24}/.test(o.key.slice(WAL_PREFIX.length))).length >= 2;
    }, 60_000);

    const replica = cluster.manifest.nodes.find((n) => n.name !== leader)!;
    const stopped = await cluster.demo(['stop-node', replica.name]);
    assert.equal(stopped.code, 0, stopped.stderr);
    rmSync(replica.data_dir, { recursive: true, force: true });
    const started = await cluster.demo(['start-node', replica.name]);
    assert.equal(started.code, 0, started.stderr);
    await cluster.waitFor('the rebuilt replica to restore from the backup', async () => /base backup restored/.test(cluster.logOf(replica.name)), 120_000);
    await cluster.waitHealthy(120_000);

    const log = cluster.logOf(replica.name);
    assert.match(log, /restoring the data directory from a base backup/);
    assert.match(log, new RegExp(`"backup":"${backups[0]!.name}"`));
    const rows = await cluster.waitFor('rows written after the backup on the rebuilt replica', async () => {
      const result = await cluster.query<{ n: string }>(replica.name, 'SELECT count(*) AS n FROM archived');
      return Number(result[0]?.n) === 2000 ? 2000 : null;
    }, 60_000);
    assert.equal(rows, 2000);
    // It streams from the master (not only replays the archive): the master sees its walsender.
    const streaming = await cluster.waitFor('the rebuilt replica to stream from the master', async () => {
      const senders = await cluster.query<{ application_name: string; state: string }>(leader, 'SELECT application_name, state FROM pg_stat_replication');
      return senders.some((s) => s.application_name === replica.name && s.state === 'streaming') ? true : null;
    }, 60_000);
    assert.equal(streaming, true);
  });
});
