// The numbers a chaos run is judged and reported by, as printable lines.

import type { ChaosResult, FaultRecord } from './run.js';

function stats(values: number[]): string {
  if (values.length === 0) return 'n/a';
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  return `min ${s(sorted[0]!)} / median ${s(median)} / max ${s(sorted.at(-1)!)}`;
}

function recoveryLine(label: string, faults: FaultRecord[]): string {
  const recovered = faults.filter((f) => f.recoveryMs !== null);
  const notRecovered = faults.length - recovered.length;
  // A role change is expected after a leader's node kill or partition; after an etcd stop, a
  // postmaster kill or a full archive disk it means the cluster failed over without need.
  const leaderChanged = faults.filter((f) => f.leaderBefore !== f.leaderAfter).length;
  return (
    `  ${label.padEnd(16)} ${String(faults.length).padStart(3)} faults, leader changed after ${leaderChanged}; back to full redundancy after the fault ended: ${stats(recovered.map((f) => f.recoveryMs!))}` +
    `; from its start: ${stats(recovered.map((f) => f.recoveryFromStartMs!))}${notRecovered ? `; NOT RECOVERED ${notRecovered}` : ''}`
  );
}

export function summaryLines(result: ChaosResult): string[] {
  const v = result.verdict;
  const kinds = [...new Set(result.faults.map((f) => f.kind))].sort();
  const lines = [
    `chaos run: seed ${result.seed}, ${(result.runMs / 60000).toFixed(1)} min of writes, ${result.faults.length} faults`,
    ...kinds.map((k) => recoveryLine(k, result.faults.filter((f) => f.kind === k))),
    recoveryLine('all', result.faults),
    `  write attempts ${v.attempts}, acknowledged ${v.acked}, reigns (member, timeline) ${v.reigns.length}`,
    `  dual-master intervals: ${v.dualMasters.length}`,
    `  lost acknowledged commits: ${v.lostAcked.length}`,
    `  full redundancy at the end: ${v.redundancy.length === 0 ? 'yes' : `NO (${v.redundancy.join('; ')})`}`,
    `  acknowledgements with a "canceling wait for synchronous replication" warning: ${result.syncCancelWarnings}`,
    `  other problems: ${result.problems.length === 0 ? 'none' : ''}`,
    ...result.problems.map((p) => `    ${p}`),
    `  warnings (slow recoveries, not failures by themselves): ${result.warnings.length === 0 ? 'none' : ''}`,
    ...result.warnings.map((w) => `    ${w}`),
    `VERDICT: ${result.ok ? 'PASS' : 'FAIL'}`,
  ];
  return lines;
}

/** The fault log, one line per fault (printed on failure). */
export function faultLogLines(result: ChaosResult): string[] {
  return result.faults.map(
    (f) =>
      `  #${f.index} [${f.startedAt}-${f.healedAt} s] ${f.kind} ${f.target} (${f.targetRole}) leader ${f.leaderBefore} -> ${f.leaderAfter}, ` +
      `recovered ${f.recoveryMs === null ? 'NO' : `${f.recoveryMs} ms`} ${JSON.stringify(f.details)}${f.problems.length ? ` PROBLEMS ${f.problems.join(' | ')}` : ''}`,
  );
}
