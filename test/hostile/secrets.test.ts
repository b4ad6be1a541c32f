// Hostile inputs for "secrets go only where they belong" and "least privilege on the node":
// - an impostor at a member's PostgreSQL address asks governor's peer sessions (node-postgres) and
//   the libpq tools for the password in clear text, as MD5, or as SCRAM without channel binding;
// - a member key whose api_url is plain http in a cluster that serves https asks governorctl for
//   the REST credential;
// - a running cluster (root demo, S3 archive with credentials only in the environment): nothing
//   secret in any PostgreSQL process's environment, archiving works anyway, no secret in the logs,
//   and the HAProxy a root governor starts is not root.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse } from 'yaml';
import { callApi } from '../../src/cli/ctl-common.js';
import { DEFAULT_POSTGRESQL_SSL } from '../../src/config/defaults.js';
import { loadConfig } from '../../src/config/load.js';
import type { GovernorConfig, PostgresqlConfig, PostgresqlSslConfig } from '../../src/config/types.js';
import type { Member } from '../../src/dcs/types.js';
import { showProc } from '../../src/haproxy/runtime.js';
import { checkPeerAuthentication, connectPeer } from '../../src/postgres/peer-session.js';
import { envFileFor, ENV_FILE_VARIABLE, isSecretName } from '../../src/postgres/postmaster-env.js';
import { probeServer } from '../../src/postgres/probe.js';
import { buildConninfo } from '../../src/postgres/render.js';
import { sslConninfo } from '../../src/postgres/ssl.js';
import { GOVERNOR_JS, TestCluster } from '../helpers/cluster.js';
import { startFakePostgres, type FakeAuthRequest, type FakePostgres } from '../helpers/fake-postgres.js';
import { PG_BIN_DIR } from '../helpers/postgres.js';
import { startTestS3, type TestS3 } from '../helpers/s3.js';
import { makeTestCertificates, type TestCertificates } from '../helpers/tls.js';
import { overrideEnvironment } from '../helpers/env.js';

const SECRET = `never-send-${randomBytes(6).toString('hex')}`;

function peerConfig(ssl: Partial<PostgresqlSslConfig>, parameters: Record<string, string> = {}): Pick<PostgresqlConfig, 'authentication' | 'ssl' | 'parameters'> {
  const credentials = { username: 'postgres', password: SECRET };
  return { authentication: { superuser: credentials, replication: credentials }, ssl: { ...DEFAULT_POSTGRESQL_SSL, ...ssl }, parameters };
}

function run(file: string, args: string[], options: { env?: NodeJS.ProcessEnv; uid?: number; gid?: number; cwd?: string } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { ...options, timeout: 60_000, encoding: 'utf8' }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
  });
}

