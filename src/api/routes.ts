// Which endpoint a request is for, decided on the request target exactly as sent: no percent-
// decoding, no dot-segment resolution, no host taken from it. `//primary` or `/%2e%2e/primary`
// name no endpoint (404) instead of being read as another one (`new URL('//replica', base)` reads
// "replica" as a host name and "/" as the path: the primary check). Pure.

import type { HealthCheck } from './status.js';

/** Longer paths name no endpoint; answered 414 without looking further. */
export const MAX_PATH_LENGTH = 256;

export const HEALTH_PATHS: Readonly<Record<string, HealthCheck>> = {
  '/': 'primary',
  '/primary': 'primary',
  '/master': 'primary',
  '/read-write': 'primary',
  '/leader': 'leader',
  '/replica': 'replica',
  '/read-only': 'read-only',
  '/health': 'health',
};

const READ_METHODS = ['GET', 'HEAD', 'OPTIONS'] as const;

/** Every endpoint and the methods it answers; state-changing methods need authentication. */
const ENDPOINT_METHODS: Readonly<Record<string, readonly string[]>> = {
  ...Object.fromEntries(Object.keys(HEALTH_PATHS).map((path) => [path, READ_METHODS])),
  '/patroni': READ_METHODS,
  '/status': READ_METHODS,
  '/liveness': READ_METHODS,
  '/readiness': READ_METHODS,
  '/cluster': READ_METHODS,
  '/history': READ_METHODS,
  '/metrics': READ_METHODS,
  '/config': [...READ_METHODS, 'PATCH', 'PUT'],
  '/switchover': ['POST', 'DELETE'],
  '/failover': ['POST'],
  '/failsafe': [...READ_METHODS, 'POST'],
  '/restart': ['POST'],
  '/reinitialize': ['POST'],
};

export const STATE_CHANGING_METHODS: ReadonlySet<string> = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export type Route =
  | { kind: 'read'; path: string; query: URLSearchParams }
  | { kind: 'change'; path: string; method: string }
  | { kind: 'refuse'; status: 400 | 404 | 405 | 414; message: string; allow?: string };

/** The endpoint of `method` and `target` (req.url as received). Trailing slashes are ignored. */
export function routeRequest(method: string, target: string): Route {
  if (!target.startsWith('/')) return { kind: 'refuse', status: 400, message: 'the request target must be a path starting with /' };
  const queryAt = target.indexOf('?');
  const rawPath = queryAt < 0 ? target : target.slice(0, queryAt);
  if (rawPath.length > MAX_PATH_LENGTH) return { kind: 'refuse', status: 414, message: `request path longer than ${MAX_PATH_LENGTH} characters` };
  const path = rawPath.replace(/\/+$/, '') || '/';
  const methods = Object.hasOwn(ENDPOINT_METHODS, path) ? ENDPOINT_METHODS[path]! : null;
  // The path is echoed only when it is one of ours: nothing a client chose lands in the answer.
  if (!methods) return { kind: 'refuse', status: 404, message: 'no such endpoint' };
  if (!methods.includes(method)) return { kind: 'refuse', status: 405, message: `${path} does not answer ${method.slice(0, 16)}: use ${methods.join(', ')}`, allow: methods.join(', ') };
  if (STATE_CHANGING_METHODS.has(method)) return { kind: 'change', path, method };
  return { kind: 'read', path, query: new URLSearchParams(queryAt < 0 ? '' : target.slice(queryAt + 1)) };
}
