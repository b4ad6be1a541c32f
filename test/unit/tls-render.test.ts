// TLS in what governor renders (pure): PostgreSQL's ssl parameters, pg_hba's hostssl, the sslmode
// replicas connect with, the key file ownership PostgreSQL accepts, HAProxy's check-ssl, and the
// scheme of a member's api_url.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { defaultHaproxyConfig } from '../../src/config/defaults.js';
import type { GovernorConfig, PostgresqlConfig, PostgresqlSslConfig } from '../../src/config/types.js';
import { apiUrl } from '../../src/ha/member.js';
import { renderHaproxyConfig, routingLayout, type RoutingMember } from '../../src/haproxy/render.js';
import { routingMember } from '../../src/haproxy/view.js';
import { buildParameters, primaryConninfo, renderPgHba } from '../../src/postgres/render.js';
import { keyFileProblem, sslEnvironment } from '../../src/postgres/ssl.js';

const NO_SSL: PostgresqlSslConfig = { cert_file: null, key_file: null, ca_file: null, sslmode: 'prefer', hostssl_replication: false };
const WITH_CERTS: PostgresqlSslConfig = { cert_file: '/tls/pg.crt', key_file: '/tls/pg.key', ca_file: '/tls/ca.crt', sslmode: 'require', hostssl_replication: true };

function pgConfig(ssl?: PostgresqlSslConfig, parameters: PostgresqlConfig['parameters'] = {}): PostgresqlConfig {
  return {
    bin_dir: '/usr/lib/postgresql/15/bin',
    data_dir: '/var/lib/pg/data',
    listen: '127.0.0.1:5433',
    connect_address: '10.0.0.1:5433',
    socket_dir: '/run/pg',
    authentication: { superuser: { username: 'postgres', password: 'su' }, replication: { username: 'replicator', password: 'rep' } },
    parameters,
    pg_hba: [],
    run_as_user: null,
    ...(ssl ? { ssl } : {}),
  };
}

const REPLICA = { role: 'replica' as const, primary: { host: '10.0.0.2', port: 5432, applicationName: 'node1' } };

describe('PostgreSQL ssl parameters', () => {
  test('no certificates (or no ssl block at all): no ssl parameters', () => {
    for (const config of [pgConfig(), pgConfig(NO_SSL)]) {
      const { params } = buildParameters(config, { role: 'primary' }, '/pgpass');
      assert.equal(params.has('ssl'), false);
      assert.equal(params.has('ssl_cert_file'), false);
    }
  });
  test('certificates: ssl on with the three files', () => {
    const { params } = buildParameters(pgConfig(WITH_CERTS), { role: 'primary' }, '/pgpass');
    assert.equal(params.get('ssl'), true);
    assert.equal(params.get('ssl_cert_file'), '/tls/pg.crt');
    assert.equal(params.get('ssl_key_file'), '/tls/pg.key');
    assert.equal(params.get('ssl_ca_file'), '/tls/ca.crt');
  });
  test('certificates: a cluster-wide ssl = off from the DCS is ignored, not applied', () => {
    const { params, ignored } = buildParameters(pgConfig(WITH_CERTS), { role: 'primary', clusterParameters: { ssl: false } }, '/pgpass');
    assert.equal(params.get('ssl'), true);
    assert.deepEqual(ignored, ['ssl']);
  });
  test('without certificates, ssl parameters of the user pass through unchanged', () => {
    const { params, ignored } = buildParameters(pgConfig(NO_SSL, { ssl: true, ssl_cert_file: '/own.crt' }), { role: 'primary' }, '/pgpass');
    assert.equal(params.get('ssl_cert_file'), '/own.crt');
    assert.deepEqual(ignored, []);
  });
});

describe('replication connections', () => {
  // [ssl settings, expected conninfo fragment, fragment that must be absent]
  const cases: Array<[string, PostgresqlSslConfig | undefined, RegExp, RegExp | null]> = [
    ['no ssl block: prefer, as before, no channel binding (it needs TLS)', undefined, /sslmode='prefer'/, /sslrootcert|channel_binding/],
    ['require: no sslrootcert (libpq would verify the CA with one), channel binding required', { ...WITH_CERTS, sslmode: 'require' }, /sslmode='require' channel_binding='require'/, /sslrootcert/],
    ['verify-ca: the CA file, channel binding required', { ...WITH_CERTS, sslmode: 'verify-ca' }, /sslmode='verify-ca' sslrootcert='\/tls\/ca\.crt' channel_binding='require'/, null],
    ['verify-full: the CA file, channel binding required', { ...WITH_CERTS, sslmode: 'verify-full' }, /sslmode='verify-full' sslrootcert='\/tls\/ca\.crt' channel_binding='require'/, null],
    ['prefer with certificates: TLS may be absent, so no channel binding', { ...WITH_CERTS, sslmode: 'prefer' }, /sslmode='prefer'/, /channel_binding/],
  ];
  for (const [name, ssl, present, absent] of cases) {
    test(`primary_conninfo, ${name}`, () => {
      const conninfo = primaryConninfo(pgConfig(ssl), REPLICA, '/pgpass');
      assert.match(conninfo, present);
      if (absent) assert.doesNotMatch(conninfo, absent);
      const { params } = buildParameters(pgConfig(ssl), REPLICA, '/pgpass');
      assert.equal(params.get('primary_conninfo'), conninfo);
    });
  }
  test('pg_basebackup gets the same as PGSSLMODE / PGSSLROOTCERT / PGCHANNELBINDING', () => {
    assert.deepEqual(sslEnvironment({ ...WITH_CERTS, sslmode: 'verify-full' }), { PGSSLMODE: 'verify-full', PGSSLROOTCERT: '/tls/ca.crt', PGCHANNELBINDING: 'require' });
    assert.deepEqual(sslEnvironment(NO_SSL), { PGSSLMODE: 'prefer' });
  });
  test('pg_hba: hostssl replication lines when hostssl_replication, host otherwise', () => {
    const strict = renderPgHba(pgConfig(WITH_CERTS));
    assert.match(strict, /^hostssl replication replicator 0\.0\.0\.0\/0 scram-sha-256$/m);
    assert.match(strict, /^hostssl replication replicator ::\/0 scram-sha-256$/m);
    assert.doesNotMatch(strict, /^host replication/m);
    const plain = renderPgHba(pgConfig({ ...WITH_CERTS, hostssl_replication: false }));
    assert.match(plain, /^host replication replicator 0\.0\.0\.0\/0/m);
    assert.doesNotMatch(plain, /hostssl/);
  });
});

