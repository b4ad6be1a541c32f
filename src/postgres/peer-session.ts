// Governor's own sessions to another member's PostgreSQL (node-postgres): the probe before a
// rewind, the switchover's WAL-position check, the check before cloning. The address comes from a
// member key in etcd, so whatever answers there is not trusted with a password it has not earned:
//
// - TLS as postgresql.ssl says, with libpq's sslmode meanings (prefer: TLS when the server offers
//   it; require: TLS without verification; verify-ca / verify-full: against ca_file, verify-full
//   also the address), as replicas, pg_basebackup and pg_rewind connect.
// - The password is released only to the authentication a member of this cluster asks for
//   (SCRAM-SHA-256: governor's pg_hba and initdb use nothing else). A request for it in clear text
//   is refused before a byte of it is sent; so is MD5 unless postgresql.parameters says the
//   cluster stores MD5 passwords; and with sslmode require or stronger, SCRAM must be offered with
//   channel binding (SCRAM-SHA-256-PLUS), which a man in the middle cannot relay: the same as
//   libpq's channel_binding=require, which the libpq tools get (ssl.ts sslConninfo).
//
// node-postgres asks its `password` function whenever a server requests a password (clear text,
// MD5 or SASL alike). Listeners put in front of the client's own on the connection's
// authentication events record which one was requested before the function is called.

import type { EventEmitter } from 'node:events';
import pg from 'pg';
import type { ConnectionOptions } from 'node:tls';
import type { Credentials, PostgresqlConfig } from '../config/types.js';
import { readPemFile } from '../util/pem.js';
import { sslRequired, sslSettings } from './ssl.js';
import type { HostPort } from './types.js';

/** What a server asked for before it was given the password. */
export type AuthRequest = { method: 'cleartext' } | { method: 'md5' } | { method: 'sasl'; mechanisms: string[] } | { method: 'none' };

export interface PasswordPolicy {
  /** MD5 is answered only when the cluster is configured to store MD5 passwords. */
  allowMd5: boolean;
  /** SCRAM must be offered with channel binding (sslmode require, verify-ca, verify-full). */
  requireChannelBinding: boolean;
}

/** The peer asked for the password in a way this policy refuses. */
export class PeerAuthRefused extends Error {
  override name = 'PeerAuthRefused';
}

/** Why the password must not be sent for `request`, or null (pure). */
export function passwordRefusal(request: AuthRequest, policy: PasswordPolicy): string | null {
  switch (request.method) {
    case 'cleartext':
      return 'the server asked for the password in clear text (AuthenticationCleartextPassword); refused: members of this cluster authenticate with scram-sha-256';
    case 'md5':
      return policy.allowMd5
        ? null
        : 'the server asked for an MD5 password response; refused because this cluster uses scram-sha-256 (set postgresql.parameters.password_encryption: md5 only if its roles really store MD5 passwords)';
    case 'sasl':
      if (!request.mechanisms.includes('SCRAM-SHA-256')) {
        return `the server offered SASL mechanisms ${JSON.stringify(request.mechanisms)} without SCRAM-SHA-256; refused`;
      }
      if (policy.requireChannelBinding && !request.mechanisms.includes('SCRAM-SHA-256-PLUS')) {
        return 'the server offered SCRAM without channel binding over a connection that must be TLS (sslmode require or stronger); refused, as libpq does with channel_binding=require';
      }
      return null;
    case 'none':
      return 'the server asked for a password without an authentication request; refused';
  }
}

export function passwordPolicy(pgc: Pick<PostgresqlConfig, 'ssl' | 'parameters'>): PasswordPolicy {
  const encryption = pgc.parameters?.password_encryption;
  return {
    allowMd5: typeof encryption === 'string' && encryption.toLowerCase() === 'md5',
    requireChannelBinding: sslRequired(sslSettings(pgc)),
  };
}

/** One way to connect: plain, or TLS with these options. */
export type TlsAttempt = false | ConnectionOptions;

/** The connections to try in order for the configured sslmode, as libpq does: prefer tries TLS
 *  first and plain text when the server has no TLS; allow the other way round. */
export function tlsAttempts(pgc: Pick<PostgresqlConfig, 'ssl'>): TlsAttempt[] {
  const ssl = sslSettings(pgc);
  const unverified: ConnectionOptions = { rejectUnauthorized: false };
  switch (ssl.sslmode) {
    case 'disable':
      return [false];
    case 'allow':
      return [false, unverified];
    case 'prefer':
      return [unverified, false];
    case 'require':
      return [unverified];
    case 'verify-ca':
      // The chain, not the name: libpq's verify-ca.
      return [{ ca: readPemFile('postgresql.ssl.ca_file', ssl.ca_file!), rejectUnauthorized: true, checkServerIdentity: () => undefined }];
    case 'verify-full':
      return [{ ca: readPemFile('postgresql.ssl.ca_file', ssl.ca_file!), rejectUnauthorized: true }];
  }
}

