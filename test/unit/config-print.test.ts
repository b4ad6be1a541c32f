// `governor config --print` (masking by declared secret fields, a source per value), the TLS and
// IMDS fields' validation, the pure IMDS decisions, and every environment variable's bad value
// named in the error.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parse, stringify } from 'yaml';
import { ENV_OVERRIDES, loadConfig } from '../../src/config/load.js';
import { identityValues, imdsEnvironment, imdsMode, missingValues } from '../../src/config/imds.js';
import { describeSource, MASK, maskedConfig, printJson, printYaml } from '../../src/config/print.js';
import { configError, errorLine } from '../helpers/config-errors.js';

const AUTH = { superuser: { password: 'su-secret-1' }, replication: { password: 'repl-secret-2' } };
const BASE = { scope: 'demo', name: 'node1', postgresql: { authentication: AUTH } };



describe('config --print', () => {
  const text = [
    'scope: demo', // 1
    'name: node1', // 2
    'etcd:', // 3
    '  hosts: [10.0.0.1:2379]', // 4
    '  username: root', // 5
    '  password: etcd-secret-3', // 6
    'restapi:', // 7
    '  authentication: {username: admin, password: api-secret-4}', // 8
    'postgresql:', // 9
    '  parameters:', // 10
    '    Work_Mem: 8MB', // 11
    '  authentication:', // 12
    '    superuser: {password: su-secret-1}', // 13
    '    replication: {password: repl-secret-2}', // 14
    'archive:', // 15
    '  enabled: true', // 16
    '  storage: s3://bucket/x', // 17
    '  s3: {access_key_id: AKIAEXAMPLE, secret_access_key: aws-secret-5}', // 18
  ].join('\n');
  const loaded = () => loadConfig({ text, file: 'governor.yml', env: { GOVERNOR_TTL: '30' } });
  const SECRETS = ['etcd-secret-3', 'api-secret-4', 'su-secret-1', 'repl-secret-2', 'aws-secret-5'];

  it('the secret fields are the ones validation declares secret', () => {
    assert.deepEqual([...loaded().secrets].sort(), [
      'archive.s3.secret_access_key',
      'cluster_secret',
      'etcd.password',
      'postgresql.authentication.replication.password',
      'postgresql.authentication.superuser.password',
      'restapi.authentication.password',
    ]);
  });

  it('masks every secret and nothing else; the loaded config keeps its values', () => {
    const l = loaded();
    const masked = maskedConfig(l) as { etcd: { password: string; username: string }; archive: { s3: { secret_access_key: string; access_key_id: string } } };
    assert.equal(masked.etcd.password, MASK);
    assert.equal(masked.etcd.username, 'root');
    assert.equal(masked.archive.s3.secret_access_key, MASK);
    assert.equal(masked.archive.s3.access_key_id, 'AKIAEXAMPLE');
    assert.equal(l.config.etcd.password, 'etcd-secret-3');
    for (const output of [printYaml(l), printJson(l)]) for (const secret of SECRETS) assert.ok(!output.includes(secret), `${secret} printed`);
  });

  it('an unset secret stays null (nothing to hide, and it shows it is unset)', () => {
    const l = loadConfig({ text: stringify(BASE), env: {} });
    assert.equal((maskedConfig(l) as { etcd: { password: unknown } }).etcd.password, null);
  });

  it('names the source of each value: file:line, env VAR, default', () => {
    const l = loaded();
    assert.equal(describeSource(l, 'scope'), 'file governor.yml:1');
    assert.equal(describeSource(l, 'etcd.hosts'), 'file governor.yml:4');
    assert.equal(describeSource(l, 'etcd.password'), 'file governor.yml:6');
    assert.equal(describeSource(l, 'postgresql.parameters.work_mem'), 'file governor.yml:11');
    assert.equal(describeSource(l, 'archive.s3.secret_access_key'), 'file governor.yml:18');
    assert.equal(describeSource(l, 'bootstrap.dcs.ttl'), 'env GOVERNOR_TTL');
    assert.equal(describeSource(l, 'bootstrap.dcs.loop_wait'), 'default');
  });

  it('YAML: one trailing comment per value, and it parses back to the masked configuration', () => {
    const l = loaded();
    const yaml = printYaml(l);
    assert.match(yaml, /^ {4}ttl: 30 # env GOVERNOR_TTL$/m);
    assert.match(yaml, /^ {2}password: "\*{6}" # file governor\.yml:6$/m);
    assert.match(yaml, /^ {2}hosts: \[ 10\.0\.0\.1:2379 \] # file governor\.yml:4$/m);
    assert.match(yaml, /^ {2}pg_hba: \[\] # default$/m);
    assert.deepEqual(parse(yaml), maskedConfig(l));
  });

  it('JSON: the masked configuration and a table of sources', () => {
    const doc = JSON.parse(printJson(loaded())) as { config: { scope: string }; sources: Record<string, string> };
    assert.equal(doc.config.scope, 'demo');
    assert.equal(doc.sources['bootstrap.dcs.ttl'], 'env GOVERNOR_TTL');
    assert.equal(doc.sources['name'], 'file governor.yml:2');
  });

  it('an alias is reported under its canonical name with its own line (etcd3.host)', () => {
    const l = loadConfig({ text: 'scope: a\nname: b\netcd3:\n  host: 10.0.0.1:2379\n' + stringify({ postgresql: { authentication: AUTH } }), file: 'f.yml', env: {} });
    assert.equal(describeSource(l, 'etcd.hosts'), 'file f.yml:4');
  });
});

describe('TLS fields', () => {
  const load = (patch: Record<string, unknown>, env: NodeJS.ProcessEnv = {}) => loadConfig({ text: stringify({ ...BASE, ...patch }), env });

  it('sslmode defaults to require once certificates are set, prefer without', () => {
    assert.equal(load({}).config.postgresql.ssl?.sslmode, 'prefer');
    const { config } = load({ postgresql: { authentication: AUTH, ssl: { cert_file: '/tls/pg.crt', key_file: '/tls/pg.key' } } });
    assert.deepEqual(config.postgresql.ssl, { cert_file: '/tls/pg.crt', key_file: '/tls/pg.key', ca_file: null, sslmode: 'require', hostssl_replication: false });
  });

  // [patch, field named, pattern]
  const bad: Array<[Record<string, unknown>, string, RegExp]> = [
    [{ restapi: { certfile: '/c.pem' } }, 'restapi.keyfile', /required when restapi\.certfile is set/],
    [{ restapi: { keyfile: '/k.pem' } }, 'restapi.certfile', /required when restapi\.keyfile/],
    [{ restapi: { certfile: 'c.pem', keyfile: '/k.pem' } }, 'restapi.certfile', /absolute path/],
    [{ ctl: { cacert: 'ca.pem' } }, 'ctl.cacert', /absolute path/],
    [{ ctl: { cafile: '/ca.pem' } }, 'ctl.cafile', /unknown field \(expected one of: cacert\)/],
    [{ etcd: { protocol: 'https', cacert: 'ca.pem' } }, 'etcd.cacert', /absolute path/],
    [{ postgresql: { authentication: AUTH, ssl: { cert_file: '/c' } } }, 'postgresql.ssl.key_file', /required/],
    [{ postgresql: { authentication: AUTH, ssl: { cert_file: '/c', key_file: '/k', sslmode: 'verify-full' } } }, 'postgresql.ssl.ca_file', /required when postgresql\.ssl\.sslmode is verify-full/],
    [{ postgresql: { authentication: AUTH, ssl: { sslmode: 'sometimes' } } }, 'postgresql.ssl.sslmode', /"require", "verify-ca", "verify-full"/],
    [{ postgresql: { authentication: AUTH, ssl: { hostssl_replication: true } } }, 'postgresql.ssl.hostssl_replication', /needs postgresql\.ssl\.cert_file/],
    [{ postgresql: { authentication: AUTH, ssl: { cert_file: '/c', key_file: '/k', sslmode: 'disable', hostssl_replication: true } } }, 'postgresql.ssl.sslmode', /refuses replication without TLS/],
    [{ postgresql: { authentication: AUTH, parameters: { ssl_cert_file: '/x' }, ssl: { cert_file: '/c', key_file: '/k' } } }, 'postgresql.parameters.ssl_cert_file', /set by governor from postgresql\.ssl/],
    [{ imds: 'maybe' }, 'imds', /"on", "off"/],
  ];
  for (const [patch, field, pattern] of bad) {
    it(`${field}: ${JSON.stringify(patch)}`, () => assert.match(errorLine(configError(() => load(patch)), field), pattern));
  }

  it('imds accepts on/off and YAML booleans', () => {
    assert.equal(load({ imds: false }).config.imds, 'off');
    assert.equal(load({ imds: 'off' }).config.imds, 'off');
    assert.equal(load({}, { GOVERNOR_IMDS: 'ON' }).config.imds, 'on');
  });
});

describe('IMDS decisions', () => {
  const cases: Array<[string, Record<string, unknown>, string[]]> = [
    ['complete file', { name: 'n', restapi: { listen: '10.0.0.1:8008' }, postgresql: { listen: '10.0.0.1:5432' } }, []],
    ['defaults listen on 127.0.0.1: only the name', {}, ['name']],
    ['wildcard listens', { name: 'n', restapi: { listen: '0.0.0.0:8008' }, postgresql: { listen: '[::]:5432' } }, ['restapi.connect_address', 'postgresql.connect_address']],
    ['wildcard among several hosts', { name: 'n', postgresql: { listen: '127.0.0.1,0.0.0.0:5432' } }, ['postgresql.connect_address']],
    ['wildcard with connect_address set', { name: 'n', restapi: { listen: '*:8008', connect_address: '10.0.0.1:8008' } }, []],
    ['malformed listen is left to validation', { name: 'n', restapi: { listen: 'nowhere' } }, []],
  ];
  for (const [name, tree, expected] of cases) {
    it(`missingValues: ${name}`, () => assert.deepEqual(missingValues(tree).map((m) => m.field), expected));
  }

  it('identityValues: the instance id for the name, the private address with the listen port', () => {
    const missing = missingValues({ restapi: { listen: '0.0.0.0:9008' }, postgresql: { listen: '0.0.0.0:6432' } });
    const values = identityValues(missing, { instanceId: 'i-0abc12345', localIpv4: '10.9.8.7' });
    assert.deepEqual(values, [['name', 'i-0abc12345'], ['restapi.connect_address', '10.9.8.7:9008'], ['postgresql.connect_address', '10.9.8.7:6432']]);
    assert.deepEqual(imdsEnvironment(values), {
      GOVERNOR_NAME: 'i-0abc12345',
      GOVERNOR_RESTAPI_CONNECT_ADDRESS: '10.9.8.7:9008',
      GOVERNOR_POSTGRESQL_CONNECT_ADDRESS: '10.9.8.7:6432',
    });
  });

  const modes: Array<[Record<string, unknown>, NodeJS.ProcessEnv, string]> = [
    [{}, {}, 'on'],
    [{ imds: 'off' }, {}, 'off'],
    [{ imds: 'OFF' }, {}, 'off'],
    [{ imds: false }, {}, 'off'],
    [{}, { AWS_EC2_METADATA_DISABLED: 'true' }, 'off'],
    [{ imds: 'on' }, { AWS_EC2_METADATA_DISABLED: 'true' }, 'on'],
  ];
  for (const [tree, env, expected] of modes) {
    it(`imdsMode ${JSON.stringify(tree)} ${JSON.stringify(env)} → ${expected}`, () => assert.equal(imdsMode(tree, env), expected));
  }
});

describe('every environment variable: a bad value is named in the error', () => {
  // A value each variable must reject. Variables taking any text get a line break, which no field accepts.
  const BAD: Record<string, string> = {
    number: 'not-a-number',
    boolean: 'perhaps',
    text: 'two\nlines',
  };
  const special: Record<string, string> = {
    'etcd.hosts': 'no-port',
    'etcd.protocol': 'gopher',
    'restapi.listen': 'no-port',
    'restapi.connect_address': '10.0.0.1',
    'postgresql.listen': 'no-port',
    'postgresql.connect_address': '10.0.0.1:99999',
    'postgresql.data_dir': 'relative/dir',
    'postgresql.bin_dir': 'bin',
    'postgresql.socket_dir': 'sock',
    'postgresql.run_as_user': 'not a user',
    'postgresql.ssl.cert_file': 'relative.crt',
    'postgresql.ssl.key_file': 'relative.key',
    'postgresql.ssl.ca_file': 'relative-ca.crt',
    'postgresql.ssl.sslmode': 'strict',
    'restapi.certfile': 'relative.crt',
    'restapi.keyfile': 'relative.key',
    'restapi.cafile': 'relative-ca.crt',
    'ctl.cacert': 'relative-ca.crt',
    'etcd.cacert': 'relative-ca.crt',
    'etcd.cert': 'relative.crt',
    'etcd.key': 'relative.key',
    imds: 'sometimes',
    scope: 'a b',
    namespace: '//',
    name: 'a/b',
    'log.level': 'chatty',
    'haproxy.bin': 'haproxy',
    'haproxy.config_file': 'haproxy.cfg',
    'haproxy.listen_address': '1.2.3.4:5',
    'haproxy.stats_socket': 'admin.sock',
    'haproxy.master_socket': 'master.sock',
    'haproxy.pid_file': 'haproxy.pid',
    'haproxy.stats_listen': 'no-port',
    'archive.storage': 'ftp://x',
    'archive.compression': 'zip',
    'archive.s3.endpoint': 'not a url',
    'archive.s3.sse': 'rot13',
    'archive.backup_schedule': 'every day',
    'archive.spool_dir': 'spool',
  };

  for (const override of ENV_OVERRIDES) {
    for (const variable of override.vars) {
      const value = special[override.path] ?? (override.kind === 'number' ? BAD.number : override.kind === 'boolean' ? BAD.boolean : BAD.text);
      it(`${variable}=${JSON.stringify(value)}`, () => {
        const env: NodeJS.ProcessEnv = { [variable]: value };
        const error = configError(() => loadConfig({ text: stringify(BASE), env }));
        assert.ok(
          error.errors.some((line) => line.includes(variable)),
          `no error line names ${variable}:\n${error.message}`,
        );
      });
    }
  }
});
