// The chaos suite's history checker on hand-written histories: the ones that must fail (two members
// committing interleaved, an acknowledged id missing, a cluster short of redundancy) and the
// legitimate ones (switchover, failover back to the old member on a later timeline, a crash restart
// in place, in-flight writes that straddle a handover).

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { dualMasters, judge, missingAcked, parseLsn, redundancyProblems, reignsOf, type FinalMember, type WriteAttempt } from '../chaos/history.js';
import { archivedSegments, parseSegmentName, segmentName, walGaps } from '../chaos/wal-gaps.js';
import { Prng } from '../chaos/prng.js';

let nextId = 1;
/** An acknowledged write: sent at `sent`, acknowledged at `acked` by `member` on timeline `tl`. */
function ack(member: string, tl: number, sent: number, acked: number, client = `direct-${member}`): WriteAttempt {
  return { client, id: nextId++, target: member, sentAt: sent, ackedAt: acked, member, timeline: tl };
}
function failed(target: string, sent: number): WriteAttempt {
  return { client: `direct-${target}`, id: nextId++, target, sentAt: sent, ackedAt: null, member: null, timeline: null };
}
/** A steady stream of writes on `member` from `from` to `to` ms, one every 10 ms taking 3 ms. */
function stream(member: string, tl: number, from: number, to: number): WriteAttempt[] {
  const out: WriteAttempt[] = [];
  for (let t = from; t <= to; t += 10) out.push(ack(member, tl, t, t + 3));
  return out;
}

interface HistoryCase {
  name: string;
  attempts: WriteAttempt[];
  dual: number;
}

describe('chaos history: dual-master detection', () => {
  const cases: HistoryCase[] = [
    { name: 'one member, one timeline', attempts: stream('node1', 1, 0, 1000), dual: 0 },
    { name: 'switchover node1 TL1 -> node2 TL2 with refused writes between', attempts: [...stream('node1', 1, 0, 1000), failed('node1', 1010), failed('node2', 1020), ...stream('node2', 2, 1500, 2500)], dual: 0 },
    {
      name: 'failover node1 -> node2 -> back to node1 on a later timeline',
      attempts: [...stream('node1', 1, 0, 1000), ...stream('node2', 2, 6000, 7000), ...stream('node1', 3, 12000, 13000)],
      dual: 0,
    },
    { name: 'crash restart in place: same member and timeline after a pause', attempts: [...stream('node1', 4, 0, 1000), ...stream('node1', 4, 3000, 4000)], dual: 0 },
    {
      // The old master's last write was sent before the new one's first acknowledgement and arrived
      // late (a slow synchronous commit): the windows touch, the commits do not interleave.
      name: 'in-flight writes straddle a handover',
      attempts: [...stream('node1', 1, 0, 1000), ack('node1', 1, 1005, 1400), ...stream('node2', 2, 1100, 2000)],
      dual: 0,
    },
    {
      name: 'a write sent exactly when the other member acknowledged its first is not proof',
      attempts: [ack('node1', 1, 0, 5), ack('node1', 1, 100, 105), ack('node2', 2, 90, 100), ack('node2', 2, 200, 205)],
      dual: 0,
    },
    { name: 'two members writing interleaved', attempts: [...stream('node1', 1, 0, 1000), ...stream('node2', 2, 500, 1500)], dual: 1 },
    {
      name: 'two members on the same timeline number writing at once (a fork)',
      attempts: [...stream('node1', 2, 0, 1000), ...stream('node3', 2, 0, 1000)],
      dual: 1,
    },
    {
      name: 'the old master acknowledges one write inside the new master\'s stretch',
      attempts: [...stream('node1', 1, 0, 1000), ...stream('node2', 2, 2000, 3000), ack('node1', 1, 2500, 2510)],
      dual: 1,
    },
    {
      name: 'the old master writes again on its old timeline after the new one wrote (abandoned history)',
      attempts: [...stream('node1', 1, 0, 1000), ...stream('node2', 2, 2000, 3000), ...stream('node1', 1, 4000, 5000)],
      dual: 1,
    },
    {
      name: 'three members at once: every pair reported',
      attempts: [...stream('node1', 1, 0, 1000), ...stream('node2', 2, 0, 1000), ...stream('node3', 3, 0, 1000)],
      dual: 3,
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const found = dualMasters(reignsOf(c.attempts));
      assert.equal(found.length, c.dual, JSON.stringify(found.map((d) => [d.a.member, d.a.timeline, d.b.member, d.b.timeline, d.from, d.to])));
    });
  }

  test('a reign\'s bounds and evidence', () => {
    const attempts = [ack('node1', 1, 10, 20), ack('node1', 1, 5, 30), ack('node1', 1, 40, 45), failed('node1', 50)];
    const [reign, ...rest] = reignsOf(attempts);
    assert.equal(rest.length, 0);
    assert.deepEqual(
      { acks: reign!.acks, firstSentAt: reign!.firstSentAt, lastAckedAt: reign!.lastAckedAt, firstAckedAt: reign!.firstAckedAt, lastSentAt: reign!.lastSentAt },
      { acks: 3, firstSentAt: 5, lastAckedAt: 45, firstAckedAt: 20, lastSentAt: 40 },
    );
    assert.equal(reign!.firstAck.id, attempts[0]!.id);
    assert.equal(reign!.lastSent.id, attempts[2]!.id);
  });

  test('the reported interval of an interleaving', () => {
    const [d] = dualMasters(reignsOf([...stream('node1', 1, 0, 1000), ...stream('node2', 2, 500, 1500)]));
    assert.equal(d!.from, 503);
    assert.equal(d!.to, 1000);
  });
});

