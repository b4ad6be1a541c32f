// `governor backup-list`: the complete base backups (those with a sentinel), oldest first.

import { formatBytes } from './progress.js';
import { type BackupSentinel, loadCatalogue } from './sentinel.js';
import type { Storage } from './types.js';

export async function listBackups(storage: Storage): Promise<BackupSentinel[]> {
  return (await loadCatalogue(storage)).complete;
}

function duration(b: BackupSentinel): string {
  const ms = Date.parse(b.finished_at) - Date.parse(b.started_at);
  if (!Number.isFinite(ms) || ms < 0) return '?';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** A plain-text table: name, finished (UTC), start WAL, sizes, duration, source. */
export function formatBackupTable(backups: BackupSentinel[]): string {
  const header = ['NAME', 'FINISHED (UTC)', 'START WAL', 'COMPRESSED', 'RAW', 'CODEC', 'DURATION', 'FROM'];
  const rows = backups.map((b) => [
    b.name,
    b.finished_at.replace('T', ' ').replace(/\.\d{3}Z$/, 'Z'),
    b.start_wal_file,
    formatBytes(b.compressed_size),
    formatBytes(b.raw_size),
    b.compression,
    duration(b),
    `${b.member}${b.is_replica ? ' (replica)' : ''}`,
  ]);
  if (rows.length === 0) return 'no complete base backups\n';
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}
