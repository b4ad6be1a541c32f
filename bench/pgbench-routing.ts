// Throughput through HAProxy's write port compared with connecting to the master directly.
//   node dist/bench/pgbench-routing.js [--seconds S] [--clients C] [--rounds R] [--scale N]
// Starts a 3-member demo cluster, initializes pgbench on the master, then runs pgbench select-only
// (-S) and simple-update (-N) against the master's PostgreSQL port and against a member's HAProxy
// write port, alternating the order each round so neither side always runs on a warmer cache.
// Prints the settings and the measured TPS. Not a test: nothing is asserted.

import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { TestCluster } from '../test/helpers/cluster.js';

const execFileAsync = promisify(execFile);

function argument(name: string, fallback: string): string {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 && process.argv[index + 1] ? process.argv[index + 1]! : fallback;
}

function positiveInteger(name: string, fallback: string): number {
  const value = Number(argument(name, fallback));
  if (!Number.isInteger(value) || value <= 0) throw new Error(`--${name}: expected a positive integer, got ${JSON.stringify(argument(name, fallback))}`);
  return value;
}

const seconds = positiveInteger('seconds', '15');
const clients = positiveInteger('clients', '8');
const rounds = positiveInteger('rounds', '2');
const scale = positiveInteger('scale', '10');
const BIN_DIR = process.env.GOVERNOR_PG_BIN_DIR ?? '/usr/lib/postgresql/15/bin';

interface Target {
  host: string;
  port: number;
}

async function pgbench(cluster: TestCluster, target: Target, args: string[]): Promise<string> {
  const { user, password, dbname } = cluster.manifest.postgres;
  const { stdout } = await execFileAsync(path.join(BIN_DIR, 'pgbench'), ['-h', target.host, '-p', String(target.port), '-U', user, ...args, dbname], {
    env: { ...process.env, PGPASSWORD: password },
    maxBuffer: 16 * 1024 * 1024,
  });
  return stdout;
}

async function tps(cluster: TestCluster, target: Target, mode: '-S' | '-N'): Promise<number> {
  const threads = Math.min(clients, 2);
  const output = await pgbench(cluster, target, [mode, '-c', String(clients), '-j', String(threads), '-T', String(seconds), '-n']);
  const match = /tps = ([0-9.]+) \(without initial connection time\)/.exec(output);
  if (!match) throw new Error(`could not read TPS from pgbench output:\n${output}`);
  return Number(match[1]);
}

async function main(): Promise<void> {
  const cluster = await TestCluster.start(3);
  try {
    const leader = cluster.node(await cluster.waitHealthy());
    const entry = cluster.manifest.nodes.find((n) => n.name !== leader.name)!;
    const direct: Target = { host: leader.pg_host, port: leader.pg_port };
    const routed: Target = { host: '127.0.0.1', port: entry.haproxy_rw_port };
    await pgbench(cluster, direct, ['-i', '-q', '-s', String(scale)]);
    console.log(`settings: 3 members on 127.0.0.1 (2 cores shared by all), pgbench scale ${scale}, ${clients} clients, ${Math.min(clients, 2)} threads, ${seconds} s per run, ${rounds} rounds; ` +
      `direct = master ${leader.name} port ${direct.port}; haproxy = ${entry.name}'s write port ${routed.port} (one TCP hop more)`);
    console.log('mode           direct tps   haproxy tps   ratio');
    for (const mode of ['-S', '-N'] as const) {
      const results = { direct: [] as number[], haproxy: [] as number[] };
      for (let round = 0; round < rounds; round++) {
        const order = round % 2 === 0 ? (['direct', 'haproxy'] as const) : (['haproxy', 'direct'] as const);
        for (const side of order) results[side].push(await tps(cluster, side === 'direct' ? direct : routed, mode));
      }
      const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
      const label = mode === '-S' ? 'select-only' : 'simple-update';
      console.log(`${label.padEnd(14)} ${mean(results.direct).toFixed(0).padStart(10)}   ${mean(results.haproxy).toFixed(0).padStart(11)}   ${(mean(results.haproxy) / mean(results.direct)).toFixed(3)}` +
        `   (runs: direct ${results.direct.map((v) => v.toFixed(0)).join(', ')}; haproxy ${results.haproxy.map((v) => v.toFixed(0)).join(', ')})`);
    }
  } finally {
    await cluster.stop();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
