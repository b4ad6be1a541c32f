// Default values for every optional setting. Chosen for fast failover; see dynamic.ts (checkDynamic) for the
// timing rule they satisfy (ttl >= loop_wait + 2 * retry_timeout: 5 >= 1 + 2 * 2).

import path from 'node:path';
import type { ArchiveConfig, DynamicConfig, HaproxyConfig, PostgresqlSslConfig } from './types.js';

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const child of Object.values(value as Record<string, unknown>)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

/** Cluster-wide settings used when bootstrap.dcs (or the DCS `config` key) leaves them out.
 *  Frozen: copy before changing (validateDynamicConfig returns fresh objects). */
export const DEFAULT_DYNAMIC_CONFIG: DynamicConfig = deepFreeze({
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

/** Lower bounds checked by validation. */
export const DYNAMIC_LIMITS = deepFreeze({
  ttl: 3,
  loop_wait: 0.1,
  retry_timeout: 0.5,
});

export const DEFAULT_NAMESPACE = 'service';

export const DEFAULT_ETCD = deepFreeze({
  hosts: ['127.0.0.1:2379'],
  protocol: 'http' as const,
});

export const DEFAULT_RESTAPI = deepFreeze({
  listen: '127.0.0.1:8008',
});

export const DEFAULT_POSTGRESQL = deepFreeze({
  bin_dir: '/usr/lib/postgresql/15/bin',
  data_dir: '/var/lib/postgresql/15/governor',
  listen: '127.0.0.1:5432',
  socket_dir: '/var/run/postgresql',
  superuser_username: 'postgres',
  replication_username: 'replicator',
  remove_data_directory_on_rewind_failure: false,
  max_moved_aside_copies: 2,
});

/** PostgreSQL without TLS files: ssl off, replicas ask for TLS but take plain text (libpq's default). */
export const DEFAULT_POSTGRESQL_SSL: Readonly<PostgresqlSslConfig> = deepFreeze({
  cert_file: null,
  key_file: null,
  ca_file: null,
  sslmode: 'prefer' as const,
  hostssl_replication: false,
});

/** sslmode when certificates are configured: encrypted, without verifying the master's identity
 *  (that needs ca_file: verify-ca or verify-full). */
export const DEFAULT_SSLMODE_WITH_CERTIFICATES = 'require' as const;

/** IMDS is asked only when a value is missing, so "on" costs nothing off EC2 when the file is complete. */
export const DEFAULT_IMDS = 'on' as const;

/** The instance metadata service's address, as the AWS SDK has it (AWS_EC2_METADATA_SERVICE_ENDPOINT overrides). */
export const DEFAULT_IMDS_ENDPOINT = 'http://169.254.169.254';

/** Total time for the token request and both reads: a machine off EC2 must not wait long. */
export const IMDS_TIMEOUT_MS = 1000;

export const DEFAULT_TAGS = deepFreeze({
  nofailover: false,
  noloadbalance: false,
  failover_priority: 1,
});

export const DEFAULT_LOG_LEVEL = 'info' as const;

/** HAProxy routing (off by default). Paths match Debian's haproxy package plus the systemd
 *  drop-in in systemd/haproxy-governor.conf (which adds the master socket). */
export const DEFAULT_HAPROXY: Readonly<HaproxyConfig> = deepFreeze({
  enabled: false,
  manage: false,
  bin: '/usr/sbin/haproxy',
  // A directory of governor's own (owned by postgres), not /etc/haproxy itself, where root (dpkg) writes.
  config_file: '/etc/haproxy/governor/haproxy.cfg',
  listen_address: '0.0.0.0',
  rw_port: 5000,
  ro_port: 5001,
  stats_socket: '/run/haproxy/admin.sock',
  master_socket: '/run/haproxy/master.sock',
  pid_file: '/run/haproxy/haproxy.pid',
  replicas_fallback_to_master: true,
  check_interval_ms: 1000,
  stats_listen: null,
  maxconn: 1000,
});

/** A fresh, mutable copy of DEFAULT_HAPROXY. */
export function defaultHaproxyConfig(): HaproxyConfig {
  return { ...DEFAULT_HAPROXY };
}

/** The spool directory beside the data directory: outside it, so pg_basebackup and pg_rewind
 *  never copy or rewrite governor's upload status and prefetched segments. */
export function defaultSpoolDir(dataDir: string): string {
  return path.posix.join(path.posix.dirname(dataDir), 'archive-spool');
}

/** WAL archiving and backups (off by default). lz4 because it compresses a 16 MiB WAL segment
 *  faster than the network sends it; prefetch and upload concurrency as WAL-G's defaults. */
export const DEFAULT_ARCHIVE: Readonly<ArchiveConfig> = deepFreeze({
  enabled: false,
  storage: '',
  compression: 'lz4' as const,
  s3: {
    region: null,
    endpoint: null,
    force_path_style: false,
    sse: 'none' as const,
    sse_kms_key_id: null,
    access_key_id: null,
    secret_access_key: null,
  },
  upload_concurrency: 4,
  prefetch: 4,
  backup_schedule: null,
  backup_num_to_retain: 5,
  backup_wal_timeout: 300,
  spool_dir: defaultSpoolDir(DEFAULT_POSTGRESQL.data_dir),
  create_replica_methods: ['basebackup' as const],
});

/** A fresh, mutable copy of DEFAULT_ARCHIVE; the spool directory follows `dataDir`. */
export function defaultArchiveConfig(dataDir: string = DEFAULT_POSTGRESQL.data_dir): ArchiveConfig {
  return {
    ...DEFAULT_ARCHIVE,
    s3: { ...DEFAULT_ARCHIVE.s3 },
    spool_dir: defaultSpoolDir(dataDir),
    create_replica_methods: [...DEFAULT_ARCHIVE.create_replica_methods],
  };
}
