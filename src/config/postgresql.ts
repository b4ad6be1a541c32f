// The postgresql section: binaries, data directory, addresses, roles, parameters, pg_hba lines,
// the OS user, TLS and the data directory policy.

import { describe, type Checker } from './checker.js';
import { checkDataDirPolicy, DATA_DIR_POLICY_FIELDS } from './data-dir.js';
import { DEFAULT_POSTGRESQL } from './defaults.js';
import { checkAbsolutePath, credentials, listenAndConnect, normalizePath } from './fields.js';
import { parameters } from './parameters.js';
import { checkPostgresqlSsl, SSL_PARAMETERS } from './tls.js';
import type { PostgresqlConfig } from './types.js';

const OS_USER_RE = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,31}\$?$/;


export function checkPostgresql(ch: Checker, value: unknown): PostgresqlConfig {
  const m = ch.mapping('postgresql', value, [
    'bin_dir',
    'data_dir',
    'listen',
    'connect_address',
    'socket_dir',
    'authentication',
    'parameters',
    'pg_hba',
    'run_as_user',
    'ssl',
    ...DATA_DIR_POLICY_FIELDS,
  ]);
  const d = DEFAULT_POSTGRESQL;
  const bin_dir = normalizePath(ch.string('postgresql.bin_dir', m.bin_dir, { def: d.bin_dir, check: checkAbsolutePath }));
  const data_dir = normalizePath(
    ch.string('postgresql.data_dir', m.data_dir, {
      def: d.data_dir,
      check: (s) => checkAbsolutePath(s) ?? (normalizePath(s) === '/' ? 'must not be the root directory' : null),
    }),
  );
  const addresses = listenAndConnect(ch, 'postgresql', m, d.listen, true, 'GOVERNOR_POSTGRESQL_CONNECT_ADDRESS');
  const socket_dir = normalizePath(ch.string('postgresql.socket_dir', m.socket_dir, { def: d.socket_dir, check: checkAbsolutePath }));

  const auth = ch.mapping('postgresql.authentication', m.authentication, ['superuser', 'replication']);
  const superuser = credentials(ch, 'postgresql.authentication.superuser', auth.superuser, d.superuser_username, {
    user: 'PGUSER_SUPERUSER',
    password: 'set it in the file or PGPASSWORD_SUPERUSER',
  });
  const replication = credentials(ch, 'postgresql.authentication.replication', auth.replication, d.replication_username, {
    user: 'PGUSER_STANDBY',
    password: 'set it in the file or PGPASSWORD_STANDBY',
  });
  if (superuser.username !== '' && superuser.username === replication.username && superuser.password !== replication.password) {
    ch.fail(
      'postgresql.authentication.replication.username',
      `is the same role as the superuser (${describe(superuser.username)}) but the passwords differ`,
    );
  }

  const params = parameters(ch, 'postgresql.parameters', m.parameters);

  const pg_hba: string[] = [];
  ch.source('postgresql.pg_hba', m.pg_hba !== undefined);
  if (m.pg_hba !== undefined && m.pg_hba !== null) {
    if (!Array.isArray(m.pg_hba)) ch.fail('postgresql.pg_hba', `expected a list of pg_hba.conf lines, got ${describe(m.pg_hba)}`);
    else
      m.pg_hba.forEach((line, i) => {
        const lp = `postgresql.pg_hba[${i}]`;
        if (typeof line !== 'string' || line.trim() === '') ch.fail(lp, `expected a pg_hba.conf line, got ${describe(line)}`);
        else if (/[\0\r\n]/.test(line)) ch.fail(lp, 'must be a single line');
        else pg_hba.push(line);
      });
  }

  const run_as_user = ch.nullableString('postgresql.run_as_user', m.run_as_user, {
    check: (s) => (OS_USER_RE.test(s) ? null : `must be an OS user name, got ${describe(s)}`),
  });

  const ssl = checkPostgresqlSsl(ch, m.ssl);
  if (ssl.cert_file !== null) {
    for (const name of SSL_PARAMETERS) {
      if (params[name] !== undefined) ch.fail(`postgresql.parameters.${name}`, 'is set by governor from postgresql.ssl; remove it here');
    }
  }

  return {
    bin_dir,
    data_dir,
    ...addresses,
    socket_dir,
    authentication: { superuser, replication },
    parameters: params,
    pg_hba,
    run_as_user,
    ssl,
    ...checkDataDirPolicy(ch, m),
  };
}
