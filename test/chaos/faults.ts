// The faults a chaos run injects, one at a time, each ending with the fault removed (the node
// restarted, etcd continued, the archive freed, the partition healed). Waiting for the cluster to
// return to full redundancy afterwards is the run loop's job (run.ts).

import { performance } from 'node:perf_hooks';
import { isAlive, readPidFile } from '../../src/util/process.js';
import { sleep } from '../../src/util/time.js';
import path from 'node:path';
import pg from 'pg';
import type { ClusterTiming, TestCluster } from '../helpers/cluster.js';
import type { ArchiveDisk } from './archive-disk.js';
import type { Prng } from './prng.js';
import { archivedSegments, parseSegmentName, segmentName, walGaps } from './wal-gaps.js';
import { archiveFailing } from './cluster-state.js';

export const FAULT_KINDS = ['node-kill', 'postmaster-kill', 'daemon-hang', 'etcd-stop', 'archive-full', 'partition'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface FaultContext {
  cluster: TestCluster;
  rng: Prng;
  archive: ArchiveDisk;
  log: (line: string) => void;
  /** Undo for the fault in progress (SIGCONT etcd, free the archive): the run's cleanup calls it
   *  if the run is cut short in the middle of a fault. */
  undo: (() => Promise<void>) | null;
  /** Bound on each wait of the archive fault (for wal-push to fail, for archiving to resume). */
  archiveWaitMs: number;
  /** The cluster's ttl and loop_wait: fault durations are drawn relative to them. */
  timing: ClusterTiming;
}

/** How long a member is down, hung or cut off: from retry_timeout (the master rides it out) to
 *  three leases (its key long expired): 2-15 s at ttl 5. */
function outageMs(ctx: FaultContext): number {
  return ctx.rng.int(ctx.timing.retryTimeoutMs, 3 * ctx.timing.ttlMs);
}

export interface FaultOutcome {
  target: string;
  /** What the target was when the fault hit. */
  targetRole: 'leader' | 'replica' | 'etcd' | 'archive';
  /** When the fault ended (performance.now()): the node restarted, etcd continued, the disk freed. */
  healedAt: number;
  details: Record<string, unknown>;
  /** Checks within the fault that failed (a restart that did not start, an archive gap ...). */
  problems: string[];
}

async function leaderOf(cluster: TestCluster): Promise<string> {
  return cluster.waitFor('a running leader', () => cluster.leader(), 60_000);
}

/** The leader when asked (the run loop alternates, so every kind hits the leader and a replica),
 *  otherwise a random other member. */
async function pickMember(ctx: FaultContext, leaderWanted: boolean): Promise<{ name: string; role: 'leader' | 'replica' }> {
  const leader = await leaderOf(ctx.cluster).catch(() => null);
  const names = ctx.cluster.manifest.nodes.map((n) => n.name);
  if (leader && leaderWanted) return { name: leader, role: 'leader' };
  const others = names.filter((n) => n !== leader);
  return { name: ctx.rng.pick(others), role: 'replica' };
}

function postmasterPid(cluster: TestCluster, name: string): number | null {
  const pid = readPidFile(path.join(cluster.node(name).data_dir, 'postmaster.pid'));
  return pid !== null && isAlive(pid) ? pid : null;
}

function kill(pid: number | null, signal: NodeJS.Signals): boolean {
  if (pid === null) return false;
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}

/** The member's machine dies: governor and postmaster SIGKILLed (HAProxy lives on, as a load
 *  balancer in front of it would); after retry_timeout to a lease and a loop (2-6 s at ttl 5)
 *  `governor demo start-node` brings governor back. */
async function nodeKill(ctx: FaultContext, leaderWanted: boolean): Promise<FaultOutcome> {
  const { name, role } = await pickMember(ctx, leaderWanted);
  const governor = ctx.cluster.governorPid(name);
  const postmaster = postmasterPid(ctx.cluster, name);
  kill(governor, 'SIGKILL');
  kill(postmaster, 'SIGKILL');
  const downMs = ctx.rng.int(ctx.timing.retryTimeoutMs, ctx.timing.ttlMs + ctx.timing.loopWaitMs);
  ctx.log(`  SIGKILL governor ${governor} and postmaster ${postmaster ?? '(not running)'} of ${name} (${role}); restart in ${downMs} ms`);
  await sleep(downMs);
  const problems: string[] = [];
  // The killed governor must be gone before start-node, which refuses while its PID lives.
  await ctx.cluster.waitFor(`governor ${governor} to exit`, async () => !isAlive(governor), 10_000).catch(() => problems.push(`governor ${governor} still alive after SIGKILL`));
  const started = await ctx.cluster.demo(['start-node', name]);
  if (started.code !== 0) problems.push(`start-node ${name} failed: ${started.stderr.trim()}`);
  ctx.cluster.reloadManifest();
  return { target: name, targetRole: role, healedAt: performance.now(), details: { governor, postmaster, downMs }, problems };
}

/** PostgreSQL crashes: SIGKILL of the postmaster alone; governor restarts it. */
async function postmasterKill(ctx: FaultContext, leaderWanted: boolean): Promise<FaultOutcome> {
  const { name, role } = await pickMember(ctx, leaderWanted);
  const pid = postmasterPid(ctx.cluster, name);
  const killed = kill(pid, 'SIGKILL');
  ctx.log(`  SIGKILL postmaster ${pid ?? '(not running)'} of ${name} (${role})`);
  return { target: name, targetRole: role, healedAt: performance.now(), details: { pid }, problems: killed ? [] : [`${name}: no postmaster to kill`] };
}

/** A member's governor hangs (SIGSTOP: a blocked event loop, a stuck disk write, a paused process)
 *  for outageMs (2-15 s at ttl 5) while its PostgreSQL runs on, then continues. On the leader, past ttl - margin, only
 *  the write fence stands between its PostgreSQL and a second writer. */
async function daemonHang(ctx: FaultContext, leaderWanted: boolean): Promise<FaultOutcome> {
  const { name, role } = await pickMember(ctx, leaderWanted);
  const pid = ctx.cluster.governorPid(name);
  const stopMs = outageMs(ctx);
  ctx.log(`  SIGSTOP governor ${pid} of ${name} (${role}) for ${stopMs} ms`);
  const resume = async () => {
    kill(pid, 'SIGCONT');
  };
  ctx.undo = resume;
  const stopped = kill(pid, 'SIGSTOP');
  try {
    await sleep(stopMs);
  } finally {
    await resume();
    ctx.undo = null;
  }
  return { target: name, targetRole: role, healedAt: performance.now(), details: { pid, stopMs }, problems: stopped ? [] : [`${name}: no governor ${pid} to stop`] };
}

/** etcd hangs (SIGSTOP) for outageMs (2-15 s at ttl 5), then continues. */
async function etcdStop(ctx: FaultContext): Promise<FaultOutcome> {
  const pid = ctx.cluster.manifest.etcd.pid;
  const stopMs = outageMs(ctx);
  ctx.log(`  SIGSTOP etcd ${pid} for ${stopMs} ms`);
  const resume = async () => {
    kill(pid, 'SIGCONT');
  };
  ctx.undo = resume;
  kill(pid, 'SIGSTOP');
  try {
    await sleep(stopMs);
  } finally {
    await resume();
    ctx.undo = null;
  }
  return { target: 'etcd', targetRole: 'etcd', healedAt: performance.now(), details: { pid, stopMs }, problems: [] };
}

interface ArchiverState {
  failed: number;
  lastArchived: string | null;
  ready: string[];
}

async function archiverState(cluster: TestCluster, leader: string): Promise<ArchiverState> {
  const client = new pg.Client({ ...cluster.connectionConfig(cluster.node(leader)), query_timeout: 10_000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    const [stat] = (await client.query<{ failed_count: string; last_archived_wal: string | null }>('SELECT failed_count, last_archived_wal FROM pg_stat_archiver')).rows;
    const ready = (await client.query<{ name: string }>("SELECT name FROM pg_ls_archive_statusdir() WHERE name LIKE '%.ready' ORDER BY name")).rows;
    return { failed: Number(stat!.failed_count), lastArchived: stat!.last_archived_wal, ready: ready.map((r) => r.name.replace(/\.ready$/, '')) };
  } finally {
    void client.end().catch(() => undefined);
  }
}

/** Finish the current WAL segment so there is one more to archive (the writers keep adding WAL). */
async function switchWal(cluster: TestCluster, leader: string): Promise<void> {
  await cluster.query(leader, 'SELECT pg_switch_wal()').catch(() => undefined);
}

/**
 * The archive's disk fills up: a filler file takes all of the archive filesystem while the writers
 * go on and the leader finishes a WAL segment every second, until wal-push has failed
 * (pg_stat_archiver's failed_count rose) and PostgreSQL keeps the segments (.ready files that
 * stay). Then the filler is removed, and archiving must resume with no gap: every segment from the
 * first one archived to last_archived_wal is in the archive.
 *
 * Segment switches are paced (1 s while waiting for the failure, 5 s while waiting for the resume):
 * while archiving fails PostgreSQL cannot recycle segments, so each switch writes a new zero-filled
 * 16 MiB file, and switching faster only loads the disk every member shares.
 */
async function archiveFull(ctx: FaultContext): Promise<FaultOutcome> {
  const { cluster, archive } = ctx;
  const leader = await leaderOf(cluster);
  const problems: string[] = [];
  // Archiving that already fails (reported after the fault that broke it) would make this fault
  // bite without the disk and leave nothing to judge: say so instead of filling the disk.
  const failing = await archiveFailing(cluster, leader);
  if (failing !== null) {
    ctx.log(`  skipped: WAL archiving on ${leader} already failing (last failed on ${failing})`);
    return { target: leader, targetRole: 'archive', healedAt: performance.now(), details: { skipped: true, alreadyFailingOn: failing }, problems: [`archive fault skipped: WAL archiving on ${leader} was already failing (last failed on ${failing})`] };
  }
  const before = await archiverState(cluster, leader);
  const timeline = (await cluster.query<{ walfile: string }>(leader, 'SELECT pg_walfile_name(pg_current_wal_lsn()) AS walfile'))[0]!.walfile.slice(0, 8);
  ctx.undo = () => archive.free();
  const filled = await archive.fill();
  ctx.log(`  archive filled with ${(filled / 2 ** 20).toFixed(1)} MiB; leader ${leader}, failed_count ${before.failed}, last archived ${before.lastArchived}`);

  // Drive WAL until PostgreSQL demonstrably keeps segments of this fault it could not archive.
  const firstSeen = new Map<string, number>();
  let state = before;
  let stuck: string[] = [];
  const biteDeadline = performance.now() + ctx.archiveWaitMs;
  while (performance.now() < biteDeadline) {
    await switchWal(cluster, leader);
    await sleep(1000);
    try {
      state = await archiverState(cluster, leader);
    } catch {
      continue;
    }
    const now = performance.now();
    const ours = state.ready.filter((name) => name.startsWith(timeline) && !before.ready.includes(name));
    for (const name of ours) if (!firstSeen.has(name)) firstSeen.set(name, now);
    stuck = ours.filter((name) => now - firstSeen.get(name)! >= 2000);
    if (state.failed > before.failed && stuck.length > 0) break;
  }
  const bit = state.failed > before.failed && stuck.length > 0;
  if (!bit) problems.push(`archive full: no failed wal-push with kept segments within ${ctx.archiveWaitMs / 1000} s (failed_count ${before.failed} -> ${state.failed}, ready ${state.ready.join(' ') || 'none'})`);
  ctx.log(`  wal-push failing: failed_count ${before.failed} -> ${state.failed}, kept ${stuck.length} segment(s) ${stuck[0] ?? ''}..${stuck.at(-1) ?? ''}`);

  await archive.free();
  ctx.undo = null;
  const healedAt = performance.now();

  // Archiving must resume: every kept segment archived, last_archived_wal at or past the last one.
  const lastStuck = stuck.at(-1) ?? null;
  let resumed = false;
  let lastSwitch = 0;
  const resumeDeadline = performance.now() + ctx.archiveWaitMs;
  while (performance.now() < resumeDeadline) {
    if (performance.now() - lastSwitch >= 5000) {
      // A new .ready wakes the archiver, which otherwise waits up to 60 s after failures.
      await switchWal(cluster, leader);
      lastSwitch = performance.now();
    }
    await sleep(500);
    try {
      state = await archiverState(cluster, leader);
    } catch {
      continue;
    }
    const stillReady = stuck.filter((name) => state.ready.includes(name));
    if (stillReady.length === 0 && (lastStuck === null || (state.lastArchived !== null && state.lastArchived >= lastStuck))) {
      resumed = true;
      break;
    }
  }
  if (!resumed) {
    problems.push(
      `archiving did not resume within ${ctx.archiveWaitMs / 1000} s of freeing the disk (last archived ${state.lastArchived}, ` +
        `${state.ready.length} segments waiting: ${state.ready.slice(0, 3).join(' ')}${state.ready.length > 3 ? ' …' : ''})`,
    );
  }

  // No gap, from the first segment ever archived to last_archived_wal, across timelines; and within
  // the fault's own stretch, every segment of the leader's timeline complete.
  const segments = archivedSegments(await archive.walFiles());
  const last = state.lastArchived ? parseSegmentName(state.lastArchived) : null;
  const first = segments.length > 0 ? Math.min(...segments.map((s) => s.segno)) : null;
  let gaps: number[] = [];
  let windowGaps: string[] = [];
  if (first === null || last === null) {
    problems.push(`archive: nothing to check (first archived ${first}, last_archived_wal ${state.lastArchived})`);
  } else {
    gaps = walGaps(segments, first, last.segno);
    const firstStuck = stuck[0] ? parseSegmentName(stuck[0]) : null;
    if (firstStuck && firstStuck.timeline === last.timeline) {
      windowGaps = walGaps(segments, firstStuck.segno, last.segno, firstStuck.timeline).map((n) => segmentName(firstStuck.timeline, n));
    }
    if (gaps.length > 0) problems.push(`archive gap: no segment of any timeline for segment numbers ${gaps.slice(0, 10).map((n) => n.toString(16).toUpperCase()).join(' ')} (between the first archived and ${state.lastArchived})`);
    if (windowGaps.length > 0) problems.push(`archive gap in the fault's stretch: ${windowGaps.slice(0, 10).join(' ')}`);
  }
  const leaderAfter = await cluster.leader();
  if (leaderAfter !== leader) problems.push(`the leader changed during the archive fault: ${leader} -> ${leaderAfter}`);
  const usage = await archive.usage();
  ctx.log(`  archive resumed: ${resumed}, last archived ${state.lastArchived}, ${segments.length} segments stored (${(usage.used / 2 ** 20).toFixed(1)} of ${(usage.size / 2 ** 20).toFixed(0)} MiB), gaps ${gaps.length + windowGaps.length}`);
  return {
    target: leader,
    targetRole: 'archive',
    healedAt,
    details: { filledBytes: filled, failedBefore: before.failed, failedAfter: state.failed, kept: stuck, lastArchived: state.lastArchived, archivedSegments: segments.length, gaps, windowGaps },
    problems,
  };
}

/** A member is cut off from etcd and from the other members for outageMs (2-15 s at ttl 5) (its cluster link down in a
 *  cluster started with --netns); the clients on its side still reach it. Then healed. */
async function partition(ctx: FaultContext, leaderWanted: boolean): Promise<FaultOutcome> {
  const { name, role } = await pickMember(ctx, leaderWanted);
  const cutMs = outageMs(ctx);
  ctx.log(`  partition ${name} (${role}) for ${cutMs} ms`);
  ctx.undo = () => ctx.cluster.heal(name);
  await ctx.cluster.partition(name);
  try {
    await sleep(cutMs);
  } finally {
    await ctx.cluster.heal(name);
    ctx.undo = null;
  }
  return { target: name, targetRole: role, healedAt: performance.now(), details: { cutMs }, problems: [] };
}

/** Inject one fault; `leaderWanted` picks the leader as the target of a member fault. */
export async function injectFault(kind: FaultKind, ctx: FaultContext, leaderWanted: boolean): Promise<FaultOutcome> {
  switch (kind) {
    case 'node-kill':
      return nodeKill(ctx, leaderWanted);
    case 'postmaster-kill':
      return postmasterKill(ctx, leaderWanted);
    case 'daemon-hang':
      return daemonHang(ctx, leaderWanted);
    case 'etcd-stop':
      return etcdStop(ctx);
    case 'archive-full':
      return archiveFull(ctx);
    case 'partition':
      return partition(ctx, leaderWanted);
  }
}
