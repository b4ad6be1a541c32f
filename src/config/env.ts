// Environment overrides. The environment wins over the file; within one row the first variable
// that is set (non-empty) wins. An empty variable counts as unset. Values are strings and are
// converted and checked like file values; a bad one is reported as `VAR (dotted.field): ...`.
//
// | Variable(s), in precedence order          | Field                                       | Value                      |
// |-------------------------------------------|---------------------------------------------|----------------------------|
// | GOVERNOR_SCOPE, SCOPE                     | scope                                       | name                       |
// | GOVERNOR_NAMESPACE                        | namespace                                   | name, slashes optional     |
// | GOVERNOR_NAME, PATRONI_NAME               | name                                        | member name                |
// | ETCD_HOSTS                                | etcd.hosts                                  | host:port,host:port,...    |
// | ETCD_HOST (only if ETCD_HOSTS is unset)   | etcd.hosts                                  | one host:port              |
// | ETCD_PROTOCOL                             | etcd.protocol                               | http / https               |
// | ETCD_USERNAME                             | etcd.username                               | string                     |
// | ETCD_PASSWORD                             | etcd.password                               | string (secret)            |
// | ETCD_CACERT, ETCD_CERT, ETCD_KEY          | etcd.cacert, etcd.cert, etcd.key            | file path                  |
// | GOVERNOR_RESTAPI_LISTEN                   | restapi.listen                              | host:port                  |
// | GOVERNOR_RESTAPI_CONNECT_ADDRESS          | restapi.connect_address                     | host:port                  |
// | GOVERNOR_RESTAPI_USERNAME                 | restapi.authentication.username             | string                     |
// | GOVERNOR_RESTAPI_PASSWORD                 | restapi.authentication.password             | string (secret)            |
// | GOVERNOR_POSTGRESQL_LISTEN                | postgresql.listen                           | host[,host...]:port        |
// | GOVERNOR_POSTGRESQL_CONNECT_ADDRESS       | postgresql.connect_address                  | host:port                  |
// | GOVERNOR_POSTGRESQL_DATA_DIR, PGDATA      | postgresql.data_dir                         | absolute path              |
// | GOVERNOR_POSTGRESQL_BIN_DIR               | postgresql.bin_dir                          | absolute path              |
// | GOVERNOR_POSTGRESQL_SOCKET_DIR            | postgresql.socket_dir                       | absolute path              |
// | GOVERNOR_POSTGRESQL_RUN_AS_USER           | postgresql.run_as_user                      | OS user name               |
// | PGUSER_SUPERUSER                          | postgresql.authentication.superuser.username   | role name               |
// | PGPASSWORD_SUPERUSER                      | postgresql.authentication.superuser.password   | string (secret)         |
// | PGUSER_STANDBY                            | postgresql.authentication.replication.username | role name               |
// | PGPASSWORD_STANDBY                        | postgresql.authentication.replication.password | string (secret)         |
// | GOVERNOR_POSTGRESQL_PARAMETERS_<NAME>     | postgresql.parameters.<name> (lower-cased)  | string                     |
// | GOVERNOR_TTL                              | bootstrap.dcs.ttl                           | integer seconds >= 3       |
// | GOVERNOR_LOOP_WAIT                        | bootstrap.dcs.loop_wait                     | seconds >= 0.1             |
// | GOVERNOR_RETRY_TIMEOUT                    | bootstrap.dcs.retry_timeout                 | seconds >= 0.5             |
// | GOVERNOR_MAXIMUM_LAG_ON_FAILOVER          | bootstrap.dcs.maximum_lag_on_failover       | bytes (integer >= 0)       |
// | GOVERNOR_NOFAILOVER                       | tags.nofailover                             | true / false / 1 / 0       |
// | GOVERNOR_NOLOADBALANCE                    | tags.noloadbalance                          | true / false / 1 / 0       |
// | GOVERNOR_FAILOVER_PRIORITY                | tags.failover_priority                      | integer >= 0               |
// | GOVERNOR_LOG_LEVEL                        | log.level                                   | debug / info / warn / error|
// | GOVERNOR_HAPROXY_ENABLED                  | haproxy.enabled                             | true / false / 1 / 0       |
// | GOVERNOR_HAPROXY_MANAGE                   | haproxy.manage                              | true / false / 1 / 0       |
// | GOVERNOR_HAPROXY_BIN                      | haproxy.bin                                 | absolute path              |
// | GOVERNOR_HAPROXY_CONFIG_FILE              | haproxy.config_file                         | absolute path              |
// | GOVERNOR_HAPROXY_LISTEN_ADDRESS           | haproxy.listen_address                      | IP, host name or *         |
// | GOVERNOR_HAPROXY_RW_PORT                  | haproxy.rw_port                             | port 1-65535               |
// | GOVERNOR_HAPROXY_RO_PORT                  | haproxy.ro_port                             | port 1-65535               |
// | GOVERNOR_HAPROXY_STATS_SOCKET             | haproxy.stats_socket                        | absolute path              |
// | GOVERNOR_HAPROXY_MASTER_SOCKET            | haproxy.master_socket                       | absolute path              |
// | GOVERNOR_HAPROXY_PID_FILE                 | haproxy.pid_file                            | absolute path              |
// | GOVERNOR_HAPROXY_REPLICAS_FALLBACK_TO_MASTER | haproxy.replicas_fallback_to_master      | true / false / 1 / 0       |
// | GOVERNOR_HAPROXY_CHECK_INTERVAL_MS        | haproxy.check_interval_ms                   | integer ms >= 100          |
// | GOVERNOR_HAPROXY_STATS_LISTEN             | haproxy.stats_listen                        | host:port                  |
// | GOVERNOR_HAPROXY_MAXCONN                  | haproxy.maxconn                             | integer >= 1               |
//
// Note: PGDATA is set by some PostgreSQL images; when it is set it overrides postgresql.data_dir
// from the file (GOVERNOR_POSTGRESQL_DATA_DIR overrides both).

