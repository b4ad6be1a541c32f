// A Patroni 3 cluster on this machine for bench/compare-patroni.ts: one etcd, N Patroni members
// (Debian's `patroni` package: `apt-get install -y patroni`), each running its own PostgreSQL 15 as
// the OS user postgres. Every process is stopped by PID in stop(), which the caller runs in finally.
//
// DCS: Patroni's `etcd3:` client, which speaks etcd's v3 JSON gateway (/v3/kv/range, /v3/lease/...)
// over plain HTTP with urllib3, so the same etcd 3.4 that governor uses works unchanged (no
// --enable-v2, and no python3-etcd3/grpc package: Debian's patroni ships its own v3 client).

import { spawn } from 'node:child_process';
import { chmodSync, chownSync, closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { stringify } from 'yaml';
import { resolvePgUser } from '../src/postgres/exec.js';
import { startEtcdProcess, stopProcess } from '../src/cli/demo/etcd-process.js';
import { inNamespace, netnsCreate, netnsDestroy, netnsHeal, netnsPartition, type NetnsLayout } from '../src/cli/demo/netns.js';
import { httpRequest } from '../src/util/http-client.js';
import { freePorts } from '../src/util/ports.js';
import { isAlive, readPidFile } from '../src/util/process.js';
import { runCommand, streamsFrom, waitFor, type ClusterUnderTest, type MemberTarget } from './cluster-under-test.js';

/** Patroni's cluster-wide timing (bootstrap.dcs). */
export interface PatroniTiming {
  ttl: number;
  loop_wait: number;
  retry_timeout: number;
  failsafe_mode: boolean;
}

/** Patroni 3.0's own defaults (patroni/config.py). */
export const PATRONI_DEFAULTS: PatroniTiming = { ttl: 30, loop_wait: 10, retry_timeout: 10, failsafe_mode: false };
/** --patroni-tuned: ttl 10 and loop_wait 2 as in the earlier reference measurement; retry_timeout 4
 *  is the largest that keeps Patroni's documented rule loop_wait + 2 * retry_timeout <= ttl. */
export const PATRONI_TUNED: PatroniTiming = { ttl: 10, loop_wait: 2, retry_timeout: 4, failsafe_mode: false };

export interface PatroniMember {
  name: string;
  /** Where etcd and the other members reach it (its connect addresses). */
  host: string;
  /** Where the bench's clients reach it: `host`, or its client link in a network namespace. */
  clientHost: string;
  /** Network namespace it runs in (null: the root namespace, on 127.0.0.1). */
  namespace: string | null;
  pgPort: number;
  apiPort: number;
  dataDir: string;
  configFile: string;
  logFile: string;
  pid: number;
}

export interface PatroniClusterOptions {
  members?: number;
  timing: PatroniTiming;
  /** Each member in its own network namespace (src/cli/demo/netns.ts, as `governor demo up
   *  --netns`), so partition() can cut it off from etcd and its peers. */
  netns?: boolean;
}

const BIN_DIR = '/usr/lib/postgresql/15/bin';
const SCOPE = 'bench';

export class PatroniCluster implements ClusterUnderTest {
  readonly system = 'patroni';
  private constructor(
    readonly dir: string,
    readonly etcd: { endpoint: string; pid: number },
    readonly members: PatroniMember[],
    readonly superuser: { username: string; password: string },
    readonly timing: PatroniTiming,
    private readonly pgUser: { uid: number; gid: number },
    readonly netns: NetnsLayout | null,
  ) {}

  static async start(options: PatroniClusterOptions): Promise<PatroniCluster> {
    const count = options.members ?? 3;
    const pgUser = await resolvePgUser(null);
    if (pgUser.uid === undefined) throw new Error('the Patroni bench runs as root: Patroni must run PostgreSQL as the OS user postgres');
    // Under /tmp with mode 755: postgres must traverse it to reach its member directory.
    const dir = mkdtempSync(path.join(os.tmpdir(), 'patroni-bench-'));
    chmodSync(dir, 0o755);
    const [clientPort, peerPort, ...memberPorts] = await freePorts(2 + 2 * count);
    let etcd: { endpoint: string; pid: number } | null = null;
    let netns: NetnsLayout | null = null;
    const cluster = (): PatroniCluster =>
      new PatroniCluster(dir, etcd ?? { endpoint: '', pid: 0 }, members, superuser, options.timing, { uid: pgUser.uid!, gid: pgUser.gid! }, netns);
    const members: PatroniMember[] = [];
    const names = Array.from({ length: count }, (_, i) => `pg${i + 1}`);
    const superuser = { username: 'postgres', password: randomBytes(12).toString('base64url') };
    const replication = { username: 'replicator', password: randomBytes(12).toString('base64url') };
    try {
      if (options.netns) netns = await netnsCreate(names);
      etcd = await startEtcdProcess({
        dataDir: path.join(dir, 'etcd'), clientPort: clientPort!, peerPort: peerPort!, logFile: path.join(dir, 'etcd.log'), host: netns?.host_address,
      });
      for (let i = 0; i < count; i++) {
        const name = names[i]!;
        const ns = netns?.nodes[i];
        const memberDir = path.join(dir, name);
        mkdirSync(memberDir, { mode: 0o700 });
        chownSync(memberDir, pgUser.uid, pgUser.gid!);
        const member: PatroniMember = {
          name,
          host: ns?.cluster_address ?? '127.0.0.1',
          clientHost: ns?.client_address ?? '127.0.0.1',
          namespace: ns?.namespace ?? null,
          pgPort: memberPorts[i]!,
          apiPort: memberPorts[count + i]!,
          dataDir: path.join(memberDir, 'data'),
          configFile: path.join(memberDir, 'patroni.yml'),
          logFile: path.join(memberDir, 'patroni.log'),
          pid: 0,
        };
        writeFileSync(member.configFile, memberConfig(member, memberDir, etcd.endpoint, options.timing, superuser, replication), { mode: 0o600 });
        chownSync(member.configFile, pgUser.uid, pgUser.gid!);
        members.push(member);
      }
      const started = cluster();
      // The first member bootstraps alone, so which one initdb's is not a race.
      started.spawn(members[0]!);
      await started.waitFor('the first member to bootstrap', async () => (await started.leader()) === members[0]!.name, 120_000);
      for (const member of members.slice(1)) started.spawn(member);
      await started.waitHealthy(300_000);
      return started;
    } catch (error) {
      await cluster().stop();
      throw error;
    }
  }

  /** Start (or restart) a member's Patroni as the OS user postgres, in its namespace if it has one.
   *  setpriv execs, as `ip netns exec` does, so the PID is Patroni's own. */
  spawn(member: PatroniMember): void {
    const log = openSync(member.logFile, 'a', 0o644);
    const own = ['setpriv', `--reuid=${this.pgUser.uid}`, `--regid=${this.pgUser.gid}`, '--clear-groups', 'patroni', member.configFile];
    const argv = member.namespace ? inNamespace(member.namespace, own) : own;
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: path.dirname(member.configFile), LANG: 'C.UTF-8' };
    try {
      const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', log, log], detached: true, env });
      child.on('error', () => undefined);
      child.unref();
      if (!child.pid) throw new Error(`could not start Patroni for ${member.name}`);
      member.pid = child.pid;
    } finally {
      closeSync(log);
    }
  }

  get settings(): string {
    const t = this.timing;
    return `ttl ${t.ttl} s, loop_wait ${t.loop_wait} s, retry_timeout ${t.retry_timeout} s, failsafe_mode ${t.failsafe_mode ? 'on' : 'off'}, use_pg_rewind, use_slots, etcd3 (v3 API), no WAL archiving`;
  }

  get etcdPid(): number {
    return this.etcd.pid;
  }

  targets(): MemberTarget[] {
    return this.members.map((m) => ({ name: m.name, port: m.pgPort, config: this.connectionConfig(m) }));
  }

  daemonPid(name: string): number {
    return this.member(name).pid;
  }

  async restart(name: string): Promise<void> {
    this.spawn(this.member(name));
  }

  member(name: string): PatroniMember {
    const member = this.members.find((m) => m.name === name);
    if (!member) throw new Error(`no Patroni member ${name}`);
    return member;
  }

  connectionConfig(member: PatroniMember): pg.ClientConfig {
    return { host: member.clientHost, port: member.pgPort, user: this.superuser.username, password: this.superuser.password, database: 'postgres' };
  }

  postmasterPid(name: string): number {
    const pid = readPidFile(path.join(this.member(name).dataDir, 'postmaster.pid'));
    if (pid === null) throw new Error(`${name}: no postmaster.pid`);
    return pid;
  }

  /** The member Patroni's /cluster names leader with state running (asked of each member in turn). */
  async leader(): Promise<string | null> {
    for (const member of this.members) {
      try {
        const res = await httpRequest(`http://${member.clientHost}:${member.apiPort}/cluster`, { timeoutMs: 1000 });
        if (res.status !== 200) continue;
        const doc = JSON.parse(res.body) as { members?: Array<{ name: string; role: string; state: string }> };
        return doc.members?.find((m) => m.role === 'leader' && m.state === 'running')?.name ?? null;
      } catch {
        // this member's REST API is down: ask the next one
      }
    }
    return null;
  }

  /** One leader that is a primary with every other member streaming from it. Patroni 3.0 reports a
   *  replica as "running" whether or not it streams, so ask the primary's pg_stat_replication. */
  async waitHealthy(timeoutMs = 180_000): Promise<string> {
    return this.waitFor('a Patroni leader with every other member streaming', async () => {
      const leader = await this.leader();
      if (!leader) return null;
      const others = this.members.filter((m) => m.name !== leader).map((m) => m.name);
      return (await streamsFrom(this.connectionConfig(this.member(leader)), others)) ? leader : null;
    }, timeoutMs);
  }

  waitFor<T>(what: string, probe: () => Promise<T | null | undefined | false>, timeoutMs: number): Promise<T> {
    return waitFor(what, probe, timeoutMs, () => this.members.map((m) => m.logFile));
  }

  async switchover(leader: string, candidate: string): Promise<void> {
    const result = await runCommand(['patronictl', '-c', this.members[0]!.configFile, 'switchover', '--leader', leader, '--candidate', candidate, '--force']);
    if (result.code !== 0) throw new Error(`patronictl switchover failed (${result.code}): ${result.stderr}${result.stdout}`);
  }

  async partition(name: string): Promise<void> {
    if (!this.netns) throw new Error('partition: this Patroni cluster runs without network namespaces');
    await netnsPartition(this.netns, name);
  }

  async heal(name: string): Promise<void> {
    if (this.netns) await netnsHeal(this.netns, name);
  }

  /** Every Patroni, then any postmaster a killed Patroni left behind, then etcd, by PID; then the
   *  namespaces (healed first, so a member cut off still releases its key on the way down). */
  async stop(): Promise<void> {
    for (const member of this.members) await this.heal(member.name).catch(() => undefined);
    await Promise.all(
      this.members.map(async (member) => {
        // SIGTERM: Patroni stops its PostgreSQL (fast) and releases the leader key.
        if (member.pid > 0) await stopProcess(member.pid, 60_000);
        const postmaster = readPidFile(path.join(member.dataDir, 'postmaster.pid'));
        if (postmaster !== null && isAlive(postmaster)) await stopProcess(postmaster, 30_000, 'SIGINT');
      }),
    );
    if (this.etcd.pid > 0) await stopProcess(this.etcd.pid);
    if (this.netns) await netnsDestroy(this.netns);
    if (!process.env.GOVERNOR_KEEP_TEST_DIRS) rmSync(this.dir, { recursive: true, force: true });
  }
}

