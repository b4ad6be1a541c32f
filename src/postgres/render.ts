// Pure rendering of the files governor owns: postgresql.conf, pg_hba.conf, the password file, conninfo strings.
import type { Credentials, PostgresqlConfig } from '../config/types.js';
import { localOnlyReason } from '../config/local-only-parameters.js';
import { sslConninfo, sslParameters, sslSettings, SSL_PARAMETER_NAMES } from './ssl.js';
import type { StartRole } from './types.js';

export type ParamValue = string | number | boolean;

/** Split "host:port" where host may be a comma list, IPv6 in brackets ("[::1],127.0.0.1:5432"). */
export function parseListen(value: string): { hosts: string[]; port: number } {
  const idx = value.lastIndexOf(':');
  const portText = idx >= 0 ? value.slice(idx + 1) : '';
  if (idx <= 0 || !/^\d{1,5}$/.test(portText)) throw new Error(`postgresql.listen: expected host:port, got ${JSON.stringify(value)}`);
  const port = Number(portText);
  if (port < 1 || port > 65535) throw new Error(`postgresql.listen: port ${port} is outside 1-65535`);
  const hosts = value
    .slice(0, idx)
    .split(',')
    .map((h) => h.trim().replace(/^\[(.*)\]$/, '$1'))
    .filter((h) => h !== '');
  if (hosts.length === 0) throw new Error(`postgresql.listen: no host in ${JSON.stringify(value)}`);
  return { hosts, port };
}

/** A postgresql.conf string literal: backslashes doubled, quotes doubled. */
export function quoteConfString(value: string): string {
  if (/[\n\r\0]/.test(value)) throw new Error('postgresql.conf values cannot contain newlines or NUL');
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
}

export function formatConfValue(value: ParamValue): string {
  if (typeof value === 'boolean') return value ? 'on' : 'off';
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new Error(`invalid numeric parameter value ${value}`);
    return String(value);
  }
  return quoteConfString(value);
}

const PARAM_NAME_RE = /^[A-Za-z_][A-Za-z0-9_.]*$/;

export function renderPostgresqlConf(params: Map<string, ParamValue>): string {
  const lines = ['# Managed by governor: rewritten on every start; edit governor.yml or the DCS config instead.'];
  for (const [name, value] of params) {
    if (!PARAM_NAME_RE.test(name)) throw new Error(`invalid PostgreSQL parameter name ${JSON.stringify(name)}`);
    lines.push(`${name} = ${formatConfValue(value)}`);
  }
  return lines.join('\n') + '\n';
}

/** Parameters governor decides itself; user-supplied values for them are ignored. */
export const PROTECTED_PARAMETERS = new Set([
  'listen_addresses', 'port', 'unix_socket_directories', 'primary_conninfo', 'primary_slot_name',
  'data_directory', 'config_file', 'hba_file', 'ident_file',
]);

export function defaultParameters(): [string, ParamValue][] {
  return [
    ['wal_level', 'replica'],
    ['hot_standby', true],
    ['max_wal_senders', 10],
    ['max_replication_slots', 10],
    ['wal_keep_size', '128MB'],
    ['wal_log_hints', true],
    ['hot_standby_feedback', true],
    ['wal_receiver_status_interval', '1s'],
    // After its WAL source fails, a standby's startup process sleeps this long before trying again,
    // and a promote request that arrives in that sleep waits it out: a switchover's candidate,
    // whose stream from the stopping master ended a moment earlier, promoted up to 0.5 s late at
    // 500ms (PostgreSQL's default is 5 s). Shorter is not free: while the master restarts after a
    // crash, each replica's reconnect attempts (a forked walreceiver, a refused connection and a
    // log line each) slowed the restart by ~0.1 s at 100ms on 2 cores.
    ['wal_retrieve_retry_interval', '200ms'],
    // Crash recovery (a postmaster SIGKILL, restarted in place) first fsyncs every file of the data
    // directory one by one: 2 s of the write outage on a loaded machine here. One syncfs() per
    // file system does the same job (PostgreSQL 14+, Linux).
    ['recovery_init_sync_method', 'syncfs'],
    ['password_encryption', 'scram-sha-256'],
    ['recovery_target_timeline', 'latest'],
    ['max_connections', 100],
    ['shared_buffers', '128MB'],
    ['lc_messages', 'C'],
    ['lc_monetary', 'C'],
    ['lc_numeric', 'C'],
    ['lc_time', 'C'],
    ['datestyle', 'iso, mdy'],
    ['timezone', 'UTC'],
    ['log_timezone', 'UTC'],
    ['default_text_search_config', 'pg_catalog.english'],
    ['log_line_prefix', '%m [%p] '],
  ];
}

