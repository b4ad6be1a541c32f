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
// | GOVERNOR_RESTAPI_CERTFILE, _KEYFILE, _CAFILE | restapi.certfile, keyfile, cafile        | absolute path              |
// | GOVERNOR_CLUSTER_SECRET                   | cluster_secret                              | string (secret)            |
// | GOVERNOR_CTL_CACERT                       | ctl.cacert                                  | absolute path              |
// | GOVERNOR_IMDS                             | imds                                        | on / off                   |
// | GOVERNOR_POSTGRESQL_LISTEN                | postgresql.listen                           | host[,host...]:port        |
// | GOVERNOR_POSTGRESQL_CONNECT_ADDRESS       | postgresql.connect_address                  | host:port                  |
// | GOVERNOR_POSTGRESQL_DATA_DIR, PGDATA      | postgresql.data_dir                         | absolute path              |
// | GOVERNOR_POSTGRESQL_BIN_DIR               | postgresql.bin_dir                          | absolute path              |
// | GOVERNOR_POSTGRESQL_SOCKET_DIR            | postgresql.socket_dir                       | absolute path              |
// | GOVERNOR_POSTGRESQL_RUN_AS_USER           | postgresql.run_as_user                      | OS user name               |
// | GOVERNOR_POSTGRESQL_REMOVE_DATA_DIRECTORY_ON_REWIND_FAILURE | postgresql.remove_data_directory_on_rewind_failure | true / false |
// | GOVERNOR_POSTGRESQL_MAX_MOVED_ASIDE_COPIES | postgresql.max_moved_aside_copies          | integer 0-100              |
// | PGUSER_SUPERUSER                          | postgresql.authentication.superuser.username   | role name               |
// | PGPASSWORD_SUPERUSER                      | postgresql.authentication.superuser.password   | string (secret)         |
// | PGUSER_STANDBY                            | postgresql.authentication.replication.username | role name               |
// | PGPASSWORD_STANDBY                        | postgresql.authentication.replication.password | string (secret)         |
// | GOVERNOR_POSTGRESQL_PARAMETERS_<NAME>     | postgresql.parameters.<name> (lower-cased)  | string                     |
// | GOVERNOR_POSTGRESQL_SSL_CERT_FILE, _KEY_FILE, _CA_FILE | postgresql.ssl.cert_file, ...  | absolute path              |
// | GOVERNOR_POSTGRESQL_SSL_SSLMODE           | postgresql.ssl.sslmode                      | disable ... verify-full    |
// | GOVERNOR_POSTGRESQL_SSL_HOSTSSL_REPLICATION | postgresql.ssl.hostssl_replication        | true / false / 1 / 0       |
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
// | GOVERNOR_ARCHIVE_ENABLED                  | archive.enabled                             | true / false / 1 / 0       |
// | GOVERNOR_ARCHIVE_STORAGE, WALG_S3_PREFIX, | archive.storage                             | s3://bucket[/prefix] or    |
// |   WAL_S3_PREFIX                           |                                             |   file:///absolute/path    |
// | WALG_FILE_PREFIX                          | archive.storage (as file://<path>)          | absolute path              |
// | WAL_S3_BUCKET                             | archive.storage (as s3://<bucket>/<scope>)  | bucket name                |
// | GOVERNOR_ARCHIVE_COMPRESSION,             | archive.compression                         | lz4 / zstd / brotli / gzip |
// |   WALG_COMPRESSION_METHOD                 |                                             |   / none                   |
// | AWS_REGION                                | archive.s3.region                           | region name                |
// | AWS_ENDPOINT                              | archive.s3.endpoint                         | http(s):// URL             |
// | AWS_S3_FORCE_PATH_STYLE                   | archive.s3.force_path_style                 | true / false / 1 / 0       |
// | WALG_S3_SSE                               | archive.s3.sse                              | none / AES256 / aws:kms    |
// | WALG_S3_SSE_KMS_ID                        | archive.s3.sse_kms_key_id                   | KMS key id or ARN          |
// | BACKUP_SCHEDULE                           | archive.backup_schedule                     | cron, 5 fields, UTC        |
// | BACKUP_NUM_TO_RETAIN                      | archive.backup_num_to_retain                | integer >= 1               |
// | WALG_UPLOAD_CONCURRENCY                   | archive.upload_concurrency                  | integer >= 1               |
// | WALG_DOWNLOAD_CONCURRENCY                 | archive.prefetch                            | integer >= 0               |
// | GOVERNOR_ARCHIVE_SPOOL_DIR                | archive.spool_dir                           | absolute path              |
//
// AWS_EC2_METADATA_DISABLED=true (the AWS SDK's switch) turns IMDS off unless GOVERNOR_IMDS is set,
// and AWS_EC2_METADATA_SERVICE_ENDPOINT moves it (src/config/imds.ts reads both).
//
// A storage set from the environment also sets archive.enabled to true, unless
// GOVERNOR_ARCHIVE_ENABLED is set. The storage rows are tried top to bottom: the first variable set
// wins. AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY are deliberately not mapped: the AWS SDK's
// default credential chain reads them (and profiles, and the EC2 instance role) by itself.
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
  /** Turns the variable's text into the field's value, given the tree overlaid so far
   *  (WAL_S3_BUCKET=b becomes s3://b/<scope>). */
  value?: (raw: string, tree: Record<string, unknown>) => unknown;
}