/** Whether a failed attempt is the kind the next attempt of its sslmode answers (the server has no
 *  TLS, or refuses a session without it); any other failure is final. */
function tlsMismatch(attempt: TlsAttempt, error: Error): boolean {
  if (attempt !== false) return /does not support SSL/i.test(error.message);
  return /no encryption/i.test(error.message);
}

/** The password, released only to what `policy` allows; `watch` a client (before it connects) so
 *  the guard knows what its server asked for. */
function passwordGuard(password: string, policy: PasswordPolicy): { password: () => string; watch(client: pg.Client): void } {
  let request: AuthRequest = { method: 'none' };
  return {
    password: () => {
      const refusal = passwordRefusal(request, policy);
      if (refusal !== null) throw new PeerAuthRefused(refusal);
      return password;
    },
    watch(client) {
      const connection = client.connection as unknown as EventEmitter;
      // In front of the client's own listeners (attached when it connects), so the request is
      // known by the time the client asks for the password.
      connection.prependListener('authenticationCleartextPassword', () => (request = { method: 'cleartext' }));
      connection.prependListener('authenticationMD5Password', () => (request = { method: 'md5' }));
      connection.prependListener('authenticationSASL', (message: { mechanisms?: unknown }) => {
        const mechanisms = Array.isArray(message.mechanisms) ? message.mechanisms.filter((m): m is string => typeof m === 'string') : [];
        request = { method: 'sasl', mechanisms };
      });
    },
  };
}

export interface PeerSessionOptions {
  timeoutMs: number;
  applicationName: string;
  /** A physical replication session (what pg_basebackup opens), for checking the authentication
   *  a clone will meet. */
  replication?: boolean;
  /** Added to the client configuration (query_timeout ...). */
  extra?: pg.ClientConfig;
}

/** A connected session to `source` as `credentials`, TLS and password guarded as described above.
 *  Rejects with the server's or the guard's error, naming the address. */
export async function connectPeer(
  source: HostPort,
  credentials: Credentials,
  pgc: Pick<PostgresqlConfig, 'ssl' | 'parameters'>,
  options: PeerSessionOptions,
): Promise<pg.Client> {
  const policy = passwordPolicy(pgc);
  const attempts = tlsAttempts(pgc);
  let lastError: Error | null = null;
  for (const [index, attempt] of attempts.entries()) {
    const guard = passwordGuard(credentials.password, attempt === false ? { ...policy, requireChannelBinding: false } : policy);
    const client = new pg.Client({
      host: source.host,
      port: source.port,
      user: credentials.username,
      password: guard.password,
      database: options.replication ? 'replication' : 'postgres',
      connectionTimeoutMillis: options.timeoutMs,
      statement_timeout: options.replication ? undefined : options.timeoutMs,
      application_name: options.applicationName,
      ssl: attempt,
      // SCRAM-SHA-256-PLUS whenever the server offers it over TLS.
      enableChannelBinding: attempt !== false,
      ...(options.replication ? ({ replication: true } as pg.ClientConfig) : {}),
      ...options.extra,
    });
    client.on('error', () => undefined);
    guard.watch(client);
    try {
      await client.connect();
      return client;
    } catch (error) {
      await client.end().catch(() => undefined);
      lastError = error as Error;
      if (error instanceof PeerAuthRefused || index === attempts.length - 1 || !tlsMismatch(attempt, lastError)) break;
    }
  }
  throw new Error(`${source.host}:${source.port}: ${lastError?.message ?? 'no connection attempt'}`);
}

/**
 * Before a libpq tool (pg_basebackup, pg_rewind) connects to `source` with a password: connect the
 * same way with node-postgres, whose guard refuses a clear-text or unexpected request, and end the
 * session. libpq 15 has no require_auth and answers whatever a server asks (unless channel binding
 * is required), so an impostor at a member's address is caught here first.
 */
export async function checkPeerAuthentication(
  source: HostPort,
  credentials: Credentials,
  pgc: Pick<PostgresqlConfig, 'ssl' | 'parameters'>,
  options: { replication: boolean; timeoutMs?: number },
): Promise<void> {
  const client = await connectPeer(source, credentials, pgc, {
    timeoutMs: options.timeoutMs ?? 5000,
    applicationName: 'governor-auth-check',
    replication: options.replication,
  });
  await client.end().catch(() => undefined);
}
