// HAProxy test kit: settings for a governor-managed HAProxy on free loopback ports inside a temp
// dir, fake PostgreSQL members (TCP servers that answer every connection with their name and keep
// it open) with fake REST APIs (/primary and /replica return what the test sets), clients, and
// cleanup by PID.

import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { defaultHaproxyConfig } from '../../src/config/defaults.js';
import type { HaproxyConfig } from '../../src/config/types.js';
import { createLogger, type Logger } from '../../src/log/logger.js';
import type { RoutingMember } from '../../src/haproxy/render.js';
import { isAlive } from '../../src/util/process.js';
import { HaproxyManager, type HaproxyManagerOptions } from '../../src/haproxy/manager.js';
import { freePort } from '../../src/util/ports.js';
import { sleep } from '../../src/util/time.js';

export const HAPROXY_BIN = process.env.HAPROXY_BIN ?? '/usr/sbin/haproxy';

export interface TestHaproxy {
  dir: string;
  settings: HaproxyConfig;
  manager: HaproxyManager;
  /** The manager's log lines. */
  lines: Array<Record<string, unknown>>;
  /** Every HAProxy PID seen so far (master and workers), for cleanup by PID. */
  pids: Set<number>;
  /** Record the current master and worker PIDs; returns them. */
  track(): Promise<number[]>;
}

/** Settings with manage: true on free loopback ports inside a mkdtemp dir (checks every 100 ms),
 *  and a HaproxyManager for them, started unless `start` is false. */
export async function startTestHaproxy(
  options: { overrides?: Partial<HaproxyConfig>; manager?: HaproxyManagerOptions; start?: boolean } = {},
): Promise<TestHaproxy> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gov-hx-'));
  const settings: HaproxyConfig = {
    ...defaultHaproxyConfig(),
    enabled: true,
    manage: true,
    bin: HAPROXY_BIN,
    config_file: path.join(dir, 'haproxy.cfg'),
    listen_address: '127.0.0.1',
    rw_port: await freePort(),
    ro_port: await freePort(),
    stats_socket: path.join(dir, 'admin.sock'),
    master_socket: path.join(dir, 'master.sock'),
    pid_file: path.join(dir, 'haproxy.pid'),
    check_interval_ms: 100,
    ...options.overrides,
  };
  const { logger, lines } = captureLogger();
  const manager = new HaproxyManager(settings, 'test', logger, options.manager);
  const pids = new Set<number>();
  const track = async () => {
    const info = await manager.processes();
    const now = [manager.pid, info?.master?.pid, ...(info?.workers ?? []), ...(info?.oldWorkers ?? [])].filter(
      (p): p is number => typeof p === 'number',
    );
    for (const p of now) pids.add(p);
    return now;
  };
  const t: TestHaproxy = { dir, settings, manager, lines, pids, track };
  if (options.start !== false) {
    await manager.start();
    await track();
  }
  return t;
}

/** Stop the manager, kill (by PID) anything it left, remove the dir. */
export async function cleanupTestHaproxy(t: TestHaproxy): Promise<void> {
  await t.track().catch(() => undefined);
  await t.manager.stop().catch(() => undefined);
  const pids = [...t.pids];
  for (const pid of pids) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  const deadline = Date.now() + 3000;
  while (pids.some(isAlive) && Date.now() < deadline) await sleep(20);
  fs.rmSync(t.dir, { recursive: true, force: true });
}

/** A logger that keeps its JSON lines (and prints them when HAPROXY_TEST_LOG is set). */
export function captureLogger(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const logger = createLogger({
    level: 'debug',
    cluster: 'test',
    member: 'node',
    write: (line) => {
      lines.push(JSON.parse(line) as Record<string, unknown>);
      if (process.env.HAPROXY_TEST_LOG) process.stderr.write(line + '\n');
    },
  });
  return { logger, lines };
}

