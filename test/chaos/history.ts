// The chaos suite's history checker (pure: no I/O). It judges what the clients observed during a
// chaos run and what the members hold at its end, against governor's safety rules.
//
// Input: every write attempt of every client: { client, id, target, sentAt, ackedAt | null,
// member, timeline }. `member` is the member whose PostgreSQL acknowledged the write (its
// inet_server_port(), also through HAProxy); `timeline` is that member's WAL insert timeline read in
// the same statement as the INSERT (PostgreSQL 15 names pg_walfile_name(pg_current_wal_lsn()) with
// the insert timeline, so the first 8 hex digits are the timeline the commit was written on). Times
// are milliseconds of one monotonic clock in the client process. sentAt is taken before the query
// is handed to the driver and ackedAt after its result arrived, so the true commit lies strictly
// inside (sentAt, ackedAt): every conclusion below leans towards "no violation" by that much.
//
// Definitions:
// - A *reign* is all acknowledged writes of one (member, timeline). Its commits happened within
//   [min sentAt, max ackedAt]. It was *surely writable* from its first acknowledgement (min
//   ackedAt: a commit had certainly happened by then) to the sending of its last write (max sentAt:
//   a commit certainly happened after that).
// - *Dual master*: two reigns A != B whose surely-writable intervals overlap, i.e.
//   A.lastSentAt > B.firstAckedAt AND B.lastSentAt > A.firstAckedAt: each committed something after
//   the other had already committed something. One member's writes on one timeline are one stretch
//   of time (a master that stops and later writes again on the same timeline, with another member's
//   commits in between, wrote on an abandoned history), so interleaved commits mean two members were
//   writable at overlapping times: safety rule 1 broken. A legitimate sequence (switchover, failover,
//   even back to the old member on a later timeline, a crash restart in place on the same timeline)
//   never interleaves. Reported per pair with both reigns, the overlap and the four writes proving it.
// - *Lost acknowledged commits*: acknowledged ids absent from the final master's table. In
//   synchronous mode every acknowledged commit must be there (rule 2); in asynchronous mode they
//   are counted, not an error by themselves (an async failover may lose the last commits).
// - *Full redundancy* at the end: one leader running read-write, every other member a replica
//   streaming from it on the leader's timeline with replay caught up to the leader's position
//   (taken after the writers stopped), in synchronous mode a synchronous standby in place, WAL
//   archiving on the leader not failing (its last attempt succeeded), and
//   every acknowledged row the master holds present on every member (rows the master lacks are
//   the lost commits above).

export interface WriteAttempt {
  /** The client loop that made it, e.g. "direct-node1" or "haproxy-node2". */
  client: string;
  /** Unique across the run: a retry is a new attempt with a new id. */
  id: number;
  /** Where the client sent it: a member ("node1") or a member's HAProxy write port ("haproxy:node1"). */
  target: string;
  sentAt: number;
  ackedAt: number | null;
  /** The member that acknowledged it (null when not acknowledged). */
  member: string | null;
  /** That member's WAL insert timeline at the write (null when not acknowledged). */
  timeline: number | null;
}

export interface AckRef {
  client: string;
  id: number;
  sentAt: number;
  ackedAt: number;
}

export interface Reign {
  member: string;
  timeline: number;
  acks: number;
  /** Bounds of its commits: [firstSentAt, lastAckedAt]. */
  firstSentAt: number;
  lastAckedAt: number;
  /** Surely writable: [firstAckedAt, lastSentAt] (empty when it acknowledged one write only). */
  firstAckedAt: number;
  lastSentAt: number;
  /** The write acknowledged first and the write sent last (the evidence for the interval). */
  firstAck: AckRef;
  lastSent: AckRef;
}

export interface DualMaster {
  a: Reign;
  b: Reign;
  /** The overlap of the surely-writable intervals; from > to when one reign acknowledged a single
   *  write inside the other's stretch (still interleaved commits). */
  from: number;
  to: number;
}

function acked(attempt: WriteAttempt): attempt is WriteAttempt & { ackedAt: number; member: string; timeline: number } {
  return attempt.ackedAt !== null && attempt.member !== null && attempt.timeline !== null;
}

function ref(a: WriteAttempt & { ackedAt: number }): AckRef {
  return { client: a.client, id: a.id, sentAt: a.sentAt, ackedAt: a.ackedAt };
}

