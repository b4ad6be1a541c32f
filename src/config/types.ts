// The shape of governor.yml after defaults, environment overrides and validation.
// Field names follow Patroni's YAML where the two overlap, so an operator's muscle memory works.

export interface Credentials {
  username: string;
  password: string;
}

/** Settings shared by every member, stored in the DCS `config` key and seeded from bootstrap.dcs. */
export interface DynamicConfig {
  /** Seconds the leader key lives without renewal. */
  ttl: number;
  /** Seconds between HA loop iterations (and lease renewals). */
  loop_wait: number;
  /** Seconds an etcd or PostgreSQL call is retried before it counts as failed. */
  retry_timeout: number;
  /** A replica further behind the master than this many bytes never races for the leader key. */
  maximum_lag_on_failover: number;
  /** PostgreSQL parameters every member applies (a member's own postgresql.parameters win). */
  postgresql: { parameters: Record<string, string | number | boolean> };
  /** Maintenance mode: no automatic failover, PostgreSQL left alone. */
  pause?: boolean;
  /** While etcd is unreachable the master keeps writing as long as every member of the last known
   *  view confirms it over the REST API (POST /failsafe). Absent means on. */
  failsafe_mode?: boolean;
  /** The master keeps one synchronous standby, named in the DCS `sync` key; only it may take over
   *  automatically, so no acknowledged commit is lost at failover. */
  synchronous_mode?: boolean;
  /** With synchronous_mode: commits wait when no standby can be synchronous (never unreplicated). */
  synchronous_mode_strict?: boolean;
}

export interface Tags {
  nofailover: boolean;
  noloadbalance: boolean;
  /** Higher wins among equally advanced candidates; 0 means never a failover candidate. */
  failover_priority: number;
  [extra: string]: unknown;
}

export interface PostgresqlConfig {
  bin_dir: string;
  data_dir: string;
  /** host:port PostgreSQL listens on (host may be a comma-separated list). */
  listen: string;
  /** host:port other members and clients use to reach this PostgreSQL. */
  connect_address: string;
  /** Directory for the Unix socket; governor connects through it. */
  socket_dir: string;
  authentication: {
    superuser: Credentials;
    replication: Credentials;
  };
  /** Local parameters; they override the cluster-wide ones from the DCS. */
  parameters: Record<string, string | number | boolean>;
  /** Extra pg_hba.conf lines, placed before governor's own. */
  pg_hba: string[];
  /** OS user PostgreSQL runs as. Needed when governor runs as root (PostgreSQL refuses root). */
  run_as_user: string | null;
  /** TLS for client and replication connections. Always set by loadConfig; optional so hand-built
   *  configs (test helpers) may leave it out: read it with `config.ssl ?? DEFAULT_POSTGRESQL_SSL`. */
  ssl?: PostgresqlSslConfig;
  /** Patroni's setting: when pg_rewind fails (or a data fault stops PostgreSQL from starting), remove
   *  the data directory and clone again instead of moving it aside. Always set by loadConfig;
   *  optional for hand-built configs (default false). */
  remove_data_directory_on_rewind_failure?: boolean;
  /** Copies of data_dir moved aside that may exist at once; with that many, a member whose data must
   *  make way waits for governorctl reinit. Always set by loadConfig; optional (default 2). */
  max_moved_aside_copies?: number;
}

/** libpq's sslmode values, weakest first. */
export type SslMode = 'disable' | 'allow' | 'prefer' | 'require' | 'verify-ca' | 'verify-full';

export interface PostgresqlSslConfig {
  /** Server certificate (PEM); with key_file it turns on ssl in postgresql.conf. */
  cert_file: string | null;
  /** Server private key (PEM): owned by PostgreSQL's OS user with mode 0600, or root:postgres 0640. */
  key_file: string | null;
  /** CA bundle: ssl_ca_file of the server, and sslrootcert of replicas using verify-ca/verify-full. */
  ca_file: string | null;
  /** sslmode replicas, pg_basebackup and pg_rewind use to reach the master. */
  sslmode: SslMode;
  /** pg_hba: replication connections from other hosts only over TLS (hostssl instead of host). */
  hostssl_replication: boolean;
}

export interface RestApiConfig {
  /** host:port the REST API binds to. */
  listen: string;
  /** host:port other members use to reach this API. */
  connect_address: string;
  /** Basic-auth credentials required for state-changing endpoints. */
  authentication: Credentials | null;
  /** HTTPS: certificate chain and private key (PEM). Both or neither. Optional in the type only so
   *  hand-built configs may leave them out; loadConfig always sets them (null = plain HTTP). */
  certfile?: string | null;
  keyfile?: string | null;
  /** CA bundle that signed the members' REST certificates: members verify each other with it, and
   *  governorctl too unless ctl.cacert is set. null = the system trust store. */
  cafile?: string | null;
}

/** governorctl's own settings. */
export interface CtlConfig {
  /** CA bundle to verify members' REST certificates with (default: restapi.cafile). */
  cacert: string | null;
}

/** Whether the EC2 instance metadata service (IMDSv2) supplies values the configuration leaves out
 *  (member name, connect addresses behind a wildcard listen). */