/** A libpq conninfo value: always single-quoted, with \ and ' backslash-escaped. */
export function quoteConninfoValue(value: string | number): string {
  return `'${String(value).replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

export function buildConninfo(entries: [string, string | number][]): string {
  return entries.map(([k, v]) => `${k}=${quoteConninfoValue(v)}`).join(' ');
}

export function primaryConninfo(config: PostgresqlConfig, role: StartRole, passfile: string): string {
  const primary = role.primary;
  if (!primary) throw new Error('a replica needs role.primary');
  return buildConninfo([
    ['host', primary.host],
    ['port', primary.port],
    ['user', config.authentication.replication.username],
    ['passfile', passfile],
    ['application_name', primary.applicationName],
    ...sslConninfo(sslSettings(config)),
    ['connect_timeout', 2],
    ['keepalives', 1],
    ['keepalives_idle', 5],
    ['keepalives_interval', 2],
    ['keepalives_count', 3],
  ]);
}

/** One word for /bin/sh inside archive_command/restore_command: single-quoted (a ' becomes '\''), and every %
 *  doubled, because PostgreSQL expands %p, %f and %% in those commands before the shell sees them. */
export function shellQuote(word: string): string {
  if (/[\n\r\0]/.test(word)) throw new Error(`cannot put ${JSON.stringify(word)} in a shell command: newline or NUL`);
  return `'${word.replace(/'/g, `'\\''`).replace(/%/g, '%%')}'`;
}

/** How the archive_command fast path reads a WAL file's identity (GNU stat; src/archive/wal-identity.ts
 *  writes the same fields into the uploader's marker): device, inode, size, mtime and ctime in ns. */
export const WAL_IDENTITY_STAT_FORMAT = '%d %i %s %.9Y %.9Z';

/** The shell commands PostgreSQL runs to archive and restore WAL. */
export interface ArchiveCommands {
  /** archive_command: `<governor> wal-push -c <config> "%p"` */
  push: string;
  /** restore_command: `<governor> wal-fetch -c <config> "%f" "%p"` */
  fetch: string;
}

/** Where the WAL uploader leaves its "already stored" markers (src/archive/wal-spool.ts): the spool
 *  directory and the storage description written into each marker. */
export interface UploadMarkers {
  spoolDir: string;
  storage: string;
}

/** archive_command and restore_command from governor's own argv prefix (governorCommand()) and the absolute
 *  path of its config file. No credentials here: wal-push/wal-fetch read them from the config file or the AWS chain.
 *  With `markers`, archive_command first checks in the shell whether the uploader already stored this exact
 *  segment (its marker holds the segment's SHA-256, the storage and the file's identity): PostgreSQL's
 *  archiver, which also runs at every shutdown before a switchover can hand over, then pays one `stat`
 *  (a few ms) per segment instead of starting governor (~300 ms). Anything else goes to wal-push, which verifies for itself. */