describe('an impostor at a peer\'s PostgreSQL address never gets the password', () => {
  let certs: TestCertificates;
  const fakes: FakePostgres[] = [];
  const fake = async (ask: FakeAuthRequest, withTls: boolean) => {
    const server = await startFakePostgres(ask, withTls ? { cert: path.join(certs.dir, 'server.crt'), key: path.join(certs.dir, 'server.key') } : undefined);
    fakes.push(server);
    return server;
  };
  const at = (server: FakePostgres) => ({ host: '127.0.0.1', port: server.port });
  const noPassword = (server: FakePostgres) => {
    assert.equal(server.startups.length >= 1, true, 'the session got as far as the password request');
    assert.deepEqual(server.passwordMessages, [], 'no password message was sent');
  };

  before(async () => {
    certs = await makeTestCertificates();
  });
  after(async () => {
    await Promise.all(fakes.map((f) => f.close()));
    await certs?.cleanup();
  });

  // [case, what the impostor asks, it speaks TLS, ssl settings, parameters, the refusal]
  const cases: Array<[string, FakeAuthRequest, boolean, Partial<PostgresqlSslConfig>, Record<string, string>, RegExp]> = [
    ['clear text, sslmode prefer (the server has no TLS)', 'cleartext', false, {}, {}, /clear text/],
    ['clear text, sslmode disable', 'cleartext', false, { sslmode: 'disable' }, {}, /clear text/],
    ['MD5 while the cluster stores SCRAM', 'md5', false, {}, {}, /MD5/],
    ['clear text inside TLS (sslmode require)', 'cleartext', true, { sslmode: 'require' }, {}, /clear text/],
    ['SCRAM without channel binding inside TLS (sslmode require)', 'scram-without-binding', true, { sslmode: 'require' }, {}, /channel binding/],
    ['clear text behind a certificate that verifies (verify-full)', 'cleartext', true, { sslmode: 'verify-full', ca_file: '' }, {}, /clear text/],
  ];
  for (const [name, ask, withTls, ssl, parameters, refusal] of cases) {
    it(`connectPeer refuses: ${name}`, async () => {
      const server = await fake(ask, withTls);
      const config = peerConfig(ssl.ca_file === '' ? { ...ssl, ca_file: certs.ca } : ssl, parameters);
      await assert.rejects(connectPeer(at(server), config.authentication.superuser, config, { timeoutMs: 3000, applicationName: 'test' }), (error: Error) => {
        assert.match(error.message, refusal);
        assert.match(error.message, new RegExp(`127\\.0\\.0\\.1:${server.port}`));
        assert.doesNotMatch(error.message, new RegExp(SECRET));
        return true;
      });
      noPassword(server);
      assert.equal(server.tlsSessions, withTls ? 1 : 0);
    });
  }

  it('control: with password_encryption md5 the MD5 answer is released (a hash, never the password)', async () => {
    const server = await fake('md5', false);
    const config = peerConfig({}, { password_encryption: 'md5' });
    await connectPeer(at(server), config.authentication.superuser, config, { timeoutMs: 3000, applicationName: 'test' }).then(
      (client) => client.end(),
      () => undefined, // the impostor hangs up after the answer
    );
    assert.equal(server.passwordMessages.length, 1);
    assert.ok(!server.passwordMessages[0]!.toString('latin1').includes(SECRET));
  });

  it('probeServer (before a rewind) reports the impostor unreachable, naming the clear-text request', async () => {
    const server = await fake('cleartext', false);
    const result = await probeServer(at(server), peerConfig({}), 3000);
    assert.equal(result.reachable, false);
    assert.match(result.error!, /clear text/);
    noPassword(server);
  });

  it('the check before pg_basebackup opens a replication session like it, and refuses too', async () => {
    const server = await fake('cleartext', false);
    const config = peerConfig({});
    await assert.rejects(checkPeerAuthentication(at(server), config.authentication.replication, config, { replication: true, timeoutMs: 3000 }), /clear text/);
    assert.equal(server.startups[0]?.replication, 'true');
    noPassword(server);
  });

  /** psql (libpq 15, what pg_basebackup, pg_rewind and the walreceiver use) with governor's conninfo. */
  const psql = (server: FakePostgres, ssl: PostgresqlSslConfig) =>
    run(path.join(PG_BIN_DIR, 'psql'), [buildConninfo([['host', '127.0.0.1'], ['port', server.port], ['user', 'postgres'], ['dbname', 'postgres'], ['connect_timeout', 3], ...sslConninfo(ssl)]), '-c', 'SELECT 1'], {
      env: { PATH: process.env.PATH, PGPASSWORD: SECRET },
    });

  it('libpq tools with TLS required get channel_binding=require and refuse a clear-text request', async () => {
    const server = await fake('cleartext', true);
    const result = await psql(server, { ...DEFAULT_POSTGRESQL_SSL, sslmode: 'require' });
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /channel binding required/);
    noPassword(server);
  });

  it('the gap README states: without TLS required, PostgreSQL 15\'s libpq sends the password in clear text', async () => {
    const server = await fake('cleartext', false);
    await psql(server, { ...DEFAULT_POSTGRESQL_SSL, sslmode: 'prefer' });
    assert.equal(server.passwordMessages.length, 1);
    assert.ok(server.passwordMessages[0]!.toString('utf8').includes(SECRET));
  });
});

