// Pure helpers of governorctl: rows and plain-text tables (patronictl's column names, so scripts
// carry over), and the parsing of its time arguments.

import type { ClusterView, HistoryEntry } from '../dcs/types.js';
import { memberPostgresAddress } from '../ha/member.js';
import type { MemberArchiveState } from './ctl-archive.js';

export type Row = Record<string, string | number | null>;

/** `archive`: each member's WAL archiving as its /metrics says (ctl-archive.ts); an Archive column
 *  appears only when some member's archiving fails, as Pending restart does. */
export function listRows(scope: string, cluster: ClusterView, archive: Map<string, MemberArchiveState> = new Map()): Row[] {
  const leader = cluster.leader?.name ?? null;
  const anyPending = cluster.members.some((m) => m.pending_restart);
  const anyArchiveFailing = [...archive.values()].some((a) => a.failing);
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
      // Only when some member needs one, as patronictl does, so the usual table stays narrow.
      if (anyPending) row['Pending restart'] = m.pending_restart ? '*' : '';
      if (anyArchiveFailing) row.Archive = archive.get(m.name)?.failing ? 'failing' : '';
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

/** Lines under the `list` table: maintenance mode, a scheduled switchover (patronictl's wording),
 *  and the data directories governor moved aside (it never deletes them; the operator does). */
export function listFooter(cluster: ClusterView): string[] {
  const lines: string[] = [];
  const copies = [...cluster.members].sort((a, b) => a.name.localeCompare(b.name)).flatMap((m) => (m.moved_aside ?? []).map((p) => `   ${m.name}: ${p}`));
  if (copies.length > 0) lines.push(' Data directories moved aside (kept until you delete them):', ...copies);
  if (cluster.config?.pause) lines.push(' Maintenance mode: on');
  const failover = cluster.failover;
  if (failover?.scheduled_at) {
    lines.push(` Switchover scheduled at: ${failover.scheduled_at}`);
    lines.push(`                    from: ${failover.leader ?? '(the leader)'}`);
    lines.push(`                      to: ${failover.member ?? '(the best replica)'}`);
  }
  return lines;
}

/** `--scheduled`: 'now' (or nothing) → undefined; otherwise an ISO 8601 time in the future, as UTC ISO. */
export function parseScheduledTime(text: string | undefined, now: Date, option = '--scheduled'): string | undefined {
  if (text === undefined || text.trim().toLowerCase() === 'now') return undefined;
  const time = Date.parse(text);
  if (!Number.isFinite(time)) throw new Error(`${option}: expected an ISO 8601 time such as 2026-01-31T22:00:00Z, or 'now'; got ${JSON.stringify(text)}`);
  if (time <= now.getTime()) throw new Error(`${option}: ${new Date(time).toISOString()} is in the past; use 'now' to act at once`);
  return new Date(time).toISOString();
}