export function archiveCommands(governor: string[], configFile: string, markers?: UploadMarkers): ArchiveCommands {
  if (governor.length === 0) throw new Error('archiveCommands: empty governor command');
  if (!configFile.startsWith('/')) throw new Error(`archiveCommands: config file path must be absolute (PostgreSQL runs the command in its data directory), got ${JSON.stringify(configFile)}`);
  const governorWords = governor.map(shellQuote).join(' ');
  const config = shellQuote(configFile);
  const push = `${governorWords} wal-push -c ${config} "%p"`;
  const fetch = `${governorWords} wal-fetch -c ${config} "%f" "%p"`;
  if (!markers) return { push, fetch };
  const spool = shellQuote(markers.spoolDir.replace(/\/+$/, '') + '/');
  // A segment PostgreSQL has just finished (the one a shutdown switches out, say) is usually being
  // uploaded right now: wait 200 ms for the uploader to claim it, then as long as its claim lasts
  // (at most 5 s), rather than start governor to wait for the same thing.
  // Then the marker (sha256, storage, identity: src/archive/wal-identity.ts) is read with the
  // shell's own `read`; the file is confirmed by its identity (one `stat`), or, for a marker
  // without one, by hashing it (sha256sum, ~50 ms per 16 MiB). Every process started here costs
  // milliseconds per segment, and the archiver runs this once per segment.
  const stored =
    `m=${spool}"%f".done; c=${spool}"%f".claim; i=0; ` +
    `while [ ! -f "$m" ] && [ $i -lt 250 ]; do if [ $i -ge 10 ] && [ ! -f "$c" ]; then break; fi; sleep 0.02; i=$((i+1)); done; ` +
    `if [ -f "$m" ] && { read -r s; read -r u; read -r d || :; } < "$m" && [ "$u" = ${shellQuote(markers.storage)} ]; then ` +
    `if [ -n "$d" ] && [ "$d" = "$(stat -L -c ${shellQuote(WAL_IDENTITY_STAT_FORMAT)} "%p")" ]; then exit 0; fi; ` +
    `[ "$s" = "$(sha256sum < "%p" | cut -c1-64)" ] && exit 0; fi`;
  return { push: `${stored}; exec ${push}`, fetch };
}

/** Parameters governor sets itself while archiving is enabled; user values for them are ignored. */
export const ARCHIVE_PARAMETERS = new Set(['archive_mode', 'archive_command', 'archive_library', 'restore_command']);
export const DEFAULT_ARCHIVE_TIMEOUT = '60s';

export interface BuiltParameters {
  params: Map<string, ParamValue>;
  /** Names of protected parameters found in cluster or local parameters (and ignored). */
  ignored: string[];
}

/** Defaults, then the cluster-wide parameters, then the local ones, then governor's own (protected) settings.
 *  With `archive` (archiving enabled), WAL goes through governor wal-push, and replicas restore with wal-fetch. */
export function buildParameters(config: PostgresqlConfig, role: StartRole, passfile: string, archive?: ArchiveCommands | null): BuiltParameters {
  const { hosts, port } = parseListen(config.listen);
  const params = new Map<string, ParamValue>();
  const ignored: string[] = [];
  params.set('listen_addresses', hosts.join(','));
  params.set('port', port);
  params.set('unix_socket_directories', config.socket_dir);
  for (const [k, v] of defaultParameters()) params.set(k, v);
  const ssl = sslParameters(sslSettings(config));
  for (const source of [role.clusterParameters ?? {}, config.parameters ?? {}]) {
    const clusterWide = source === role.clusterParameters;
    for (const [k, v] of Object.entries(source)) {
      const name = k.toLowerCase();
      // Validation refuses local-only parameters cluster-wide already; should one get past it, it
      // is still never rendered from the cluster's configuration.
      const localOnly = clusterWide && localOnlyReason(name) !== null;
      if (localOnly || PROTECTED_PARAMETERS.has(name) || (archive && ARCHIVE_PARAMETERS.has(name)) || (ssl.length > 0 && SSL_PARAMETER_NAMES.has(name))) ignored.push(k);
      else params.set(name, v);
    }
  }
  for (const [k, v] of ssl) params.set(k, v);
  if (archive) {
    // archive_mode on for every role: it needs a restart to change, and a promoted replica archives at once.
    params.set('archive_mode', true);
    params.set('archive_command', archive.push);
    if (!params.has('archive_timeout')) params.set('archive_timeout', DEFAULT_ARCHIVE_TIMEOUT);
    if (role.role === 'replica' && role.restoreFromArchive) params.set('restore_command', archive.fetch);
  }
  // A replica without a primary (no leader yet) replays what it has and waits, read-only.
  if (role.role === 'replica' && role.primary) {
    params.set('primary_conninfo', primaryConninfo(config, role, passfile));
    if (role.slotName) params.set('primary_slot_name', role.slotName);
  }
  return { params, ignored };
}

