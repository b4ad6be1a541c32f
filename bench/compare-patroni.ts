// Write outage of governor and Patroni 3 side by side: the same script, the same machine, the same
// client, one system at a time (3 members and one etcd 3.4 each, on 127.0.0.1; in network namespaces for partition).
//   node dist/bench/compare-patroni.js [--systems governor,patroni] [--runs 3]
//     [--scenarios switchover,node-kill,postmaster-kill,etcd-freeze,partition] [--etcd-freeze-s 45]
//     [--etcd-freeze-runs N] [--ttl N] [--patroni-tuned]
// Needs root, PostgreSQL 15, etcd, iproute2, and Patroni: `apt-get install -y patroni` (Debian's 3.0.2).
// Both systems run with their own defaults; --ttl N runs governor at ttl N (demo up --ttl), and
// --patroni-tuned runs Patroni at ttl 10, loop_wait 2, retry_timeout 4 (PATRONI_TUNED).
// The outage is measured as bench/outage.ts does: an INSERT on every member's PostgreSQL every
// 20 ms, outage = the longest interval without an acknowledged one. Prints the settings and one
// table. Not a test: nothing is asserted.
// partition runs on a second cluster of each system with every member in its own network namespace
// (src/cli/demo/netns.ts): the master's link to etcd and its peers goes down while the bench's
// clients keep their own link to it. Its acknowledgements after the cut do not count as writes (they
// are lost: replication is asynchronous in both systems' defaults); the bench reports how many it
// acknowledged and how many of those the new master lacks.

import os from 'node:os';
import pg from 'pg';
import { OutageWriter } from '../test/helpers/writer.js';
import { monotonicMs, sleep } from '../src/util/time.js';
import { GovernorUnderTest, waitFor, type ClusterUnderTest } from './cluster-under-test.js';
import { PATRONI_DEFAULTS, PATRONI_TUNED, PatroniCluster } from './patroni-cluster.js';

const SCENARIOS = ['switchover', 'node-kill', 'postmaster-kill', 'etcd-freeze', 'partition'] as const;
type Scenario = (typeof SCENARIOS)[number];
const SYSTEMS = ['governor', 'patroni'] as const;
type System = (typeof SYSTEMS)[number];

function argument(name: string, fallback: string): string {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 && process.argv[index + 1] ? process.argv[index + 1]! : fallback;
}

function list<T extends string>(name: string, fallback: readonly T[]): T[] {
  const values = argument(name, fallback.join(',')).split(',') as T[];
  for (const v of values) if (!fallback.includes(v)) throw new Error(`--${name}: unknown value ${JSON.stringify(v)} (${fallback.join(', ')})`);
  return values;
}