function memberConfig(
  member: PatroniMember,
  memberDir: string,
  etcdEndpoint: string,
  timing: PatroniTiming,
  superuser: { username: string; password: string },
  replication: { username: string; password: string },
): string {
  return stringify({
    scope: SCOPE,
    namespace: '/service/',
    name: member.name,
    // In a namespace, clients come over the client link and peers over the cluster link: listen on both.
    restapi: { listen: `${member.namespace ? '0.0.0.0' : member.host}:${member.apiPort}`, connect_address: `${member.host}:${member.apiPort}` },
    etcd3: { hosts: [etcdEndpoint.replace(/^https?:\/\//, '')] },
    bootstrap: {
      dcs: {
        ...timing,
        maximum_lag_on_failover: 1048576,
        postgresql: {
          use_pg_rewind: true,
          use_slots: true,
          parameters: { wal_level: 'replica', hot_standby: 'on', max_wal_senders: 10, max_replication_slots: 10, wal_keep_size: '128MB' },
        },
      },
      // Checksums, as governor's initdb has, so pg_rewind works without wal_log_hints.
      initdb: [{ encoding: 'UTF8' }, 'data-checksums'],
    },
    postgresql: {
      listen: `${member.namespace ? `${member.host},${member.clientHost}` : member.host}:${member.pgPort}`,
      connect_address: `${member.host}:${member.pgPort}`,
      data_dir: member.dataDir,
      bin_dir: BIN_DIR,
      pgpass: path.join(memberDir, 'pgpass'),
      authentication: { superuser, replication },
      parameters: { unix_socket_directories: memberDir },
      pg_hba: [
        'local all all trust',
        'host replication replicator 127.0.0.1/32 md5',
        'host all all 127.0.0.1/32 md5',
        // The partition scenario puts members on other addresses: any IPv4 with a password.
        'host replication replicator 0.0.0.0/0 md5',
        'host all all 0.0.0.0/0 md5',
      ],
    },
  });
}