const HBA_KEYWORDS = new Set(['all', 'sameuser', 'samerole', 'samegroup', 'replication']);

/** A role name in pg_hba.conf: bare when plain, double-quoted otherwise. */
export function hbaName(name: string): string {
  if (name === '' || /["\n\r\0]/.test(name)) throw new Error(`role name ${JSON.stringify(name)} cannot be used in pg_hba.conf`);
  if (/^[A-Za-z0-9_]+$/.test(name) && !HBA_KEYWORDS.has(name)) return name;
  return `"${name}"`;
}

export function renderPgHba(config: PostgresqlConfig): string {
  const su = hbaName(config.authentication.superuser.username);
  const repl = hbaName(config.authentication.replication.username);
  // hostssl: a replica (or pg_basebackup) without TLS is refused, not just unencrypted.
  const replicationType = sslSettings(config).hostssl_replication ? 'hostssl' : 'host';
  const lines = [
    '# Managed by governor: rewritten on every start; add lines with postgresql.pg_hba in governor.yml.',
    ...(config.pg_hba ?? []),
    `local all ${su} scram-sha-256`,
    // backup-push runs pg_basebackup through the local socket as the superuser.
    `local replication ${su} scram-sha-256`,
    'local all all scram-sha-256',
    'host all all 127.0.0.1/32 scram-sha-256',
    'host all all ::1/128 scram-sha-256',
    `${replicationType} replication ${repl} 0.0.0.0/0 scram-sha-256`,
    `${replicationType} replication ${repl} ::/0 scram-sha-256`,
    'host all all 0.0.0.0/0 scram-sha-256',
    'host all all ::/0 scram-sha-256',
  ];
  return lines.join('\n') + '\n';
}

/** One field of a .pgpass line: ':' and '\' escaped with a backslash. */
export function escapePgpassField(value: string): string {
  if (/[\n\r]/.test(value)) throw new Error('password file fields cannot contain newlines');
  return value.replace(/\\/g, '\\\\').replace(/:/g, '\\:');
}

/** `*:*:*:user:password` lines, first match wins in libpq, duplicates by user dropped. */
export function renderPgpass(credentials: Credentials[]): string {
  const seen = new Set<string>();
  const lines: string[] = [];
  for (const { username, password } of credentials) {
    if (seen.has(username)) continue;
    seen.add(username);
    lines.push(`*:*:*:${escapePgpassField(username)}:${escapePgpassField(password)}`);
  }
  return lines.join('\n') + '\n';
}

/** An empty postgresql.auto.conf (governor never uses ALTER SYSTEM). */
export const EMPTY_AUTO_CONF =
  '# Do not edit this file manually!\n# It will be overwritten by the ALTER SYSTEM command.\n';

/** Parameter names set in a postgresql.auto.conf text (non-comment lines). */
export function autoConfParameters(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => l.split(/[\s=]/)[0]!);
}

/** The file (in the data directory, included last by postgresql.conf) holding the synchronous
 *  standby governor picked: changed at runtime with a reload, kept across restarts of a master. */
export const SYNC_CONF = 'governor.sync.conf';

export function renderSyncConf(names: string): string {
  return `# Managed by governor (synchronous_mode): the synchronous standby named in the DCS sync key.\nsynchronous_standby_names = ${formatConfValue(names)}\n`;
}

/** The value renderSyncConf wrote ('' when the file is absent or holds none). */
export function parseSyncConf(text: string): string {
  const match = /^synchronous_standby_names = '((?:[^']|'')*)'$/m.exec(text);
  return match ? match[1]!.replace(/''/g, "'").replace(/\\\\/g, '\\') : '';
}
