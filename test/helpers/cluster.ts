// A real governor cluster for integration tests and benchmarks: started with `governor demo up` (the
// same command a user runs), inspected through PostgreSQL and the REST API, stopped by PID.

import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, chmodSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { DemoManifest, DemoNode } from '../../src/cli/demo/manifest.js';
import { netnsHeal, netnsPartition, type NetnsLayout } from '../../src/cli/demo/netns.js';
import { waitFor } from './wait.js';
import { httpRequest, type TlsClientOptions } from '../../src/util/http-client.js';

/** dist/src/cli/governor.js, next to this compiled helper (dist/test/helpers). */
export const GOVERNOR_JS = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../src/cli/governor.js');

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run `governor ARGS` (or another entry script) and collect its output. */
export function runGovernor(args: string[], options: { script?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string } = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [options.script ?? GOVERNOR_JS, ...args],
      { env: options.env ?? process.env, timeout: options.timeoutMs ?? 180_000, maxBuffer: 16 * 1024 * 1024, cwd: options.cwd },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout: String(stdout), stderr: String(stderr) });
      },
    );
  });
}

export const GOVERNORCTL_JS = path.join(path.dirname(GOVERNOR_JS), 'governorctl.js');

export interface ClusterView {
  members: Array<{ name: string; role: string; state: string; timeline: number | null }>;
}

export interface QueryLimits {
  statementTimeoutMs: number;
  queryTimeoutMs: number;
}

/** The dynamic configuration's timing, in milliseconds. */
export interface ClusterTiming {
  ttlMs: number;
  loopWaitMs: number;
  retryTimeoutMs: number;
}

export class TestCluster {
  constructor(
    readonly dir: string,
    public manifest: DemoManifest,
  ) {}

