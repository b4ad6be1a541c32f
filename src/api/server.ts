// The REST API: health checks for HAProxy and load balancers, status for people and governorctl,
// Prometheus metrics, and the state-changing endpoints (switchover, failover, restart, reinitialize,
// config) behind basic auth.

import http from 'node:http';
import https from 'node:https';
import { readPemFile } from '../util/pem.js';
import type { GovernorConfig } from '../config/types.js';
import { parseQuestion } from '../ha/failsafe-proof.js';
import { monotonicMs } from '../util/time.js';
import { parseHostPort } from '../util/ports.js';
import { clusterDocument, healthVerdict, parseByteSize, statusDocument, withLiveWal } from './status.js';
import { handleFailover, handleSwitchover, handleCancelSwitchover, type ControlContext } from './control.js';
import { handleConfigChange } from './config-endpoint.js';
import { collectMetrics, METRICS_CONTENT_TYPE, renderExposition } from './metrics.js';
import { lagBytes } from './status.js';
import { GOVERNOR_VERSION } from '../version.js';
import { HttpError } from './http-error.js';
import { authOutcome, requireAuthConfigured } from './auth.js';
import { LoginLimiter, sourceKey } from './login-limiter.js';
import { HEALTH_PATHS, routeRequest } from './routes.js';
import { readJsonBody } from './body.js';
import { FreshValue } from './fresh-value.js';
import type { ApiBackend } from './backend.js';

export { HttpError } from './http-error.js';
export { checkAuth } from './auth.js';
export type { ApiBackend, DaemonMetrics } from './backend.js';

/** A live WAL position is reused this long (from when its query started): a flood of /patroni
 *  costs at most one query at a time, and a handover check polling every 20 ms still sees new WAL. */
const LIVE_WAL_MAX_AGE_MS = 20;

/** Slow clients: the headers within 10 s, the whole request within 30 s (answers may take longer:
 *  a switchover waits for its outcome). */
const HEADERS_TIMEOUT_MS = 10_000;
const REQUEST_TIMEOUT_MS = 30_000;

function send(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json', ...headers });
  res.end(text);
}

/** Plain HTTP, or HTTPS when restapi.certfile/keyfile are set. */
export type ApiServer = http.Server | https.Server;

/** The TLS server options from restapi.certfile/keyfile, or null for plain HTTP. Files are read
 *  here, at start-up, so a missing one stops the daemon with the field named. */
export function apiTlsOptions(config: GovernorConfig): https.ServerOptions | null {
  const { certfile, keyfile } = config.restapi;
  if (!certfile || !keyfile) return null;
  return { cert: readPemFile('restapi.certfile', certfile), key: readPemFile('restapi.keyfile', keyfile), minVersion: 'TLSv1.2' };
}

