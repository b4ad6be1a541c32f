// synchronous_mode with a real cluster: the master names one synchronous standby in the DCS `sync`
// key only once PostgreSQL replicates to it synchronously; when the master node dies under write
// load, that standby (and only it) takes over, and every write the old master acknowledged is on it.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { sleep } from '../../src/util/time.js';
import { TestCluster } from '../helpers/cluster.js';
import { OutageWriter } from '../helpers/writer.js';

describe('synchronous_mode (3 members, real PostgreSQL and etcd)', { timeout: 300_000 }, () => {
  let cluster: TestCluster;

  before(async () => {
    cluster = await TestCluster.start(3, ['--no-archive']);
  });
  after(async () => {
    await cluster?.stop();
  });

  const syncKey = () => cluster.etcdJson<{ leader: string | null; sync_standby: string | null }>('sync');

  test('turning synchronous_mode on: a streaming replica becomes the synchronous standby, the sync key names it after PostgreSQL does', async () => {
    const leader = await cluster.waitHealthy();
    await cluster.patchDynamicConfig({ synchronous_mode: true });
    const standby = await cluster.waitFor('a synchronous standby in the sync key', async () => {
      const state = await syncKey();
      return state?.leader === leader && state.sync_standby ? state.sync_standby : null;
    }, 30_000);
    const rows = await cluster.query<{ application_name: string; sync_state: string }>(leader, 'SELECT application_name, sync_state FROM pg_stat_replication');
    assert.equal(rows.find((r) => r.application_name === standby)?.sync_state, 'sync', JSON.stringify(rows));
    const clusterDoc = await cluster.clusterDoc();
    assert.equal(clusterDoc.members.find((m) => m.name === standby)?.role, 'sync_standby');
  });

  test('master node loss under writes: the synchronous standby takes over with every acknowledged write', async () => {
    const leader = await cluster.waitHealthy();
    const standby = (await syncKey())!.sync_standby!;
    const target = { name: leader, config: cluster.connectionConfig(cluster.node(leader)) };
    await OutageWriter.prepare(target);
    const writer = new OutageWriter([target], 5);
    writer.start();
    const { ttlMs } = await cluster.timing();
    await cluster.waitFor('writes acknowledged by the master', async () => writer.acks.filter((a) => a.node === leader).length > 100, ttlMs);
    process.kill(cluster.governorPid(leader), 'SIGKILL');
    process.kill(cluster.postmasterPid(leader), 'SIGKILL');
    await writer.stop(); // waits for the writes in flight at the kill to be answered or fail
    const acked = writer.acks.filter((a) => a.node === leader).map((a) => a.id);
    assert.ok(acked.length > 50, `only ${acked.length} writes acknowledged before the kill`);

    const newLeader = await cluster.waitFor('a new master', async () => {
      const current = await cluster.leader();
      return current && current !== leader ? current : null;
    }, 30_000);
    assert.equal(newLeader, standby, 'only the synchronous standby may take over');
    const present = await cluster.waitFor(`${newLeader} to answer`, async () => {
      const rows = await cluster.query<{ n: string }>(newLeader, 'SELECT count(*) AS n FROM outage_probe WHERE id = ANY($1::bigint[])', [acked]);
      return Number(rows[0]!.n);
    }, 20_000);
    console.log(`# synchronous_mode: ${acked.length} writes acknowledged by the old master, ${present} on the new one`);
    assert.equal(present, acked.length, `${acked.length - present} acknowledged writes lost`);

    // The old master rejoins; the new master picks a synchronous standby of its own.
    const started = await cluster.demo(['start-node', leader]);
    assert.equal(started.code, 0, started.stderr);
    assert.equal(await cluster.waitHealthy(), newLeader);
    await cluster.waitFor('the new master to confirm a synchronous standby', async () => {
      const state = await syncKey();
      return state?.leader === newLeader && state.sync_standby !== null && state.sync_standby !== newLeader;
    }, 30_000);
  });
  test('synchronous_mode_strict: with no standby left, commits wait instead of going unreplicated, and go through once one is back', async () => {
    const leader = await cluster.waitHealthy();
    await cluster.patchDynamicConfig({ synchronous_mode: true, synchronous_mode_strict: true });
    const replicas = cluster.manifest.nodes.map((n) => n.name).filter((n) => n !== leader);
    await Promise.all(replicas.map(async (name) => {
      const stopped = await cluster.demo(['stop-node', name]);
      assert.equal(stopped.code, 0, stopped.stderr);
    }));
    await cluster.waitFor('strict mode with no standby: synchronous_standby_names = *', async () => {
      const [row] = await cluster.query<{ names: string }>(leader, 'SELECT current_setting(\'synchronous_standby_names\') AS names');
      return row!.names === '*';
    }, 30_000);

    // No statement_timeout: cancelling a commit's wait would commit it locally (with a warning).
    const client = new pg.Client({ ...cluster.connectionConfig(cluster.node(leader)), statement_timeout: 0 });
    await client.connect();
    try {
      let committed = false;
      const insert = client.query('INSERT INTO outage_probe (id, node) VALUES ($1, $2)', [1, 'strict']).then(() => {
        committed = true;
      });
      // A master that gave up on its standby would relax synchronous_standby_names within one HA
      // loop; give it several (ttl - loop_wait, within the lease it holds).
      const { ttlMs, loopWaitMs } = await cluster.timing([leader]);
      await sleep(ttlMs - loopWaitMs);
      assert.equal(committed, false, 'a commit was acknowledged with no synchronous standby in strict mode');
      const [waiting] = await cluster.query<{ n: string }>(leader, "SELECT count(*) AS n FROM pg_stat_activity WHERE wait_event = 'SyncRep'");
      assert.equal(Number(waiting!.n), 1, 'the commit waits for a synchronous standby');

      const restarted = await cluster.demo(['start-node', replicas[0]!]);
      assert.equal(restarted.code, 0, restarted.stderr);
      await cluster.waitFor('the waiting commit to complete once a standby is back', async () => committed, 60_000);
      await insert;
      // Flushed there before it was acknowledged; replayed a moment later.
      await cluster.waitFor('the commit on the standby that released it', async () => (await cluster.query(replicas[0]!, 'SELECT 1 FROM outage_probe WHERE id = 1')).length === 1, 10_000);
    } finally {
      await client.end().catch(() => undefined);
    }
    const restarted = await cluster.demo(['start-node', replicas[1]!]);
    assert.equal(restarted.code, 0, restarted.stderr);
    assert.equal(await cluster.waitHealthy(), leader);
  });
});