  /** `demo up` with `nodes` members; `extraArgs` go to demo up (e.g. ['--no-archive']). */
  static async start(nodes = 3, extraArgs: string[] = []): Promise<TestCluster> {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'governor-test-'));
    chmodSync(dir, 0o755);
    const result = await runGovernor(['demo', 'up', '--dir', dir, '--nodes', String(nodes), '--timeout', '120', ...extraArgs]);
    if (result.code !== 0) {
      await runGovernor(['demo', 'down', '--dir', dir]);
      throw new Error(`demo up failed (${result.code}):\n${result.stderr}\n${result.stdout}`);
    }
    return new TestCluster(dir, JSON.parse(result.stdout) as DemoManifest);
  }

  reloadManifest(): void {
    this.manifest = JSON.parse(readFileSync(path.join(this.dir, 'demo.json'), 'utf8')) as DemoManifest;
  }

  node(name: string): DemoNode {
    const node = this.manifest.nodes.find((n) => n.name === name);
    if (!node) throw new Error(`no node ${name}`);
    return node;
  }

  connectionConfig(node: DemoNode): pg.ClientConfig {
    return {
      host: node.pg_host,
      port: node.pg_port,
      user: this.manifest.postgres.user,
      password: this.manifest.postgres.password,
      database: this.manifest.postgres.dbname,
      connectionTimeoutMillis: 2000,
      statement_timeout: 5000,
    };
  }

  /** One query on a fresh connection to `name`'s PostgreSQL. With `limits`, bounded on both sides
   *  (the server's statement_timeout and the client's query_timeout), and the session's end is not
   *  awaited: ending a session the server or a partition already cut can take long. */
  async query<T extends pg.QueryResultRow = pg.QueryResultRow>(name: string, sql: string, params: unknown[] = [], limits?: QueryLimits): Promise<T[]> {
    const config = this.connectionConfig(this.node(name));
    const client = new pg.Client(limits ? { ...config, statement_timeout: limits.statementTimeoutMs, query_timeout: limits.queryTimeoutMs } : config);
    client.on('error', () => undefined);
    try {
      await client.connect();
      return (await client.query<T>(sql, params)).rows;
    } finally {
      const ended = client.end().catch(() => undefined);
      if (!limits) await ended;
    }
  }

  /** How the REST APIs are reached: verified against the demo's CA when it runs with --tls-dir. */
  get apiTls(): TlsClientOptions {
    return this.manifest.tls ? { ca: readFileSync(this.manifest.tls.ca_file) } : {};
  }

  async api(name: string, pathName: string, init: { method?: string; body?: string; headers?: Record<string, string>; auth?: boolean } = {}): Promise<{ status: number; body: string }> {
    const headers: Record<string, string> = { ...init.headers };
    if (init.auth !== false && init.method && init.method !== 'GET') {
      const { username, password } = this.manifest.api;
      headers.Authorization = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
    }
    return httpRequest(`${this.node(name).api_url}${pathName}`, { method: init.method, body: init.body, headers, timeoutMs: 60_000, tls: this.apiTls });
  }

  /** The cluster as the first of `from` that answers sees it (a member cut off from etcd serves the
   *  last view it read: ask the side of a partition that can know). */
  async clusterDoc(from: string[] = this.manifest.nodes.map((n) => n.name)): Promise<ClusterView> {
    for (const name of from) {
      const view = await this.viewOf(name);
      if (view) return view;
    }
    return { members: [] };
  }

  private async viewOf(name: string): Promise<ClusterView | null> {
    try {
      const res = await httpRequest(`${this.node(name).api_url}/cluster`, { timeoutMs: 1000, tls: this.apiTls });
      return res.status === 200 ? (JSON.parse(res.body) as ClusterView) : null;
    } catch {
      return null;
    }
  }

  /** Name of the member that holds the leader key and runs as master. */
  async leader(from?: string[]): Promise<string | null> {
    const doc = await this.clusterDoc(from);
    return doc.members.find((m) => m.role === 'leader' && m.state === 'running')?.name ?? null;
  }

  async waitFor<T>(what: string, probe: () => Promise<T | null | undefined | false>, timeoutMs = 60_000): Promise<T> {
    return waitFor(what, probe, timeoutMs);
  }

  /** Every member streaming from one running leader, as every member that answers sees it (a member
   *  just back from a partition may still serve the view it had before). */
  async waitHealthy(timeoutMs = 90_000): Promise<string> {
    return this.waitFor(
      'one leader and every other member streaming',
      async () => {
        const views = (await Promise.all(this.manifest.nodes.map((n) => this.viewOf(n.name)))).filter((v): v is ClusterView => v !== null);
        const leaders = new Set(views.map((doc) => {
          const leaders = doc.members.filter((m) => m.role === 'leader' && m.state === 'running');
          const streaming = doc.members.filter((m) => m.role !== 'leader' && m.state === 'streaming');
          return leaders.length === 1 && streaming.length === this.manifest.nodes.length - 1 ? leaders[0]!.name : null;
        }));
        return views.length > 0 && leaders.size === 1 ? [...leaders][0] : null;
      },
      timeoutMs,
    );
  }

  governorPid(name: string): number {
    this.reloadManifest();
    return this.node(name).governor_pid;
  }

  postmasterPid(name: string): number {
    return Number(readFileSync(path.join(this.node(name).data_dir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  }

  async ctl(args: string[]): Promise<RunResult> {
    return runGovernor(['-c', this.manifest.nodes[0]!.config_file, ...args], { script: GOVERNORCTL_JS });
  }

  async demo(args: string[]): Promise<RunResult> {
    return runGovernor(['demo', ...args, '--dir', this.dir]);
  }

  private netns(): NetnsLayout {
    if (!this.manifest.netns) throw new Error('this cluster runs without network namespaces: start it with --netns');
    return this.manifest.netns;
  }

  /** Cut `name` off from etcd and the other members (a cluster started with --netns). In-process
   *  rather than through `governor demo partition`, so a caller's clock brackets the cut closely. */
  async partition(name: string): Promise<void> {
    await netnsPartition(this.netns(), name);
  }

  async heal(name: string): Promise<void> {
    await netnsHeal(this.netns(), name);
  }

  /** The etcd key of `relative` (e.g. "leader", "members/node1") in this cluster. */
  etcdKey(relative: string): string {
    return `/service/${this.manifest.scope}/${relative}`;
  }

  /** Run etcdctl (v3 API) against the cluster's etcd; rejects on a non-zero exit. */
  async etcdctl(args: string[]): Promise<string> {
    return new Promise((resolve, reject) => {
      execFile('etcdctl', ['--endpoints', this.manifest.etcd.endpoints.join(','), ...args], { env: { ...process.env, ETCDCTL_API: '3' }, timeout: 15_000 }, (error, stdout, stderr) =>
        error ? reject(new Error(`etcdctl ${args.join(' ')}: ${stderr || error.message}`)) : resolve(String(stdout)),
      );
    });
  }

  /** The value of the etcd key `relative`, parsed as JSON; null when the key is absent or empty. */
  async etcdJson<T>(relative: string): Promise<T | null> {
    const text = (await this.etcdctl(['get', '--print-value-only', this.etcdKey(relative)])).trim();
    return text ? (JSON.parse(text) as T) : null;
  }

  /** Merge `patch` into the dynamic configuration in the `config` key, written straight to etcd. */
  async patchDynamicConfig(patch: Record<string, unknown>): Promise<void> {
    const current = await this.etcdJson<Record<string, unknown>>('config');
    if (!current) throw new Error(`no dynamic configuration at ${this.etcdKey('config')}`);
    await this.etcdctl(['put', this.etcdKey('config'), JSON.stringify({ ...current, ...patch })]);
  }

  /** The timing the cluster runs with, from its dynamic configuration as the first member that
   *  answers serves it (GET /config): tests derive their waits from it instead of assuming ttl 5. */
  async timing(from: string[] = this.manifest.nodes.map((n) => n.name)): Promise<ClusterTiming> {
    const errors: string[] = [];
    for (const name of from) {
      try {
        const res = await this.api(name, '/config');
        if (res.status !== 200) throw new Error(`status ${res.status}`);
        const config = JSON.parse(res.body) as Record<string, unknown>;
        const seconds = (field: string): number => {
          const value = config[field];
          if (typeof value !== 'number' || !(value > 0)) throw new Error(`${field} is ${JSON.stringify(value)}, not a positive number`);
          return value * 1000;
        };
        return { ttlMs: seconds('ttl'), loopWaitMs: seconds('loop_wait'), retryTimeoutMs: seconds('retry_timeout') };
      } catch (error) {
        errors.push(`${name}: ${(error as Error).message}`);
      }
    }
    throw new Error(`no member served the cluster's timing (${errors.join('; ')})`);
  }

  logOf(name: string): string {
    return readFileSync(this.node(name).log_file, 'utf8');
  }

  async stop(): Promise<void> {
    const result = await runGovernor(['demo', 'down', '--dir', this.dir]);
    if (result.code !== 0) throw new Error(`demo down failed: ${result.stderr}`);
    if (!process.env.GOVERNOR_KEEP_TEST_DIRS) rmSync(this.dir, { recursive: true, force: true });
  }
}