/** Reigns in order of their first acknowledgement. */
export function reignsOf(attempts: readonly WriteAttempt[]): Reign[] {
  const byKey = new Map<string, Reign>();
  for (const attempt of attempts) {
    if (!acked(attempt)) continue;
    const key = `${attempt.member}\u0000${attempt.timeline}`;
    const reign = byKey.get(key);
    if (!reign) {
      byKey.set(key, {
        member: attempt.member,
        timeline: attempt.timeline,
        acks: 1,
        firstSentAt: attempt.sentAt,
        lastAckedAt: attempt.ackedAt,
        firstAckedAt: attempt.ackedAt,
        lastSentAt: attempt.sentAt,
        firstAck: ref(attempt),
        lastSent: ref(attempt),
      });
      continue;
    }
    reign.acks++;
    reign.firstSentAt = Math.min(reign.firstSentAt, attempt.sentAt);
    reign.lastAckedAt = Math.max(reign.lastAckedAt, attempt.ackedAt);
    if (attempt.ackedAt < reign.firstAckedAt) {
      reign.firstAckedAt = attempt.ackedAt;
      reign.firstAck = ref(attempt);
    }
    if (attempt.sentAt > reign.lastSentAt) {
      reign.lastSentAt = attempt.sentAt;
      reign.lastSent = ref(attempt);
    }
  }
  return [...byKey.values()].sort((x, y) => x.firstAckedAt - y.firstAckedAt);
}

/** Every pair of reigns that committed interleaved (see the header). */
export function dualMasters(reigns: readonly Reign[]): DualMaster[] {
  const found: DualMaster[] = [];
  for (let i = 0; i < reigns.length; i++) {
    for (let j = i + 1; j < reigns.length; j++) {
      const a = reigns[i]!;
      const b = reigns[j]!;
      if (a.lastSentAt > b.firstAckedAt && b.lastSentAt > a.firstAckedAt) {
        found.push({ a, b, from: Math.max(a.firstAckedAt, b.firstAckedAt), to: Math.min(a.lastSentAt, b.lastSentAt) });
      }
    }
  }
  return found;
}

/** Acknowledged ids that `present` lacks, ascending. */
export function missingAcked(attempts: readonly WriteAttempt[], present: ReadonlySet<number>): number[] {
  return attempts.filter((a) => acked(a) && !present.has(a.id)).map((a) => a.id).sort((x, y) => x - y);
}

/** What the run observed on one member after the writers stopped. */
export interface FinalMember {
  name: string;
  /** Its PostgreSQL answered. */
  reachable: boolean;
  /** It holds the leader key and reports state running (the cluster document). */
  leader: boolean;
  inRecovery: boolean | null;
  /** Leader: its WAL insert timeline. Replica: the timeline its WAL receiver last received on. */
  timeline: number | null;
  /** Replica: pg_stat_wal_receiver.status ('streaming'). */
  receiverStatus: string | null;
  /** Replica: pg_last_wal_replay_lsn(); leader: pg_current_wal_lsn() (taken once writes stopped). */
  lsn: bigint | null;
  /** Leader in synchronous mode: the standby pg_stat_replication reports 'sync'. */
  syncStandby: string | null;
  /** Leader with WAL archiving: the segment its archiver last failed on, when that failure is more
   *  recent than its last success (archiving stuck), else null. */
  archiveFailing: string | null;
  /** Ids in its chaos table. */
  ids: ReadonlySet<number>;
}

/** PostgreSQL's "X/Y" LSN notation as a number. */
export function parseLsn(text: string): bigint {
  const match = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(text);
  if (!match) throw new Error(`not an LSN: ${JSON.stringify(text)}`);
  return (BigInt(`0x${match[1]}`) << 32n) | BigInt(`0x${match[2]}`);
}

