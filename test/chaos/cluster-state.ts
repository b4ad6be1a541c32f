// What the chaos run asks the cluster: is it back to full redundancy (between faults, while the
// writers run), and the end state the history checker judges (after they stopped).

import pg from 'pg';
import { performance } from 'node:perf_hooks';
import { sleep } from '../../src/util/time.js';
import type { QueryLimits, TestCluster } from '../helpers/cluster.js';
import { parseLsn, type FinalMember } from './history.js';
import { TABLE } from './writers.js';

/** Admin queries: their own short-lived session, bounded on both sides. */
const ADMIN_LIMITS: QueryLimits = { statementTimeoutMs: 10_000, queryTimeoutMs: 15_000 };

function query<T extends pg.QueryResultRow>(cluster: TestCluster, name: string, sql: string, params: unknown[] = []): Promise<T[]> {
  return cluster.query<T>(name, sql, params, ADMIN_LIMITS);
}

/** The insert timeline of a primary, from the name of its current WAL file (see writers.ts). */
async function primaryTimeline(cluster: TestCluster, name: string): Promise<{ timeline: number; lsn: string }> {
  const [row] = await query<{ walfile: string; lsn: string }>(cluster, name, 'SELECT pg_walfile_name(pg_current_wal_lsn()) AS walfile, pg_current_wal_lsn()::text AS lsn');
  return { timeline: parseInt(row!.walfile.slice(0, 8), 16), lsn: row!.lsn };
}

/** The segment the archiver last failed on, when no success came after that failure (archiving
 *  stuck, or failing right now); null when archiving works or never ran. */
export async function archiveFailing(cluster: TestCluster, name: string): Promise<string | null> {
  const [row] = await query<{ failing: string | null }>(
    cluster,
    name,
    `SELECT CASE WHEN last_failed_time IS NOT NULL AND (last_archived_time IS NULL OR last_failed_time > last_archived_time)
            THEN last_failed_wal END AS failing FROM pg_stat_archiver`,
  );
  return row?.failing ?? null;
}

/** Poll archiveFailing on the leader until it clears or timeoutMs passes: what it still fails on. */
export async function waitArchiving(cluster: TestCluster, leader: string, timeoutMs: number): Promise<string | null> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const failing = await archiveFailing(cluster, leader).catch((error: Error) => `(pg_stat_archiver unreadable: ${error.message})`);
    if (failing === null || performance.now() > deadline) return failing;
    await sleep(500);
  }
}

/**
 * Why the cluster's replication is not at full redundancy right now (empty: it is): one leader
 * running and read-write, every other member in the leader's pg_stat_replication as streaming, on
 * the leader's timeline, and in synchronous mode one of them 'sync'. WAL archiving, the other half
 * of redundancy, is checked apart (waitArchiving; finalState): a stuck archiver does not heal by
 * waiting, and pacing the faults on it would leave a run that hit one with nothing but waits.
 */
export async function redundancyNow(cluster: TestCluster, synchronous: boolean): Promise<{ leader: string | null; problems: string[] }> {
  const doc = await cluster.clusterDoc();
  const leaders = doc.members.filter((m) => m.role === 'leader' && m.state === 'running');
  if (leaders.length !== 1) return { leader: null, problems: [`leaders running: ${leaders.map((m) => m.name).join(', ') || 'none'} (${doc.members.map((m) => `${m.name}=${m.role}/${m.state}`).join(' ')})`] };
  const leader = leaders[0]!.name;
  const problems: string[] = [];
  const [state] = await query<{ rec: boolean }>(cluster, leader, 'SELECT pg_is_in_recovery() AS rec');
  if (state!.rec) return { leader: null, problems: [`${leader} holds the key but is in recovery`] };
  const { timeline } = await primaryTimeline(cluster, leader);
  // The writers' timeline comes from the WAL file name; cross-check it on every promotion against
  // the timeline history file the promotion wrote (none on timeline 1).
  const [history] = await query<{ newest: string | null }>(cluster, leader, "SELECT max(name) AS newest FROM pg_ls_waldir() WHERE name ~ '^[0-9A-F]{8}[.]history$'");
  const historyTimeline = history?.newest ? parseInt(history.newest.slice(0, 8), 16) : 1;
  if (historyTimeline !== timeline) problems.push(`${leader}: WAL file name says timeline ${timeline}, the newest history file ${historyTimeline}`);
  const rows = await query<{ application_name: string; state: string; sync_state: string }>(cluster, leader, 'SELECT application_name, state, sync_state FROM pg_stat_replication');
  for (const node of cluster.manifest.nodes) {
    if (node.name === leader) continue;
    const row = rows.find((r) => r.application_name === node.name);
    if (row?.state !== 'streaming') {
      problems.push(`${node.name} not streaming from ${leader} (${row?.state ?? 'absent'})`);
      continue;
    }
    const [receiver] = await query<{ received_tli: number | null; status: string | null }>(cluster, node.name, 'SELECT received_tli, status FROM pg_stat_wal_receiver');
    if (receiver?.received_tli !== timeline) problems.push(`${node.name} received timeline ${receiver?.received_tli ?? 'none'}, ${leader} is on ${timeline}`);
  }
  if (synchronous && !rows.some((r) => r.sync_state === 'sync')) problems.push(`${leader} has no synchronous standby`);
  return { leader, problems };
}

