// Encryption end to end: a 2-member cluster whose etcd demands client certificates, whose REST APIs
// serve HTTPS only, and whose replicas stream from the master over TLS (verify-full, hostssl).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { httpRequest } from '../../src/util/http-client.js';
import { TestCluster } from '../helpers/cluster.js';
import { makeTestCertificates, type TestCertificates } from '../helpers/tls.js';

describe('TLS cluster (etcd client certificates, HTTPS REST API, PostgreSQL ssl)', () => {
  let certs: TestCertificates;
  let cluster: TestCluster;

  before(async () => {
    certs = await makeTestCertificates();
    cluster = await TestCluster.start(2, ['--no-archive', '--tls-dir', certs.dir]);
  });
  after(async () => {
    await cluster?.stop();
    if (!process.env.GOVERNOR_KEEP_TEST_DIRS) await certs?.cleanup();
  });

  const other = (name: string) => cluster.manifest.nodes.map((n) => n.name).find((n) => n !== name)!;

  /** ssl and sslmode-relevant facts of the replication connection, seen on the master. */
  async function walsenderSsl(leader: string): Promise<Array<{ application_name: string; ssl: boolean; version: string }>> {
    return cluster.query(
      leader,
      `SELECT r.application_name, s.ssl, s.version FROM pg_stat_replication r JOIN pg_stat_ssl s ON s.pid = r.pid`,
    );
  }

  test('replication streams over TLS: pg_stat_ssl shows ssl for the replica connection', async () => {
    const leader = await cluster.waitHealthy();
    const replica = other(leader);
    await cluster.query(leader, 'CREATE TABLE items (value text PRIMARY KEY)');
    await cluster.query(leader, "INSERT INTO items VALUES ('over-tls')");
    await cluster.waitFor('the row on the replica', async () => (await cluster.query(replica, "SELECT 1 FROM items WHERE value = 'over-tls'")).length === 1);
    const rows = await walsenderSsl(leader);
    assert.equal(rows.length, 1, JSON.stringify(rows));
    assert.equal(rows[0]!.ssl, true);
    assert.match(rows[0]!.version, /^TLSv1\.[23]$/);
    const [receiver] = await cluster.query<{ conninfo: string }>(replica, 'SELECT conninfo FROM pg_stat_wal_receiver');
    assert.match(receiver!.conninfo, /sslmode=verify-full/);
    const [setting] = await cluster.query<{ ssl: string }>(leader, 'SHOW ssl');
    assert.equal(setting!.ssl, 'on');
  });

  test('a replication connection without TLS is refused (hostssl)', async () => {
    const leader = await cluster.waitHealthy();
    const node = cluster.node(leader);
    // replication=true: a physical replication connection, which pg_hba matches against "replication".
    const client = new pg.Client({ ...cluster.connectionConfig(node), user: 'replicator', ssl: false, replication: 'true' } as pg.ClientConfig);
    client.on('error', () => undefined);
    await assert.rejects(client.connect(), /no pg_hba\.conf entry for replication connection .*no encryption/);
    await client.end().catch(() => undefined);
  });

  test('REST API: HTTPS with the CA works; plain HTTP and an unknown CA are refused', async () => {
    const leader = await cluster.waitHealthy();
    const node = cluster.node(leader);
    assert.match(node.api_url, /^https:\/\//);
    assert.equal((await cluster.api(leader, '/primary')).status, 200);
    await assert.rejects(httpRequest(node.api_url.replace('https:', 'http:') + '/primary', { timeoutMs: 3000 }));
    await assert.rejects(httpRequest(`${node.api_url}/primary`, { timeoutMs: 3000 }), /self[- ]signed|unable to verify|certificate/i);
    const insecure = await httpRequest(`${node.api_url}/primary`, { timeoutMs: 3000, tls: { insecure: true } });
    assert.equal(insecure.status, 200);
  });

  test('etcd refuses a client without a certificate', async () => {
    const endpoint = cluster.manifest.etcd.endpoints[0]!;
    assert.match(endpoint, /^https:\/\//);
    await assert.rejects(httpRequest(`${endpoint}/health`, { timeoutMs: 3000, tls: { ca: readFileSync(certs.ca) } }));
  });

  test('HAProxy checks the HTTPS REST API and routes writes to the master', async () => {
    const leader = await cluster.waitHealthy();
    const node = cluster.node(leader);
    const haproxyCfg = readFileSync(`${node.config_file.replace(/governor\.yml$/, 'haproxy.cfg')}`, 'utf8');
    assert.match(haproxyCfg, /check-ssl verify required ca-file '.*ca\.crt'/);
    const rows = await cluster.waitFor('a write through HAProxy', async () => {
      const client = new pg.Client({ ...cluster.connectionConfig(node), port: node.haproxy_rw_port });
      client.on('error', () => undefined);
      try {
        await client.connect();
        return (await client.query<{ in_recovery: boolean }>('SELECT pg_is_in_recovery() AS in_recovery')).rows;
      } finally {
        await client.end().catch(() => undefined);
      }
    }, 30_000);
    assert.equal(rows[0]!.in_recovery, false);
  });

  test('governorctl list and switchover work with the CA; the old master streams over TLS from the new one', async () => {
    const leader = await cluster.waitHealthy();
    const candidate = other(leader);
    const list = await cluster.ctl(['list', '--format', 'json']);
    assert.equal(list.code, 0, list.stderr);
    const members = JSON.parse(list.stdout) as Array<{ Member: string; Role: string }>;
    assert.equal(members.find((m) => m.Role === 'Leader')?.Member, leader);
    const switched = await cluster.ctl(['switchover', '--candidate', candidate, '--force']);
    assert.equal(switched.code, 0, switched.stderr);
    assert.equal(await cluster.waitHealthy(), candidate);
    const rows = await cluster.waitFor('the old master streaming from the new one', async () => {
      const found = await walsenderSsl(candidate);
      return found.length === 1 ? found : null;
    });
    assert.equal(rows[0]!.application_name, leader);
    assert.equal(rows[0]!.ssl, true);
  });
});
