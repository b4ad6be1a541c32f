// `governor demo`: a local cluster on loopback (one etcd, N members) for trying governor out and for
// the integration tests. Every process it starts is recorded by PID in DIR/demo.json and stopped by PID.

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, closeSync, copyFileSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import { validateDynamicConfig } from '../../config/load.js';
import { resolvePgUser } from '../../postgres/exec.js';
import { httpRequest } from '../../util/http-client.js';
import { freePorts } from '../../util/ports.js';
import { sleep } from '../../util/time.js';
import { governorCommand } from '../self.js';
import { assertRunnableByPermissions } from '../self-runnable.js';
import { isAlive, logTail, readPidFile } from '../../util/process.js';
import { startEtcdProcess, stopProcess } from './etcd-process.js';
import { findNode, manifestPath, readManifest, writeManifest, type DemoManifest, type DemoNode } from './manifest.js';
import { inNamespace, netnsCreate, netnsDestroy, netnsHeal, netnsPartition, type NetnsLayout, type NetnsNode } from './netns.js';

export interface DemoUpOptions {
  dir: string;
  nodes: number;
  portBase?: number;
  timeoutMs?: number;
  /** Where WAL and base backups go: `s3://bucket/prefix` or `file:///path`; default DIR/archive;
   *  false: no archiving. */
  archive?: string | false;
  /** Everything over TLS with the PEM files in this directory (TLS_FILES). */
  tlsDir?: string;
  /** Leader key TTL in seconds (default TTL); checked as bootstrap.dcs.ttl is. */
  ttl?: number;
  /** Each member in its own network namespace (root only), so `demo partition` can cut it off. */
  netns?: boolean;
}

/** What --tls-dir must hold: one CA, a server certificate for 127.0.0.1 (etcd, REST APIs,
 *  PostgreSQL) and a client certificate (governor towards etcd). */
export const TLS_FILES = ['ca.crt', 'server.crt', 'server.key', 'client.crt', 'client.key'] as const;

/** Per-node TLS: the shared files, and the node's own copy of the server key, owned by PostgreSQL's
 *  OS user with mode 0600, as PostgreSQL demands. */
interface NodeTls {
  dir: string;
  serverKey: string;
}

const SCOPE = 'demo';
const TTL = 5;

function secret(): string {
  return randomBytes(12).toString('base64url');
}

/** PostgreSQL runs as an unprivileged user: every directory above the demo must let it pass. */
function checkTraversable(dir: string): void {
  if (process.getuid?.() !== 0) return;
  let current = path.dirname(dir);
  while (true) {
    const mode = statSync(current).mode;
    if ((mode & 0o001) === 0) {
      throw new Error(`--dir ${dir}: PostgreSQL runs as user postgres, which cannot enter ${current} (mode ${(mode & 0o777).toString(8)}); use a directory under /tmp or /var/tmp`);
    }
    const parent = path.dirname(current);
    if (parent === current) break;
    current = parent;
  }
}

/** Environment for child daemons: without the caller's governor overrides, which would leak in. */
function childEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const key of Object.keys(env)) {
    if (/^(GOVERNOR_|ETCD_|PGUSER_|PGPASSWORD_|PATRONI_)/.test(key) || ['SCOPE', 'PGDATA'].includes(key)) delete env[key];
  }
  return env;
}

function spawnGovernor(node: Pick<DemoNode, 'config_file' | 'log_file'>, netns: NetnsNode | undefined): number {
  const argv = [...governorCommand(), '-c', node.config_file];
  const [command, ...args] = netns ? inNamespace(netns.namespace, argv) : argv;
  const log = openSync(node.log_file, 'a', 0o600);
  const child = spawn(command!, args, { detached: true, stdio: ['ignore', log, log], env: childEnv() });
  closeSync(log);
  child.unref();
  if (!child.pid) throw new Error(`could not start governor for ${node.config_file}`);
  return child.pid;
}

function haproxyPidFile(node: Pick<DemoNode, 'config_file'>): string {
  return path.join(path.dirname(node.config_file), 'haproxy.pid');
}