function member(name: string, over: Partial<FinalMember> = {}): FinalMember {
  return { name, reachable: true, leader: false, inRecovery: true, timeline: 3, receiverStatus: 'streaming', lsn: 1000n, syncStandby: null, archiveFailing: null, ids: new Set(), ...over };
}

describe('chaos history: lost acknowledged commits and redundancy', () => {
  const attempts = [...stream('node1', 3, 0, 100), failed('node1', 200)];
  const all = new Set(attempts.map((a) => a.id));
  const acked = attempts.filter((a) => a.ackedAt !== null).map((a) => a.id);
  const unacked = attempts.find((a) => a.ackedAt === null)!.id;
  const healthy = (): FinalMember[] => [
    member('node1', { leader: true, inRecovery: false, receiverStatus: null, syncStandby: 'node2', ids: all }),
    member('node2', { ids: all }),
    member('node3', { ids: new Set(acked) }), // an unacknowledged write need not be anywhere
  ];

  test('a healthy end state passes', () => {
    const v = judge({ attempts, final: healthy(), synchronous: true });
    assert.deepEqual({ ok: v.ok, lost: v.lostAcked, redundancy: v.redundancy, dual: v.dualMasters.length }, { ok: true, lost: [], redundancy: [], dual: 0 });
    assert.equal(v.acked, acked.length);
  });

  test('one acknowledged id missing on the final master fails in synchronous mode', () => {
    const lost = acked[7]!;
    const ids = new Set([...all].filter((id) => id !== lost));
    const final = healthy().map((m) => ({ ...m, ids }));
    const v = judge({ attempts, final, synchronous: true });
    assert.deepEqual(v.lostAcked, [lost]);
    assert.equal(v.ok, false);
    // Asynchronous mode: counted, not an error by itself.
    const asyncVerdict = judge({ attempts, final: final.map((m) => ({ ...m, syncStandby: null })), synchronous: false });
    assert.deepEqual(asyncVerdict.lostAcked, [lost]);
    assert.equal(asyncVerdict.ok, true);
  });

  test('an unacknowledged write absent everywhere is not lost', () => {
    assert.deepEqual(missingAcked(attempts, new Set(acked)), []);
    assert.ok(!acked.includes(unacked));
  });

  test('no writes acknowledged at all never passes', () => {
    const v = judge({ attempts: [failed('node1', 0)], final: healthy(), synchronous: true });
    assert.equal(v.ok, false);
  });

  const redundancyCases: Array<{ name: string; final: (m: FinalMember[]) => FinalMember[]; problem: RegExp | null }> = [
    { name: 'healthy', final: (m) => m, problem: null },
    { name: 'no leader', final: (m) => m.map((x) => ({ ...x, leader: false })), problem: /expected one running leader, found 0/ },
    { name: 'two leaders', final: (m) => m.map((x) => (x.name === 'node2' ? { ...x, leader: true } : x)), problem: /found 2/ },
    { name: 'a member down', final: (m) => m.map((x) => (x.name === 'node3' ? { ...x, reachable: false } : x)), problem: /node3: PostgreSQL not reachable/ },
    { name: 'a replica on an older timeline', final: (m) => m.map((x) => (x.name === 'node3' ? { ...x, timeline: 2 } : x)), problem: /node3: on timeline 2/ },
    { name: 'a replica not streaming', final: (m) => m.map((x) => (x.name === 'node2' ? { ...x, receiverStatus: null } : x)), problem: /node2: WAL receiver not running/ },
    { name: 'a replica behind in replay', final: (m) => m.map((x) => (x.name === 'node2' ? { ...x, lsn: 999n } : x)), problem: /node2: replayed 999/ },
    { name: 'a replica missing an acknowledged row', final: (m) => m.map((x) => (x.name === 'node3' ? { ...x, ids: new Set(acked.slice(1)) } : x)), problem: /node3: 1 acknowledged rows/ },
    { name: 'no synchronous standby', final: (m) => m.map((x) => ({ ...x, syncStandby: null })), problem: /no synchronous standby/ },
    { name: 'archiving stuck on the leader', final: (m) => m.map((x) => (x.leader ? { ...x, archiveFailing: '000000010000000000000004' } : x)), problem: /WAL archiving failing \(last failed on 000000010000000000000004\)/ },
    { name: 'the leader in recovery', final: (m) => m.map((x) => (x.leader ? { ...x, inRecovery: true } : x)), problem: /\(leader\): in recovery/ },
  ];
  for (const c of redundancyCases) {
    test(`redundancy: ${c.name}`, () => {
      const problems = redundancyProblems(c.final(healthy()), attempts, true);
      if (c.problem === null) assert.deepEqual(problems, []);
      else assert.ok(problems.some((p) => c.problem!.test(p)), JSON.stringify(problems));
      assert.equal(judge({ attempts, final: c.final(healthy()), synchronous: true }).ok, c.problem === null);
    });
  }

  test('LSN parsing', () => {
    assert.equal(parseLsn('0/3000148'), 0x3000148n);
    assert.equal(parseLsn('1/0'), 1n << 32n);
    assert.throws(() => parseLsn('nope'));
  });
});