/** WALG_FILE_PREFIX is a path; a relative one is passed on as is, so validation names it. */
function fileStorageUrl(raw: string): string {
  const trimmed = raw.trim();
  return trimmed.startsWith('/') ? `file://${trimmed}` : trimmed;
}

/** Spilo's WAL_S3_BUCKET is a bare bucket; the cluster's scope keeps clusters sharing it apart. */
function bucketStorageUrl(raw: string, tree: Record<string, unknown>): string {
  const scope = typeof tree.scope === 'string' ? tree.scope.trim() : '';
  return `s3://${raw.trim()}${scope ? `/${scope}` : ''}`;
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
  { path: 'cluster_secret', vars: ['GOVERNOR_CLUSTER_SECRET'], kind: 'secret' },
  { path: 'restapi.certfile', vars: ['GOVERNOR_RESTAPI_CERTFILE'], kind: 'string' },
  { path: 'restapi.keyfile', vars: ['GOVERNOR_RESTAPI_KEYFILE'], kind: 'string' },
  { path: 'restapi.cafile', vars: ['GOVERNOR_RESTAPI_CAFILE'], kind: 'string' },
  { path: 'ctl.cacert', vars: ['GOVERNOR_CTL_CACERT'], kind: 'string' },
  { path: 'imds', vars: ['GOVERNOR_IMDS'], kind: 'string' },
  { path: 'postgresql.listen', vars: ['GOVERNOR_POSTGRESQL_LISTEN'], kind: 'string' },
  { path: 'postgresql.connect_address', vars: ['GOVERNOR_POSTGRESQL_CONNECT_ADDRESS'], kind: 'string' },
  { path: 'postgresql.data_dir', vars: ['GOVERNOR_POSTGRESQL_DATA_DIR', 'PGDATA'], kind: 'string' },
  { path: 'postgresql.bin_dir', vars: ['GOVERNOR_POSTGRESQL_BIN_DIR'], kind: 'string' },
  { path: 'postgresql.socket_dir', vars: ['GOVERNOR_POSTGRESQL_SOCKET_DIR'], kind: 'string' },
  { path: 'postgresql.run_as_user', vars: ['GOVERNOR_POSTGRESQL_RUN_AS_USER'], kind: 'string' },
  { path: 'postgresql.remove_data_directory_on_rewind_failure', vars: ['GOVERNOR_POSTGRESQL_REMOVE_DATA_DIRECTORY_ON_REWIND_FAILURE'], kind: 'boolean' },
  { path: 'postgresql.max_moved_aside_copies', vars: ['GOVERNOR_POSTGRESQL_MAX_MOVED_ASIDE_COPIES'], kind: 'number' },
  { path: 'postgresql.authentication.superuser.username', vars: ['PGUSER_SUPERUSER'], kind: 'string' },
  { path: 'postgresql.authentication.superuser.password', vars: ['PGPASSWORD_SUPERUSER'], kind: 'secret' },
  { path: 'postgresql.authentication.replication.username', vars: ['PGUSER_STANDBY'], kind: 'string' },
  { path: 'postgresql.authentication.replication.password', vars: ['PGPASSWORD_STANDBY'], kind: 'secret' },
  { path: 'postgresql.ssl.cert_file', vars: ['GOVERNOR_POSTGRESQL_SSL_CERT_FILE'], kind: 'string' },
  { path: 'postgresql.ssl.key_file', vars: ['GOVERNOR_POSTGRESQL_SSL_KEY_FILE'], kind: 'string' },
  { path: 'postgresql.ssl.ca_file', vars: ['GOVERNOR_POSTGRESQL_SSL_CA_FILE'], kind: 'string' },
  { path: 'postgresql.ssl.sslmode', vars: ['GOVERNOR_POSTGRESQL_SSL_SSLMODE'], kind: 'string' },
  { path: 'postgresql.ssl.hostssl_replication', vars: ['GOVERNOR_POSTGRESQL_SSL_HOSTSSL_REPLICATION'], kind: 'boolean' },
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
  { path: 'archive.enabled', vars: ['GOVERNOR_ARCHIVE_ENABLED'], kind: 'boolean' },
  { path: 'archive.storage', vars: ['GOVERNOR_ARCHIVE_STORAGE', 'WALG_S3_PREFIX', 'WAL_S3_PREFIX'], kind: 'string' },
  { path: 'archive.storage', vars: ['WALG_FILE_PREFIX'], kind: 'string', value: fileStorageUrl },
  { path: 'archive.storage', vars: ['WAL_S3_BUCKET'], kind: 'string', value: bucketStorageUrl },
  { path: 'archive.compression', vars: ['GOVERNOR_ARCHIVE_COMPRESSION', 'WALG_COMPRESSION_METHOD'], kind: 'string' },
  { path: 'archive.s3.region', vars: ['AWS_REGION'], kind: 'string' },
  { path: 'archive.s3.endpoint', vars: ['AWS_ENDPOINT'], kind: 'string' },
  { path: 'archive.s3.force_path_style', vars: ['AWS_S3_FORCE_PATH_STYLE'], kind: 'boolean' },
  { path: 'archive.s3.sse', vars: ['WALG_S3_SSE'], kind: 'string' },
  { path: 'archive.s3.sse_kms_key_id', vars: ['WALG_S3_SSE_KMS_ID'], kind: 'string' },
  { path: 'archive.backup_schedule', vars: ['BACKUP_SCHEDULE'], kind: 'string' },
  { path: 'archive.backup_num_to_retain', vars: ['BACKUP_NUM_TO_RETAIN'], kind: 'number' },
  { path: 'archive.upload_concurrency', vars: ['WALG_UPLOAD_CONCURRENCY'], kind: 'number' },
  { path: 'archive.prefetch', vars: ['WALG_DOWNLOAD_CONCURRENCY'], kind: 'number' },
  { path: 'archive.spool_dir', vars: ['GOVERNOR_ARCHIVE_SPOOL_DIR'], kind: 'string' },
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
    if (override.value) value = override.value(raw, tree);
    if (setIn(tree, override.path.split('.'), value)) origins.set(override.path, name);
    done.add(override.path);
  }

  // An operator who names a bucket in the environment means "archive there".
  const storageVar = origins.get('archive.storage');
  if (storageVar !== undefined && !origins.has('archive.enabled') && setIn(tree, ['archive', 'enabled'], true)) {
    origins.set('archive.enabled', storageVar);
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

/** The variables of `env` that shape the configuration (every override above) plus the AWS SDK's
 *  own (AWS_*): what a child that loads the same config file must see to get the same result.
 *  archive_command and restore_command (governor wal-push/wal-fetch) get these through a 0600
 *  file, not PostgreSQL's environment (src/postgres/postmaster-env.ts). */
export function configEnvironment(env: NodeJS.ProcessEnv): Record<string, string> {
  const names = new Set(ENV_OVERRIDES.flatMap((o) => o.vars));
  const picked: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined) continue;
    if (names.has(name) || name.startsWith(ENV_PARAMETER_PREFIX) || name.startsWith('AWS_') || name === 'GOVERNOR_CONFIG') picked[name] = value;
  }
  return picked;
}
