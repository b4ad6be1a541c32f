// One chaos run: a real 3-member cluster in synchronous mode with WAL archiving onto a small
// filesystem, clients writing to every member directly and through every member's HAProxy, and
// random faults injected one at a time, each followed by a (bounded) wait until the cluster is back
// to full redundancy. At the end the writers stop and the history checker judges what the clients
// saw and what the members hold. The PRNG seed is printed first, so a failing run can be replayed.

import { mkdtempSync, chmodSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { sleep } from '../../src/util/time.js';
import { TestCluster } from '../helpers/cluster.js';
import { ArchiveDisk } from './archive-disk.js';
import { archiveFailing, finalState, waitArchiving, waitRedundant } from './cluster-state.js';
import { FAULT_KINDS, injectFault, type FaultContext, type FaultKind } from './faults.js';
import { describeVerdict, judge, type Verdict } from './history.js';
import { Prng, randomSeed } from './prng.js';
import { ChaosWriters, type ChaosTarget } from './writers.js';

export interface ChaosOptions {
  /** Inject faults until this much time has passed (checked before each fault)… */
  durationMs?: number;
  /** …or this many faults of each kind (in shuffled rounds, one of each kind per round). */
  faultsPerKind?: number;
  seed?: number;
  kinds?: readonly FaultKind[];
  /** Size of the archive filesystem (the "disk full" fault fills what is left of it). */
  archiveSizeMb?: number;
  /** Longest wait for full redundancy after a fault. A fault that exceeds it is reported as a
   *  warning and the next fault follows anyway; the end state decides. Default 180 s. */
  recoveryTimeoutMs?: number;
  /** Longest wait for full redundancy once the writers stopped, before the end state is taken
   *  (default 180 s). */
  finalTimeoutMs?: number;
  /** Bound on each wait of the archive fault (wal-push failing, archiving resuming); default 90 s. */
  archiveWaitMs?: number;
  /** Where progress lines go (default: stdout). */
  log?: (line: string) => void;
  /** Set by a caller (SIGINT in long.ts) to stop injecting faults and go to the verdict. */
  shouldStop?: () => boolean;
}

export interface FaultRecord {
  index: number;
  kind: FaultKind;
  target: string;
  targetRole: string;
  leaderBefore: string | null;
  leaderAfter: string | null;
  /** Seconds since the run's writers started. */
  startedAt: number;
  healedAt: number;
  /** ms from the fault's end (healedAt) / from its start to full redundancy; null: not within the bound. */
  recoveryMs: number | null;
  recoveryFromStartMs: number | null;
  details: Record<string, unknown>;
  recoveryStages: Array<{ ms: number; problems: string }>;
  problems: string[];
}

export interface ChaosResult {
  seed: number;
  verdict: Verdict;
  faults: FaultRecord[];
  /** Failures outside the verdict: fault checks (archive gaps …), unattributable acks. */
  problems: string[];
  /** Faults after which the cluster was not back to full redundancy within recoveryTimeoutMs. Not
   *  a failure by itself (the end state decides), but reported: a recovery that slow is a finding. */
  warnings: string[];
  syncCancelWarnings: number;
  runMs: number;
  ok: boolean;
  /** The cluster directory, kept when the run failed or GOVERNOR_KEEP_TEST_DIRS is set. */
  clusterDir: string;
  keptDir: boolean;
}

/** Fault kinds in shuffled rounds, so every kind gets its share whatever the duration. */
function* schedule(rng: Prng, kinds: readonly FaultKind[], rounds: number): Generator<FaultKind> {
  for (let round = 0; round < rounds; round++) yield* rng.shuffle(kinds);
}

export function chaosTargets(cluster: TestCluster): ChaosTarget[] {
  return cluster.manifest.nodes.flatMap((node) => {
    const direct = cluster.connectionConfig(node);
    return [
      { client: `direct-${node.name}`, target: node.name, config: direct },
      { client: `haproxy-${node.name}`, target: `haproxy:${node.name}`, config: { ...direct, port: node.haproxy_rw_port } },
    ];
  });
}

/** Member by the address and port its PostgreSQL reported; by port alone when ports are unique. */
export function memberLookup(cluster: TestCluster): (address: string | null, port: number) => string | null {
  // Direct sessions reach a member at pg_host; HAProxy reaches it at its connect address, which in
  // network namespaces is the member's cluster-link address.
  const byEndpoint = new Map(cluster.manifest.nodes.map((n) => [`${n.pg_host}:${n.pg_port}`, n.name]));
  for (const ns of cluster.manifest.netns?.nodes ?? []) byEndpoint.set(`${ns.cluster_address}:${cluster.node(ns.name).pg_port}`, ns.name);
  const byPort = new Map<number, string[]>();
  for (const n of cluster.manifest.nodes) byPort.set(n.pg_port, [...(byPort.get(n.pg_port) ?? []), n.name]);
  return (address, port) => {
    const exact = address ? byEndpoint.get(`${address}:${port}`) : undefined;
    if (exact) return exact;
    const candidates = byPort.get(port) ?? [];
    return candidates.length === 1 ? candidates[0]! : null;
  };
}

export async function runChaos(options: ChaosOptions): Promise<ChaosResult> {
  const seed = options.seed ?? randomSeed();
  const rng = new Prng(seed);
  const log = options.log ?? ((line: string) => console.log(line));
  const kinds = options.kinds ?? FAULT_KINDS;
  const recoveryTimeoutMs = options.recoveryTimeoutMs ?? 180_000;
  const rounds = options.faultsPerKind ?? (options.durationMs !== undefined ? Number.MAX_SAFE_INTEGER : 1);
  log(`# chaos seed ${seed} (replay with --seed ${seed}); kinds ${kinds.join(', ')}; ${options.durationMs !== undefined ? `duration ${options.durationMs / 1000} s` : `${rounds} per kind`}`);

  const workDir = mkdtempSync(path.join(os.tmpdir(), 'governor-chaos-'));
  chmodSync(workDir, 0o755);
  const archive = await ArchiveDisk.mount(path.join(workDir, 'archive'), options.archiveSizeMb ?? 256);
  let cluster: TestCluster | null = null;
  let writers: ChaosWriters | null = null;
  const ctx: Partial<FaultContext> & Pick<FaultContext, 'undo' | 'archiveWaitMs'> = { undo: null, archiveWaitMs: options.archiveWaitMs ?? 90_000 };
  const faults: FaultRecord[] = [];
  const problems: string[] = [];
  const warnings: string[] = [];
  const stuckArchives = new Set<string>();
  let origin = performance.now();
  const since = (t: number) => Math.round((t - origin) / 100) / 10;
  let result: ChaosResult | null = null;
  try {
    // Partitions need every member in its own network namespace (demo up --netns).
    cluster = await TestCluster.start(3, ['--archive', archive.url, ...(kinds.includes('partition') ? ['--netns'] : [])]);
    log(`# cluster in ${cluster.dir}, archive ${archive.dir}`);
    const edit = await cluster.ctl(['edit-config', '--set', 'synchronous_mode=true', '--force', '--quiet']);
    if (edit.code !== 0) throw new Error(`edit-config synchronous_mode=true failed: ${edit.stderr}`);
    const ready = await waitRedundant(cluster, true, 120_000);
    if (ready.ms === null) throw new Error(`no synchronous standby after turning synchronous_mode on: ${ready.problems.join('; ')}`);
    const leader = ready.leader!;
    await ChaosWriters.createTable(cluster.connectionConfig(cluster.node(leader)));

    writers = new ChaosWriters(chaosTargets(cluster), memberLookup(cluster));
    origin = performance.now();
    writers.start();
    const timing = await cluster.timing();
    Object.assign(ctx, { cluster, rng, archive, log, timing });
    // A history before the first fault: writes acknowledged through the master and every HAProxy.
    const acknowledged = (client: string) => writers!.attempts.some((a) => a.client === client && a.ackedAt !== null);
    await cluster.waitFor('writes acknowledged through the master and every HAProxy before the first fault', async () =>
      acknowledged(`direct-${leader}`) && cluster!.manifest.nodes.every((n) => acknowledged(`haproxy-${n.name}`)), timing.ttlMs);

    // Member faults alternate between the leader and a replica per kind, from a random start, so even
    // the short run hits both with every kind.
    const occurrences = new Map<FaultKind, number>(kinds.map((k) => [k, rng.int(0, 1)]));
    let index = 0;
    // The leader as the last full-redundancy check verified it.
    let leaderBefore: string | null = ready.leader;
    let leaderSince = 'the start';
    for (const kind of schedule(rng, kinds, rounds)) {
      if (options.durationMs !== undefined && performance.now() - origin >= options.durationMs) break;
      if (options.shouldStop?.()) break;
      index++;
      const startedAt = performance.now();
      log(`[${since(startedAt)} s] fault ${index}: ${kind} (leader ${leaderBefore})`);
      const occurrence = occurrences.get(kind)!;
      occurrences.set(kind, occurrence + 1);
      let outcome;
      try {
        outcome = await injectFault(kind, ctx as FaultContext, occurrence % 2 === 0);
      } catch (error) {
        outcome = { target: '?', targetRole: '?', healedAt: performance.now(), details: {}, problems: [`${kind} failed: ${(error as Error).message}`] };
      }
      const waitStart = performance.now();
      const recovery = await waitRedundant(cluster, true, recoveryTimeoutMs);
      // The start of the stable stretch, not the end of the wait (which adds the stability margin).
      const recoveredAt = waitStart + (recovery.ms ?? 0);
      const record: FaultRecord = {
        index,
        kind,
        target: outcome.target,
        targetRole: outcome.targetRole,
        leaderBefore,
        leaderAfter: recovery.leader,
        startedAt: since(startedAt),
        healedAt: since(outcome.healedAt),
        recoveryMs: recovery.ms === null ? null : Math.round(recoveredAt - outcome.healedAt),
        recoveryFromStartMs: recovery.ms === null ? null : Math.round(recoveredAt - startedAt),
        details: outcome.details,
        // What the wait for full redundancy saw, when it was slow (for whoever reads the fault log).
        recoveryStages: recovery.ms === null || recovery.ms > 10_000 ? recovery.stages : [],
        problems: outcome.problems,
      };
      // Archiving on the leader must work again too (a failed archive_command after a failover, say,
      // is retried by PostgreSQL within seconds). One that stays stuck is a problem, reported once.
      if (recovery.leader !== null && recovery.leader !== leaderBefore) leaderSince = `fault ${index} (${kind} ${record.target})`;
      if (recovery.leader !== null) {
        // A stuck segment already reported is not waited for again: it does not heal by waiting.
        const now = await archiveFailing(cluster, recovery.leader).catch(() => null);
        const failing = now !== null && stuckArchives.has(`${recovery.leader} ${now}`) ? now : await waitArchiving(cluster, recovery.leader, 30_000);
        const key = `${recovery.leader} ${failing}`;
        if (failing !== null && !stuckArchives.has(key)) {
          stuckArchives.add(key);
          // PostgreSQL marks what it will archive at checkpoints, so a promotion's trouble can show
          // a fault later: name the fault the leader took over at, too.
          record.problems.push(`WAL archiving on the leader ${recovery.leader} (leader since ${leaderSince}) failing 30 s after full replication redundancy: last failed on ${failing}`);
        }
      }
      if (recovery.ms === null) warnings.push(`fault ${index} (${kind} ${record.target}): not back to full redundancy within ${recoveryTimeoutMs / 1000} s: ${recovery.problems.join('; ')}`);
      faults.push(record);
      log(
        `[${since(recoveredAt)} s]   ${record.target} (${record.targetRole}); leader ${record.leaderBefore} -> ${record.leaderAfter}; ` +
          `full redundancy ${record.recoveryMs === null ? 'NOT REACHED' : `${record.recoveryMs} ms after the fault ended`}; acked so far ${writers.acked}` +
          record.recoveryStages.map((st) => `\n    +${(st.ms / 1000).toFixed(1)} s ${st.problems || 'redundant'}`).join('') +
          (record.problems.length ? `\n  PROBLEMS: ${record.problems.join('\n  ')}` : '') +
          (recovery.ms === null ? `\n  WARNING: not back to full redundancy within ${recoveryTimeoutMs / 1000} s; going on` : ''),
      );
      problems.push(...record.problems.map((p) => `fault ${index} (${kind} ${record.target}): ${p}`));
      // After the bounded wait the run goes on either way (the issue's "recovery to full redundancy,
      // or a bounded wait"): the slow recovery is a warning, and the end state decides.
      leaderBefore = recovery.leader ?? (await cluster.leader());
      await sleep(rng.int(timing.loopWaitMs / 2, 2 * timing.loopWaitMs)); // 0.5-2 s at loop_wait 1
    }

    await writers.stop();
    const stoppedAt = performance.now();
    log(`[${since(stoppedAt)} s] writers stopped: ${writers.attempts.length} attempts, ${writers.acked} acknowledged; checking the end state`);
    const end = await waitRedundant(cluster, true, options.finalTimeoutMs ?? 180_000);
    if (end.ms === null) log(`  not back to full redundancy at the end: ${end.problems.join('; ')}`);
    const final = await finalState(cluster, 60_000);
    const verdict = judge({ attempts: writers.attempts, final, synchronous: true });
    problems.push(...writers.anomalies);
    const ok = verdict.ok && problems.length === 0;
    result = {
      seed,
      verdict,
      faults,
      problems,
      warnings,
      syncCancelWarnings: writers.syncCancelWarnings,
      runMs: Math.round(stoppedAt - origin),
      ok,
      clusterDir: cluster.dir,
      keptDir: !ok || Boolean(process.env.GOVERNOR_KEEP_TEST_DIRS),
    };
    for (const line of describeVerdict(verdict, origin)) log(line);
    if (result.keptDir) {
      // The raw history beside the member logs, for whoever investigates.
      writeFileSync(path.join(cluster.dir, 'chaos-history.json'), JSON.stringify({ seed, origin, faults, problems, warnings, attempts: writers.attempts }));
      log(`# kept ${cluster.dir} (member logs node*/governor.log, chaos-history.json)`);
    }
    return result;
  } finally {
    await ctx.undo?.().catch(() => undefined);
    await writers?.stop();
    if (cluster?.manifest.netns) {
      // A member left cut off would not stop cleanly (its governor cannot release the key).
      for (const node of cluster.manifest.nodes) await cluster.heal(node.name).catch(() => undefined);
    }
    if (cluster) {
      const down = await cluster.demo(['down']);
      if (down.code !== 0) log(`demo down failed: ${down.stderr}`);
      if (!(result?.keptDir ?? true)) rmSync(cluster.dir, { recursive: true, force: true });
      else if (!result) log(`# kept ${cluster.dir} (the run did not finish)`);
    }
    await archive.unmount().catch((error: Error) => log(`unmount ${archive.dir} failed: ${error.message}`));
    rmSync(workDir, { recursive: true, force: true });
  }
}
