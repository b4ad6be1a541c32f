// Routing through HAProxy on every node: port rw reaches the master named in the leader key, port ro
// the replicas; after a switchover and after a master SIGKILL the routing follows the key, and a
// session opened to the old master through HAProxy is cut.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { TestCluster } from '../helpers/cluster.js';
import { OutageWriter } from '../helpers/writer.js';

describe('HAProxy routing on every node (3 members, real HAProxy, PostgreSQL, etcd)', () => {
  let cluster: TestCluster;

  before(async () => {
    cluster = await TestCluster.start(3);
  });
  after(async () => {
    await cluster?.stop();
  });

  const viaHaproxy = (node: string, kind: 'rw' | 'ro'): pg.ClientConfig => {
    const n = cluster.node(node);
    return { ...cluster.connectionConfig(n), port: kind === 'rw' ? n.haproxy_rw_port : n.haproxy_ro_port };
  };

  async function queryVia(node: string, kind: 'rw' | 'ro', sql: string, params: unknown[] = []): Promise<pg.QueryResultRow[]> {
    const client = new pg.Client(viaHaproxy(node, kind));
    client.on('error', () => undefined);
    try {
      await client.connect();
      return (await client.query(sql, params)).rows;
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  /** Every node's rw port reaches `leader` (identified by its PostgreSQL port) and accepts an INSERT. */
  async function everyRwPortReaches(leader: string): Promise<void> {
    const leaderPort = String(cluster.node(leader).pg_port);
    for (const node of cluster.manifest.nodes) {
      await cluster.waitFor(`${node.name}'s rw port to reach ${leader}`, async () => {
        const rows = await queryVia(node.name, 'rw', "INSERT INTO routed (via) VALUES ($1) RETURNING current_setting('port') AS port, pg_is_in_recovery() AS ro", [node.name]);
        return rows[0]!.port === leaderPort && rows[0]!.ro === false;
      }, 20_000);
    }
  }

  test('rw ports reach the master, ro ports reach replicas', async () => {
    const leader = await cluster.waitHealthy();
    await cluster.query(leader, 'CREATE TABLE routed (id serial PRIMARY KEY, via text)');
    await everyRwPortReaches(leader);
    // Replicas enter the routing on the loop's next tick after their member key says streaming.
    for (const node of cluster.manifest.nodes) {
      await cluster.waitFor(`${node.name}'s ro port to reach a replica`, async () => {
        const rows = await queryVia(node.name, 'ro', 'SELECT pg_is_in_recovery() AS ro');
        return rows[0]!.ro === true;
      }, 10_000);
    }
  });

  async function holdSessionToMaster(node: string): Promise<pg.Client> {
    const client = new pg.Client(viaHaproxy(node, 'rw'));
    client.on('error', () => undefined);
    await client.connect();
    await client.query('SELECT 1');
    return client;
  }

  async function sessionIsCut(client: pg.Client): Promise<boolean> {
    try {
      await client.query('SELECT 1');
      return false;
    } catch {
      return true;
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  test('switchover: writes through every rw port reach the new master; sessions to the old master are cut; no non-leader acknowledges a write', async () => {
    const leader = await cluster.waitHealthy();
    const held = await Promise.all(cluster.manifest.nodes.map((n) => holdSessionToMaster(n.name)));
    await OutageWriter.prepare({ name: leader, config: cluster.connectionConfig(cluster.node(leader)) });
    const writer = new OutageWriter(cluster.manifest.nodes.map((n) => ({ name: n.name, config: viaHaproxy(n.name, 'rw') })), 20);
    writer.start();
    const candidate = cluster.manifest.nodes.find((n) => n.name !== leader)!.name;
    const result = await cluster.ctl(['switchover', '--candidate', candidate, '--force']);
    assert.equal(result.code, 0, result.stderr);
    await everyRwPortReaches(candidate);
    await writer.stop();
    for (const client of held) assert.ok(await sessionIsCut(client), 'a session opened to the old master through HAProxy was closed');
    // Every acknowledged write is on the new master (nothing was acknowledged by a member that lost the key).
    const ids = writer.acks.map((a) => a.id);
    const present = await cluster.query<{ id: string }>(candidate, 'SELECT id::text FROM outage_probe WHERE id = ANY($1::bigint[])', [ids]);
    assert.equal(present.length, ids.length, 'every acknowledged write survived the switchover');
  });

  test('master SIGKILL: writes through every rw port reach the new master, old sessions are gone', async () => {
    const leader = await cluster.waitHealthy();
    const held = await Promise.all(cluster.manifest.nodes.filter((n) => n.name !== leader).map((n) => holdSessionToMaster(n.name)));
    process.kill(cluster.governorPid(leader), 'SIGKILL');
    process.kill(cluster.postmasterPid(leader), 'SIGKILL');
    const newLeader = await cluster.waitFor('a new master', async () => {
      const current = await cluster.leader();
      return current && current !== leader ? current : null;
    }, 30_000);
    const survivors = cluster.manifest.nodes.filter((n) => n.name !== leader);
    for (const node of survivors) {
      const leaderPort = String(cluster.node(newLeader).pg_port);
      await cluster.waitFor(`${node.name}'s rw port to reach ${newLeader}`, async () => {
        const rows = await queryVia(node.name, 'rw', "SELECT current_setting('port') AS port, pg_is_in_recovery() AS ro");
        return rows[0]!.port === leaderPort && rows[0]!.ro === false;
      }, 20_000);
    }
    for (const client of held) assert.ok(await sessionIsCut(client));
    const started = await cluster.demo(['start-node', leader]);
    assert.equal(started.code, 0, started.stderr);
    await cluster.waitHealthy();
    await everyRwPortReaches(newLeader); // waits for each HAProxy to route to it
  });
});