export type EnvKind = 'string' | 'secret' | 'number' | 'boolean' | 'list' | 'item';

export interface EnvOverride {
  /** Dotted path of the field it sets. */
  path: string;
  /** Variables in precedence order. */
  vars: readonly string[];
  /** 'list': comma-separated into an array; 'item': a single element of an array field. */
  kind: EnvKind;
}

export const ENV_OVERRIDES: readonly EnvOverride[] = [
  { path: 'scope', vars: ['GOVERNOR_SCOPE', 'SCOPE'], kind: 'string' },
  { path: 'namespace', vars: ['GOVERNOR_NAMESPACE'], kind: 'string' },
  { path: 'name', vars: ['GOVERNOR_NAME', 'PATRONI_NAME'], kind: 'string' },
  { path: 'etcd.hosts', vars: ['ETCD_HOSTS'], kind: 'list' },
  { path: 'etcd.hosts', vars: ['ETCD_HOST'], kind: 'item' },
  { path: 'etcd.protocol', vars: ['ETCD_PROTOCOL'], kind: 'string' },
  { path: 'etcd.username', vars: ['ETCD_USERNAME'], kind: 'string' },
  { path: 'etcd.password', vars: ['ETCD_PASSWORD'], kind: 'secret' },
  { path: 'etcd.cacert', vars: ['ETCD_CACERT'], kind: 'string' },
  { path: 'etcd.cert', vars: ['ETCD_CERT'], kind: 'string' },
  { path: 'etcd.key', vars: ['ETCD_KEY'], kind: 'string' },
  { path: 'restapi.listen', vars: ['GOVERNOR_RESTAPI_LISTEN'], kind: 'string' },
  { path: 'restapi.connect_address', vars: ['GOVERNOR_RESTAPI_CONNECT_ADDRESS'], kind: 'string' },
  { path: 'restapi.authentication.username', vars: ['GOVERNOR_RESTAPI_USERNAME'], kind: 'string' },
  { path: 'restapi.authentication.password', vars: ['GOVERNOR_RESTAPI_PASSWORD'], kind: 'secret' },
  { path: 'postgresql.listen', vars: ['GOVERNOR_POSTGRESQL_LISTEN'], kind: 'string' },
  { path: 'postgresql.connect_address', vars: ['GOVERNOR_POSTGRESQL_CONNECT_ADDRESS'], kind: 'string' },
  { path: 'postgresql.data_dir', vars: ['GOVERNOR_POSTGRESQL_DATA_DIR', 'PGDATA'], kind: 'string' },
  { path: 'postgresql.bin_dir', vars: ['GOVERNOR_POSTGRESQL_BIN_DIR'], kind: 'string' },
  { path: 'postgresql.socket_dir', vars: ['GOVERNOR_POSTGRESQL_SOCKET_DIR'], kind: 'string' },
  { path: 'postgresql.run_as_user', vars: ['GOVERNOR_POSTGRESQL_RUN_AS_USER'], kind: 'string' },
  { path: 'postgresql.authentication.superuser.username', vars: ['PGUSER_SUPERUSER'], kind: 'string' },
  { path: 'postgresql.authentication.superuser.password', vars: ['PGPASSWORD_SUPERUSER'], kind: 'secret' },
  { path: 'postgresql.authentication.replication.username', vars: ['PGUSER_STANDBY'], kind: 'string' },
  { path: 'postgresql.authentication.replication.password', vars: ['PGPASSWORD_STANDBY'], kind: 'secret' },
  { path: 'bootstrap.dcs.ttl', vars: ['GOVERNOR_TTL'], kind: 'number' },
  { path: 'bootstrap.dcs.loop_wait', vars: ['GOVERNOR_LOOP_WAIT'], kind: 'number' },
  { path: 'bootstrap.dcs.retry_timeout', vars: ['GOVERNOR_RETRY_TIMEOUT'], kind: 'number' },
  { path: 'bootstrap.dcs.maximum_lag_on_failover', vars: ['GOVERNOR_MAXIMUM_LAG_ON_FAILOVER'], kind: 'number' },
  { path: 'tags.nofailover', vars: ['GOVERNOR_NOFAILOVER'], kind: 'boolean' },
  { path: 'tags.noloadbalance', vars: ['GOVERNOR_NOLOADBALANCE'], kind: 'boolean' },
  { path: 'tags.failover_priority', vars: ['GOVERNOR_FAILOVER_PRIORITY'], kind: 'number' },
  { path: 'log.level', vars: ['GOVERNOR_LOG_LEVEL'], kind: 'string' },
  { path: 'haproxy.enabled', vars: ['GOVERNOR_HAPROXY_ENABLED'], kind: 'boolean' },
  { path: 'haproxy.manage', vars: ['GOVERNOR_HAPROXY_MANAGE'], kind: 'boolean' },
  { path: 'haproxy.bin', vars: ['GOVERNOR_HAPROXY_BIN'], kind: 'string' },
  { path: 'haproxy.config_file', vars: ['GOVERNOR_HAPROXY_CONFIG_FILE'], kind: 'string' },
  { path: 'haproxy.listen_address', vars: ['GOVERNOR_HAPROXY_LISTEN_ADDRESS'], kind: 'string' },
  { path: 'haproxy.rw_port', vars: ['GOVERNOR_HAPROXY_RW_PORT'], kind: 'number' },
  { path: 'haproxy.ro_port', vars: ['GOVERNOR_HAPROXY_RO_PORT'], kind: 'number' },
  { path: 'haproxy.stats_socket', vars: ['GOVERNOR_HAPROXY_STATS_SOCKET'], kind: 'string' },
  { path: 'haproxy.master_socket', vars: ['GOVERNOR_HAPROXY_MASTER_SOCKET'], kind: 'string' },
  { path: 'haproxy.pid_file', vars: ['GOVERNOR_HAPROXY_PID_FILE'], kind: 'string' },
  { path: 'haproxy.replicas_fallback_to_master', vars: ['GOVERNOR_HAPROXY_REPLICAS_FALLBACK_TO_MASTER'], kind: 'boolean' },
  { path: 'haproxy.check_interval_ms', vars: ['GOVERNOR_HAPROXY_CHECK_INTERVAL_MS'], kind: 'number' },
  { path: 'haproxy.stats_listen', vars: ['GOVERNOR_HAPROXY_STATS_LISTEN'], kind: 'string' },
  { path: 'haproxy.maxconn', vars: ['GOVERNOR_HAPROXY_MAXCONN'], kind: 'number' },
];

