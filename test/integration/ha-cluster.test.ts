// The HA core end to end: three real PostgreSQL 15 members and a real etcd, started with
// `governor demo up`, put through switchover, crashes and an etcd freeze.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { sleep } from '../../src/util/time.js';
import { TestCluster } from '../helpers/cluster.js';

describe('governor HA cluster (3 members, real PostgreSQL and etcd)', () => {
  let cluster: TestCluster;

  before(async () => {
    cluster = await TestCluster.start(3);
  });
  after(async () => {
    await cluster?.stop();
  });

  const replicasOf = (leader: string) => cluster.manifest.nodes.map((n) => n.name).filter((n) => n !== leader);

  async function insertAndWaitEverywhere(leader: string, value: string): Promise<void> {
    await cluster.query(leader, 'CREATE TABLE IF NOT EXISTS items (value text PRIMARY KEY)');
    await cluster.query(leader, 'INSERT INTO items VALUES ($1)', [value]);
    for (const replica of replicasOf(leader)) {
      await cluster.waitFor(`${value} on ${replica}`, async () => {
        const rows = await cluster.query(replica, 'SELECT 1 FROM items WHERE value = $1', [value]);
        return rows.length === 1;
      });
    }
  }

  test('bootstrap: one master, two streaming replicas, a row written on the master is read on both', async () => {
    const leader = await cluster.waitHealthy();
    const [{ in_recovery }] = await cluster.query<{ in_recovery: boolean }>(leader, 'SELECT pg_is_in_recovery() AS in_recovery');
    assert.equal(in_recovery, false);
    for (const replica of replicasOf(leader)) {
      const [row] = await cluster.query<{ in_recovery: boolean }>(replica, 'SELECT pg_is_in_recovery() AS in_recovery');
      assert.equal(row!.in_recovery, true, `${replica} is a replica`);
      await assert.rejects(cluster.query(replica, 'CREATE TABLE nope (x int)'), /read-only/);
    }
    await insertAndWaitEverywhere(leader, 'after-bootstrap');
    const checksums = await cluster.query<{ data_checksums: string }>(leader, 'SHOW data_checksums');
    assert.equal(checksums[0]!.data_checksums, 'on');
  });

  test('REST API: health endpoints follow the roles; state changes need auth; bad bodies get 400', async () => {
    const leader = await cluster.waitHealthy();
    const replica = replicasOf(leader)[0]!;
    assert.equal((await cluster.api(leader, '/primary')).status, 200);
    assert.equal((await cluster.api(replica, '/primary')).status, 503);
    assert.equal((await cluster.api(replica, '/replica')).status, 200);
    assert.equal((await cluster.api(leader, '/replica')).status, 503);
    assert.equal((await cluster.api(replica, '/read-only')).status, 200);
    assert.equal((await cluster.api(replica, '/health')).status, 200);
    const status = JSON.parse((await cluster.api(replica, '/patroni')).body);
    assert.equal(status.role, 'replica');
    assert.equal(typeof status.xlog.received_location, 'number');
    const clusterDoc = JSON.parse((await cluster.api(replica, '/cluster')).body);
    assert.equal(clusterDoc.members.length, 3);

    for (const path of ['/switchover', '/failover', '/restart', '/reinitialize']) {
      const unauthenticated = await cluster.api(leader, path, { method: 'POST', body: '{}', auth: false });
      assert.equal(unauthenticated.status, 401, `${path} without credentials`);
      const wrong = await cluster.api(leader, path, {
        method: 'POST',
        body: '{}',
        auth: false,
        headers: { Authorization: `Basic ${Buffer.from('admin:wrong').toString('base64')}` },
      });
      assert.equal(wrong.status, 401, `${path} with a wrong password`);
    }
    const badJson = await cluster.api(leader, '/switchover', { method: 'POST', body: '{not json' });
    assert.equal(badJson.status, 400);
    assert.match(badJson.body, /not valid JSON/);
    const badField = await cluster.api(leader, '/switchover', { method: 'POST', body: JSON.stringify({ candidate: 42 }) });
    assert.equal(badField.status, 400);
    assert.match(badField.body, /candidate/);
    const noCandidate = await cluster.api(leader, '/failover', { method: 'POST', body: '{}' });
    assert.equal(noCandidate.status, 400);
    const unknown = await cluster.api(leader, '/switchover', { method: 'POST', body: JSON.stringify({ candidate: 'nosuch' }) });
    assert.equal(unknown.status, 412);
  });

  test('switchover with governorctl: the candidate becomes master, the old master streams from it', async () => {
    const leader = await cluster.waitHealthy();
    const candidate = replicasOf(leader)[0]!;
    const result = await cluster.ctl(['switchover', '--candidate', candidate, '--force']);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, new RegExp(`switched over to "${candidate}"`));
    assert.equal(await cluster.waitHealthy(), candidate);
    await insertAndWaitEverywhere(candidate, 'after-switchover');
    const list = await cluster.ctl(['list', '--format', 'json']);
    const rows = JSON.parse(list.stdout) as Array<{ Member: string; Role: string; TL: number }>;
    assert.equal(rows.find((r) => r.Role === 'Leader')?.Member, candidate);
    assert.ok(rows.every((r) => r.TL === 2), list.stdout);
    const history = JSON.parse((await cluster.ctl(['history', '--format', 'json'])).stdout) as Array<{ TL: number; 'New Leader': string }>;
    assert.equal(history.at(-1)?.['New Leader'], candidate);
  });

  test('postmaster SIGKILL on the master: restarted in place, same leader, same timeline', async () => {
    const leader = await cluster.waitHealthy();
    const timelineOf = async () => JSON.parse((await cluster.api(leader, '/patroni')).body).timeline as number;
    const timeline = await timelineOf();
    const pid = cluster.postmasterPid(leader);
    process.kill(pid, 'SIGKILL');
    await cluster.waitFor('the master to accept writes again', async () => {
      await cluster.query(leader, 'INSERT INTO items VALUES ($1)', [`after-crash-${Date.now()}`]);
      return true;
    }, 30_000);
    assert.notEqual(cluster.postmasterPid(leader), pid);
    assert.equal(await cluster.waitHealthy(), leader);
    const timelineAfter = await cluster.waitFor('the timeline in /patroni', async () => (await timelineOf()) ?? null);
    assert.equal(timelineAfter, timeline);
  });

  test('etcd frozen for less than ttl: no role change, the master keeps running', async () => {
    const leader = await cluster.waitHealthy();
    const pid = cluster.postmasterPid(leader);
    const { ttlMs, retryTimeoutMs } = await cluster.timing();
    const freezeMs = retryTimeoutMs; // well within the lease (2 s of ttl 5)
    process.kill(cluster.manifest.etcd.pid, 'SIGSTOP');
    try {
      await sleep(freezeMs);
      await cluster.query(leader, 'INSERT INTO items VALUES ($1)', ['during-etcd-freeze']);
    } finally {
      process.kill(cluster.manifest.etcd.pid, 'SIGCONT');
    }
    // The rest of the lease that was running when etcd froze: a master that was going to lose its key
    // over the freeze would have done so by then.
    await sleep(ttlMs - freezeMs);
    assert.equal(await cluster.waitHealthy(), leader);
    assert.equal(cluster.postmasterPid(leader), pid, 'the master was never restarted');
  });

  test('master node loss (governor and postmaster SIGKILL): a replica takes over; the old master rejoins with pg_rewind', async () => {
    const leader = await cluster.waitHealthy();
    await insertAndWaitEverywhere(leader, 'before-node-loss');
    process.kill(cluster.governorPid(leader), 'SIGKILL');
    process.kill(cluster.postmasterPid(leader), 'SIGKILL');
    const survivors = replicasOf(leader);
    const newLeader = await cluster.waitFor('a new master', async () => {
      const current = await cluster.leader();
      return current && current !== leader ? current : null;
    }, 30_000);
    assert.ok(survivors.includes(newLeader));
    // The key is taken before PostgreSQL is promoted (safety rule): writes succeed a moment later.
    await cluster.waitFor(`${newLeader} to accept writes`, async () => {
      await cluster.query(newLeader, 'INSERT INTO items VALUES ($1)', ['after-node-loss']);
      return true;
    }, 10_000);

    const started = await cluster.demo(['start-node', leader]);
    assert.equal(started.code, 0, started.stderr);
    assert.equal(await cluster.waitHealthy(), newLeader);
    await cluster.waitFor(`after-node-loss on ${leader}`, async () => {
      const rows = await cluster.query(leader, 'SELECT 1 FROM items WHERE value = $1', ['after-node-loss']);
      return rows.length === 1;
    });
    const [row] = await cluster.query<{ in_recovery: boolean }>(leader, 'SELECT pg_is_in_recovery() AS in_recovery');
    assert.equal(row!.in_recovery, true);
    assert.match(cluster.logOf(leader), /pg_rewind/);
  });

  test('governor alone SIGKILLed on the master: the write fence stops PostgreSQL before a replica is promoted', async () => {
    const leader = await cluster.waitHealthy();
    const killedAt = Date.now();
    process.kill(cluster.governorPid(leader), 'SIGKILL');
    const fencedAt = await cluster.waitFor('the orphaned master to stop accepting connections', async () => {
      try {
        await cluster.query(leader, 'SELECT 1');
        return null;
      } catch {
        return Date.now();
      }
    }, 15_000);
    const newLeader = await cluster.waitFor('a new master', async () => {
      const current = await cluster.leader();
      return current && current !== leader ? current : null;
    }, 30_000);
    // The history entry is written right after the promotion, a moment after the key is taken.
    const history = await cluster.waitFor(`the history entry of ${newLeader}`, async () => {
      const entries = JSON.parse((await cluster.ctl(['history', '--format', 'json'])).stdout) as Array<{ Timestamp: string; 'New Leader': string }>;
      return entries.at(-1)?.['New Leader'] === newLeader ? entries : null;
    }, 15_000);
    const promotedAt = Date.parse(history.at(-1)!.Timestamp);
    assert.equal(history.at(-1)!['New Leader'], newLeader);
    assert.ok(fencedAt < promotedAt, `fenced ${fencedAt - killedAt} ms after the kill, new master recorded ${promotedAt - killedAt} ms after`);
    assert.match(cluster.logOf(leader), /governor died while PostgreSQL was the master/);
    const started = await cluster.demo(['start-node', leader]);
    assert.equal(started.code, 0, started.stderr);
    assert.equal(await cluster.waitHealthy(), newLeader);
  });

  test('governorctl reports errors in one line with a non-zero exit', async () => {
    const result = await cluster.ctl(['switchover', '--candidate', 'nosuch', '--force']);
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /^error: --candidate: no member "nosuch"/);
    assert.equal(result.stderr.trim().split('\n').length, 1);
  });
});
