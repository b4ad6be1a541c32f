// TLS for PostgreSQL (pure): the server's ssl parameters, the sslmode replicas, pg_basebackup and
// pg_rewind connect with, and the key file ownership PostgreSQL insists on.

import { DEFAULT_POSTGRESQL_SSL } from '../config/defaults.js';
import type { PostgresqlConfig, PostgresqlSslConfig } from '../config/types.js';

export function sslSettings(config: Pick<PostgresqlConfig, 'ssl'>): PostgresqlSslConfig {
  return config.ssl ?? DEFAULT_POSTGRESQL_SSL;
}

/** Parameters governor sets when certificates are configured (none otherwise). */
export const SSL_PARAMETER_NAMES = new Set(['ssl', 'ssl_cert_file', 'ssl_key_file', 'ssl_ca_file']);

export function sslParameters(ssl: PostgresqlSslConfig): Array<[string, string | boolean]> {
  if (!ssl.cert_file || !ssl.key_file) return [];
  const params: Array<[string, string | boolean]> = [
    ['ssl', true],
    ['ssl_cert_file', ssl.cert_file],
    ['ssl_key_file', ssl.key_file],
  ];
  if (ssl.ca_file) params.push(['ssl_ca_file', ssl.ca_file]);
  return params;
}

/** sslmodes under which every connection is TLS. */
export function sslRequired(ssl: PostgresqlSslConfig): boolean {
  return ssl.sslmode === 'require' || ssl.sslmode === 'verify-ca' || ssl.sslmode === 'verify-full';
}

/** sslmode (and sslrootcert when the master's certificate is verified) for a conninfo string.
 *  sslrootcert only then: libpq treats require as verify-ca whenever a root certificate is given.
 *  With TLS required, channel_binding=require too: libpq then answers only SCRAM with channel
 *  binding and refuses a clear-text or MD5 password request before sending anything (PostgreSQL 15's
 *  libpq has no require_auth), and a man in the middle cannot relay the exchange. Members
 *  authenticate with scram-sha-256 (governor's pg_hba); a pg_hba line of your own that gives the
 *  replication or superuser role `cert`, `trust` or `password` is refused by this. */
export function sslConninfo(ssl: PostgresqlSslConfig): Array<[string, string]> {
  const entries: Array<[string, string]> = [['sslmode', ssl.sslmode]];
  if ((ssl.sslmode === 'verify-ca' || ssl.sslmode === 'verify-full') && ssl.ca_file) entries.push(['sslrootcert', ssl.ca_file]);
  if (sslRequired(ssl)) entries.push(['channel_binding', 'require']);
  return entries;
}

/** The same as libpq environment variables, for programs given host/port/user as arguments (pg_basebackup). */
export function sslEnvironment(ssl: PostgresqlSslConfig): Record<string, string> {
  const names: Record<string, string> = { sslmode: 'PGSSLMODE', sslrootcert: 'PGSSLROOTCERT', channel_binding: 'PGCHANNELBINDING' };
  return Object.fromEntries(sslConninfo(ssl).map(([key, value]) => [names[key]!, value]));
}

export interface FileStat {
  uid: number;
  gid: number;
  mode: number;
  isFile: boolean;
}

/**
 * Why PostgreSQL would refuse `file` as ssl_key_file, or null. Its rule: a regular file owned by
 * the database user with no group or other access (0600), or owned by root with at most group
 * read (0640, the group being one the database user is in, here its primary group).
 */
export function keyFileProblem(file: string, stat: FileStat, user: { uid: number; gid: number; name: string }): string | null {
  const mode = (stat.mode & 0o777).toString(8).padStart(4, '0');
  const fix = `chown ${user.name} ${file} && chmod 0600 ${file} (or chown root:${user.name} and chmod 0640)`;
  if (!stat.isFile) return `postgresql.ssl.key_file ${file}: not a regular file`;
  if (stat.uid === user.uid) {
    if ((stat.mode & 0o077) !== 0) return `postgresql.ssl.key_file ${file}: mode ${mode} lets others read it and PostgreSQL refuses such a key; chmod 0600 ${file}`;
    return null;
  }
  if (stat.uid === 0) {
    if ((stat.mode & 0o037) !== 0) return `postgresql.ssl.key_file ${file}: owned by root with mode ${mode}; PostgreSQL accepts at most 0640 there; ${fix}`;
    if (stat.gid !== user.gid || (stat.mode & 0o040) === 0) return `postgresql.ssl.key_file ${file}: owned by root but not readable by group ${user.name}'s group; ${fix}`;
    return null;
  }
  return `postgresql.ssl.key_file ${file}: owned by uid ${stat.uid}; PostgreSQL (running as ${user.name}) accepts a key owned by itself or by root only; ${fix}`;
}
