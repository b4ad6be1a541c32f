import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pgEnvironment, type PgUser } from '../../src/postgres/exec.js';
import { redact } from '../../src/log/logger.js';
import { applyEnvFile, envFileFor, ENV_FILE_VARIABLE, isSecretName, parseEnvFile, registerSecretVariables, renderEnvFile, writePostmasterEnvFile } from '../../src/postgres/postmaster-env.js';

const USER: PgUser = { name: 'postgres', uid: undefined, gid: undefined, effectiveUid: 101, effectiveGid: 104, home: '/var/lib/postgresql' };

/** What the daemon's environment may look like under systemd with /etc/governor/environment. */
const DAEMON_ENV: NodeJS.ProcessEnv = {
  PATH: '/usr/bin:/bin',
  SCOPE: 'prod',
  PGPASSWORD_SUPERUSER: 'su-secret',
  PGPASSWORD_STANDBY: 'repl-secret',
  GOVERNOR_RESTAPI_PASSWORD: 'rest-secret',
  GOVERNOR_CLUSTER_SECRET: 'cluster-secret',
  AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE',
  AWS_SECRET_ACCESS_KEY: 'aws-secret',
  AWS_SESSION_TOKEN: 'aws-token',
  WAL_S3_BUCKET: 'bucket',
  UNRELATED: 'x',
};

describe('isSecretName', () => {
  const secret = ['PGPASSWORD_SUPERUSER', 'PGPASSWORD', 'GOVERNOR_RESTAPI_PASSWORD', 'GOVERNOR_CLUSTER_SECRET', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_ACCESS_KEY_ID', 'ETCD_PASSWORD', 'SOME_API_TOKEN', 'db_passwd'];
  const plain = ['PATH', 'HOME', 'PGPASSFILE', 'PGSSLMODE', 'PGSSLROOTCERT', 'PGCHANNELBINDING', 'GOVERNOR_ENV_FILE', 'SCOPE', 'WAL_S3_BUCKET', 'TZ'];
  for (const name of secret) it(`${name} is a secret`, () => assert.equal(isSecretName(name), true));
  for (const name of plain) it(`${name} is not`, () => assert.equal(isSecretName(name), false));
});

describe('pgEnvironment: what PostgreSQL and its tools may see', () => {
  it('nothing of the daemon\'s environment but PATH (and TZ)', () => {
    const saved = process.env;
    process.env = { ...DAEMON_ENV, TZ: 'UTC' };
    try {
      const env = pgEnvironment(USER, { PGPASSFILE: '/var/lib/postgresql/15/.governor-x.pgpass', [ENV_FILE_VARIABLE]: '/f' });
      assert.deepEqual(Object.keys(env).sort(), ['GOVERNOR_ENV_FILE', 'HOME', 'LANG', 'LC_MESSAGES', 'LOGNAME', 'PATH', 'PGPASSFILE', 'TZ', 'USER']);
      for (const value of ['su-secret', 'repl-secret', 'rest-secret', 'cluster-secret', 'aws-secret', 'aws-token']) {
        assert.ok(!Object.values(env).includes(value), value);
      }
    } finally {
      process.env = saved;
    }
  });
  it('refuses a variable whose name says secret, naming it', () => {
    assert.throws(() => pgEnvironment(USER, { PGPASSWORD: 'x' }), /refusing to put PGPASSWORD into the environment/);
    assert.throws(() => pgEnvironment(USER, { AWS_SECRET_ACCESS_KEY: 'x' }), /AWS_SECRET_ACCESS_KEY/);
  });
});

describe('the environment file of archive_command / restore_command', () => {
  it('sits beside the data directory, never inside it (base backups copy the data directory)', () => {
    assert.equal(envFileFor('/var/lib/postgresql/15/governor'), '/var/lib/postgresql/15/.governor-governor.env');
    assert.equal(envFileFor('/tmp/demo/node1/data/'), '/tmp/demo/node1/.governor-data.env');
  });

  it('holds the configuration variables (secrets included: wal-push loads the same config), mode 0600', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'gov-envfile-'));
    try {
      const file = await writePostmasterEnvFile(path.join(dir, 'data'), DAEMON_ENV, { uid: undefined, gid: undefined });
      assert.equal(statSync(file).mode & 0o777, 0o600);
      const env = parseEnvFile(readFileSync(file, 'utf8'), file);
      assert.equal(env.PGPASSWORD_SUPERUSER, 'su-secret');
      assert.equal(env.AWS_SECRET_ACCESS_KEY, 'aws-secret');
      assert.equal(env.WAL_S3_BUCKET, 'bucket');
      assert.equal(env.PATH, undefined);
      assert.equal(env.UNRELATED, undefined);

      const child: NodeJS.ProcessEnv = { PATH: '/usr/bin', [ENV_FILE_VARIABLE]: file, SCOPE: 'stale' };
      applyEnvFile(child);
      assert.equal(child.SCOPE, 'prod', 'the daemon\'s values win');
      assert.equal(child.AWS_SESSION_TOKEN, 'aws-token');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('no file named: nothing changes', () => {
    const env: NodeJS.ProcessEnv = { PATH: '/usr/bin' };
    applyEnvFile(env);
    assert.deepEqual(env, { PATH: '/usr/bin' });
  });

  it('a named file that is missing or malformed is an error naming the file, never a value', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'gov-envfile-'));
    try {
      assert.throws(() => applyEnvFile({ [ENV_FILE_VARIABLE]: path.join(dir, 'missing') }), /GOVERNOR_ENV_FILE .*missing: cannot be read \(ENOENT\)/);
      const cases: Array<[string, RegExp]> = [
        ['not json {', /not JSON/],
        ['["a"]', /expected a JSON object/],
        ['{"A": 1}', /A is not a string/],
        ['{"A B": "hunter2"}', /is not a variable name/],
      ];
      for (const [text, expected] of cases) {
        const file = path.join(dir, 'env');
        writeFileSync(file, text);
        assert.throws(() => applyEnvFile({ [ENV_FILE_VARIABLE]: file }), (error: Error) => expected.test(error.message) && !/hunter2/.test(error.message));
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('renders sorted JSON that parses back to the same variables', () => {
    const env = { B: '2', A: 'quote " and \\ and \n newline' };
    assert.deepEqual(parseEnvFile(renderEnvFile(env), 'f'), env);
    assert.ok(renderEnvFile(env).indexOf('"A"') < renderEnvFile(env).indexOf('"B"'));
  });
});

describe('registerSecretVariables: secret values never reach a log line', () => {
  it('passwords, secrets and tokens are redacted; key file paths stay readable', () => {
    registerSecretVariables({ AWS_SECRET_ACCESS_KEY: 'zq1-redact', AWS_SESSION_TOKEN: 'zq2-redact', PGPASSWORD_SUPERUSER: 'zq3-redact', ETCD_KEY: '/etc/etcd/client-for-redact.key' });
    const line = redact('zq1-redact zq2-redact zq3-redact /etc/etcd/client-for-redact.key');
    assert.equal(line, '****** ****** ****** /etc/etcd/client-for-redact.key');
  });
});
