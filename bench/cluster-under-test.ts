// What bench/compare-patroni.ts needs of a cluster, so one measurement runs against governor and
// Patroni alike: its members' PostgreSQL, health, a switchover, PIDs to kill, a restart, stop.

import { execFile } from 'node:child_process';
import pg from 'pg';
import { TestCluster } from '../test/helpers/cluster.js';
import { netnsHeal, netnsPartition, type NetnsLayout } from '../src/cli/demo/netns.js';
import { waitFor } from '../test/helpers/wait.js';

export { waitFor };

export interface MemberTarget {
  name: string;
  /** PostgreSQL port: tells which member acknowledged a write (inet_server_port()). */
  port: number;
  config: pg.ClientConfig;
}

export interface ClusterUnderTest {
  readonly system: string;
  /** The timing settings, printed with the results. */
  readonly settings: string;
  readonly etcdPid: number;
  /** Its temporary directory (data, configs, logs). */
  readonly dir: string;
  targets(): MemberTarget[];
  /** One leader, every other member streaming from it; returns the leader's name. */
  waitHealthy(timeoutMs?: number): Promise<string>;
  switchover(leader: string, candidate: string): Promise<void>;
  daemonPid(name: string): number;
  postmasterPid(name: string): number;
  /** Start a member's daemon again after it was killed. */
  restart(name: string): Promise<void>;
  /** Cut a member off from etcd and its peers / undo it (clusters started in network namespaces). */
  partition(name: string): Promise<void>;
  heal(name: string): Promise<void>;
  stop(): Promise<void>;
}

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run argv (no shell) and collect its output. */
export function runCommand(argv: string[], timeoutMs = 180_000): Promise<CommandResult> {
  return new Promise((resolve) => {
    execFile(argv[0]!, argv.slice(1), { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}


/** Whether the PostgreSQL behind `config` is a primary that every member in `replicas` streams from
 *  (application_name is the member name in both systems). Asked of PostgreSQL itself: a member's
 *  REST view can be stale (a member just healed from a partition still shows its last view, in
 *  which it is the leader and the others stream from it). */
export async function streamsFrom(config: pg.ClientConfig, replicas: string[]): Promise<boolean> {
  const client = new pg.Client({ ...config, connectionTimeoutMillis: 1000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    const { rows } = await client.query<{ primary: boolean; names: string[] }>(
      "SELECT NOT pg_is_in_recovery() AS primary, ARRAY(SELECT application_name FROM pg_stat_replication WHERE state = 'streaming')::text[] AS names",
    );
    return rows[0]!.primary && replicas.every((n) => rows[0]!.names.includes(n));
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Governor through the demo (TestCluster): `governor demo up --no-archive [--ttl N] [--netns]`. */
export class GovernorUnderTest implements ClusterUnderTest {
  readonly system = 'governor';
  private constructor(readonly cluster: TestCluster) {}

  static async start(ttl: number | null, netns: boolean): Promise<GovernorUnderTest> {
    const args = ['--no-archive', ...(ttl === null ? [] : ['--ttl', String(ttl)]), ...(netns ? ['--netns'] : [])];
    return new GovernorUnderTest(await TestCluster.start(3, args));
  }

  get settings(): string {
    return `ttl ${this.cluster.manifest.ttl} s, loop_wait 1 s, retry_timeout 2 s, failsafe_mode on (governor's default), WAL archiving off`;
  }

  get etcdPid(): number {
    return this.cluster.manifest.etcd.pid;
  }

  get dir(): string {
    return this.cluster.dir;
  }

  targets(): MemberTarget[] {
    return this.cluster.manifest.nodes.map((n) => ({ name: n.name, port: n.pg_port, config: this.cluster.connectionConfig(n) }));
  }

  waitHealthy(timeoutMs = 120_000): Promise<string> {
    return waitFor('a governor master with every other member streaming from it', async () => {
      const leader = await this.cluster.waitHealthy(timeoutMs);
      const others = this.targets().filter((t) => t.name !== leader).map((t) => t.name);
      return (await streamsFrom(this.targets().find((t) => t.name === leader)!.config, others)) ? leader : null;
    }, timeoutMs);
  }

  async switchover(_leader: string, candidate: string): Promise<void> {
    const result = await this.cluster.ctl(['switchover', '--candidate', candidate, '--force']);
    if (result.code !== 0) throw new Error(`governorctl switchover failed: ${result.stderr}`);
  }

  daemonPid(name: string): number {
    return this.cluster.governorPid(name);
  }

  postmasterPid(name: string): number {
    return this.cluster.postmasterPid(name);
  }

  async restart(name: string): Promise<void> {
    const started = await this.cluster.demo(['start-node', name]);
    if (started.code !== 0) throw new Error(`demo start-node failed: ${started.stderr}`);
  }

  // netns.ts directly rather than `governor demo partition` (TestCluster.partition): starting a
  // Node.js CLI takes 0.5-1 s on a loaded machine, which would sit inside governor's measured window
  // and not Patroni's.
  partition(name: string): Promise<void> {
    return netnsPartition(this.layout(), name);
  }

  heal(name: string): Promise<void> {
    return netnsHeal(this.layout(), name);
  }

  private layout(): NetnsLayout {
    if (!this.cluster.manifest.netns) throw new Error('partition: this governor demo runs without network namespaces');
    return this.cluster.manifest.netns;
  }

  async stop(): Promise<void> {
    // A member left cut off by a failed run: heal it so its governor stops cleanly.
    if (this.cluster.manifest.netns) for (const node of this.cluster.manifest.nodes) await this.heal(node.name).catch(() => undefined);
    await this.cluster.stop();
  }
}
