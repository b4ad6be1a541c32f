// Throughput through HAProxy's write port compared with connecting to the master directly.
//   node dist/bench/pgbench-routing.js [--seconds S] [--clients C[,C...]] [--rounds R] [--scale N]
// Starts a 3-member demo cluster, initializes pgbench on the master, then runs pgbench select-only
// (-S) and simple-update (-N) against the master's PostgreSQL port and against a member's HAProxy
// write port, alternating the order each round so neither side always runs on a warmer cache.
// For every client count it prints the TPS of both sides, pgbench's average latency, and the CPU
// time the entry member's HAProxy (master and worker processes, from /proc) spent per transaction,
// which is what a proxy hop costs on this machine. Not a test: nothing is asserted.

import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { TestCluster } from '../test/helpers/cluster.js';

const execFileAsync = promisify(execFile);

function argument(name: string, fallback: string): string {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 && process.argv[index + 1] ? process.argv[index + 1]! : fallback;
}

function positiveIntegers(name: string, fallback: string): number[] {
  const text = argument(name, fallback);
  const values = text.split(',').map(Number);
  if (values.length === 0 || values.some((value) => !Number.isInteger(value) || value <= 0)) {
    throw new Error(`--${name}: expected a positive integer or a comma-separated list of them, got ${JSON.stringify(text)}`);
  }
  return values;
}

function positiveInteger(name: string, fallback: string): number {
  const values = positiveIntegers(name, fallback);
  if (values.length !== 1) throw new Error(`--${name}: expected one positive integer, got ${JSON.stringify(argument(name, fallback))}`);
  return values[0]!;
}

const seconds = positiveInteger('seconds', '15');
const clientCounts = positiveIntegers('clients', '1,8');
const rounds = positiveInteger('rounds', '2');
const scale = positiveInteger('scale', '10');
const BIN_DIR = process.env.GOVERNOR_PG_BIN_DIR ?? '/usr/lib/postgresql/15/bin';

interface Target {
  host: string;
  port: number;
}

interface Run {
  tps: number;
  latencyMs: number;
  transactions: number;
}

async function pgbench(cluster: TestCluster, target: Target, args: string[]): Promise<string> {
  const { user, password, dbname } = cluster.manifest.postgres;
  const { stdout } = await execFileAsync(path.join(BIN_DIR, 'pgbench'), ['-h', target.host, '-p', String(target.port), '-U', user, ...args, dbname], {
    env: { ...process.env, PGPASSWORD: password },
    maxBuffer: 16 * 1024 * 1024,
  });
  return stdout;
}

function readNumber(output: string, pattern: RegExp, what: string): number {
  const match = pattern.exec(output);
  if (!match) throw new Error(`could not read ${what} from pgbench output:\n${output}`);
  return Number(match[1]);
}

async function run(cluster: TestCluster, target: Target, mode: '-S' | '-N', clients: number): Promise<Run> {
  const threads = Math.min(clients, 2);
  const output = await pgbench(cluster, target, [mode, '-c', String(clients), '-j', String(threads), '-T', String(seconds), '-n']);
  return {
    tps: readNumber(output, /tps = ([0-9.]+) \(without initial connection time\)/, 'TPS'),
    latencyMs: readNumber(output, /latency average = ([0-9.]+) ms/, 'the average latency'),
    transactions: readNumber(output, /number of transactions actually processed: ([0-9]+)/, 'the transaction count'),
  };
}

/** CPU seconds (user + system) used so far by a process and its direct children (HAProxy's workers). */
function processTreeCpuSeconds(pid: number, ticksPerSecond: number): number {
  const ticks = (stat: string) => {
    // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(fields[1]), cpu: Number(fields[11]) + Number(fields[12]) };
  };
  let total = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // exited while we looked
    }
    const { ppid, cpu } = ticks(stat);
    if (Number(entry) === pid || ppid === pid) total += cpu;
  }
  return total / ticksPerSecond;
}

const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;

async function main(): Promise<void> {
  const ticksPerSecond = Number((await execFileAsync('getconf', ['CLK_TCK'])).stdout.trim());
  const cluster = await TestCluster.start(3);
  try {
    const leader = cluster.node(await cluster.waitHealthy());
    cluster.reloadManifest();
    const entry = cluster.manifest.nodes.find((n) => n.name !== leader.name)!;
    if (!entry.haproxy_pid) throw new Error(`the demo manifest has no haproxy_pid for ${entry.name}`);
    const haproxyPid = entry.haproxy_pid;
    const direct: Target = { host: leader.pg_host, port: leader.pg_port };
    const routed: Target = { host: '127.0.0.1', port: entry.haproxy_rw_port };
    await pgbench(cluster, direct, ['-i', '-q', '-s', String(scale)]);
    console.log(`settings: 3 members on 127.0.0.1 (${(await execFileAsync('nproc')).stdout.trim()} cores shared by all), pgbench scale ${scale}, ` +
      `clients ${clientCounts.join(' and ')} (threads = min(clients, 2)), ${seconds} s per run, ${rounds} rounds; ` +
      `direct = master ${leader.name} port ${direct.port}; haproxy = ${entry.name}'s write port ${routed.port} (one TCP hop more)`);
    console.log('mode           clients   direct tps   haproxy tps   ratio   latency direct / haproxy ms   haproxy CPU µs/tx');
    for (const mode of ['-S', '-N'] as const) {
      for (const clients of clientCounts) {
        const results = { direct: [] as Run[], haproxy: [] as Run[] };
        const haproxyCpuPerTx: number[] = [];
        for (let round = 0; round < rounds; round++) {
          const order = round % 2 === 0 ? (['direct', 'haproxy'] as const) : (['haproxy', 'direct'] as const);
          for (const side of order) {
            const before = side === 'haproxy' ? processTreeCpuSeconds(haproxyPid, ticksPerSecond) : 0;
            const result = await run(cluster, side === 'direct' ? direct : routed, mode, clients);
            if (side === 'haproxy') haproxyCpuPerTx.push(((processTreeCpuSeconds(haproxyPid, ticksPerSecond) - before) / result.transactions) * 1e6);
            results[side].push(result);
          }
        }
        const tps = (side: 'direct' | 'haproxy') => mean(results[side].map((r) => r.tps));
        const latency = (side: 'direct' | 'haproxy') => mean(results[side].map((r) => r.latencyMs));
        const label = mode === '-S' ? 'select-only' : 'simple-update';
        console.log(`${label.padEnd(14)} ${String(clients).padStart(7)}   ${tps('direct').toFixed(0).padStart(10)}   ${tps('haproxy').toFixed(0).padStart(11)}   ` +
          `${(tps('haproxy') / tps('direct')).toFixed(3)}   ${latency('direct').toFixed(3).padStart(12)} / ${latency('haproxy').toFixed(3).padEnd(12)}   ` +
          `${mean(haproxyCpuPerTx).toFixed(1).padStart(17)}   (tps runs: direct ${results.direct.map((r) => r.tps.toFixed(0)).join(', ')}; ` +
          `haproxy ${results.haproxy.map((r) => r.tps.toFixed(0)).join(', ')})`);
      }
    }
  } finally {
    await cluster.stop();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