function positive(name: string, fallback: string): number {
  const n = Number(argument(name, fallback));
  if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name}: expected a positive integer`);
  return n;
}

const systems = list('systems', SYSTEMS);
const scenarios = list('scenarios', SCENARIOS);
const runs = positive('runs', '3');
const freezeRuns = positive('etcd-freeze-runs', String(runs));
const freezeMs = positive('etcd-freeze-s', '45') * 1000;
const governorTtl = process.argv.includes('--ttl') ? positive('ttl', '5') : null;
const patroniTiming = process.argv.includes('--patroni-tuned') ? PATRONI_TUNED : PATRONI_DEFAULTS;
const INTERVAL_MS = 20;
/** After a thaw, the window runs on this long: a system may take a moment to notice etcd is back. */
const AFTER_THAW_MS = 5000;

async function inject(cluster: ClusterUnderTest, scenario: Scenario, leader: string): Promise<void> {
  switch (scenario) {
    case 'switchover':
      return cluster.switchover(leader, cluster.targets().find((t) => t.name !== leader)!.name);
    case 'node-kill': {
      // Both PIDs first: the daemon's death must not give it a chance to touch its PostgreSQL.
      const pids = [cluster.daemonPid(leader), cluster.postmasterPid(leader)];
      for (const pid of pids) process.kill(pid, 'SIGKILL');
      return;
    }
    case 'postmaster-kill':
      process.kill(cluster.postmasterPid(leader), 'SIGKILL');
      return;
    case 'etcd-freeze':
      process.kill(cluster.etcdPid, 'SIGSTOP');
      try {
        await sleep(freezeMs);
      } finally {
        process.kill(cluster.etcdPid, 'SIGCONT');
      }
      return;
    case 'partition':
      return cluster.partition(leader);
  }
}

interface Run {
  ms: number;
  /** partition: writes the isolated master acknowledged after the cut, and how many of those the
   *  new master lacks. */
  isolatedAcks?: number;
  lost?: number;
}

/** How many of `ids` the member behind `config` lacks. */
async function missingOn(config: pg.ClientConfig, ids: number[]): Promise<number> {
  if (ids.length === 0) return 0;
  const client = new pg.Client(config);
  client.on('error', () => undefined);
  await client.connect();
  try {
    const { rows } = await client.query<{ n: string }>('SELECT count(*) AS n FROM outage_probe WHERE id = ANY($1::bigint[])', [ids]);
    return ids.length - Number(rows[0]!.n);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** One run: the longest gap (ms) from the injection until writes have resumed, plus 1 s. */
async function measure(cluster: ClusterUnderTest, scenario: Scenario): Promise<Run | null> {
  const leader = await cluster.waitHealthy();
  const leaderPort = cluster.targets().find((t) => t.name === leader)!.port;
  const writer = new OutageWriter(cluster.targets(), INTERVAL_MS);
  writer.start();
  let injected = false;
  try {
    await sleep(1000);
    const from = monotonicMs();
    // The member named leader must be the one taking writes when the fault is injected; otherwise
    // the run measures nothing (and says so) and is repeated.
    const warm = writer.acks.filter((a) => a.at > from - 500);
    if (warm.length === 0 || warm.some((a) => a.serverPort !== leaderPort)) {
      console.log(`  note: before the injection ${leader} (port ${leaderPort}) was not the only member acknowledging writes (ports ${[...new Set(warm.map((a) => a.serverPort))].join(', ')}): run repeated`);
      return null;
    }
    injected = true;
    await inject(cluster, scenario, leader);
    const thawed = monotonicMs();
    if (scenario === 'etcd-freeze') await sleep(AFTER_THAW_MS);
    // After a switchover or a node loss only another member's acknowledgement means writes resumed:
    // a commit in flight on the old master can still be acknowledged just after the kill. After a
    // thaw the window runs on until some write after it was acknowledged, so an outage that outlasts
    // the freeze is measured whole, not cut at the window's end.
    const elsewhere = scenario === 'switchover' || scenario === 'node-kill' || scenario === 'partition';
    const since = scenario === 'etcd-freeze' ? thawed : from + 50;
    const resumed = await waitFor('writes to resume', async () => writer.acks.find((a) => a.at > since && (!elsewhere || a.serverPort !== leaderPort)), 180_000);
    await sleep(1000);
    const to = monotonicMs();
    await writer.stop();
    if (scenario !== 'partition') return { ms: Math.round(writer.longestGap(from, to).ms) };
    const isolated = (a: { at: number; serverPort: number }) => a.serverPort === leaderPort && a.at > from;
    const ids = writer.acks.filter(isolated).map((a) => a.id);
    const newMaster = cluster.targets().find((t) => t.port === resumed.serverPort)!;
    const lost = await missingOn(newMaster.config, ids);
    return { ms: Math.round(writer.longestGap(from, to, (a) => !isolated(a)).ms), isolatedAcks: ids.length, lost };
  } finally {
    await writer.stop();
    if (injected && scenario === 'node-kill') await cluster.restart(leader);
    if (injected && scenario === 'partition') await cluster.heal(leader);
    await cluster.waitHealthy(300_000);
  }
}

async function start(system: System, netns: boolean): Promise<ClusterUnderTest> {
  return system === 'governor' ? GovernorUnderTest.start(governorTtl, netns) : PatroniCluster.start({ timing: patroniTiming, netns });
}

function load(): string {
  return os.loadavg().map((l) => l.toFixed(2)).join(' ');
}

function summary(runs: Run[]): string {
  if (runs.length === 0) return '';
  const values = runs.map((r) => r.ms);
  const sorted = [...values].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)]!;
  const lost = runs.some((r) => r.lost !== undefined) ? `   (lost/acknowledged by the isolated master: ${runs.map((r) => `${r.lost}/${r.isolatedAcks}`).join(', ')})` : '';
  return `${String(sorted[0]).padStart(6)} ${String(median).padStart(7)} ${String(sorted.at(-1)).padStart(6)}   ${values.join(', ')}${lost}`;
}

async function main(): Promise<void> {
  const results = new Map<string, Run[]>();
  const settings: string[] = [];
  console.log(`load average at start: ${load()} (${os.cpus().length} cores)`);
  // The partition needs network namespaces; the other scenarios run on loopback, as bench/outage.ts.
  const groups = [
    { netns: false, scenarios: scenarios.filter((s) => s !== 'partition') },
    { netns: true, scenarios: scenarios.filter((s) => s === 'partition') },
  ].filter((g) => g.scenarios.length > 0);
  for (const system of systems) {
    for (const group of groups) {
      const cluster = await start(system, group.netns);
      try {
        const leader = await cluster.waitHealthy();
        await OutageWriter.prepare(cluster.targets().find((t) => t.name === leader)!);
        const where = group.netns ? 'in network namespaces' : 'on 127.0.0.1';
        if (!settings.some((line) => line.startsWith(`${system}:`))) settings.push(`${system}: ${cluster.settings}`);
        console.log(`${system} up ${where}: ${cluster.settings}; load average ${load()}${process.env.GOVERNOR_KEEP_TEST_DIRS ? `; kept: ${cluster.dir}` : ''}`);
        for (const scenario of group.scenarios) {
          const values: Run[] = [];
          results.set(`${scenario} ${system}`, values);
          for (let i = 0, attempts = 0; i < (scenario === 'etcd-freeze' ? freezeRuns : runs); i++) {
            const run = await measure(cluster, scenario);
            if (run === null) {
              if (++attempts > 3) throw new Error(`${system} ${scenario}: the named leader was not the member taking writes in ${attempts} attempts`);
              i--;
              continue;
            }
            values.push(run);
            const lost = run.lost === undefined ? '' : `, ${run.isolatedAcks} acknowledged by the isolated master after the cut, ${run.lost} of them missing on the new master`;
            console.log(`  ${scenario} run ${i + 1}: ${run.ms} ms${lost} (load average ${load()})`);
          }
        }
      } finally {
        await cluster.stop();
      }
    }
  }
  console.log(`\nsettings: 3 members, one etcd 3.4; client INSERT on every member's PostgreSQL every ${INTERVAL_MS} ms; etcd frozen (SIGSTOP) ${freezeMs / 1000} s, window until ${AFTER_THAW_MS / 1000} s after the thaw or later until writes resumed`);
  for (const line of settings) console.log(`  ${line}`);
  console.log(`load average at end: ${load()}`);
  console.log('scenario         system        min  median    max   (write outage, ms; all runs)');
  for (const scenario of scenarios) {
    for (const system of systems) console.log(`${scenario.padEnd(16)} ${system.padEnd(10)} ${summary(results.get(`${scenario} ${system}`) ?? [])}`);
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