export type ImdsMode = 'on' | 'off';

export interface EtcdConfig {
  /** host:port list of etcd endpoints (or the local proxy). */
  hosts: string[];
  protocol: 'http' | 'https';
  username: string | null;
  password: string | null;
  cacert: string | null;
  cert: string | null;
  key: string | null;
}

/** HAProxy on this node: port rw_port goes to the member holding the leader key, ro_port to the
 *  streaming replicas. Governor renders config_file from the cluster view and reloads HAProxy. */
export interface HaproxyConfig {
  /** Governor renders and applies config_file only when true. */
  enabled: boolean;
  /** true: governor starts and supervises its own HAProxy (demo, tests); false: systemd runs it. */
  manage: boolean;
  /** The haproxy binary (absolute path). */
  bin: string;
  /** The haproxy.cfg governor writes (absolute path). */
  config_file: string;
  /** Bind address of the two ports: an IP, a host name, or a wildcard (0.0.0.0, ::, *). */
  listen_address: string;
  /** Read-write port: the leader only. */
  rw_port: number;
  /** Read-only port: streaming replicas (and the leader as a backup, see below). */
  ro_port: number;
  /** Runtime API socket (admin level), Unix socket path. */
  stats_socket: string;
  /** Master CLI socket (master-worker mode); governor sends `reload` there. */
  master_socket: string;
  pid_file: string;
  /** ro_port goes to the leader when no replica is healthy. */
  replicas_fallback_to_master: boolean;
  /** Milliseconds between health checks of each server. */
  check_interval_ms: number;
  /** Optional host:port of a stats HTML page; null = none. */
  stats_listen: string | null;
  maxconn: number;
  /** Not a YAML field: the daemon sets it from restapi.cafile so HAProxy verifies the certificate
   *  of an HTTPS REST API it health-checks (without it: check-ssl verify none). */
  check_ca_file?: string | null;
}

export type CompressionMethod = 'lz4' | 'zstd' | 'brotli' | 'gzip' | 'none';

/** WAL archiving and base backups. Object layout under the storage URL: see src/archive/layout.ts. */
export interface ArchiveConfig {
  /** Archive WAL (archive_mode on, archive_command = governor wal-push) and allow backups. */
  enabled: boolean;
  /** `s3://bucket/prefix` or `file:///absolute/path`. */
  storage: string;
  /** Codec for new objects; reading detects the codec from each object's name. */
  compression: CompressionMethod;
  s3: {
    region: string | null;
    /** Custom endpoint (MinIO, s3rver, ...), e.g. http://127.0.0.1:9000. */
    endpoint: string | null;
    force_path_style: boolean;
    /** Server-side encryption: none, SSE-S3 (AES256) or SSE-KMS (aws:kms with kms_key_id). */
    sse: 'none' | 'AES256' | 'aws:kms';
    sse_kms_key_id: string | null;
    /** Static credentials; null = the AWS default provider chain (env, profile, EC2 instance role). */
    access_key_id: string | null;
    secret_access_key: string | null;
  };
  /** Segments uploaded at once (daemon ahead-of-time uploader, and wal-push). */
  upload_concurrency: number;
  /** Segments wal-fetch prefetches after the one asked for. */
  prefetch: number;
  /** Cron expression (5 fields, UTC) for scheduled base backups on the master; null = none. */
  backup_schedule: string | null;
  /** Full base backups kept by backup-delete --retain and after a scheduled backup. */
  backup_num_to_retain: number;
  /** Seconds backup-push lets PostgreSQL wait for the backup's WAL to be archived before it gives up. */
  backup_wal_timeout: number;
  /** Local directory for upload status and prefetched segments (absolute path). */
  spool_dir: string;
  /** How a new replica gets its data, tried in order: from the latest base backup, or pg_basebackup. */
  create_replica_methods: Array<'backup' | 'basebackup'>;
}

export interface GovernorConfig {
  scope: string;
  namespace: string;
  name: string;
  etcd: EtcdConfig;
  restapi: RestApiConfig;
  postgresql: PostgresqlConfig;
  bootstrap: { dcs: DynamicConfig };
  tags: Tags;
  log: { level: 'debug' | 'info' | 'warn' | 'error' };
  /** Always set by loadConfig. Optional only so hand-built configs (test helpers) may leave it
   *  out; read it with `config.haproxy ?? defaultHaproxyConfig()` (src/config/defaults.ts). */
  haproxy?: HaproxyConfig;
  /** Always set by loadConfig; optional for the same reason as haproxy (defaultArchiveConfig()). */
  archive?: ArchiveConfig;
  /** Always set by loadConfig; optional for the same reason as haproxy. */
  ctl?: CtlConfig;
  /** Always set by loadConfig; optional for the same reason as haproxy. */
  imds?: ImdsMode;
  /** The cluster secret: the same on every member, neither the REST password nor stored in etcd.
   *  Keys the proof each failsafe answer carries (src/ha/failsafe-proof.ts); without it an etcd
   *  outage cannot be bridged (failsafe_mode) and writes stop at the lease deadline. */
  cluster_secret?: string | null;
}