describe('chaos: WAL archive gaps', () => {
  const files = [
    '000000010000000000000001.lz4', '000000010000000000000001.lz4.meta.json',
    '000000010000000000000002.lz4', '000000010000000000000003.partial.lz4', '00000002.history.lz4',
    '000000020000000000000003.lz4', '000000020000000000000004', '.tmp-abc', '000000020000000000000004.00000028.backup.lz4',
    '0000000200000000000000FF.zst', '000000020000000100000000.zst',
  ];
  const archived = archivedSegments(files);

  test('names', () => {
    assert.deepEqual(parseSegmentName('000000030000000100000002'), { timeline: 3, segno: 258, partial: false });
    assert.equal(segmentName(3, 258), '000000030000000100000002');
    assert.equal(parseSegmentName('00000002.history'), null);
    assert.equal(archived.length, 7);
  });
  test('across timelines a partial covers its number', () => assert.deepEqual(walGaps(archived, 1, 4), []));
  test('a missing number is a gap', () => assert.deepEqual(walGaps(archived, 1, 6), [5, 6]));
  test('on one timeline only its complete segments count', () => assert.deepEqual(walGaps(archived, 2, 4, 2), [2]));
  test('across a log boundary', () => assert.deepEqual(walGaps(archived, 255, 256, 2), []));
});

test('chaos PRNG: the same seed gives the same sequence', () => {
  const a = new Prng(42);
  const b = new Prng(42);
  const xs = Array.from({ length: 20 }, () => a.int(0, 1000));
  assert.deepEqual(xs, Array.from({ length: 20 }, () => b.int(0, 1000)));
  const c = new Prng(43);
  assert.notDeepEqual(xs, Array.from({ length: 20 }, () => c.int(0, 1000)));
  assert.deepEqual(new Prng(7).shuffle([1, 2, 3, 4, 5]).sort(), [1, 2, 3, 4, 5]);
});