describe('governorctl sends the REST credential only over the scheme the cluster uses', () => {
  let server: http.Server;
  let port = 0;
  const seen: Array<string | undefined> = [];

  before(async () => {
    server = http.createServer((req, res) => {
      seen.push(req.headers.authorization);
      req.resume();
      res.end('ok');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const config = (tls: boolean) =>
    ({
      restapi: {
        listen: '127.0.0.1:8008', connect_address: '127.0.0.1:8008', authentication: { username: 'admin', password: SECRET },
        certfile: tls ? '/etc/governor/rest.crt' : null, keyfile: tls ? '/etc/governor/rest.key' : null, cafile: null,
      },
      ctl: { cacert: null },
    }) as unknown as GovernorConfig;
  const member = () => ({ name: 'impostor', api_url: `http://127.0.0.1:${port}/patroni` }) as Member;

  it('a cluster that serves https: an http api_url from etcd gets no request at all', async () => {
    const before = seen.length;
    await assert.rejects(callApi(config(true), member(), 'POST', '/switchover', {}), (error: Error) => {
      assert.match(error.message, /impostor: not sending POST \/switchover with the REST credential: .*plain http/);
      assert.doesNotMatch(error.message, new RegExp(SECRET));
      return true;
    });
    assert.equal(seen.length, before);
  });

  it('control: a plain-http cluster sends it (its operator chose http)', async () => {
    await callApi(config(false), member(), 'POST', '/switchover', {});
    assert.equal(seen.at(-1), `Basic ${Buffer.from(`admin:${SECRET}`).toString('base64')}`);
  });
});

describe('a running cluster (root demo, S3 credentials only in the environment)', { timeout: 300_000 }, () => {
  let s3: TestS3;
  let cluster: TestCluster;
  let leader: string;
  const aws = { secret: `aws-secret-${randomBytes(8).toString('hex')}`, token: `aws-token-${randomBytes(8).toString('hex')}` };
  let restoreEnvironment: () => void = () => undefined;
  const postgresUid = () => statSync('/var/lib/postgresql').uid;

  /** Every secret value the members know. */
  const secrets = (): string[] => {
    const replication = cluster.manifest.nodes.map((n) => (parse(readFileSync(n.config_file, 'utf8')) as { postgresql: { authentication: { replication: { password: string } } } }).postgresql.authentication.replication.password);
    return [cluster.manifest.postgres.password, cluster.manifest.api.password, aws.secret, aws.token, ...replication];
  };
  const environ = (pid: number): string[] => readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').filter((e) => e !== '');

  before(async () => {
    s3 = await startTestS3();
    restoreEnvironment = overrideEnvironment({
      ...s3.environment,
      // s3rver verifies no signature: any secret works, and this one is recognisable.
      AWS_SECRET_ACCESS_KEY: aws.secret,
      AWS_SESSION_TOKEN: aws.token,
      AWS_EC2_METADATA_DISABLED: 'true',
    });
    cluster = await TestCluster.start(3, ['--archive', `${s3.url}/hostile`]);
    leader = await cluster.waitHealthy();
  });

  after(async () => {
    await cluster?.stop();
    await s3?.stop();
    restoreEnvironment();
  });

  it('no PostgreSQL process has a secret in its environment (the postmaster\'s /proc environ, what a backend\'s programs get); it names a 0600 file instead', async () => {
    const values = secrets();
    for (const node of cluster.manifest.nodes) {
      // A backend overwrites its own /proc/<pid>/environ with its process title, but keeps the
      // variables: a program it starts (COPY ... FROM PROGRAM, archive_command) inherits them.
      const dump = path.join(path.dirname(node.data_dir), 'backend-program-env.txt');
      await cluster.query(node.name, `COPY (SELECT 1) TO PROGRAM 'env > ${dump}'`);
      const seen: Array<[string, string[]]> = [
        [`postmaster ${cluster.postmasterPid(node.name)}`, environ(cluster.postmasterPid(node.name))],
        ['a backend\'s program', readFileSync(dump, 'utf8').split('\n').filter((l) => l !== '')],
      ];
      for (const [what, entries] of seen) {
        assert.ok(entries.length > 3, `${node.name} ${what}: ${entries.join(' ')}`);
        for (const entry of entries) {
          const name = entry.slice(0, entry.indexOf('='));
          assert.ok(!isSecretName(name), `${node.name} ${what}: ${name} in the environment`);
          for (const value of values) assert.ok(!entry.includes(value), `${node.name} ${what}: a secret in ${name}`);
        }
        assert.ok(entries.includes(`${ENV_FILE_VARIABLE}=${envFileFor(node.data_dir)}`), entries.join(' '));
      }
      const file = statSync(envFileFor(node.data_dir));
      assert.equal(file.mode & 0o777, 0o600);
      assert.equal(file.uid, postgresUid());
      assert.ok(readFileSync(envFileFor(node.data_dir), 'utf8').includes(aws.secret), 'wal-push gets the credentials from the file');
    }
  });

  it('archiving works: wal-push with exactly the postmaster\'s environment reaches the bucket, and the archiver has no failure', async () => {
    const [{ segment }] = (await cluster.query<{ segment: string }>(leader, 'SELECT pg_walfile_name(pg_switch_wal()) AS segment')) as [{ segment: string }];
    await cluster.waitFor('the switched segment archived', async () => {
      const [row] = await cluster.query<{ last: string | null; failed: string }>(leader, 'SELECT last_archived_wal AS last, failed_count::text AS failed FROM pg_stat_archiver');
      assert.equal(row!.failed, '0', 'archive_command failed');
      return row!.last !== null && row!.last >= segment;
    }, 60_000);
    // As PostgreSQL runs archive_command: its OS user, its data directory, its environment.
    const node = cluster.node(leader);
    const env = Object.fromEntries(environ(cluster.postmasterPid(leader)).map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
    const uid = postgresUid();
    const gid = statSync(node.data_dir).gid;
    const pushed = await run(process.execPath, [GOVERNOR_JS, 'wal-push', '-c', node.config_file, `pg_wal/${segment}`], { env, uid, gid, cwd: node.data_dir });
    assert.equal(pushed.code, 0, `wal-push with the postmaster's environment failed: ${pushed.stderr}`);
  });

  it('no secret in governor\'s or PostgreSQL\'s logs', () => {
    const values = secrets();
    for (const node of cluster.manifest.nodes) {
      for (const file of [node.log_file, `${node.data_dir}.log`]) {
        const text = readFileSync(file, 'utf8');
        for (const value of values) assert.ok(!text.includes(value), `${file} holds a secret`);
      }
    }
  });

  it('the HAProxy a root governor starts runs as PostgreSQL\'s OS user, master and workers', async () => {
    const uid = postgresUid();
    const uids = (pid: number) => readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('Uid:'))!.split(/\s+/).slice(1, 5).map(Number);
    for (const node of cluster.manifest.nodes) {
      const config = loadConfig({ file: node.config_file, env: {} }).config;
      const info = await showProc(config.haproxy!.master_socket, 2000);
      const pids = [info.master!.pid, ...info.workers];
      assert.ok(pids.length >= 2, JSON.stringify(info));
      for (const pid of pids) assert.deepEqual(uids(pid), [uid, uid, uid, uid], `${node.name} haproxy pid ${pid}`);
    }
  });

  it('control: a peer session to a real member authenticates (SCRAM) through the same guard', async () => {
    const node = cluster.node(leader);
    const config = loadConfig({ file: node.config_file, env: {} }).config;
    const result = await probeServer({ host: node.pg_host, port: node.pg_port }, config.postgresql, 5000);
    assert.deepEqual(result, { reachable: true, inRecovery: false, error: null });
  });
});
