import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import {
  ConfigError,
  DEFAULT_DYNAMIC_CONFIG,
  DEFAULT_HAPROXY,
  defaultArchiveConfig,
  defaultHaproxyConfig,
  loadConfig,
  maskSecrets,
  validateDynamicConfig,
} from '../../src/config/load.js';
import {
  DEFAULT_ETCD,
  DEFAULT_IMDS,
  DEFAULT_LOG_LEVEL,
  DEFAULT_NAMESPACE,
  DEFAULT_POSTGRESQL,
  DEFAULT_POSTGRESQL_SSL,
  DEFAULT_RESTAPI,
  DEFAULT_TAGS,
} from '../../src/config/defaults.js';
import { configError, errorLine, MINIMAL_CONFIG } from '../helpers/config-errors.js';

type Tree = Record<string, unknown>;

/** The smallest valid file: scope and the two required passwords. */
const BASE: Tree = structuredClone(MINIMAL_CONFIG);

function isTree(v: unknown): v is Tree {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Deep-merge `patch` into `base`; a value of undefined deletes the key. */
function merge(base: Tree, patch: Tree): Tree {
  const out: Tree = structuredClone(base);
  for (const [k, v] of Object.entries(patch)) {
    if (v === undefined) delete out[k];
    else if (isTree(v) && isTree(out[k])) out[k] = merge(out[k] as Tree, v);
    else out[k] = v;
  }
  return out;
}

function load(patch: Tree = {}, env: NodeJS.ProcessEnv = {}) {
  return loadConfig({ text: stringify(merge(BASE, patch)), env });
}

function assertErrorLine(err: ConfigError, prefix: string, pattern?: RegExp): string {
  const line = errorLine(err, prefix, pattern);
  assert.equal(err.message, err.errors.join('\n'));
  return line;
}

describe('loadConfig: defaults', () => {
  it('fills every default around the required fields', () => {
    const { config, sources } = load();
    // Built from src/config/defaults.ts (whose documented values the DEFAULT_DYNAMIC_CONFIG test
    // below pins), plus what the loader derives: connect addresses from listen, credentials from BASE.
    const pg = DEFAULT_POSTGRESQL;
    assert.deepEqual(config, {
      scope: 'demo',
      namespace: DEFAULT_NAMESPACE,
      name: 'node1',
      etcd: { ...DEFAULT_ETCD, hosts: [...DEFAULT_ETCD.hosts], username: null, password: null, cacert: null, cert: null, key: null },
      restapi: { listen: DEFAULT_RESTAPI.listen, connect_address: DEFAULT_RESTAPI.listen, authentication: null, certfile: null, keyfile: null, cafile: null },
      postgresql: {
        bin_dir: pg.bin_dir,
        data_dir: pg.data_dir,
        listen: pg.listen,
        connect_address: pg.listen,
        socket_dir: pg.socket_dir,
        authentication: {
          superuser: { username: pg.superuser_username, password: 'su-secret-1' },
          replication: { username: pg.replication_username, password: 'repl-secret-2' },
        },
        parameters: {},
        pg_hba: [],
        run_as_user: null,
        ssl: { ...DEFAULT_POSTGRESQL_SSL },
        remove_data_directory_on_rewind_failure: pg.remove_data_directory_on_rewind_failure,
        max_moved_aside_copies: pg.max_moved_aside_copies,
      },
      bootstrap: { dcs: structuredClone(DEFAULT_DYNAMIC_CONFIG) },
      tags: { ...DEFAULT_TAGS },
      log: { level: DEFAULT_LOG_LEVEL },
      haproxy: defaultHaproxyConfig(),
      archive: defaultArchiveConfig(pg.data_dir),
      ctl: { cacert: null },
      imds: DEFAULT_IMDS,
      cluster_secret: null,
    });
    assert.equal(sources['haproxy.rw_port'], 'default');
    assert.equal(sources['scope'], 'file');
    assert.equal(sources['postgresql.authentication.superuser.password'], 'file');
    assert.equal(sources['bootstrap.dcs.ttl'], 'default');
    assert.equal(sources['restapi.connect_address'], 'default');
    assert.equal(sources['postgresql.parameters'], 'default');
    assert.equal(sources['log.level'], 'default');
  });

  it('defaults name to the host name', () => {
    const hostname = os.hostname();
    if (!/^[A-Za-z0-9._-]{1,63}$/.test(hostname)) return; // cannot be the default here
    const { config, sources } = load({ name: undefined });
    assert.equal(config.name, hostname);
    assert.equal(sources['name'], 'default');
  });

  it('DEFAULT_DYNAMIC_CONFIG matches the documented defaults and is frozen', () => {
    assert.deepEqual(DEFAULT_DYNAMIC_CONFIG, {
      ttl: 5,
      loop_wait: 1,
      retry_timeout: 2,
      maximum_lag_on_failover: 1048576,
      postgresql: { parameters: {} },
      pause: false,
      failsafe_mode: true,
      synchronous_mode: false,
      synchronous_mode_strict: false,
    });
    assert.ok(Object.isFrozen(DEFAULT_DYNAMIC_CONFIG));
    assert.ok(Object.isFrozen(DEFAULT_DYNAMIC_CONFIG.postgresql.parameters));
    // The returned config never shares objects with the default.
    const { config } = load();
    config.bootstrap.dcs.postgresql.parameters['work_mem'] = '4MB';
    assert.deepEqual(DEFAULT_DYNAMIC_CONFIG.postgresql.parameters, {});
  });

  it('connect_address defaults to listen, first host of a list', () => {
    const { config } = load({
      restapi: { listen: '10.0.0.5:8009' },
      postgresql: { listen: '10.0.0.5,127.0.0.1:5433' },
    });
    assert.equal(config.restapi.connect_address, '10.0.0.5:8009');
    assert.equal(config.postgresql.listen, '10.0.0.5,127.0.0.1:5433');
    assert.equal(config.postgresql.connect_address, '10.0.0.5:5433');
  });

  it('a wildcard listen with an explicit connect_address is fine', () => {
    const { config } = load({
      restapi: { listen: '0.0.0.0:8008', connect_address: '10.0.0.5:8008' },
      postgresql: { listen: '[::]:5432', connect_address: '[fd00::5]:5432' },
    });
    assert.equal(config.restapi.connect_address, '10.0.0.5:8008');
    assert.equal(config.postgresql.connect_address, '[fd00::5]:5432');
  });

  it('normalizes namespace slashes', () => {
    for (const ns of ['service', '/service', 'service/', '/service/', '//service//']) {
      assert.equal(load({ namespace: ns }).config.namespace, 'service', ns);
    }
    assert.equal(load({ namespace: '/a/b/' }).config.namespace, 'a/b');
  });

  it('keeps extra tags and fills the known ones', () => {
    const { config, sources } = load({ tags: { datacenter: 'dc1', nosync: true, rack: { row: 3 } } });
    assert.deepEqual(config.tags, {
      nofailover: false,
      noloadbalance: false,
      failover_priority: 1,
      datacenter: 'dc1',
      nosync: true,
      rack: { row: 3 },
    });
    assert.equal(sources['tags.datacenter'], 'file');
  });

  it('lower-cases parameter names and records a source per parameter', () => {
    const { config, sources } = load({
      postgresql: { parameters: { Shared_Buffers: '1GB', max_connections: 50, fsync: true } },
    });
    assert.deepEqual(config.postgresql.parameters, { shared_buffers: '1GB', max_connections: 50, fsync: true });
    assert.equal(sources['postgresql.parameters.shared_buffers'], 'file');
  });

  it('accepts an empty mapping block (all children commented out)', () => {
    const { config } = loadConfig({ text: stringify(BASE) + 'tags:\nlog:\n', env: {} });
    assert.equal(config.log.level, 'info');
    assert.equal(config.tags.failover_priority, 1);
  });

  it('haproxy: accepts IPs, host names and wildcards as listen_address, and a stats page', () => {
    for (const address of ['127.0.0.1', '::', '::1', 'fd00::5', '*', 'db-proxy.example.com', 'localhost']) {
      assert.equal(load({ haproxy: { listen_address: address } }).config.haproxy?.listen_address, address);
    }
    const { config } = load({ haproxy: { enabled: true, stats_listen: '[::1]:7000', config_file: '/etc//haproxy/x.cfg' } });
    assert.equal(config.haproxy?.stats_listen, '[::1]:7000');
    assert.equal(config.haproxy?.config_file, '/etc/haproxy/x.cfg');
    assert.ok(Object.isFrozen(DEFAULT_HAPROXY));
    const copy = defaultHaproxyConfig();
    copy.rw_port = 1;
    assert.equal(DEFAULT_HAPROXY.rw_port, 5000);
  });

  it('normalizes absolute paths', () => {
    const { config } = load({ postgresql: { data_dir: '/data//pg/', socket_dir: '/tmp/' } });
    assert.equal(config.postgresql.data_dir, '/data/pg');
    assert.equal(config.postgresql.socket_dir, '/tmp');
  });
});

describe('loadConfig: Patroni aliases', () => {
  it('accepts etcd3 for etcd and host for hosts', () => {
    const { config } = load({ etcd3: { host: '10.0.0.1:2379', protocol: 'https' } });
    assert.deepEqual(config.etcd.hosts, ['10.0.0.1:2379']);
    assert.equal(config.etcd.protocol, 'https');
  });

  it('accepts hosts as a comma-separated string', () => {
    const { config } = load({ etcd: { hosts: '10.0.0.1:2379, 10.0.0.2:2379' } });
    assert.deepEqual(config.etcd.hosts, ['10.0.0.1:2379', '10.0.0.2:2379']);
  });

  it('names the alias in errors', () => {
    const err = configError(() => load({ etcd3: { host: 'nope', hots: 1 } }));
    assertErrorLine(err, 'etcd3.host', /expected host:port, got "nope"/);
    assertErrorLine(err, 'etcd3.hots', /did you mean "hosts"/);
  });

  it('rejects both etcd and etcd3, and both host and hosts', () => {
    assertErrorLine(configError(() => load({ etcd: {}, etcd3: {} })), 'etcd3', /not both/);
    assertErrorLine(
      configError(() => load({ etcd: { host: 'a:1', hosts: ['b:2'] } })),
      'etcd.host',
      /not both/,
    );
  });
});

describe('loadConfig: bad fields', () => {
  // [field named by the error, patch, optional pattern the line must match]
  const cases: Array<[string, Tree, RegExp?]> = [
    ['scope', { scope: undefined }, /required/],
    ['scope', { scope: 'has space' }, /must be a cluster name/],
    ['scope', { scope: 42 }, /must be a string, got 42/],
    ['namespace', { namespace: '/' }, /got "\/"/],
    ['namespace', { namespace: 'a//b' }, /names/],
    ['name', { name: 'x'.repeat(64) }, /1-63/],
    ['name', { name: 'no/slash' }, /member name/],
    ['etcd.hosts', { etcd: { hosts: [] } }, /at least one/],
    ['etcd.hosts', { etcd: { hosts: 5 } }, /expected a list/],
    ['etcd.hosts[1]', { etcd: { hosts: ['a:1', 'abc'] } }, /expected host:port, got "abc"/],
    ['etcd.hosts[0]', { etcd: { hosts: ['http://a:2379'] } }, /without a scheme/],
    ['etcd.hosts[0]', { etcd: { hosts: ['a:70000'] } }, /outside 1-65535/],
    ['etcd.protocol', { etcd: { protocol: 'grpc' } }, /"http", "https"/],
    ['etcd.protocol', { etcd: { cacert: '/ca.pem' } }, /https/],
    ['etcd.password', { etcd: { username: 'root' } }, /required/],
    ['etcd.username', { etcd: { password: 'pw-xyz' } }, /required/],
    ['etcd.key', { etcd: { protocol: 'https', cert: '/c.pem' } }, /required/],
    ['etcd', { etcd: 'localhost:2379' }, /expected a mapping/],
    ['restapi.listen', { restapi: { listen: 'abc' } }, /expected host:port, got "abc"/],
    ['restapi.listen', { restapi: { listen: 'a,b:8008' } }, /single host:port/],
    ['restapi.connect_address', { restapi: { listen: '0.0.0.0:8008' } }, /required because restapi\.listen/],
    ['restapi.connect_address', { restapi: { listen: '[::]:8008' } }, /all interfaces/],
    ['restapi.connect_address', { restapi: { connect_address: '0.0.0.0:8008' } }, /wildcard/],
    ['restapi.authentication.password', { restapi: { authentication: { username: 'admin' } } }, /required/],
    ['restapi.authentication.username', { restapi: { authentication: { password: 'pw-abc' } } }, /required/],
    ['restapi.authentication', { restapi: { authentication: 'admin:pw' } }, /expected a mapping, got a string/],
    ['postgresql.listen', { postgresql: { listen: 'abc' } }, /expected host:port, got "abc"/],
    ['postgresql.connect_address', { postgresql: { listen: '*:5432' } }, /required because/],
    ['postgresql.connect_address', { postgresql: { connect_address: '10.0.0.1,10.0.0.2:5432' } }, /single/],
    ['postgresql.data_dir', { postgresql: { data_dir: 'relative/dir' } }, /absolute path/],
    ['postgresql.data_dir', { postgresql: { data_dir: '/' } }, /root directory/],
    ['postgresql.bin_dir', { postgresql: { bin_dir: 'bin' } }, /absolute path/],
    ['postgresql.socket_dir', { postgresql: { socket_dir: 12 } }, /must be a string, got 12/],
    ['postgresql.run_as_user', { postgresql: { run_as_user: 'bad user' } }, /OS user name/],
    ['postgresql.remove_data_directory_on_rewind_failure', { postgresql: { remove_data_directory_on_rewind_failure: 'yes' } }, /must be true or false, got "yes"/],
    ['postgresql.max_moved_aside_copies', { postgresql: { max_moved_aside_copies: -1 } }, /integer >= 0, got -1/],
    ['postgresql.max_moved_aside_copies', { postgresql: { max_moved_aside_copies: 1.5 } }, /integer/],
    ['postgresql.max_moved_aside_copies', { postgresql: { max_moved_aside_copies: 1000 } }, /at most 100/],
    ['postgresql.max_moved_asid_copies', { postgresql: { max_moved_asid_copies: 3 } }, /did you mean "max_moved_aside_copies"/],
    ['postgresql.authentication.superuser.password', { postgresql: { authentication: { superuser: { password: undefined } } } }, /required \(.*PGPASSWORD_SUPERUSER/],
    ['postgresql.authentication.replication.password', { postgresql: { authentication: { replication: { password: null } } } }, /required/],
    ['postgresql.authentication.replication.password', { postgresql: { authentication: { replication: { password: '' } } } }, /must not be empty/],
    ['postgresql.authentication.superuser.username', { postgresql: { authentication: { superuser: { username: 7 } } } }, /must be a string/],
    ['postgresql.authentication.replication.username', { postgresql: { authentication: { replication: { username: 'postgres' } } } }, /passwords differ/],
    ['postgresql.parameters.work_mem', { postgresql: { parameters: { work_mem: [1] } } }, /string, number or boolean/],
    ['postgresql.parameters.bad-name', { postgresql: { parameters: { 'bad-name': 1 } } }, /parameter name/],
    ['postgresql.parameters.port', { postgresql: { parameters: { port: 5433 } } }, /postgresql\.listen/],
    ['postgresql.parameters.listen_addresses', { postgresql: { parameters: { listen_addresses: '*' } } }, /postgresql\.listen/],
    ['postgresql.parameters.work_mem', { postgresql: { parameters: { Work_Mem: '1MB', work_mem: '2MB' } } }, /case-insensitive/],
    ['postgresql.parameters', { postgresql: { parameters: ['a=1'] } }, /expected a mapping, got a list/],
    ['postgresql.pg_hba', { postgresql: { pg_hba: 'host all all 0.0.0.0/0 md5' } }, /list/],
    ['postgresql.pg_hba[1]', { postgresql: { pg_hba: ['local all all trust', 3] } }, /pg_hba\.conf line/],
    ['bootstrap.dcs.ttl', { bootstrap: { dcs: { ttl: 'ten' } } }, /must be an integer >= 3, got "ten"/],
    ['bootstrap.dcs.ttl', { bootstrap: { dcs: { ttl: 2 } } }, />= 3, got 2/],
    ['bootstrap.dcs.ttl', { bootstrap: { dcs: { ttl: 5.5 } } }, /integer/],
    ['bootstrap.dcs.ttl', { bootstrap: { dcs: { ttl: 6, loop_wait: 1, retry_timeout: 3 } } }, /loop_wait \+ 2 \* retry_timeout \(1 \+ 2 \* 3 = 7\), got 6/],
    ['bootstrap.dcs.ttl', { bootstrap: { dcs: { ttl: null } } }, /got null/],
    ['bootstrap.dcs.loop_wait', { bootstrap: { dcs: { loop_wait: 0.05 } } }, />= 0\.1/],
    ['bootstrap.dcs.loop_wait', { bootstrap: { dcs: { loop_wait: '1' } } }, /got "1"/],
    ['bootstrap.dcs.retry_timeout', { bootstrap: { dcs: { retry_timeout: 0.1 } } }, />= 0\.5/],
    ['bootstrap.dcs.maximum_lag_on_failover', { bootstrap: { dcs: { maximum_lag_on_failover: -1 } } }, />= 0/],
    ['bootstrap.dcs.pause', { bootstrap: { dcs: { pause: 'yes' } } }, /true or false/],
    ['bootstrap.dcs.postgresql.parameters.port', { bootstrap: { dcs: { postgresql: { parameters: { port: 1 } } } } }, /governor/],
    ['tags.nofailover', { tags: { nofailover: 'true' } }, /true or false/],
    ['tags.failover_priority', { tags: { failover_priority: -1 } }, /integer >= 0/],
    ['tags.failover_priority', { tags: { failover_priority: 1.5 } }, /integer/],
    ['tags.nofailvoer', { tags: { nofailvoer: true } }, /did you mean "nofailover"/],
    ['log.level', { log: { level: 'verbose' } }, /"debug", "info", "warn", "error"/],
    ['haproxy', { haproxy: true }, /expected a mapping, got a boolean/],
    ['haproxy.enabled', { haproxy: { enabled: 'yes' } }, /true or false/],
    ['haproxy.bin', { haproxy: { bin: 'haproxy' } }, /absolute path/],
    ['haproxy.config_file', { haproxy: { config_file: '/etc/my haproxy.cfg' } }, /whitespace/],
    ['haproxy.listen_address', { haproxy: { listen_address: '0.0.0.0:5000' } }, /without a port/],
    ['haproxy.listen_address', { haproxy: { listen_address: '[::1]' } }, /without brackets/],
    ['haproxy.listen_address', { haproxy: { listen_address: 'bad host' } }, /IP address, a host name/],
    ['haproxy.rw_port', { haproxy: { rw_port: 0 } }, /integer >= 1, got 0/],
    ['haproxy.rw_port', { haproxy: { rw_port: 70000 } }, /1-65535, got 70000/],
    ['haproxy.ro_port', { haproxy: { ro_port: '5001' } }, /got "5001"/],
    ['haproxy.ro_port', { haproxy: { rw_port: 6000, ro_port: 6000 } }, /must differ from haproxy\.rw_port \(both are 6000\)/],
    ['haproxy.stats_socket', { haproxy: { stats_socket: 'admin.sock' } }, /absolute path/],
    ['haproxy.stats_socket', { haproxy: { stats_socket: '/' + 'x'.repeat(120) } }, /Unix socket path/],
    ['haproxy.master_socket', { haproxy: { master_socket: '/run/haproxy/admin.sock' } }, /must differ from haproxy\.stats_socket/],
    ['haproxy.pid_file', { haproxy: { pid_file: '/run/#pid' } }, /#/],
    ['haproxy.replicas_fallback_to_master', { haproxy: { replicas_fallback_to_master: 1 } }, /true or false/],
    ['haproxy.check_interval_ms', { haproxy: { check_interval_ms: 50 } }, /integer >= 100, got 50/],
    ['haproxy.check_interval_ms', { haproxy: { check_interval_ms: 1.5 } }, /integer/],
    ['haproxy.stats_listen', { haproxy: { stats_listen: 'nope' } }, /expected host:port, got "nope"/],
    ['haproxy.stats_listen', { haproxy: { stats_listen: '127.0.0.1:5000' } }, /already used by haproxy\.rw_port/],
    ['haproxy.maxconn', { haproxy: { maxconn: -5 } }, /integer >= 1/],
    ['configuration', { scope: undefined, name: undefined, postgresql: undefined }, /./],
  ];

  for (const [field, patch, pattern] of cases) {
    it(`${field}: ${JSON.stringify(patch)}`, () => {
      if (field === 'configuration') {
        // A top level that is not a mapping.
        const err = configError(() => loadConfig({ text: '- a\n- b\n', env: {} }));
        assert.deepEqual(err.errors, ['configuration: expected a mapping at the top level, got a list']);
        return;
      }
      assertErrorLine(configError(() => load(patch)), field, pattern);
    });
  }

  it('ttl rule explains itself', () => {
    const err = configError(() => load({ bootstrap: { dcs: { ttl: 4 } } }));
    assert.match(err.message, /^bootstrap\.dcs\.ttl: must be >= loop_wait \+ 2 \* retry_timeout/);
    assert.match(err.message, /renews/);
  });

  it('a minimal fast setup satisfies the ttl rule', () => {
    const { config } = load({ bootstrap: { dcs: { ttl: 3, loop_wait: 0.5, retry_timeout: 1 } } });
    assert.equal(config.bootstrap.dcs.ttl, 3);
  });

  it('collects every error, one per line, instead of stopping at the first', () => {
    const err = configError(() =>
      load({
        scope: undefined,
        restapi: { listn: '1.2.3.4:80' },
        postgresql: { listen: 'abc' },
        bootstrap: { dcs: { ttl: 'ten' } },
        log: { level: 'loud' },
      }),
    );
    assert.equal(err.errors.length, 5, err.message);
    assert.equal(err.message.split('\n').length, 5);
    assertErrorLine(err, 'scope');
    assertErrorLine(err, 'restapi.listn');
    assertErrorLine(err, 'postgresql.listen');
    assertErrorLine(err, 'bootstrap.dcs.ttl');
    assertErrorLine(err, 'log.level');
  });

  it('rejects __proto__ keys instead of touching prototypes', () => {
    const text = stringify(BASE) + 'tags:\n  __proto__: {polluted: 1}\n__proto__: {x: 1}\n';
    const err = configError(() => loadConfig({ text, env: { GOVERNOR_POSTGRESQL_PARAMETERS___PROTO__: '1' } }));
    assertErrorLine(err, 'tags.__proto__', /not allowed/);
    assertErrorLine(err, '__proto__', /unknown field/);
    assertErrorLine(err, 'GOVERNOR_POSTGRESQL_PARAMETERS___PROTO__', /parameter name/);
    assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
  });

  it('does not pile child errors under a block of the wrong type', () => {
    const err = configError(() => load({ postgresql: 'oops' }));
    assert.deepEqual(err.errors, ['postgresql: expected a mapping, got a string']);
  });
});

describe('loadConfig: unknown fields', () => {
  const cases: Array<[Tree, string, string | null]> = [
    [{ restapi: { listn: '1.2.3.4:80' } }, 'restapi.listn', 'listen'],
    [{ scpoe: 'x' }, 'scpoe', 'scope'],
    [{ bootstrap: { dcs: { ttll: 5 } } }, 'bootstrap.dcs.ttll', 'ttl'],
    [{ bootstrap: { dcs: { loopwait: 5 } } }, 'bootstrap.dcs.loopwait', 'loop_wait'],
    [{ postgresql: { 'data-dir': '/x' } }, 'postgresql.data-dir', 'data_dir'],
    [{ postgresql: { authentication: { superuser: { pasword: 'x' } } } }, 'postgresql.authentication.superuser.pasword', 'password'],
    [{ etcd: { url: 'http://x' } }, 'etcd.url', null],
    [{ bootstrap: { initdb: [] } }, 'bootstrap.initdb', null],
    [{ watchdog: {} }, 'watchdog', null],
    [{ haproxy: { rw_prot: 5000 } }, 'haproxy.rw_prot', 'rw_port'],
    [{ haproxy: { frontend: 'x' } }, 'haproxy.frontend', null],
  ];
  for (const [patch, field, guess] of cases) {
    it(field, () => {
      const line = assertErrorLine(configError(() => load(patch)), field, /unknown field/);
      if (guess) assert.ok(line.endsWith(`unknown field (did you mean "${guess}"?)`), line);
      else assert.match(line, /expected one of: /);
    });
  }
});

describe('loadConfig: environment overrides', () => {
  it('applies every documented variable, and the environment wins over the file', () => {
    const env: NodeJS.ProcessEnv = {
      SCOPE: 'envscope',
      GOVERNOR_NAMESPACE: '/gov/',
      GOVERNOR_NAME: 'envnode',
      ETCD_HOSTS: '10.0.0.1:2379,10.0.0.2:2379,',
      ETCD_PROTOCOL: 'https',
      ETCD_USERNAME: 'root',
      ETCD_PASSWORD: 'etcd-pw',
      ETCD_CACERT: '/ca.pem',
      ETCD_CERT: '/cert.pem',
      ETCD_KEY: '/key.pem',
      GOVERNOR_RESTAPI_LISTEN: '0.0.0.0:9008',
      GOVERNOR_RESTAPI_CONNECT_ADDRESS: '10.0.0.9:9008',
      GOVERNOR_RESTAPI_USERNAME: 'admin',
      GOVERNOR_RESTAPI_PASSWORD: 'api-pw',
      GOVERNOR_POSTGRESQL_LISTEN: '0.0.0.0:6432',
      GOVERNOR_POSTGRESQL_CONNECT_ADDRESS: '10.0.0.9:6432',
      GOVERNOR_POSTGRESQL_DATA_DIR: '/srv/pg',
      GOVERNOR_POSTGRESQL_BIN_DIR: '/opt/pg/bin',
      GOVERNOR_POSTGRESQL_SOCKET_DIR: '/tmp',
      GOVERNOR_POSTGRESQL_RUN_AS_USER: 'postgres',
      PGUSER_SUPERUSER: 'su',
      PGPASSWORD_SUPERUSER: 'su-env',
      PGUSER_STANDBY: 'standby',
      PGPASSWORD_STANDBY: 'standby-env',
      GOVERNOR_POSTGRESQL_PARAMETERS_SHARED_BUFFERS: '1GB',
      GOVERNOR_TTL: '10',
      GOVERNOR_LOOP_WAIT: '0.5',
      GOVERNOR_RETRY_TIMEOUT: '2.5',
      GOVERNOR_MAXIMUM_LAG_ON_FAILOVER: '0',
      GOVERNOR_NOFAILOVER: '1',
      GOVERNOR_NOLOADBALANCE: 'TRUE',
      GOVERNOR_FAILOVER_PRIORITY: '7',
      GOVERNOR_LOG_LEVEL: 'debug',
      GOVERNOR_HAPROXY_ENABLED: 'true',
      GOVERNOR_HAPROXY_MANAGE: '1',
      GOVERNOR_HAPROXY_BIN: '/opt/haproxy/sbin/haproxy',
      GOVERNOR_HAPROXY_CONFIG_FILE: '/srv/haproxy/haproxy.cfg',
      GOVERNOR_HAPROXY_LISTEN_ADDRESS: '10.0.0.9',
      GOVERNOR_HAPROXY_RW_PORT: '6000',
      GOVERNOR_HAPROXY_RO_PORT: '6001',
      GOVERNOR_HAPROXY_STATS_SOCKET: '/srv/haproxy/admin.sock',
      GOVERNOR_HAPROXY_MASTER_SOCKET: '/srv/haproxy/master.sock',
      GOVERNOR_HAPROXY_PID_FILE: '/srv/haproxy/haproxy.pid',
      GOVERNOR_HAPROXY_REPLICAS_FALLBACK_TO_MASTER: 'false',
      GOVERNOR_HAPROXY_CHECK_INTERVAL_MS: '500',
      GOVERNOR_HAPROXY_STATS_LISTEN: '127.0.0.1:7000',
      GOVERNOR_HAPROXY_MAXCONN: '200',
    };
    const { config, sources } = load(
      {
        scope: 'filescope',
        etcd: { hosts: ['1.1.1.1:2379'] },
        postgresql: { data_dir: '/file/dir', parameters: { shared_buffers: '128MB', work_mem: '4MB' } },
        bootstrap: { dcs: { ttl: 30 } },
        haproxy: { enabled: false, rw_port: 5000, listen_address: '127.0.0.1' },
      },
      env,
    );
    assert.equal(config.scope, 'envscope');
    assert.equal(config.namespace, 'gov');
    assert.equal(config.name, 'envnode');
    assert.deepEqual(config.etcd, {
      hosts: ['10.0.0.1:2379', '10.0.0.2:2379'],
      protocol: 'https',
      username: 'root',
      password: 'etcd-pw',
      cacert: '/ca.pem',
      cert: '/cert.pem',
      key: '/key.pem',
    });
    assert.deepEqual(config.restapi, {
      listen: '0.0.0.0:9008',
      connect_address: '10.0.0.9:9008',
      authentication: { username: 'admin', password: 'api-pw' },
      certfile: null,
      keyfile: null,
      cafile: null,
    });
    assert.equal(config.postgresql.listen, '0.0.0.0:6432');
    assert.equal(config.postgresql.connect_address, '10.0.0.9:6432');
    assert.equal(config.postgresql.data_dir, '/srv/pg');
    assert.equal(config.postgresql.bin_dir, '/opt/pg/bin');
    assert.equal(config.postgresql.socket_dir, '/tmp');
    assert.equal(config.postgresql.run_as_user, 'postgres');
    assert.deepEqual(config.postgresql.authentication, {
      superuser: { username: 'su', password: 'su-env' },
      replication: { username: 'standby', password: 'standby-env' },
    });
    assert.deepEqual(config.postgresql.parameters, { shared_buffers: '1GB', work_mem: '4MB' });
    assert.deepEqual(
      { ...config.bootstrap.dcs },
      { ttl: 10, loop_wait: 0.5, retry_timeout: 2.5, maximum_lag_on_failover: 0, postgresql: { parameters: {} }, pause: false, failsafe_mode: true, synchronous_mode: false, synchronous_mode_strict: false },
    );
    assert.deepEqual(config.tags, { nofailover: true, noloadbalance: true, failover_priority: 7 });
    assert.equal(config.log.level, 'debug');
    assert.deepEqual(config.haproxy, {
      enabled: true,
      manage: true,
      bin: '/opt/haproxy/sbin/haproxy',
      config_file: '/srv/haproxy/haproxy.cfg',
      listen_address: '10.0.0.9',
      rw_port: 6000,
      ro_port: 6001,
      stats_socket: '/srv/haproxy/admin.sock',
      master_socket: '/srv/haproxy/master.sock',
      pid_file: '/srv/haproxy/haproxy.pid',
      replicas_fallback_to_master: false,
      check_interval_ms: 500,
      stats_listen: '127.0.0.1:7000',
      maxconn: 200,
    });

    assert.equal(sources['scope'], 'env:SCOPE');
    assert.equal(sources['haproxy.rw_port'], 'env:GOVERNOR_HAPROXY_RW_PORT');
    assert.equal(sources['haproxy.enabled'], 'env:GOVERNOR_HAPROXY_ENABLED');
    assert.equal(sources['etcd.hosts'], 'env:ETCD_HOSTS');
    assert.equal(sources['etcd.password'], 'env:ETCD_PASSWORD');
    assert.equal(sources['bootstrap.dcs.ttl'], 'env:GOVERNOR_TTL');
    assert.equal(sources['postgresql.parameters.shared_buffers'], 'env:GOVERNOR_POSTGRESQL_PARAMETERS_SHARED_BUFFERS');
    assert.equal(sources['postgresql.parameters.work_mem'], 'file');
    assert.equal(sources['postgresql.authentication.superuser.password'], 'env:PGPASSWORD_SUPERUSER');
    assert.equal(sources['tags.nofailover'], 'env:GOVERNOR_NOFAILOVER');
  });

  it('works without any file', () => {
    const { config, sources } = loadConfig({
      env: { GOVERNOR_SCOPE: 's', GOVERNOR_NAME: 'n', PGPASSWORD_SUPERUSER: 'a', PGPASSWORD_STANDBY: 'b' },
    });
    assert.equal(config.scope, 's');
    assert.equal(sources['postgresql.authentication.replication.password'], 'env:PGPASSWORD_STANDBY');
  });

  // [variables, field, expected value]
  const precedence: Array<[NodeJS.ProcessEnv, (c: ReturnType<typeof load>['config']) => unknown, unknown]> = [
    [{ SCOPE: 'a', GOVERNOR_SCOPE: 'b' }, (c) => c.scope, 'b'],
    [{ PATRONI_NAME: 'p' }, (c) => c.name, 'p'],
    [{ PATRONI_NAME: 'p', GOVERNOR_NAME: 'g' }, (c) => c.name, 'g'],
    [{ ETCD_HOST: '10.0.0.3:2379' }, (c) => c.etcd.hosts, ['10.0.0.3:2379']],
    [{ ETCD_HOST: '10.0.0.3:2379', ETCD_HOSTS: '10.0.0.4:2379' }, (c) => c.etcd.hosts, ['10.0.0.4:2379']],
    [{ PGDATA: '/pgdata' }, (c) => c.postgresql.data_dir, '/pgdata'],
    [{ PGDATA: '/pgdata', GOVERNOR_POSTGRESQL_DATA_DIR: '/gov' }, (c) => c.postgresql.data_dir, '/gov'],
    [{ GOVERNOR_NOFAILOVER: '0' }, (c) => c.tags.nofailover, false],
    [{ GOVERNOR_NOFAILOVER: 'false' }, (c) => c.tags.nofailover, false],
    [{ GOVERNOR_NOLOADBALANCE: 'true' }, (c) => c.tags.noloadbalance, true],
    [{ GOVERNOR_LOG_LEVEL: 'WARN' }, (c) => c.log.level, 'warn'],
    [{ GOVERNOR_SCOPE: '' }, (c) => c.scope, 'demo'], // empty counts as unset
    [{ GOVERNOR_POSTGRESQL_PARAMETERS_MAX_WAL_SENDERS: '10' }, (c) => c.postgresql.parameters, { max_wal_senders: '10' }],
  ];
  for (const [env, get, expected] of precedence) {
    it(JSON.stringify(env), () => assert.deepEqual(get(load({}, env).config), expected));
  }

  it('creates restapi.authentication from the environment, and requires both halves', () => {
    const { config } = load({}, { GOVERNOR_RESTAPI_USERNAME: 'u', GOVERNOR_RESTAPI_PASSWORD: 'p-123' });
    assert.deepEqual(config.restapi.authentication, { username: 'u', password: 'p-123' });
    const err = configError(() => load({}, { GOVERNOR_RESTAPI_PASSWORD: 'p-123' }));
    assertErrorLine(err, 'restapi.authentication.username', /required/);
  });

  // [variables, expected error prefix, pattern]
  const bad: Array<[NodeJS.ProcessEnv, string, RegExp]> = [
    [{ GOVERNOR_TTL: 'x' }, 'GOVERNOR_TTL (bootstrap.dcs.ttl)', /must be an integer >= 3, got "x"/],
    [{ GOVERNOR_LOOP_WAIT: 'soon' }, 'GOVERNOR_LOOP_WAIT (bootstrap.dcs.loop_wait)', /got "soon"/],
    [{ GOVERNOR_RETRY_TIMEOUT: '0.1' }, 'GOVERNOR_RETRY_TIMEOUT (bootstrap.dcs.retry_timeout)', />= 0\.5/],
    [{ GOVERNOR_MAXIMUM_LAG_ON_FAILOVER: '1MB' }, 'GOVERNOR_MAXIMUM_LAG_ON_FAILOVER (bootstrap.dcs.maximum_lag_on_failover)', /got "1MB"/],
    [{ GOVERNOR_TTL: '4' }, 'GOVERNOR_TTL (bootstrap.dcs.ttl)', /loop_wait \+ 2 \* retry_timeout/],
    [{ GOVERNOR_NOFAILOVER: 'yes please' }, 'GOVERNOR_NOFAILOVER (tags.nofailover)', /true, false, 1 or 0/],
    [{ GOVERNOR_FAILOVER_PRIORITY: 'high' }, 'GOVERNOR_FAILOVER_PRIORITY (tags.failover_priority)', /got "high"/],
    [{ ETCD_HOSTS: '10.0.0.1:2379,bad' }, 'ETCD_HOSTS (etcd.hosts[1])', /expected host:port, got "bad"/],
    [{ ETCD_HOSTS: ',' }, 'ETCD_HOSTS (etcd.hosts)', /at least one/],
    [{ ETCD_HOST: 'nope' }, 'ETCD_HOST (etcd.hosts[0])', /expected host:port/],
    [{ ETCD_PROTOCOL: 'ftp' }, 'ETCD_PROTOCOL (etcd.protocol)', /"http", "https"/],
    [{ GOVERNOR_RESTAPI_LISTEN: 'abc' }, 'GOVERNOR_RESTAPI_LISTEN (restapi.listen)', /expected host:port, got "abc"/],
    [{ GOVERNOR_POSTGRESQL_LISTEN: '0.0.0.0:5432' }, 'postgresql.connect_address', /GOVERNOR_POSTGRESQL_LISTEN \(postgresql\.listen\)/],
    [{ PGDATA: 'relative' }, 'PGDATA (postgresql.data_dir)', /absolute/],
    [{ SCOPE: 'a b' }, 'SCOPE (scope)', /cluster name/],
    [{ GOVERNOR_NAMESPACE: '//' }, 'GOVERNOR_NAMESPACE (namespace)', /names/],
    [{ GOVERNOR_LOG_LEVEL: 'loud' }, 'GOVERNOR_LOG_LEVEL (log.level)', /got "loud"/],
    [{ GOVERNOR_POSTGRESQL_PARAMETERS_PORT: '5433' }, 'GOVERNOR_POSTGRESQL_PARAMETERS_PORT (postgresql.parameters.port)', /governor/],
    [{ GOVERNOR_POSTGRESQL_PARAMETERS_: 'x' }, 'GOVERNOR_POSTGRESQL_PARAMETERS_', /parameter name/],
    [{ GOVERNOR_HAPROXY_ENABLED: 'maybe' }, 'GOVERNOR_HAPROXY_ENABLED (haproxy.enabled)', /true, false, 1 or 0/],
    [{ GOVERNOR_HAPROXY_RW_PORT: 'five' }, 'GOVERNOR_HAPROXY_RW_PORT (haproxy.rw_port)', /got "five"/],
    [{ GOVERNOR_HAPROXY_RO_PORT: '5000' }, 'GOVERNOR_HAPROXY_RO_PORT (haproxy.ro_port)', /must differ from haproxy\.rw_port/],
    [{ GOVERNOR_HAPROXY_LISTEN_ADDRESS: '1.2.3.4:5' }, 'GOVERNOR_HAPROXY_LISTEN_ADDRESS (haproxy.listen_address)', /without a port/],
    [{ GOVERNOR_HAPROXY_CONFIG_FILE: 'haproxy.cfg' }, 'GOVERNOR_HAPROXY_CONFIG_FILE (haproxy.config_file)', /absolute/],
  ];
  for (const [env, prefix, pattern] of bad) {
    it(`bad ${Object.keys(env).join(',')} → ${prefix}`, () => {
      assertErrorLine(configError(() => load({}, env)), prefix, pattern);
    });
  }
});

describe('secrets', () => {
  it('never echoes a password of the wrong type', () => {
    const err = configError(() =>
      load({
        etcd: { username: 'root', password: 987654321 },
        restapi: { authentication: { username: 'admin', password: ['s3cr3t-list'] } },
        postgresql: { authentication: { superuser: { password: 123454321 }, replication: { password: { x: 'hidden-map' } } } },
      }),
    );
    assertErrorLine(err, 'etcd.password', /must be a string .*value not shown/);
    assertErrorLine(err, 'restapi.authentication.password', /must be a string/);
    assertErrorLine(err, 'postgresql.authentication.superuser.password', /must be a string/);
    assertErrorLine(err, 'postgresql.authentication.replication.password', /must be a string/);
    for (const secret of ['987654321', 's3cr3t-list', '123454321', 'hidden-map']) assert.ok(!err.message.includes(secret), err.message);
  });

  it('never echoes the YAML line of a syntax error', () => {
    const text = 'scope: demo\npostgresql:\n  authentication:\n    superuser:\n      password: "topsecret-value\n';
    const err = configError(() => loadConfig({ text, env: {}, file: 'governor.yml' }));
    assert.match(err.message, /^governor\.yml:\d+:\d+: YAML syntax error: /);
    assert.ok(!err.message.includes('topsecret'), err.message);
  });

  it('never echoes a password containing a line break', () => {
    const err = configError(() => load({}, { PGPASSWORD_SUPERUSER: 'multi\nline-secret' }));
    assertErrorLine(err, 'PGPASSWORD_SUPERUSER (postgresql.authentication.superuser.password)', /value not shown/);
    assert.ok(!err.message.includes('line-secret'));
  });

  it('maskSecrets replaces every password and leaves the original alone', () => {
    const { config } = load({
      etcd: { username: 'root', password: 'etcd-pw' },
      restapi: { authentication: { username: 'admin', password: 'api-pw' } },
    });
    const masked = maskSecrets(config) as typeof config;
    assert.equal(masked.etcd.password, '******');
    assert.equal(masked.restapi.authentication?.password, '******');
    assert.equal(masked.postgresql.authentication.superuser.password, '******');
    assert.equal(masked.postgresql.authentication.replication.password, '******');
    assert.equal(masked.postgresql.authentication.superuser.username, 'postgres');
    assert.equal(masked.etcd.username, 'root');
    const text = JSON.stringify(masked);
    for (const secret of ['etcd-pw', 'api-pw', 'su-secret-1', 'repl-secret-2']) assert.ok(!text.includes(secret));
    assert.equal(config.etcd.password, 'etcd-pw');
    assert.equal(config.postgresql.authentication.superuser.password, 'su-secret-1');
    assert.notEqual(masked.postgresql, config.postgresql);
  });

  it('maskSecrets keeps unset passwords null', () => {
    const masked = maskSecrets(load().config) as { etcd: { password: unknown } };
    assert.equal(masked.etcd.password, null);
  });
});

describe('loadConfig: files', () => {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const example = path.resolve(here, '../../../governor.example.yml');

  it('loads governor.example.yml as it is', () => {
    const { config, sources } = loadConfig({ file: example, env: {} });
    assert.equal(config.scope, 'demo');
    assert.equal(config.postgresql.authentication.superuser.password, 'change-me');
    assert.equal(config.restapi.authentication?.password, 'change-me');
    assert.equal(config.restapi.listen, '0.0.0.0:8008');
    assert.deepEqual(config.bootstrap.dcs, DEFAULT_DYNAMIC_CONFIG_COPY());
    assert.equal(config.tags['datacenter'], 'dc1');
    assert.deepEqual(config.haproxy, defaultHaproxyConfig());
    assert.equal(sources['haproxy.rw_port'], 'file');
    assert.equal(sources['scope'], 'file');
  });

  it('a missing file is an error naming the path', () => {
    const missing = path.join(os.tmpdir(), `governor-missing-${process.pid}.yml`);
    const err = configError(() => loadConfig({ file: missing, env: {} }));
    assert.ok(err.message.includes(missing), err.message);
    assert.match(err.message, /not found/);
  });

  it('reads a file from disk and reports syntax errors with file:line:column', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'governor-config-'));
    try {
      const file = path.join(dir, 'governor.yml');
      fs.writeFileSync(file, 'scope: demo\nrestapi:\n  listen: [oops\n');
      const err = configError(() => loadConfig({ file, env: {} }));
      assert.match(err.message, new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+:\\d+: YAML syntax error`));
      fs.writeFileSync(file, 'scope: demo\nscope: again\n');
      assert.match(configError(() => loadConfig({ file, env: {} })).message, /:2:1: YAML syntax error: .*unique/);
      fs.writeFileSync(file, '');
      const empty = configError(() => loadConfig({ file, env: {} }));
      assertErrorLine(empty, 'scope', /required/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

function DEFAULT_DYNAMIC_CONFIG_COPY() {
  return {
    ...structuredClone(DEFAULT_DYNAMIC_CONFIG),
    postgresql: { parameters: { wal_keep_size: '256MB', hot_standby: 'on' } },
  };
}

describe('validateDynamicConfig', () => {
  it('fills defaults and returns a fresh object', () => {
    const config = validateDynamicConfig({ ttl: 10 });
    assert.deepEqual(config, { ...structuredClone(DEFAULT_DYNAMIC_CONFIG), ttl: 10 });
    config.postgresql.parameters['x'] = 1;
    assert.deepEqual(validateDynamicConfig({}).postgresql.parameters, {});
    assert.deepEqual(validateDynamicConfig(null), structuredClone(DEFAULT_DYNAMIC_CONFIG));
  });

  it('keeps valid values', () => {
    const value = {
      ttl: 30,
      loop_wait: 10,
      retry_timeout: 10,
      maximum_lag_on_failover: 0,
      postgresql: { parameters: { max_connections: 200, hot_standby: 'on', fsync: true } },
      pause: true,
      failsafe_mode: false,
      synchronous_mode: true,
      synchronous_mode_strict: false,
    };
    assert.deepEqual(validateDynamicConfig(value), value);
  });

  const cases: Array<[unknown, string, RegExp]> = [
    [{ ttl: 'ten' }, 'config.ttl', /got "ten"/],
    [{ ttl: 3 }, 'config.ttl', /loop_wait \+ 2 \* retry_timeout/],
    [{ loop_wait: -1 }, 'config.loop_wait', />= 0\.1/],
    [{ retry_timeout: '2' }, 'config.retry_timeout', /got "2"/],
    [{ synchronous_mode: 'yes' }, 'config.synchronous_mode', /true or false/],
    [{ postgresql: { parameters: { a: null } } }, 'config.postgresql.parameters.a', /string, number or boolean/],
    [{ postgresql: { use_pg_rewind: true } }, 'config.postgresql.use_pg_rewind', /unknown field/],
    [{ pause: 1 }, 'config.pause', /true or false/],
    ['{"ttl": 5}', 'config', /expected a mapping/],
  ];
  for (const [value, field, pattern] of cases) {
    it(`${field}: ${JSON.stringify(value)}`, () => {
      assertErrorLine(configError(() => validateDynamicConfig(value)), field, pattern);
    });
  }

  it('uses the given field name', () => {
    assertErrorLine(configError(() => validateDynamicConfig({ tll: 5 }, 'edit')), 'edit.tll', /did you mean "ttl"/);
  });
});
