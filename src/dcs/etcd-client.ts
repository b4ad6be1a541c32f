// etcd3 client construction and the bounded call discipline: every operation settles within
// retry_timeout, retrying transient failures inside that budget, rejecting with DcsUnavailableError.

import { Etcd3, isRecoverableError, type IOptions } from 'etcd3';
import type { EtcdConfig } from '../config/types.js';
import { registerSecret } from '../log/logger.js';
import { readPemFile } from '../util/pem.js';
import { monotonicMs, sleep } from '../util/time.js';
import { DcsUnavailableError } from './types.js';

type FaultHandling = NonNullable<IOptions['faultHandling']>;
type Policy = NonNullable<FaultHandling['global']>;
type Backoff = NonNullable<FaultHandling['watchBackoff']>;

/** A policy that runs the call once: no library retries, no circuit breaker (we bound calls ourselves). */
const noopPolicy = {
  execute: async <T>(fn: (context: { signal: AbortSignal }) => PromiseLike<T> | T, signal?: AbortSignal) =>
    fn({ signal: signal ?? new AbortController().signal }),
} as unknown as Policy;

/** Watch stream reconnect delays: 100 ms doubling up to 1 s (the library default grows to 30 s). */
function watchBackoff(ms = 100): Backoff {
  return { duration: ms, next: () => watchBackoff(Math.min(ms * 2, 1000)) } as unknown as Backoff;
}

export function etcdClientOptions(etcd: EtcdConfig, callTimeoutMs: () => number): IOptions {
  if (etcd.hosts.length === 0) throw new Error('etcd.hosts is empty');
  const options: IOptions = {
    hosts: etcd.hosts.map((host) => (/^https?:\/\//.test(host) ? host : `${etcd.protocol}://${host}`)),
    // Unary calls get a deadline by default; streams (watch) must not, keep-alive streams set their own.
    defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + callTimeoutMs() }),
    faultHandling: { global: noopPolicy, host: () => noopPolicy, watchBackoff: watchBackoff() },
    grpcOptions: {
      // Detect dead connections under long-lived watch streams. etcd's default minimum ping
      // interval is 5 s; pinging more often gets the connection closed with too_many_pings.
      'grpc.keepalive_time_ms': 10_000,
      'grpc.keepalive_timeout_ms': 5_000,
      'grpc.keepalive_permit_without_calls': 1,
    },
  };
  if (etcd.username) {
    registerSecret(etcd.password);
    options.auth = { username: etcd.username, password: etcd.password ?? '' };
  }
  if (etcd.cacert || etcd.cert || etcd.key) {
    options.credentials = {
      // null root certificate: grpc falls back to the system trust store.
      rootCertificate: (etcd.cacert ? readPemFile('etcd.cacert', etcd.cacert) : null) as Buffer,
      privateKey: etcd.key ? readPemFile('etcd.key', etcd.key) : undefined,
      certChain: etcd.cert ? readPemFile('etcd.cert', etcd.cert) : undefined,
    };
  }
  return options;
}

export function createEtcdClient(etcd: EtcdConfig, callTimeoutMs: () => number): Etcd3 {
  return new Etcd3(etcdClientOptions(etcd, callTimeoutMs));
}

/** Errors worth another attempt within the budget: network trouble, timeouts, leader changes. */
export function isTransient(error: unknown): boolean {
  return error instanceof Error && isRecoverableError(error);
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/**
 * Run `attempt` (given the absolute deadline of the whole operation) until it succeeds, a
 * non-transient error occurs, or budgetMs elapse. Always settles within budgetMs (+ timer slack);
 * rejects with DcsUnavailableError. `passThrough` errors are rethrown unchanged.
 */
export async function boundedCall<T>(
  what: string,
  budgetMs: number,
  attempt: (deadline: Date) => Promise<T>,
  passThrough: (error: unknown) => boolean = () => false,
): Promise<T> {
  const start = monotonicMs();
  const end = start + budgetMs;
  let timer: NodeJS.Timeout | undefined;
  let done = false;
  let lastError: unknown;
  const loop = async (): Promise<T> => {
    for (let n = 0; ; n++) {
      const remaining = end - monotonicMs();
      if (remaining <= 0 || done) break;
      try {
        return await attempt(new Date(Date.now() + remaining));
      } catch (error) {
        if (passThrough(error)) throw error;
        if (!isTransient(error)) {
          throw new DcsUnavailableError(`etcd ${what} failed: ${describe(error)}`, { cause: error });
        }
        lastError = error;
        const pause = Math.min(50 * 2 ** n, 500, end - monotonicMs());
        if (pause > 0) await sleep(pause);
      }
    }
    throw new DcsUnavailableError(
      `etcd ${what} did not succeed within ${budgetMs} ms` + (lastError ? `: ${describe(lastError)}` : ''),
      { cause: lastError },
    );
  };
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(
        new DcsUnavailableError(
          `etcd ${what} did not answer within ${budgetMs} ms` + (lastError ? ` (last error: ${describe(lastError)})` : ''),
          { cause: lastError },
        ),
      );
    }, budgetMs);
  });
  const running = loop();
  running.catch(() => undefined); // may settle after the timeout won the race
  timeout.catch(() => undefined);
  try {
    return await Promise.race([running, timeout]);
  } finally {
    done = true;
    clearTimeout(timer);
  }
}