/** Why the cluster is not back to full redundancy (empty: it is). */
export function redundancyProblems(members: readonly FinalMember[], attempts: readonly WriteAttempt[], synchronous: boolean): string[] {
  const problems: string[] = [];
  const unreachable = members.filter((m) => !m.reachable);
  for (const m of unreachable) problems.push(`${m.name}: PostgreSQL not reachable`);
  const leaders = members.filter((m) => m.reachable && m.leader);
  if (leaders.length !== 1) {
    problems.push(`expected one running leader, found ${leaders.length} (${leaders.map((m) => m.name).join(', ') || 'none'})`);
    return problems;
  }
  const leader = leaders[0]!;
  if (leader.inRecovery !== false) problems.push(`${leader.name} (leader): in recovery`);
  if (leader.timeline === null || leader.lsn === null) problems.push(`${leader.name} (leader): timeline or WAL position unknown`);
  if (synchronous && leader.syncStandby === null) problems.push(`${leader.name} (leader): no synchronous standby`);
  if (leader.archiveFailing !== null) problems.push(`${leader.name} (leader): WAL archiving failing (last failed on ${leader.archiveFailing})`);
  for (const m of members) {
    if (m === leader || !m.reachable) continue;
    if (m.inRecovery !== true) problems.push(`${m.name}: not a replica (in recovery: ${m.inRecovery})`);
    if (m.receiverStatus !== 'streaming') problems.push(`${m.name}: WAL receiver ${m.receiverStatus ?? 'not running'}`);
    if (m.timeline !== leader.timeline) problems.push(`${m.name}: on timeline ${m.timeline}, the leader ${leader.name} on ${leader.timeline}`);
    if (m.lsn === null || leader.lsn === null || m.lsn < leader.lsn) problems.push(`${m.name}: replayed ${m.lsn ?? 'unknown'}, the leader is at ${leader.lsn ?? 'unknown'}`);
  }
  // Rows the final master lacks are the lost commits (judged on their own); redundancy means every
  // member holds every acknowledged row the master holds.
  const onLeader = attempts.filter((a) => leader.ids.has(a.id));
  for (const m of members) {
    if (m === leader || !m.reachable) continue;
    const missing = missingAcked(onLeader, m.ids);
    if (missing.length > 0) problems.push(`${m.name}: ${missing.length} acknowledged rows of the leader missing (first ids ${missing.slice(0, 5).join(', ')})`);
  }
  return problems;
}

export interface Verdict {
  attempts: number;
  acked: number;
  reigns: Reign[];
  dualMasters: DualMaster[];
  /** Acknowledged ids absent from the final master (every one an error in synchronous mode). */
  lostAcked: number[];
  /** Why the end state is not full redundancy (empty: it is). */
  redundancy: string[];
  synchronous: boolean;
  ok: boolean;
}

export function judge(input: { attempts: readonly WriteAttempt[]; final: readonly FinalMember[]; synchronous: boolean }): Verdict {
  const reigns = reignsOf(input.attempts);
  const dual = dualMasters(reigns);
  const leaders = input.final.filter((m) => m.reachable && m.leader);
  // Without a single final master there is nothing to compare against: every acknowledged write
  // counts as lost, so the verdict can never pass by default.
  const lostAcked = leaders.length === 1 ? missingAcked(input.attempts, leaders[0]!.ids) : missingAcked(input.attempts, new Set());
  const redundancy = redundancyProblems(input.final, input.attempts, input.synchronous);
  const ackedCount = input.attempts.filter(acked).length;
  return {
    attempts: input.attempts.length,
    acked: ackedCount,
    reigns,
    dualMasters: dual,
    lostAcked,
    redundancy,
    synchronous: input.synchronous,
    ok: dual.length === 0 && (!input.synchronous || lostAcked.length === 0) && redundancy.length === 0 && ackedCount > 0,
  };
}

/** One line per reign and per violation, times in seconds since `origin`. */
export function describeVerdict(v: Verdict, origin = 0): string[] {
  const t = (ms: number) => ((ms - origin) / 1000).toFixed(3);
  const lines = [
    `attempts ${v.attempts}, acknowledged ${v.acked}, reigns ${v.reigns.length}, dual-master intervals ${v.dualMasters.length}, ` +
      `lost acknowledged commits ${v.lostAcked.length}${v.synchronous ? '' : ' (asynchronous mode: counted only)'}, redundancy problems ${v.redundancy.length}`,
  ];
  for (const r of v.reigns) {
    lines.push(`  reign ${r.member} TL${r.timeline}: ${r.acks} acks, commits within [${t(r.firstSentAt)}, ${t(r.lastAckedAt)}] s, surely writable [${t(r.firstAckedAt)}, ${t(r.lastSentAt)}] s`);
  }
  for (const d of v.dualMasters) {
    const ack = (a: AckRef) => `${a.client}#${a.id} sent ${t(a.sentAt)} acked ${t(a.ackedAt)}`;
    lines.push(
      `  DUAL MASTER ${d.a.member} TL${d.a.timeline} and ${d.b.member} TL${d.b.timeline} over [${t(d.from)}, ${t(d.to)}] s: ` +
        `${d.a.member} first acked ${ack(d.a.firstAck)}, last sent ${ack(d.a.lastSent)}; ${d.b.member} first acked ${ack(d.b.firstAck)}, last sent ${ack(d.b.lastSent)}`,
    );
  }
  if (v.lostAcked.length > 0) lines.push(`  LOST acknowledged ids (${v.lostAcked.length}): ${v.lostAcked.slice(0, 20).join(', ')}${v.lostAcked.length > 20 ? ' …' : ''}`);
  for (const p of v.redundancy) lines.push(`  NOT REDUNDANT: ${p}`);
  return lines;
}