describe('keyFileProblem (PostgreSQL: owned by its user 0600, or by root with at most 0640)', () => {
  const pgUser = { uid: 105, gid: 110, name: 'postgres' };
  const file = (uid: number, gid: number, mode: number, isFile = true) => ({ uid, gid, mode: 0o100000 | mode, isFile });
  const cases: Array<[string, ReturnType<typeof file>, RegExp | null]> = [
    ['postgres 0600', file(105, 110, 0o600), null],
    ['postgres 0400', file(105, 110, 0o400), null],
    ['postgres 0640', file(105, 110, 0o640), /mode 0640 .*chmod 0600/],
    ['postgres 0644', file(105, 110, 0o644), /mode 0644/],
    ['root:postgres 0640', file(0, 110, 0o640), null],
    ['root:root 0640 (postgres cannot read it)', file(0, 0, 0o640), /not readable by group/],
    ['root 0600 (postgres cannot read it)', file(0, 110, 0o600), /not readable by group/],
    ['root:postgres 0644', file(0, 110, 0o644), /at most 0640/],
    ['another user 0600', file(1000, 1000, 0o600), /owned by uid 1000; .*chown postgres/],
    ['a directory', file(105, 110, 0o700, false), /not a regular file/],
  ];
  for (const [name, stat, expected] of cases) {
    test(name, () => {
      const problem = keyFileProblem('/tls/pg.key', stat, pgUser);
      if (expected === null) assert.equal(problem, null);
      else {
        assert.ok(problem, 'expected a problem');
        assert.match(problem, /^postgresql\.ssl\.key_file \/tls\/pg\.key: /);
        assert.match(problem, expected);
      }
    });
  }
});

describe('REST API over HTTPS', () => {
  const base = { restapi: { listen: '0.0.0.0:8008', connect_address: '10.0.0.1:8008', authentication: null } } as unknown as GovernorConfig;
  test('api_url is https exactly when restapi.certfile is set', () => {
    assert.equal(apiUrl(base), 'http://10.0.0.1:8008/patroni');
    assert.equal(apiUrl({ ...base, restapi: { ...base.restapi, certfile: '/c.pem', keyfile: '/k.pem' } }), 'https://10.0.0.1:8008/patroni');
  });

  const member = (name: string, scheme: string): RoutingMember =>
    routingMember({ name, conn_url: `postgres://10.0.0.${name.length}:5432/postgres`, api_url: `${scheme}://10.0.0.${name.length}:8008/patroni`, state: 'running', role: 'replica' } as never)!;
  const serverLines = (text: string) => text.split('\n').filter((l) => l.trim().startsWith('server '));

  test('HAProxy checks an https REST API with check-ssl, verifying against the CA when there is one', () => {
    const view = { leader: member('leader', 'https'), replicas: [member('r1', 'https')] };
    const settings = { ...defaultHaproxyConfig(), enabled: true };
    const unverified = serverLines(renderHaproxyConfig(routingLayout(view), settings, 'demo'));
    assert.match(unverified[0]!, /check port 8008 addr 10\.0\.0\.6 check-ssl verify none$/);
    assert.match(unverified[1]!, /check-ssl verify none$/);
    const verified = serverLines(renderHaproxyConfig(routingLayout(view), { ...settings, check_ca_file: '/etc/governor/ca.pem' }, 'demo'));
    assert.match(verified[0]!, /check-ssl verify required ca-file '\/etc\/governor\/ca\.pem'$/);
    // The leader as the replicas' backup tracks the master check: no check options of its own.
    assert.doesNotMatch(verified.at(-1)!, /check-ssl/);
  });

  test('HAProxy checks an http REST API as before', () => {
    const view = { leader: member('leader', 'http'), replicas: [] };
    const text = renderHaproxyConfig(routingLayout(view), { ...defaultHaproxyConfig(), enabled: true, check_ca_file: '/ca.pem' }, 'demo');
    assert.doesNotMatch(text, /check-ssl/);
  });
});
