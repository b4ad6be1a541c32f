// Start and stop a single-node etcd for the demo and the tests.

import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { httpRequest, type TlsClientOptions } from '../../util/http-client.js';
import { isAlive, logTail } from '../../util/process.js';
import { sleep } from '../../util/time.js';

export interface EtcdProcessOptions {
  dataDir: string;
  clientPort: number;
  peerPort: number;
  logFile: string;
  /** Address to listen on, default 127.0.0.1. */
  host?: string;
  name?: string;
  /** Own process group, not waited for: outlives the parent (demo). */
  detached?: boolean;
  /** etcd binary; default $ETCD_BIN or "etcd" on PATH. */
  bin?: string;
  /** How long to wait for /health (ms), default 15000. */
  startTimeoutMs?: number;
  /** Serve clients over TLS and require client certificates signed by caFile (PEM paths). The
   *  client certificate is what the health check presents. */
  tls?: EtcdTlsFiles;
}

export interface EtcdTlsFiles {
  caFile: string;
  certFile: string;
  keyFile: string;
  clientCertFile: string;
  clientKeyFile: string;
}

export { isAlive };

async function healthy(endpoint: string, tls?: TlsClientOptions): Promise<boolean> {
  try {
    const res = await httpRequest(`${endpoint}/health`, { timeoutMs: 1000, tls });
    const body = JSON.parse(res.body) as { health?: unknown };
    return res.status === 200 && (body.health === 'true' || body.health === true);
  } catch {
    return false;
  }
}

/** Spawn etcd listening on opts.host (127.0.0.1) and resolve once /health answers true. */
export async function startEtcdProcess(opts: EtcdProcessOptions): Promise<{ endpoint: string; pid: number }> {
  const name = opts.name ?? 'etcd0';
  const host = opts.host ?? '127.0.0.1';
  const client = `${opts.tls ? 'https' : 'http'}://${host}:${opts.clientPort}`;
  const peer = `http://${host}:${opts.peerPort}`;
  const args = [
    '--name', name,
    '--data-dir', opts.dataDir,
    '--listen-client-urls', client,
    '--advertise-client-urls', client,
    '--listen-peer-urls', peer,
    '--initial-advertise-peer-urls', peer,
    '--initial-cluster', `${name}=${peer}`,
    '--initial-cluster-state', 'new',
    '--initial-cluster-token', `governor-${name}`,
    '--logger', 'zap',
    '--log-outputs', 'stderr',
    ...(opts.tls
      ? ['--cert-file', opts.tls.certFile, '--key-file', opts.tls.keyFile, '--trusted-ca-file', opts.tls.caFile, '--client-cert-auth']
      : []),
  ];
  const healthTls = opts.tls
    ? { ca: readFileSync(opts.tls.caFile), cert: readFileSync(opts.tls.clientCertFile), key: readFileSync(opts.tls.clientKeyFile) }
    : undefined;
  mkdirSync(dirname(opts.logFile), { recursive: true });
  mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
  const fd = openSync(opts.logFile, 'a');
  let exited: string | null = null;
  let child: ChildProcess;
  try {
    child = spawn(opts.bin ?? process.env.ETCD_BIN ?? 'etcd', args, {
      stdio: ['ignore', fd, fd],
      detached: opts.detached ?? false,
    });
  } finally {
    closeSync(fd);
  }
  child.once('error', (error) => {
    exited = `could not start etcd: ${error.message}`;
  });
  child.once('exit', (code, signal) => {
    exited ??= `etcd exited (code ${code}, signal ${signal})`;
  });
  if (opts.detached) child.unref();

  const deadline = Date.now() + (opts.startTimeoutMs ?? 15_000);
  while (exited === null && Date.now() < deadline) {
    // Healthy, and still ours: another etcd on that port would answer while ours dies.
    if ((await healthy(client, healthTls)) && exited === null && isAlive(child.pid!)) return { endpoint: client, pid: child.pid! };
    await sleep(100);
  }
  if (exited === null && child.pid !== undefined) await stopProcess(child.pid, 2000);
  const reason = exited ?? 'etcd did not become healthy within the timeout';
  throw new Error(`${reason}; last lines of ${opts.logFile}:\n${logTail(opts.logFile)}`);
}

/** SIGTERM (and SIGCONT, in case it is stopped), wait until gone, SIGKILL after timeoutMs. */
/** Stop `pid` with `stopSignal` (PostgreSQL: SIGINT is its fast shutdown), SIGKILL after timeoutMs. */
export async function stopProcess(pid: number, timeoutMs = 10_000, stopSignal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  const signal = (sig: NodeJS.Signals) => {
    try {
      process.kill(pid, sig);
    } catch {
      /* already gone */
    }
  };
  if (!isAlive(pid)) return;
  signal(stopSignal);
  signal('SIGCONT');
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return;
    await sleep(50);
  }
  signal('SIGKILL');
  const killDeadline = Date.now() + 5000;
  while (isAlive(pid) && Date.now() < killDeadline) await sleep(50);
}
