// Rows and plain-text tables for governorctl (patronictl's column names, so scripts carry over).

import type { ClusterView, HistoryEntry } from '../dcs/types.js';
import { memberPostgresAddress } from '../ha/member.js';

export type Row = Record<string, string | number | null>;

export function listRows(scope: string, cluster: ClusterView): Row[] {
  const leader = cluster.leader?.name ?? null;
  return [...cluster.members]
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((m) => {
      let host: string | null = null;
      try {
        const address = memberPostgresAddress(m);
        host = `${address.host}:${address.port}`;
      } catch {
        host = null;
      }
      const isLeader = m.name === leader;
      const row: Row = {
        Cluster: scope,
        Member: m.name,
        Host: host,
        Role: isLeader ? 'Leader' : cluster.sync?.sync_standby === m.name ? 'Sync Standby' : 'Replica',
        State: m.state,
        TL: m.timeline ?? null,
      };
      if (!isLeader) {
        const lag = cluster.leaderOptime != null && m.xlog_location != null ? Math.max(0, cluster.leaderOptime - m.xlog_location) : null;
        row['Lag in MB'] = lag === null ? null : Math.round(lag / 1048576);
      }
      return row;
    });
}

export function historyRows(history: HistoryEntry[]): Row[] {
  return history.map(([timeline, lsn, reason, timestamp, newLeader]) => ({
    TL: timeline,
    LSN: lsn,
    Reason: reason,
    Timestamp: timestamp ?? null,
    'New Leader': newLeader ?? null,
  }));
}

export function formatTable(rows: Row[], title?: string): string {
  const columns = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  if (columns.length === 0) return title ? `${title}\n(empty)` : '(empty)';
  const cell = (v: unknown) => (v === null || v === undefined ? '' : String(v));
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (values: string[]) => '| ' + values.map((v, i) => v.padEnd(widths[i]!)).join(' | ') + ' |';
  const rule = '+' + widths.map((w) => '-'.repeat(w + 2)).join('+') + '+';
  const out = [rule, line(columns), rule, ...rows.map((r) => line(columns.map((c) => cell(r[c])))), rule];
  return (title ? `${title}\n` : '') + out.join('\n');
}
