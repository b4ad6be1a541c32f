// The REST API: health checks for HAProxy and load balancers, status for people and governorctl,
// Prometheus metrics, and the state-changing endpoints (switchover, failover, restart, reinitialize,
// config) behind basic auth.

import http from 'node:http';
import https from 'node:https';
import { timingSafeEqual } from 'node:crypto';
import { readPemFile } from '../util/pem.js';
import type { GovernorConfig } from '../config/types.js';
import type { ClusterView, Dcs } from '../dcs/types.js';
import type { Logger } from '../log/logger.js';
import type { PostgresStatus } from '../postgres/types.js';
import { refusalBody, type FailsafeAnswer } from '../ha/failsafe.js';
import { parseHostPort } from '../util/ports.js';
import { clusterDocument, healthVerdict, parseByteSize, statusDocument, type HealthCheck } from './status.js';
import { handleFailover, handleSwitchover, handleCancelSwitchover, type ControlContext } from './control.js';
import { handleConfigChange } from './config-endpoint.js';
import { collectMetrics, METRICS_CONTENT_TYPE, renderExposition, type MetricsInput } from './metrics.js';
import { lagBytes } from './status.js';
import { GOVERNOR_VERSION } from '../ha/member.js';

/** What /metrics needs beyond the status: counters and ages only the daemon keeps. */
export type DaemonMetrics = Pick<MetricsInput, 'leaderChanges' | 'archiver' | 'archive' | 'lastBackupAt' | 'dcsLastContactAgeSeconds' | 'loopIterationAgeSeconds'>;

export interface ApiBackend {
  config: GovernorConfig;
  dcs: Dcs;
  logger: Logger;
  /** Last known cluster view (may be stale while etcd is unreachable). */
  cluster(): ClusterView | null;
  /** How long the last cluster read has been failing (ms; null: etcd answered the last one). */
  etcdUnreachableMs(): number | null;
  /** PostgreSQL's state now (a live query: a switchover polls the candidate's WAL position here). */
  pg(): Promise<PostgresStatus | null>;
  isLeader(): boolean;
  paused(): boolean;
  /** The HA loop iterated recently. */
  alive(): boolean;
  /** POST /failsafe: confirm `leader` as master while etcd does not answer it (HaLoop.confirmFailsafe). */
  confirmFailsafe(leader: string): FailsafeAnswer;
  /** Facts for /metrics that only the daemon keeps. */
  metrics(): Promise<DaemonMetrics>;
  requestRestart(): void;
  requestReinitialize(): void;
  wake(): void;
}

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const HEALTH_PATHS: Record<string, HealthCheck> = {
  '/': 'primary',
  '/primary': 'primary',
  '/master': 'primary',
  '/read-write': 'primary',
  '/leader': 'leader',
  '/replica': 'replica',
  '/read-only': 'read-only',
  '/health': 'health',
};

const MAX_BODY_BYTES = 64 * 1024;

function send(res: http.ServerResponse, status: number, body: unknown): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json' });
  res.end(text);
}

async function readJsonBody(req: http.IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new HttpError(413, `request body larger than ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (!text) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new HttpError(400, `request body is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new HttpError(400, 'request body must be a JSON object');
  return parsed as Record<string, unknown>;
}

function sameSecret(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

/** Throws 401/403 unless the request carries the configured basic-auth credentials. */
export function checkAuth(config: GovernorConfig, header: string | undefined): void {
  const auth = config.restapi.authentication;
  if (!auth) throw new HttpError(403, 'state-changing endpoints are disabled: set restapi.authentication (username, password) to enable them');
  const match = /^Basic\s+(.+)$/i.exec(header ?? '');
  if (!match) throw new HttpError(401, 'authentication required');
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  const user = colon >= 0 ? decoded.slice(0, colon) : decoded;
  const password = colon >= 0 ? decoded.slice(colon + 1) : '';
  if (!sameSecret(user, auth.username) || !sameSecret(password, auth.password)) throw new HttpError(401, 'invalid credentials');
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
  const handle = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname.replace(/\/+$/, '') || '/';
    const method = req.method ?? 'GET';
    const statusInput = async () => ({
      config: backend.config,
      pg: await backend.pg(),
      cluster: backend.cluster(),
      isLeader: backend.isLeader(),
      paused: backend.paused(),
    });

    if (method === 'GET' || method === 'HEAD' || method === 'OPTIONS') {
      const check = HEALTH_PATHS[path];
      if (check) {
        const lagParam = url.searchParams.get('lag');
        const maxLag = lagParam === null ? null : parseByteSize(lagParam);
        if (lagParam !== null && maxLag === null) throw new HttpError(400, `lag: expected a size such as 1048576 or 10MB, got ${JSON.stringify(lagParam)}`);
        const input = await statusInput();
        return send(res, healthVerdict(check, { ...input, maxLag }), statusDocument(input));
      }
      switch (path) {
        case '/patroni':
        case '/status':
          return send(res, 200, statusDocument(await statusInput()));
        case '/liveness':
          return send(res, backend.alive() ? 200 : 503, backend.alive() ? 'alive' : 'HA loop stalled');
        case '/readiness': {
          const input = await statusInput();
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
        case '/config':
          return send(res, 200, backend.cluster()?.config ?? backend.config.bootstrap.dcs);
        case '/metrics': {
          const input = await statusInput();
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
      throw new HttpError(404, `no such endpoint: GET ${path}`);
    }

    const control: ControlContext = { backend, body: {} };
    const routes: Record<string, (() => Promise<[number, unknown]>) | undefined> = {
      'POST /switchover': () => handleSwitchover(control),
      'DELETE /switchover': () => handleCancelSwitchover(control),
      'PATCH /config': () => handleConfigChange(backend, control.body, 'patch'),
      'PUT /config': () => handleConfigChange(backend, control.body, 'replace'),
      'POST /failover': () => handleFailover(control),
      // Patroni's failsafe endpoint: the master asks while etcd does not confirm its renewals.
      'POST /failsafe': async () => {
        const name = control.body.name;
        if (typeof name !== 'string' || name === '') throw new HttpError(400, 'name: expected the name of the member asking to be confirmed as master');
        const answer = backend.confirmFailsafe(name);
        return answer.ok ? [200, 'confirmed'] : [409, refusalBody(answer)];
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
    if (!route) throw new HttpError(['POST', 'DELETE', 'PATCH', 'PUT'].includes(method) ? 404 : 405, `no such endpoint: ${method} ${path}`);
    checkAuth(backend.config, req.headers.authorization);
    control.body = await readJsonBody(req);
    const [status, body] = await route();
    backend.logger.info(`api ${method} ${path} -> ${status}`, { status });
    return send(res, status, body);
  };

  const listener = (req: http.IncomingMessage, res: http.ServerResponse) => {
    handle(req, res).catch((error: unknown) => {
      const status = error instanceof HttpError ? error.status : 500;
      if (status === 401) res.setHeader('WWW-Authenticate', 'Basic realm="governor"');
      if (status >= 500 && !(error instanceof HttpError)) backend.logger.error(`api error: ${(error as Error).message}`);
      send(res, status, (error as Error).message);
    });
  };
  const tls = apiTlsOptions(backend.config);
  return tls ? https.createServer(tls, listener) : http.createServer(listener);
}

export async function listen(server: ApiServer, address: string): Promise<void> {
  const { host, port } = parseHostPort(address, 'restapi.listen');
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error) => reject(new Error(`restapi.listen ${address}: ${(error as Error).message}`)));
    server.listen(port, host, () => resolve());
  });
}