function nodeNetns(manifest: DemoManifest, name: string): NetnsNode | undefined {
  return manifest.netns?.nodes.find((n) => n.name === name);
}

function nodeConfig(manifest: DemoManifest, node: DemoNode, secrets: { replication: string; cluster: string }, tls: NodeTls | null): string {
  const nodeDir = path.dirname(node.config_file);
  const file = (name: string) => path.join(tls!.dir, name);
  // In a namespace, peers and etcd use the cluster link and clients the client link; PostgreSQL
  // listens on both, the REST API and HAProxy on the namespace's every address (only those two links).
  const netns = nodeNetns(manifest, node.name);
  const connectHost = netns?.cluster_address ?? '127.0.0.1';
  const pgListen = netns ? `${netns.cluster_address},${netns.client_address}` : node.pg_host;
  const anyHost = netns ? '0.0.0.0' : '127.0.0.1';
  return stringify({
    scope: manifest.scope,
    namespace: 'service',
    name: node.name,
    cluster_secret: secrets.cluster,
    etcd: {
      hosts: manifest.etcd.endpoints.map((e) => e.replace(/^https?:\/\//, '')),
      ...(tls ? { protocol: 'https', cacert: file('ca.crt'), cert: file('client.crt'), key: file('client.key') } : {}),
    },
    restapi: {
      listen: `${anyHost}:${node.api_port}`,
      connect_address: `${connectHost}:${node.api_port}`,
      authentication: { username: manifest.api.username, password: manifest.api.password },
      ...(tls ? { certfile: file('server.crt'), keyfile: tls.serverKey, cafile: file('ca.crt') } : {}),
    },
    postgresql: {
      data_dir: node.data_dir,
      listen: `${pgListen}:${node.pg_port}`,
      connect_address: `${connectHost}:${node.pg_port}`,
      socket_dir: path.dirname(node.data_dir),
      authentication: {
        superuser: { username: manifest.postgres.user, password: manifest.postgres.password },
        replication: { username: 'replicator', password: secrets.replication },
      },
      ...(tls
        ? { ssl: { cert_file: file('server.crt'), key_file: tls.serverKey, ca_file: file('ca.crt'), sslmode: 'verify-full', hostssl_replication: true } }
        : {}),
    },
    bootstrap: { dcs: { ttl: manifest.ttl, loop_wait: 1, retry_timeout: 2, maximum_lag_on_failover: 1048576 } },
    // Each demo node runs its own HAProxy, supervised by its governor, as production nodes do under systemd.
    haproxy: {
      enabled: true,
      manage: true,
      listen_address: anyHost,
      rw_port: node.haproxy_rw_port,
      ro_port: node.haproxy_ro_port,
      config_file: path.join(nodeDir, 'haproxy.cfg'),
      stats_socket: path.join(nodeDir, 'haproxy.sock'),
      master_socket: path.join(nodeDir, 'haproxy-master.sock'),
      pid_file: haproxyPidFile(node),
    },
    // WAL archiving and backups; S3 settings (endpoint, region, path style, credentials) come from
    // the usual AWS_* environment variables the members inherit.
    archive: {
      enabled: manifest.archive.storage !== null,
      storage: manifest.archive.storage ?? '',
      spool_dir: path.join(nodeDir, 'archive-spool'),
      create_replica_methods: ['backup', 'basebackup'],
    },
  });
}

interface ClusterDoc {
  members?: Array<{ name: string; role: string; state: string }>;
}

async function clusterDoc(manifest: DemoManifest): Promise<ClusterDoc | null> {
  const tls = manifest.tls ? { ca: readFileSync(manifest.tls.ca_file) } : undefined;
  for (const node of manifest.nodes) {
    try {
      const res = await httpRequest(`${node.api_url}/cluster`, { timeoutMs: 1000, tls });
      if (res.status === 200) return JSON.parse(res.body) as ClusterDoc;
    } catch {
      // this member's API is not up (yet): ask the next one
    }
  }
  return null;
}

/** One leader running and every other node streaming. */
export function clusterReady(doc: ClusterDoc | null, nodeCount: number): boolean {
  const members = doc?.members ?? [];
  const leaders = members.filter((m) => m.role === 'leader' && m.state === 'running');
  const streaming = members.filter((m) => m.role !== 'leader' && m.state === 'streaming');
  return leaders.length === 1 && streaming.length === nodeCount - 1;
}

export async function waitReady(manifest: DemoManifest, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: ClusterDoc | null = null;
  while (Date.now() < deadline) {
    last = await clusterDoc(manifest);
    if (clusterReady(last, manifest.nodes.length)) return;
    await sleep(250);
  }
  const states = (last?.members ?? []).map((m) => `${m.name}=${m.role}/${m.state}`).join(', ') || 'no member answered';
  const logs = manifest.nodes.map((n) => `--- ${n.log_file}\n${logTail(n.log_file, 15)}`).join('\n');
  throw new Error(`cluster not ready after ${timeoutMs / 1000} s (${states})\n${logs}`);
}

export async function demoUp(options: DemoUpOptions): Promise<DemoManifest> {
  const dir = path.resolve(options.dir);
  if (!Number.isInteger(options.nodes) || options.nodes < 1 || options.nodes > 9) throw new Error(`--nodes: expected 1-9, got ${options.nodes}`);
  // The members' bootstrap.dcs, checked by the configuration's own rules (ttl >= loop_wait + 2 *
  // retry_timeout) before anything is made or started, so a bad --ttl fails here and not in every member.
  const dcs = validateDynamicConfig({ ttl: options.ttl ?? TTL, loop_wait: 1, retry_timeout: 2 }, 'bootstrap.dcs');
  if (existsSync(manifestPath(dir))) {
    const old = readManifest(dir);
    if (isAlive(old.etcd.pid) || old.nodes.some((n) => isAlive(n.governor_pid))) {
      throw new Error(`--dir ${dir}: a demo is already running there; run "governor demo down --dir ${dir}" first`);
    }
    // A stopped demo (its demo.json says so, and none of its processes lives): start afresh.
    process.stderr.write(`removing the stopped demo in ${dir}\n`);
    if (old.netns) await netnsDestroy(old.netns);
    for (const entry of [...old.nodes.map((n) => path.dirname(n.data_dir)), old.etcd.data_dir, path.join(dir, 'etcd.log'), manifestPath(dir)]) {
      rmSync(entry, { recursive: true, force: true });
    }
  }
  // archive_command runs governor as PostgreSQL's OS user: a path it cannot reach stops us here, named.
  if (options.archive !== false) assertRunnableByPermissions(governorCommand(), await resolvePgUser(null));
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o755);
  checkTraversable(dir);
  const socketPath = path.join(dir, 'node1', '.s.PGSQL.65535');
  if (socketPath.length > 100) throw new Error(`--dir ${dir}: path too long for PostgreSQL's Unix socket (${socketPath.length} > 100 bytes)`);

  const count = options.nodes;
  const ports = options.portBase
    ? Array.from({ length: 2 + 4 * count }, (_, i) => options.portBase! + i)
    : await freePorts(2 + 4 * count);
  const tlsDir = options.tlsDir ? path.resolve(options.tlsDir) : null;
  if (tlsDir) {
    const absent = TLS_FILES.filter((name) => !existsSync(path.join(tlsDir, name)));
    if (absent.length > 0) throw new Error(`--tls-dir ${tlsDir}: missing ${absent.join(', ')} (expected ${TLS_FILES.join(', ')})`);
  }
  if (options.netns && tlsDir) throw new Error('--netns with --tls-dir: the demo certificates are for 127.0.0.1 only; use one or the other');
  const names = Array.from({ length: count }, (_, i) => `node${i + 1}`);
  const netns = options.netns ? await netnsCreate(names) : undefined;
  try {
    return await startMembers(dir, options, { count, ports, tlsDir, netns, names, ttl: dcs.ttl });
  } catch (error) {
    // Nothing recorded in demo.json yet means demo down cannot find it: undo here.
    if (netns && !existsSync(manifestPath(dir))) await netnsDestroy(netns);
    throw error;
  }
}

async function startMembers(
  dir: string,
  options: DemoUpOptions,
  setup: { count: number; ports: number[]; tlsDir: string | null; netns: NetnsLayout | undefined; names: string[]; ttl: number },
): Promise<DemoManifest> {
  const { count, ports, tlsDir, netns, names, ttl } = setup;
  const [clientPort, peerPort] = ports as [number, number];
  const etcd = await startEtcdProcess({
    dataDir: path.join(dir, 'etcd'), clientPort, peerPort, logFile: path.join(dir, 'etcd.log'), detached: true, host: netns?.host_address,
    ...(tlsDir
      ? {
          tls: {
            caFile: path.join(tlsDir, 'ca.crt'), certFile: path.join(tlsDir, 'server.crt'), keyFile: path.join(tlsDir, 'server.key'),
            clientCertFile: path.join(tlsDir, 'client.crt'), clientKeyFile: path.join(tlsDir, 'client.key'),
          },
        }
      : {}),
  });

  // The replication password and the cluster secret (failsafe proofs) live only in the node configs.
  const secrets = { replication: secret(), cluster: randomBytes(24).toString('base64url') };
  const pgUser = await resolvePgUser(null);
  const manifest: DemoManifest = {
    scope: SCOPE,
    ttl,
    etcd: { endpoints: [etcd.endpoint], pid: etcd.pid, data_dir: path.join(dir, 'etcd') },
    postgres: { user: 'postgres', password: secret(), dbname: 'postgres' },
    api: { username: 'admin', password: secret() },
    archive: { storage: options.archive === false ? null : options.archive ?? `file://${path.join(dir, 'archive')}` },
    ...(tlsDir ? { tls: { ca_file: path.join(tlsDir, 'ca.crt') } } : {}),
    ...(netns ? { netns } : {}),
    nodes: [],
  };
  if (options.archive === undefined) {
    // wal-push runs as PostgreSQL's OS user (archive_command), so that user owns the local archive.
    const archiveDir = path.join(dir, 'archive');
    mkdirSync(archiveDir, { recursive: true, mode: 0o700 });
    if (pgUser.uid !== undefined) chownSync(archiveDir, pgUser.uid, pgUser.gid!);
  }
  for (let i = 0; i < count; i++) {
    const name = names[i]!;
    const clientHost = netns?.nodes[i]!.client_address ?? '127.0.0.1';
    const nodeDir = path.join(dir, name);
    mkdirSync(nodeDir, { recursive: true });
    // The node directory holds PostgreSQL's socket and log, so its OS user must own it.
    if (pgUser.uid !== undefined) chownSync(nodeDir, pgUser.uid, pgUser.gid!);
    const apiPort = ports[2 + count + i]!;
    const node: DemoNode = {
      name,
      governor_pid: 0,
      api_url: `${tlsDir ? 'https' : 'http'}://${clientHost}:${apiPort}`,
      pg_host: clientHost,
      pg_port: ports[2 + i]!,
      data_dir: path.join(nodeDir, 'data'),
      config_file: path.join(nodeDir, 'governor.yml'),
      api_port: apiPort,
      log_file: path.join(nodeDir, 'governor.log'),
      haproxy_rw_port: ports[2 + 2 * count + i]!,
      haproxy_ro_port: ports[2 + 3 * count + i]!,
      haproxy_pid: null,
    };
    let tls: NodeTls | null = null;
    if (tlsDir) {
      tls = { dir: tlsDir, serverKey: path.join(nodeDir, 'server.key') };
      copyFileSync(path.join(tlsDir, 'server.key'), tls.serverKey);
      chmodSync(tls.serverKey, 0o600);
      if (pgUser.uid !== undefined) chownSync(tls.serverKey, pgUser.uid, pgUser.gid!);
    }
    writeFileSync(node.config_file, nodeConfig(manifest, node, secrets, tls), { mode: 0o600 });
    // wal-push and wal-fetch run as PostgreSQL's OS user and read this file.
    if (pgUser.uid !== undefined) chownSync(node.config_file, pgUser.uid, pgUser.gid!);
    manifest.nodes.push(node);
  }
  for (const node of manifest.nodes) node.governor_pid = spawnGovernor(node, nodeNetns(manifest, node.name));
  writeManifest(dir, manifest);
  await waitReady(manifest, options.timeoutMs ?? 120_000);
  for (const node of manifest.nodes) node.haproxy_pid = readPidFile(haproxyPidFile(node));
  writeManifest(dir, manifest);
  return manifest;
}

export async function demoStopNode(dir: string, name: string): Promise<void> {
  const manifest = readManifest(dir);
  const node = findNode(manifest, name);
  if (isAlive(node.governor_pid)) await stopProcess(node.governor_pid, 90_000);
}

export async function demoStartNode(dir: string, name: string): Promise<DemoNode> {
  const manifest = readManifest(dir);
  const node = findNode(manifest, name);
  if (isAlive(node.governor_pid)) throw new Error(`NAME: ${name} is already running (pid ${node.governor_pid})`);
  node.governor_pid = spawnGovernor(node, nodeNetns(manifest, node.name));
  writeManifest(dir, manifest);
  return node;
}

export async function demoDown(dir: string): Promise<string[]> {
  const manifest = readManifest(dir);
  const stopped: string[] = [];
  await Promise.all(
    manifest.nodes.map(async (node) => {
      if (isAlive(node.governor_pid)) {
        await stopProcess(node.governor_pid, 90_000);
        stopped.push(`governor ${node.name} (pid ${node.governor_pid})`);
      }
      // A governor killed with SIGKILL leaves its HAProxy and PostgreSQL behind: stop them too, by PID.
      const haproxy = readPidFile(haproxyPidFile(node));
      if (haproxy !== null && isAlive(haproxy)) {
        await stopProcess(haproxy, 10_000);
        stopped.push(`haproxy ${node.name} (pid ${haproxy})`);
      }
      const pid = readPidFile(path.join(node.data_dir, 'postmaster.pid'));
      if (pid !== null && isAlive(pid)) {
        await stopProcess(pid, 30_000, 'SIGINT');
        stopped.push(`postgres ${node.name} (pid ${pid})`);
      }
    }),
  );
  if (isAlive(manifest.etcd.pid)) {
    await stopProcess(manifest.etcd.pid);
    stopped.push(`etcd (pid ${manifest.etcd.pid})`);
  }
  if (manifest.netns) {
    await netnsDestroy(manifest.netns);
    stopped.push(`network namespaces ${manifest.netns.nodes.map((n) => n.namespace).join(', ')}`);
  }
  return stopped;
}

function demoNetns(dir: string, name: string): { manifest: DemoManifest; layout: NetnsLayout } {
  const manifest = readManifest(dir);
  findNode(manifest, name);
  if (!manifest.netns) throw new Error(`--dir ${dir}: this demo runs without network namespaces; start it with "governor demo up --netns" to partition members`);
  return { manifest, layout: manifest.netns };
}

/** Cut `name` off from etcd and the other members; clients still reach it on its client address. */
export async function demoPartition(dir: string, name: string): Promise<void> {
  await netnsPartition(demoNetns(dir, name).layout, name);
}

export async function demoHeal(dir: string, name: string): Promise<void> {
  await netnsHeal(demoNetns(dir, name).layout, name);
}

export async function demoStatus(dir: string): Promise<Record<string, unknown>> {
  const manifest = readManifest(dir);
  const doc = await clusterDoc(manifest);
  return {
    etcd: { pid: manifest.etcd.pid, alive: isAlive(manifest.etcd.pid) },
    nodes: manifest.nodes.map((n) => ({
      ...(doc?.members?.find((m) => m.name === n.name) ?? { role: null, state: 'unknown' }),
      name: n.name,
      governor_pid: n.governor_pid,
      governor_alive: isAlive(n.governor_pid),
    })),
  };
}
