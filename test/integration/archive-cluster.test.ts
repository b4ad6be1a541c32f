// The archive inside a running cluster, once per storage backend (the demo's local directory, and S3
// through s3rver): the members archive WAL, a base backup taken from the master through the CLI is
// listed, and a replica whose data is wiped is rebuilt from that backup plus archived WAL (not from
// the master), joins and streams.

import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { WAL_PREFIX } from '../../src/archive/layout.js';
import { openStorage } from '../../src/archive/storage/index.js';
import type { Storage } from '../../src/archive/types.js';
import { defaultArchiveConfig } from '../../src/config/defaults.js';
import type { ArchiveConfig } from '../../src/config/types.js';
import { createLogger } from '../../src/log/logger.js';
import { runGovernor, TestCluster } from '../helpers/cluster.js';
import { overrideEnvironment } from '../helpers/env.js';
import { startTestS3 } from '../helpers/s3.js';

/** What one backend needs around a cluster: the demo's arguments, the storage URL the cluster must
 *  report, and a reader of the same storage for the test. */
interface BackendSetup {
  demoArgs: string[];
  checkStorageUrl: (url: string) => void;
  s3?: ArchiveConfig['s3'];
  close: () => Promise<void>;
}

const BACKENDS: Array<{ name: string; setUp: () => Promise<BackendSetup> }> = [
  {
    name: 'file storage',
    setUp: async () => ({
      demoArgs: [],
      checkStorageUrl: (url) => assert.match(url, /^file:\/\//),
      close: async () => undefined,
    }),
  },
  {
    // S3 settings reach the members (and PostgreSQL's archive/restore commands) through AWS_* variables.
    name: 'S3 storage via s3rver',
    setUp: async () => {
      const s3 = await startTestS3();
      const restoreEnvironment = overrideEnvironment(s3.environment);
      return {
        demoArgs: ['--archive', `${s3.url}/cluster`],
        checkStorageUrl: (url) => assert.equal(url, `${s3.url}/cluster`),
        s3: s3.archiveS3,
        close: async () => {
          await s3.stop();
          restoreEnvironment();
        },
      };
    },
  },
];

for (const backend of BACKENDS) {
  describe(`archive in a 3-member cluster (${backend.name}, real PostgreSQL and etcd)`, () => {
    let setup: BackendSetup | undefined;
    let cluster: TestCluster | undefined;
    let leader: string;

    before(async () => {
      setup = await backend.setUp();
      cluster = await TestCluster.start(3, setup.demoArgs);
      leader = await cluster.waitHealthy();
    });

    after(async () => {
      await cluster?.stop();
      await setup?.close();
    });

    it('WAL reaches the archive; backup-push from the master is listed; a wiped replica is rebuilt from it, then streams', async () => {
      const c = cluster!;
      const storageUrl = c.manifest.archive.storage ?? '';
      setup!.checkStorageUrl(storageUrl);
      const storage: Storage = openStorage({
        ...defaultArchiveConfig(), enabled: true, storage: storageUrl, ...(setup!.s3 ? { s3: setup!.s3 } : {}),
      }, createLogger({ level: 'warn' }));
      const config = c.node(leader).config_file;
      await c.query(leader, 'CREATE TABLE archived (id int PRIMARY KEY, note text)');
      await c.query(leader, "INSERT INTO archived SELECT g, 'before backup' FROM generate_series(1, 1000) g");

      const pushed = await runGovernor(['backup-push', '-c', config]);
      assert.equal(pushed.code, 0, `backup-push failed: ${pushed.stderr}`);
      const listed = await runGovernor(['backup-list', '-c', config, '--format', 'json']);
      assert.equal(listed.code, 0, listed.stderr);
      const backups = JSON.parse(listed.stdout) as Array<{ name: string }>;
      assert.equal(backups.length, 1);

      await c.query(leader, "INSERT INTO archived SELECT g, 'after backup' FROM generate_series(1001, 2000) g");
      await c.query(leader, 'SELECT pg_switch_wal()');
      await c.waitFor('archived WAL segments in the storage', async () => {
        const objects = await storage.list(WAL_PREFIX);
        return objects.filter((o) => /^[0-9A-F]{24}/.test(o.key.slice(WAL_PREFIX.length))).length >= 2;
      }, 60_000);

      const replica = c.manifest.nodes.find((n) => n.name !== leader)!;
      const stopped = await c.demo(['stop-node', replica.name]);
      assert.equal(stopped.code, 0, stopped.stderr);
      rmSync(replica.data_dir, { recursive: true, force: true });
      const started = await c.demo(['start-node', replica.name]);
      assert.equal(started.code, 0, started.stderr);
      // Members' cached views may still show the stopped replica streaming for a loop_wait: wait for
      // the restarted daemon to say where its data came from before waiting for a healthy cluster.
      await c.waitFor('the rebuilt replica to restore from the backup', async () => /base backup restored/.test(c.logOf(replica.name)), 120_000);
      await c.waitHealthy(120_000);

      const log = c.logOf(replica.name);
      assert.match(log, /restoring the data directory from a base backup/);
      assert.match(log, new RegExp(`"backup":"${backups[0]!.name}"`));
      const rows = await c.waitFor('rows written after the backup on the rebuilt replica', async () => {
        const result = await c.query<{ n: string }>(replica.name, 'SELECT count(*) AS n FROM archived');
        return Number(result[0]?.n) === 2000 ? 2000 : null;
      }, 60_000);
      assert.equal(rows, 2000);
      // It streams from the master (not only replays the archive): the master sees its walsender.
      const streaming = await c.waitFor('the rebuilt replica to stream from the master', async () => {
        const senders = await c.query<{ application_name: string; state: string }>(leader, 'SELECT application_name, state FROM pg_stat_replication');
        return senders.some((s) => s.application_name === replica.name && s.state === 'streaming') ? true : null;
      }, 60_000);
      assert.equal(streaming, true);
    });
  });
}
