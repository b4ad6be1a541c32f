// Retention: keep the newest N complete base backups, delete older ones and the WAL no kept backup
// needs. A backup's sentinel is deleted FIRST, so a half-deleted backup is never listed as complete.
//
// WAL rule: every kept backup needs the segments from its start WAL file onwards (on its timeline
// and its descendants), never anything before it. So a WAL file (segment, .partial, .backup label)
// whose segment number is below the smallest start segment of the kept backups is deleted, on any
// timeline; timeline .history files are always kept (they are tiny and recovery follows them).

import type { Logger } from '../log/logger.js';
import { backupSentinelKey, stripCodec, WAL_PREFIX } from './layout.js';
import { type BackupCatalogue, type BackupSentinel, type IncompleteBackup, loadCatalogue, walPosition } from './sentinel.js';
import type { ObjectInfo, Storage } from './types.js';

export const INCOMPLETE_MAX_AGE_MS = 60 * 60 * 1000;

export interface RetentionPlan {
  retain: number;
  keep: BackupSentinel[];
  deleteBackups: BackupSentinel[];
  deleteIncomplete: IncompleteBackup[];
  /** The oldest kept backup's start WAL file: WAL before its segment number goes. */
  walCutoff: string | null;
  deleteWal: string[];
  keptWal: number;
  /** Why WAL is left alone, when it is. */
  walNote: string | null;
}

export function planRetention(
  catalogue: BackupCatalogue, walObjects: ObjectInfo[], retain: number, now: Date, incompleteMaxAgeMs = INCOMPLETE_MAX_AGE_MS,
): RetentionPlan {
  if (!Number.isInteger(retain) || retain < 1) throw new Error(`retain must be a positive integer, got ${retain}`);
  const complete = catalogue.complete; // oldest first
  const keep = complete.slice(Math.max(0, complete.length - retain));
  const deleteBackups = complete.slice(0, Math.max(0, complete.length - retain));
  const deleteIncomplete = catalogue.incomplete.filter((b) => now.getTime() - b.lastModified.getTime() > incompleteMaxAgeMs);
  const plan: RetentionPlan = {
    retain, keep, deleteBackups, deleteIncomplete, walCutoff: null, deleteWal: [], keptWal: walObjects.length, walNote: null,
  };
  if (keep.length === 0) {
    plan.walNote = 'no complete backup: WAL is kept';
    return plan;
  }
  if (catalogue.unreadable.length > 0) {
    plan.walNote = `unreadable sentinel(s) ${catalogue.unreadable.map((u) => u.key).join(', ')}: WAL is kept`;
    return plan;
  }
  let cutoff: { file: string; segno: number } | null = null;
  for (const backup of keep) {
    const pos = walPosition(backup.start_wal_file, backup.wal_segment_size || undefined);
    if (!pos) {
      plan.walNote = `backup ${backup.name} has a malformed start WAL file ${JSON.stringify(backup.start_wal_file)}: WAL is kept`;
      return plan;
    }
    if (!cutoff || pos.segno < cutoff.segno) cutoff = { file: backup.start_wal_file, segno: pos.segno };
  }
  const segmentSize = keep[0]!.wal_segment_size || undefined;
  plan.walCutoff = cutoff!.file;
  for (const object of walObjects) {
    if (!object.key.startsWith(WAL_PREFIX)) continue;
    const fileName = stripCodec(object.key).slice(WAL_PREFIX.length);
    const pos = walPosition(fileName, segmentSize);
    if (pos && pos.segno < cutoff!.segno) plan.deleteWal.push(object.key);
  }
  plan.keptWal = walObjects.length - plan.deleteWal.length;
  return plan;
}

export function describePlan(plan: RetentionPlan): string[] {
  const lines: string[] = [];
  lines.push(`keeping ${plan.keep.length} backup(s): ${plan.keep.map((b) => b.name).join(', ') || '(none)'}`);
  for (const b of plan.deleteBackups) lines.push(`delete backup ${b.name} (finished ${b.finished_at})`);
  for (const b of plan.deleteIncomplete) lines.push(`delete incomplete backup ${b.name} (last written ${b.lastModified.toISOString()}, ${b.keys.length} object(s))`);
  if (plan.walCutoff) lines.push(`delete ${plan.deleteWal.length} WAL object(s) before ${plan.walCutoff}; keeping ${plan.keptWal}`);
  if (plan.walNote) lines.push(plan.walNote);
  return lines;
}

async function deleteInBatches(storage: Storage, keys: string[], batch = 1000): Promise<void> {
  for (let i = 0; i < keys.length; i += batch) await storage.delete(keys.slice(i, i + batch));
}

/** Carry out a plan: per backup the sentinel first, then its parts; then incomplete backups; then WAL. */
export async function applyRetention(storage: Storage, catalogue: BackupCatalogue, plan: RetentionPlan, logger: Logger): Promise<void> {
  for (const backup of plan.deleteBackups) {
    await storage.delete([backupSentinelKey(backup.name)]);
    const keys = new Set<string>(backup.parts.map((p) => p.key));
    for (const object of catalogue.objects.get(backup.name) ?? []) keys.add(object.key);
    await deleteInBatches(storage, [...keys]);
    logger.info(`deleted backup ${backup.name}`, { objects: keys.size + 1 });
  }
  for (const backup of plan.deleteIncomplete) {
    await deleteInBatches(storage, backup.keys);
    logger.info(`deleted incomplete backup ${backup.name}`, { objects: backup.keys.length });
  }
  if (plan.deleteWal.length > 0) {
    await deleteInBatches(storage, plan.deleteWal);
    logger.info(`deleted ${plan.deleteWal.length} WAL object(s) before ${plan.walCutoff}`);
  }
}

export interface RetentionOptions {
  storage: Storage;
  retain: number;
  /** false: only plan (dry run). */
  confirm: boolean;
  logger: Logger;
  now?: Date;
}

export async function deleteOldBackups(options: RetentionOptions): Promise<RetentionPlan> {
  const { storage, logger } = options;
  const catalogue = await loadCatalogue(storage);
  const walObjects = await storage.list(WAL_PREFIX);
  const plan = planRetention(catalogue, walObjects, options.retain, options.now ?? new Date());
  if (options.confirm) await applyRetention(storage, catalogue, plan, logger);
  return plan;
}
