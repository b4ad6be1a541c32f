import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DEFAULT_POSTGRESQL_SSL } from '../../src/config/defaults.js';
import type { SslMode } from '../../src/config/types.js';
import { passwordPolicy, passwordRefusal, tlsAttempts, type AuthRequest, type PasswordPolicy } from '../../src/postgres/peer-session.js';

const SCRAM: AuthRequest = { method: 'sasl', mechanisms: ['SCRAM-SHA-256'] };
const SCRAM_PLUS: AuthRequest = { method: 'sasl', mechanisms: ['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256'] };
const STRICT: PasswordPolicy = { allowMd5: false, requireChannelBinding: true };
const PLAIN: PasswordPolicy = { allowMd5: false, requireChannelBinding: false };
const MD5_CLUSTER: PasswordPolicy = { allowMd5: true, requireChannelBinding: false };

describe('passwordRefusal: the password goes only to what a member of this cluster asks for', () => {
  // [case, request, policy, refused with (null: released)]
  const cases: Array<[string, AuthRequest, PasswordPolicy, RegExp | null]> = [
    ['SCRAM without TLS required', SCRAM, PLAIN, null],
    ['SCRAM with channel binding, TLS required', SCRAM_PLUS, STRICT, null],
    ['SCRAM without channel binding, TLS required', SCRAM, STRICT, /without channel binding/],
    ['clear text', { method: 'cleartext' }, PLAIN, /clear text/],
    ['clear text, even when MD5 is allowed', { method: 'cleartext' }, MD5_CLUSTER, /clear text/],
    ['MD5 in a SCRAM cluster', { method: 'md5' }, PLAIN, /MD5 .*password_encryption: md5/],
    ['MD5 in a cluster configured for MD5', { method: 'md5' }, MD5_CLUSTER, null],
    ['SASL without SCRAM-SHA-256', { method: 'sasl', mechanisms: ['OAUTHBEARER'] }, PLAIN, /without SCRAM-SHA-256/],
    ['no request recorded', { method: 'none' }, PLAIN, /without an authentication request/],
  ];
  for (const [name, request, policy, refused] of cases) {
    it(name, () => {
      const result = passwordRefusal(request, policy);
      if (refused === null) assert.equal(result, null);
      else assert.match(result ?? '', refused);
    });
  }
});

describe('passwordPolicy from postgresql.ssl and parameters', () => {
  const cases: Array<[SslMode, Record<string, string>, PasswordPolicy]> = [
    ['prefer', {}, PLAIN],
    ['disable', {}, PLAIN],
    ['require', {}, STRICT],
    ['verify-ca', {}, STRICT],
    ['verify-full', { password_encryption: 'scram-sha-256' }, STRICT],
    ['prefer', { password_encryption: 'MD5' }, MD5_CLUSTER],
  ];
  for (const [sslmode, parameters, expected] of cases) {
    it(`${sslmode} ${JSON.stringify(parameters)}`, () => {
      assert.deepEqual(passwordPolicy({ ssl: { ...DEFAULT_POSTGRESQL_SSL, sslmode }, parameters }), expected);
    });
  }
});

describe('tlsAttempts: libpq\'s sslmode meanings', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gov-peer-tls-'));
  const ca = path.join(dir, 'ca.crt');
  writeFileSync(ca, '-----BEGIN CERTIFICATE-----\nMA==\n-----END CERTIFICATE-----\n');
  const shape = (sslmode: SslMode) =>
    tlsAttempts({ ssl: { ...DEFAULT_POSTGRESQL_SSL, sslmode, ca_file: sslmode.startsWith('verify') ? ca : null } }).map((a) =>
      a === false ? 'plain' : `tls(verify=${a.rejectUnauthorized}, ca=${a.ca !== undefined}, name=${a.checkServerIdentity === undefined})`,
    );
  const cases: Array<[SslMode, string[]]> = [
    ['disable', ['plain']],
    ['allow', ['plain', 'tls(verify=false, ca=false, name=true)']],
    ['prefer', ['tls(verify=false, ca=false, name=true)', 'plain']],
    ['require', ['tls(verify=false, ca=false, name=true)']],
    ['verify-ca', ['tls(verify=true, ca=true, name=false)']],
    ['verify-full', ['tls(verify=true, ca=true, name=true)']],
  ];
  for (const [sslmode, expected] of cases) it(sslmode, () => assert.deepEqual(shape(sslmode), expected));
  it('cleanup', () => rmSync(dir, { recursive: true, force: true }));
});
