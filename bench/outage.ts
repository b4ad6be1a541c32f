// Write outage of a 3-member demo cluster: a client tries an INSERT on every member every 20 ms,
// and the outage is the longest interval in which no member acknowledged one.
//   node dist/bench/outage.js [--runs N] [--scenarios switchover,node-kill,postmaster-kill] [--via direct,haproxy] [--archive on|off]
// --via haproxy writes through every member's HAProxy write port (5000 in production) instead of
// to each PostgreSQL directly; both are measured, in alternation, when both are named.
// Prints the settings and a table of measured milliseconds. Not a test: nothing is asserted.

import { TestCluster } from '../test/helpers/cluster.js';
import { OutageWriter } from '../test/helpers/writer.js';
import { monotonicMs, sleep } from '../src/util/time.js';

type Scenario = 'switchover' | 'node-kill' | 'postmaster-kill';

function argument(name: string, fallback: string): string {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 && process.argv[index + 1] ? process.argv[index + 1]! : fallback;
}

const runs = Number(argument('runs', '3'));
const scenarios = argument('scenarios', 'switchover,node-kill,postmaster-kill').split(',') as Scenario[];
type Via = 'direct' | 'haproxy';
const vias = argument('via', 'direct').split(',') as Via[];
for (const via of vias) if (via !== 'direct' && via !== 'haproxy') throw new Error(`--via: unknown value ${JSON.stringify(via)} (direct or haproxy)`);
const archive = argument('archive', 'on');
if (archive !== 'on' && archive !== 'off') throw new Error(`--archive: expected on or off, got ${JSON.stringify(archive)}`);
const INTERVAL_MS = 20;

async function inject(cluster: TestCluster, scenario: Scenario, leader: string): Promise<void> {
  switch (scenario) {
    case 'switchover': {
      const candidate = cluster.manifest.nodes.find((n) => n.name !== leader)!.name;
      const result = await cluster.ctl(['switchover', '--candidate', candidate, '--force']);
      if (result.code !== 0) throw new Error(`switchover failed: ${result.stderr}`);
      return;
    }
    case 'node-kill':
      process.kill(cluster.governorPid(leader), 'SIGKILL');
      process.kill(cluster.postmasterPid(leader), 'SIGKILL');
      return;
    case 'postmaster-kill':
      process.kill(cluster.postmasterPid(leader), 'SIGKILL');
      return;
  }
}

async function measure(cluster: TestCluster, scenario: Scenario, via: Via): Promise<number> {
  const leader = await cluster.waitHealthy();
  const leaderPort = cluster.node(leader).pg_port;
  const writer = new OutageWriter(
    cluster.manifest.nodes.map((n) => ({
      name: n.name,
      config: via === 'direct' ? cluster.connectionConfig(n) : { ...cluster.connectionConfig(n), port: n.haproxy_rw_port },
    })),
    INTERVAL_MS,
  );
  writer.start();
  await sleep(1000);
  const from = monotonicMs();
  await inject(cluster, scenario, leader);
  // After a switchover or a node loss only another member's acknowledgement means writes resumed: a
  // commit that was in flight on the killed master can still be acknowledged just after the kill.
  const elsewhere = scenario === 'switchover' || scenario === 'node-kill';
  await cluster.waitFor('writes to resume', async () => writer.acks.some((a) => a.at > from + 50 && (!elsewhere || a.serverPort !== leaderPort)), 60_000);
  await sleep(1000);
  const to = monotonicMs();
  await writer.stop();
  const gap = writer.longestGap(from, to);
  if (scenario === 'node-kill') {
    const started = await cluster.demo(['start-node', leader]);
    if (started.code !== 0) throw new Error(`start-node failed: ${started.stderr}`);
  }
  await cluster.waitHealthy(120_000);
  return Math.round(gap.ms);
}

function summary(values: number[]): string {
  const sorted = [...values].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)]!;
  return `${String(sorted[0]).padStart(6)} ${String(median).padStart(7)} ${String(sorted.at(-1)).padStart(6)}   ${values.join(', ')}`;
}

async function main(): Promise<void> {
  const cluster = await TestCluster.start(3, archive === 'off' ? ['--no-archive'] : []);
  try {
    const leader = await cluster.waitHealthy();
    await OutageWriter.prepare({ name: leader, config: cluster.connectionConfig(cluster.node(leader)) });
    console.log(`settings: 3 members on 127.0.0.1, ttl ${cluster.manifest.ttl} s, loop_wait 1 s, retry_timeout 2 s, client INSERT through every member (${vias.join(' and ')}) every ${INTERVAL_MS} ms, WAL archiving ${archive} (demo: local directory, lz4), ${runs} runs each`);
    console.log('scenario                   min  median    max   (write outage, ms; all runs)');
    for (const scenario of scenarios) {
      const values = new Map<Via, number[]>(vias.map((v) => [v, []]));
      for (let i = 0; i < runs; i++) for (const via of vias) values.get(via)!.push(await measure(cluster, scenario, via));
      for (const via of vias) console.log(`${`${scenario} ${via}`.padEnd(24)} ${summary(values.get(via)!)}`);
    }
  } finally {
    await cluster.stop();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