export interface FakeMember {
  name: string;
  member: RoutingMember;
  /** What GET /primary and GET /replica answer. */
  health: { primary: number; replica: number };
  /** Connections currently open to the fake PostgreSQL. */
  open(): number;
  close(): Promise<void>;
}

/** A fake member: TCP "PostgreSQL" answering `<name>\n` and an HTTP REST API for health checks. */
export async function startFakeMember(name: string, role: 'primary' | 'replica'): Promise<FakeMember> {
  const sockets = new Set<net.Socket>();
  const pg = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.on('data', (data) => socket.write(`${name}:${data.toString()}`)); // echo, prefixed
    socket.write(`${name}\n`);
  });
  const health = { primary: role === 'primary' ? 200 : 503, replica: role === 'replica' ? 200 : 503 };
  const api = http.createServer((req, res) => {
    const status = req.url === '/primary' ? health.primary : req.url === '/replica' ? health.replica : 404;
    res.writeHead(status, { 'content-type': 'text/plain', connection: 'close' });
    res.end(`${name} ${req.url}\n`);
  });
  const listen = (server: net.Server) =>
    new Promise<number>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port));
    });
  const port = await listen(pg);
  const apiPort = await listen(api);
  return {
    name,
    member: { name, host: '127.0.0.1', port, apiHost: '127.0.0.1', apiPort },
    health,
    open: () => sockets.size,
    close: async () => {
      for (const s of sockets) s.destroy();
      api.closeAllConnections();
      await Promise.all([new Promise((r) => pg.close(r)), new Promise((r) => api.close(r))]);
    },
  };
}

export interface Session {
  /** Name of the member that answered, or null if the connection closed without an answer. */
  name: string | null;
  socket: net.Socket;
  closed: Promise<void>;
  isClosed(): boolean;
  /** Send a line and resolve with the echo (proves the path still works). */
  roundTrip(text: string, timeoutMs?: number): Promise<string | null>;
}

/** Connect through HAProxy; resolve once the backend named itself, the connection closed, or
 *  timeoutMs passed (name null in the last two cases). The connection stays open. */
export function openSession(port: number, timeoutMs = 2000): Promise<Session> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let buffer = '';
    let closed = false;
    let settled = false;
    let onLine: ((line: string) => void) | null = null;
    const closedPromise = new Promise<void>((r) => socket.once('close', () => ((closed = true), r())));
    const session = (name: string | null): Session => ({
      name,
      socket,
      closed: closedPromise,
      isClosed: () => closed,
      roundTrip: (text, ms = 1000) =>
        new Promise((r) => {
          if (closed) return r(null);
          const timer = setTimeout(() => ((onLine = null), r(null)), ms);
          onLine = (line) => (clearTimeout(timer), (onLine = null), r(line));
          socket.write(text + '\n');
          void closedPromise.then(() => (clearTimeout(timer), r(null)));
        }),
    });
    const done = (name: string | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(session(name));
    };
    const timer = setTimeout(() => done(null), timeoutMs);
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      let i: number;
      while ((i = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, i);
        buffer = buffer.slice(i + 1);
        if (!settled) done(line);
        else onLine?.(line);
      }
    });
    void closedPromise.then(() => done(null));
  });
}

/** Connect, read the name, close. */
export async function whoAnswers(port: number, timeoutMs = 2000): Promise<string | null> {
  const s = await openSession(port, timeoutMs);
  s.socket.destroy();
  return s.name;
}

/** Poll until whoAnswers(port) returns `name` (or one of the names), or throw after timeoutMs. */
export async function waitForAnswer(port: number, names: Array<string | null>, timeoutMs = 5000): Promise<number> {
  const t0 = Date.now();
  let last: string | null = null;
  while (Date.now() - t0 < timeoutMs) {
    last = await whoAnswers(port, 500);
    if (names.includes(last)) return Date.now() - t0;
    await sleep(5);
  }
  throw new Error(`port ${port}: expected ${names.join('/')}, last answer ${last}`);
}

export { freePort, sleep };