export interface RedundancyWait {
  /** ms until the start of a stable stretch of full redundancy, or null when timeoutMs passed first. */
  ms: number | null;
  /** The leader full redundancy was verified with (null when it was not reached). */
  leader: string | null;
  /** The last problems seen (empty when redundant). */
  problems: string[];
  /** Each change of the problem list, with ms since the wait began: what a slow recovery waited for. */
  stages: Array<{ ms: number; problems: string }>;
}

/**
 * Poll redundancyNow until it has held, with the same leader, for stableMs (a cluster can look whole
 * for a moment and then lose its leader key, e.g. when etcd revokes expired leases a little after it
 * resumed), or until timeoutMs passes.
 */
export async function waitRedundant(cluster: TestCluster, synchronous: boolean, timeoutMs: number, stableMs = 1500): Promise<RedundancyWait> {
  const started = performance.now();
  let problems: string[] = ['not probed'];
  let leader: string | null = null;
  let stableSince: number | null = null;
  const stages: RedundancyWait['stages'] = [];
  while (performance.now() - started < timeoutMs) {
    let now: { leader: string | null; problems: string[] };
    try {
      now = await redundancyNow(cluster, synchronous);
    } catch (error) {
      now = { leader: null, problems: [(error as Error).message] };
    }
    problems = now.problems;
    // Numbers (LSNs, PIDs) vary between polls of the same condition: compare without them.
    const text = problems.join('; ');
    if (stages.at(-1)?.problems.replace(/\d+/g, '#') !== text.replace(/\d+/g, '#')) stages.push({ ms: Math.round(performance.now() - started), problems: text });
    if (problems.length > 0 || now.leader !== leader) stableSince = null;
    leader = now.leader;
    if (problems.length === 0) {
      stableSince ??= performance.now();
      if (performance.now() - stableSince >= stableMs) return { ms: stableSince - started, leader, problems, stages };
    }
    await sleep(250);
  }
  return { ms: null, leader: null, problems, stages };
}

async function idsOf(cluster: TestCluster, name: string): Promise<Set<number>> {
  const rows = await query<{ id: string }>(cluster, name, `SELECT id FROM ${TABLE}`);
  return new Set(rows.map((r) => Number(r.id)));
}

/**
 * The end state for the checker, taken after the writers stopped: the leader's position first, then
 * (bounded by catchUpMs) each replica's replay position once it reached it, then every member's ids.
 */
export async function finalState(cluster: TestCluster, catchUpMs: number): Promise<FinalMember[]> {
  const leaderName = await cluster.leader();
  const out: FinalMember[] = [];
  let leaderLsn: bigint | null = null;
  for (const node of cluster.manifest.nodes) {
    const member: FinalMember = { name: node.name, reachable: false, leader: node.name === leaderName, inRecovery: null, timeline: null, receiverStatus: null, lsn: null, syncStandby: null, archiveFailing: null, ids: new Set() };
    out.push(member);
    try {
      const [state] = await query<{ rec: boolean }>(cluster, node.name, 'SELECT pg_is_in_recovery() AS rec');
      member.inRecovery = state!.rec;
      if (!member.inRecovery) {
        const { timeline, lsn } = await primaryTimeline(cluster, node.name);
        member.timeline = timeline;
        member.lsn = parseLsn(lsn);
        const sync = await query<{ application_name: string }>(cluster, node.name, "SELECT application_name FROM pg_stat_replication WHERE sync_state = 'sync'");
        member.syncStandby = sync[0]?.application_name ?? null;
        member.archiveFailing = await archiveFailing(cluster, node.name);
        if (member.leader) leaderLsn = member.lsn;
      }
      member.reachable = true;
    } catch {
      // unreachable: reported by the checker
    }
  }
  const deadline = performance.now() + catchUpMs;
  for (const member of out) {
    if (!member.reachable || member.inRecovery !== true) continue;
    while (true) {
      try {
        const [row] = await query<{ lsn: string | null; status: string | null; tli: number | null }>(
          cluster,
          member.name,
          'SELECT pg_last_wal_replay_lsn()::text AS lsn, r.status, r.received_tli AS tli FROM (SELECT 1) one LEFT JOIN pg_stat_wal_receiver r ON true',
        );
        member.lsn = row?.lsn ? parseLsn(row.lsn) : null;
        member.receiverStatus = row?.status ?? null;
        member.timeline = row?.tli ?? null;
      } catch {
        member.lsn = null;
      }
      if ((leaderLsn !== null && member.lsn !== null && member.lsn >= leaderLsn) || performance.now() > deadline) break;
      await sleep(200);
    }
  }
  for (const member of out) {
    if (!member.reachable) continue;
    try {
      member.ids = await idsOf(cluster, member.name);
    } catch {
      member.reachable = false;
    }
  }
  return out;
}
