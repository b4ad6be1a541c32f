// TLS settings: the PEM files of etcd's client, the REST API and PostgreSQL, libpq's sslmode for
// replication, and governorctl's CA. Files are only named here; they are read when used, so a
// command that does not need them (wal-push) never fails on them.

import { DEFAULT_POSTGRESQL_SSL, DEFAULT_SSLMODE_WITH_CERTIFICATES } from './defaults.js';
import type { CtlConfig, PostgresqlSslConfig, SslMode } from './types.js';
import type { Checker } from './checker.js';
import { checkAbsolutePath, normalizePath } from './fields.js';

/** An optional PEM file: an absolute path (the daemon runs with cwd /), normalized. */
export function tlsFile(ch: Checker, p: string, value: unknown): string | null {
  const file = ch.nullableString(p, value, { check: checkAbsolutePath });
  return file === null || file === '' ? file : normalizePath(file);
}

/** certfile and keyfile come together: a certificate without its key (or the reverse) is a typo. */
export function bothOrNeither(ch: Checker, a: [string, string | null], b: [string, string | null]): void {
  if (a[1] !== null && b[1] === null) ch.fail(b[0], `required when ${ch.label(a[0])} is set`);
  if (b[1] !== null && a[1] === null) ch.fail(a[0], `required when ${ch.label(b[0])} is set`);
}

const SSL_MODES: readonly SslMode[] = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'];
/** Parameters postgresql.ssl sets; setting them too would leave two sources of truth. */
export const SSL_PARAMETERS = ['ssl', 'ssl_cert_file', 'ssl_key_file', 'ssl_ca_file'];

export function checkPostgresqlSsl(ch: Checker, value: unknown): PostgresqlSslConfig {
  const m = ch.mapping('postgresql.ssl', value, ['cert_file', 'key_file', 'ca_file', 'sslmode', 'hostssl_replication']);
  const cert_file = tlsFile(ch, 'postgresql.ssl.cert_file', m.cert_file);
  const key_file = tlsFile(ch, 'postgresql.ssl.key_file', m.key_file);
  const ca_file = tlsFile(ch, 'postgresql.ssl.ca_file', m.ca_file);
  bothOrNeither(ch, ['postgresql.ssl.cert_file', cert_file], ['postgresql.ssl.key_file', key_file]);
  const certificates = cert_file !== null && key_file !== null;
  const sslmode = ch.choice('postgresql.ssl.sslmode', m.sslmode, SSL_MODES, certificates ? DEFAULT_SSLMODE_WITH_CERTIFICATES : DEFAULT_POSTGRESQL_SSL.sslmode);
  const hostssl_replication = ch.boolean('postgresql.ssl.hostssl_replication', m.hostssl_replication, DEFAULT_POSTGRESQL_SSL.hostssl_replication);
  if ((sslmode === 'verify-ca' || sslmode === 'verify-full') && ca_file === null) {
    ch.fail('postgresql.ssl.ca_file', `required when ${ch.label('postgresql.ssl.sslmode')} is ${sslmode}: replicas verify the master's certificate against it`);
  }
  if (hostssl_replication && !certificates) {
    ch.fail('postgresql.ssl.hostssl_replication', 'needs postgresql.ssl.cert_file and key_file: without them PostgreSQL accepts no TLS connection, so replicas could not connect');
  }
  if (hostssl_replication && (sslmode === 'disable' || sslmode === 'allow')) {
    ch.fail('postgresql.ssl.sslmode', `is "${sslmode}" but hostssl_replication refuses replication without TLS; use require, verify-ca or verify-full`);
  }
  return { cert_file, key_file, ca_file, sslmode, hostssl_replication };
}

export function checkCtl(ch: Checker, value: unknown): CtlConfig {
  const m = ch.mapping('ctl', value, ['cacert']);
  return { cacert: tlsFile(ch, 'ctl.cacert', m.cacert) };
}