/** Prefix of the per-parameter variables: GOVERNOR_POSTGRESQL_PARAMETERS_SHARED_BUFFERS=1GB. */
export const ENV_PARAMETER_PREFIX = 'GOVERNOR_POSTGRESQL_PARAMETERS_';

function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Set tree[segments...] = value, creating missing (or null) mappings on the way. Leaves the tree
 *  alone if something in the way is not a mapping: validation then reports that field. */
function setIn(tree: Record<string, unknown>, segments: readonly string[], value: unknown): boolean {
  let node = tree;
  for (const segment of segments.slice(0, -1)) {
    const child = node[segment];
    if (child === undefined || child === null) node[segment] = {};
    else if (!isMapping(child)) return false;
    node = node[segment] as Record<string, unknown>;
  }
  node[segments[segments.length - 1]!] = value;
  return true;
}

/**
 * Overlay the environment onto the raw (file) tree, in place. `origins` receives, for every
 * dotted path set from the environment, the variable it came from. Values stay strings (lists are
 * split); validation converts and checks them. Problems that are not about a value (a nameless
 * parameter variable) are pushed to `errors`.
 */
export function applyEnv(
  tree: Record<string, unknown>,
  env: NodeJS.ProcessEnv,
  origins: Map<string, string>,
  errors: string[],
): void {
  const done = new Set<string>();
  for (const override of ENV_OVERRIDES) {
    if (done.has(override.path)) continue;
    const name = override.vars.find((v) => env[v] !== undefined && env[v] !== '');
    if (name === undefined) continue;
    const raw = env[name]!;
    let value: unknown = raw;
    if (override.kind === 'list') {
      value = raw
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '');
    } else if (override.kind === 'item') {
      value = [raw.trim()];
    }
    if (setIn(tree, override.path.split('.'), value)) origins.set(override.path, name);
    done.add(override.path);
  }

  const parameterVars = Object.keys(env)
    .filter((k) => k.startsWith(ENV_PARAMETER_PREFIX) && env[k] !== undefined && env[k] !== '')
    .sort();
  for (const name of parameterVars) {
    const parameter = name.slice(ENV_PARAMETER_PREFIX.length).toLowerCase();
    if (parameter === '' || parameter === '__proto__') {
      errors.push(`${name}: missing or invalid parameter name after ${ENV_PARAMETER_PREFIX}`);
      continue;
    }
    if (setIn(tree, ['postgresql', 'parameters', parameter], env[name]!)) {
      origins.set(`postgresql.parameters.${parameter}`, name);
    }
  }
}