export function createApiServer(backend: ApiBackend): ApiServer {
  const log = backend.logger;
  const limiter = new LoginLimiter({ now: monotonicMs });
  const liveWal = new FreshValue(() => backend.walPosition(), LIVE_WAL_MAX_AGE_MS, monotonicMs);
  const statusInput = () => ({
    config: backend.config,
    pg: backend.pg(),
    cluster: backend.cluster(),
    isLeader: backend.isLeader(),
    paused: backend.paused(),
  });
  /** The status document, with WAL positions read now (see withLiveWal). */
  const liveStatusInput = async () => {
    const input = statusInput();
    return input.pg?.accepting ? { ...input, pg: withLiveWal(input.pg, await liveWal.get()) } : input;
  };

  /** GET/HEAD/OPTIONS: answered from what the HA loop last observed; only /patroni and /status
   *  read the WAL position live, and /metrics what the daemon keeps. */
  const read = async (res: http.ServerResponse, method: string, path: string, query: URLSearchParams) => {
    const check = HEALTH_PATHS[path];
    if (check) {
      const lagParam = query.get('lag');
      const maxLag = lagParam === null || lagParam.length > 32 ? null : parseByteSize(lagParam);
      if (lagParam !== null && maxLag === null) throw new HttpError(400, `lag: expected a size such as 1048576 or 10MB, got ${JSON.stringify(lagParam.slice(0, 32))}`);
      const input = statusInput();
      return send(res, healthVerdict(check, { ...input, maxLag }), statusDocument(input));
    }
    switch (path) {
      case '/patroni':
      case '/status':
        return send(res, 200, statusDocument(await liveStatusInput()));
      case '/liveness':
        return send(res, backend.alive() ? 200 : 503, backend.alive() ? 'alive' : 'HA loop stalled');
      case '/readiness': {
        const input = statusInput();
        const ready = healthVerdict('primary', { ...input, maxLag: null }) === 200 || healthVerdict('replica', { ...input, maxLag: null }) === 200;
        return send(res, ready ? 200 : 503, ready ? 'ready' : 'not ready');
      }
      case '/cluster': {
        // A member cut off from etcd still shows the last view it read (useful to a person), but
        // not as a 200: in it this member may still be the leader it no longer is.
        const unreachableMs = backend.etcdUnreachableMs();
        const doc = clusterDocument(backend.cluster());
        if (unreachableMs === null) return send(res, 200, doc);
        return send(res, 503, { ...doc, error: `etcd unreachable for ${(unreachableMs / 1000).toFixed(1)} s: the last view this member read, possibly stale` });
      }
      case '/history':
        return send(res, 200, backend.cluster()?.history ?? []);
      case '/failsafe':
        // Patroni's GET /failsafe: the members the master recorded in the failsafe key.
        return send(res, 200, backend.cluster()?.failsafe ?? {});
      case '/config':
        return send(res, 200, backend.dynamic());
      case '/metrics': {
        const input = statusInput();
        const text = renderExposition(
          collectMetrics({
            ...input,
            ...(await backend.metrics()),
            scope: backend.config.scope,
            member: backend.config.name,
            version: GOVERNOR_VERSION,
            lagBytes: lagBytes(input.pg, input.cluster),
            now: new Date(),
          }),
        );
        res.writeHead(200, { 'Content-Type': METRICS_CONTENT_TYPE });
        return res.end(method === 'HEAD' ? undefined : text);
      }
    }
    throw new HttpError(404, 'no such endpoint');
  };

  /** Basic auth, with failed attempts counted per source address (login-limiter.ts). Neither the
   *  header nor the secret is ever logged. */
  const authenticate = (req: http.IncomingMessage, method: string, path: string) => {
    const address = req.socket.remoteAddress ?? 'unknown';
    const source = sourceKey(address);
    const retryAfter = (ms: number) => ({ 'Retry-After': String(Math.max(1, Math.ceil(ms / 1000))) });
    const blockedMs = limiter.blockedFor(source);
    if (blockedMs > 0) throw new HttpError(429, 'too many failed logins from this address: try again later', retryAfter(blockedMs));
    const outcome = authOutcome(requireAuthConfigured(backend.config), req.headers.authorization);
    if (outcome === 'ok') {
      limiter.recordSuccess(source);
      return;
    }
    const failure = limiter.recordFailure(source);
    if (failure.blocked) {
      log.warn(`REST API: too many failed logins from ${address}: refusing it for ${Math.ceil(failure.retryAfterMs / 1000)} s`, { source: address, method, path, reason: outcome });
      throw new HttpError(429, 'too many failed logins from this address: try again later', retryAfter(failure.retryAfterMs));
    }
    log.warn('REST API login failed', { source: address, method, path, reason: outcome, failures: failure.failures });
    throw new HttpError(401, outcome === 'missing' ? 'authentication required' : 'invalid credentials');
  };

  const change = async (req: http.IncomingMessage, res: http.ServerResponse, method: string, path: string) => {
    authenticate(req, method, path);
    const body = await readJsonBody(req);
    const control: ControlContext = { backend, body: body ?? {} };
    const routes: Record<string, (() => Promise<[number, unknown]>) | undefined> = {
      'POST /switchover': () => handleSwitchover(control),
      'DELETE /switchover': () => handleCancelSwitchover(control),
      'PATCH /config': () => handleConfigChange(backend, body, 'patch'),
      'PUT /config': () => handleConfigChange(backend, body, 'replace'),
      'POST /failover': () => handleFailover(control),
      // Patroni's failsafe endpoint: the master asks while etcd does not confirm its renewals.
      'POST /failsafe': async () => {
        const question = parseQuestion(control.body);
        if (!question.ok) throw new HttpError(400, question.reason);
        const answer = backend.confirmFailsafe(question.value);
        return [answer.status, answer.body];
      },
      'POST /restart': async () => {
        backend.requestRestart();
        backend.wake();
        return [202, 'restart scheduled'];
      },
      'POST /reinitialize': async () => {
        if (backend.cluster()?.leader?.name === backend.config.name) throw new HttpError(503, 'this member holds the leader key: a leader cannot be reinitialized');
        backend.requestReinitialize();
        backend.wake();
        return [202, 'reinitialize scheduled'];
      },
    };
    const route = routes[`${method} ${path}`];
    if (!route) throw new HttpError(405, `${path} does not answer ${method}`);
    const [status, answer] = await route();
    log.info(`api ${method} ${path} -> ${status}`, { status });
    return send(res, status, answer);
  };

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    const method = req.method ?? 'GET';
    const route = routeRequest(method, req.url ?? '/');
    if (route.kind === 'refuse') throw new HttpError(route.status, route.message, route.allow ? { Allow: route.allow } : {});
    if (route.kind === 'read') return read(res, method, route.path, route.query);
    return change(req, res, method, route.path);
  };

  const listener = (req: http.IncomingMessage, res: http.ServerResponse) => {
    handle(req, res).catch((error: unknown) => {
      const known = error instanceof HttpError;
      const status = known ? error.status : 500;
      const headers: Record<string, string> = known ? { ...error.headers } : {};
      if (status === 401) headers['WWW-Authenticate'] = 'Basic realm="governor"';
      // The rest of an oversized body is not read: the connection ends with this answer.
      if (status === 413) headers.Connection = 'close';
      if (!known) log.error(`api error: ${(error as Error).message}`);
      if (res.headersSent) return void res.destroy();
      send(res, status, known ? error.message : 'internal error: see the member\'s log', headers);
    });
  };
  const tls = apiTlsOptions(backend.config);
  const server = tls ? https.createServer(tls, listener) : http.createServer(listener);
  server.headersTimeout = HEADERS_TIMEOUT_MS;
  server.requestTimeout = REQUEST_TIMEOUT_MS;
  return server;
}

export async function listen(server: ApiServer, address: string): Promise<void> {
  const { host, port } = parseHostPort(address, 'restapi.listen');
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error) => reject(new Error(`restapi.listen ${address}: ${(error as Error).message}`)));
    server.listen(port, host, () => resolve());
  });
}
