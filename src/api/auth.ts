// Basic authentication of the state-changing endpoints, checked in constant time: both sides are
// reduced to HMAC-SHA256 digests under a key drawn at start, and the digests (always 32 bytes) are
// compared with timingSafeEqual, so neither the content nor the length of the configured username
// or password shows in how long a wrong guess takes. Both fields are always compared.

import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { GovernorConfig } from '../config/types.js';
import { HttpError } from './http-error.js';

const DIGEST_KEY = randomBytes(32);

function digest(text: string): Buffer {
  return createHmac('sha256', DIGEST_KEY).update(text, 'utf8').digest();
}

/** Equal strings, in time independent of where they differ and of their lengths. */
export function sameSecret(given: string, expected: string): boolean {
  return timingSafeEqual(digest(given), digest(expected));
}

export type AuthOutcome = 'ok' | 'missing' | 'malformed' | 'invalid';

/** Why a request's Authorization header does (not) carry the configured credentials; never says which field was wrong. */
export function authOutcome(auth: { username: string; password: string }, header: string | undefined): AuthOutcome {
  if (header === undefined || header === '') return 'missing';
  const match = /^Basic ([A-Za-z0-9+/]+={0,2})$/i.exec(header.trim());
  if (!match) return 'malformed';
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return 'malformed';
  const userOk = sameSecret(decoded.slice(0, colon), auth.username);
  const passwordOk = sameSecret(decoded.slice(colon + 1), auth.password);
  return userOk && passwordOk ? 'ok' : 'invalid';
}

/** Throws 403 when state-changing endpoints are disabled (no restapi.authentication). */
export function requireAuthConfigured(config: GovernorConfig): { username: string; password: string } {
  const auth = config.restapi.authentication;
  if (!auth) throw new HttpError(403, 'state-changing endpoints are disabled: set restapi.authentication (username, password) to enable them');
  return auth;
}

/** Throws 401/403 unless the request carries the configured basic-auth credentials. */
export function checkAuth(config: GovernorConfig, header: string | undefined): void {
  const outcome = authOutcome(requireAuthConfigured(config), header);
  if (outcome === 'missing') throw new HttpError(401, 'authentication required');
  if (outcome !== 'ok') throw new HttpError(401, 'invalid credentials');
}
