// Base backup sentinels (basebackups/<name>.json, written last) and the catalogue built from them.

import type { CompressionMethod } from '../config/types.js';
import { formatLsn, parseLsn } from '../postgres/lsn.js';
import { BACKUP_PREFIX, backupSentinelKey, CODEC_EXTENSIONS } from './layout.js';
import type { ObjectInfo, Storage } from './types.js';

export const SENTINEL_FORMAT = 1;

export interface BackupPart {
  /** "base" for the main data directory (tablespace parts would be their OID). */
  name: string;
  /** Key of the stored object. */
  key: string;
  compressed_size: number;
  raw_size: number;
  /** Hex SHA-256 of the uncompressed tar. */
  sha256: string;
}

export interface BackupSentinel {
  format: number;
  name: string;
  /** Backup start (redo) LSN, "0/2000028". */
  start_lsn: string;
  stop_lsn: string | null;
  timeline: number;
  /** The first WAL file a restore needs. */
  start_wal_file: string;
  /** The WAL file holding the end of the backup (needed to reach consistency), when known. */
  stop_wal_file: string | null;
  system_identifier: string;
  /** server_version_num, e.g. 150004. */
  pg_version: number;
  wal_segment_size: number;
  /** Totals over all parts. */
  compressed_size: number;
  raw_size: number;
  /** SHA-256 of the main part (base.tar), for convenience; per part in `parts`. */
  sha256: string;
  compression: CompressionMethod;
  started_at: string;
  finished_at: string;
  host: string;
  member: string;
  is_replica: boolean;
  parts: BackupPart[];
}

/** "20240131T235959Z" */
export function compactUtc(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z').replace(/[-:]/g, '');
}

export function backupName(startWalFile: string, startedAt: Date): string {
  return `base_${startWalFile}_${compactUtc(startedAt)}`;
}

const NAME_RE = /^[A-Za-z0-9_.-]+$/;
export function isValidBackupName(name: string): boolean {
  return NAME_RE.test(name) && name !== '.' && name !== '..' && name.toUpperCase() !== 'LATEST';
}

// ---------------------------------------------------------------------------------------------
// WAL file names and positions

/** The WAL file name holding byte `lsn` on `timeline` (segment size in bytes). */
export function walFileName(timeline: number, lsn: number, segmentSize: number): string {
  const segno = Math.floor(lsn / segmentSize);
  const perId = 0x1_0000_0000 / segmentSize;
  const hex = (n: number) => n.toString(16).toUpperCase().padStart(8, '0');
  return hex(timeline) + hex(Math.floor(segno / perId)) + hex(segno % perId);
}

/** The WAL file holding the byte just before `lsn` (PostgreSQL's XLByteToPrevSeg): where a backup ends. */
export function walFileNameBefore(timeline: number, lsn: number, segmentSize: number): string {
  return walFileName(timeline, Math.max(0, lsn - 1), segmentSize);
}

export interface WalPosition {
  timeline: number;
  /** Segment number (independent of timeline), comparable across timelines. */
  segno: number;
}

/**
 * Timeline and segment number of an archived WAL file (segment, .partial, .backup), or null for
 * .history files and anything else. The segment number counts 0xFFFFFFFF... per "log id" when
 * `segmentSize` is given, else the 16 hex digits are compared as (log, seg) pairs via a number
 * that preserves their order.
 */
export function walPosition(fileName: string, segmentSize = 16 * 1024 * 1024): WalPosition | null {
  const m = /^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})(\.partial|\.[0-9A-F]{8}\.backup)?$/.exec(fileName);
  if (!m) return null;
  const perId = 0x1_0000_0000 / segmentSize;
  return { timeline: parseInt(m[1]!, 16), segno: parseInt(m[2]!, 16) * perId + parseInt(m[3]!, 16) };
}

export function parseBackupLabel(text: string): {
  startLsn: number; startWalFile: string; timeline: number; checkpointLsn: number | null; backupFrom: string | null; startTime: string | null; label: string | null;
} {
  const field = (name: string): string | null => {
    const m = new RegExp(`^${name}: (.*)$`, 'm').exec(text);
    return m ? m[1]!.trim() : null;
  };
  const start = field('START WAL LOCATION');
  const m = start ? /^([0-9A-F]+\/[0-9A-F]+) \(file ([0-9A-F]{24})\)$/i.exec(start) : null;
  if (!m) throw new Error(`backup_label has no parsable START WAL LOCATION line: ${JSON.stringify(text.slice(0, 200))}`);
  const tl = field('START TIMELINE');
  const startWalFile = m[2]!.toUpperCase();
  const timeline = tl !== null ? Number(tl) : parseInt(startWalFile.slice(0, 8), 16);
  if (!Number.isInteger(timeline) || timeline < 1) throw new Error(`backup_label: malformed START TIMELINE ${JSON.stringify(tl)}`);
  const checkpoint = field('CHECKPOINT LOCATION');
  return {
    startLsn: parseLsn(m[1]!),
    startWalFile,
    timeline,
    checkpointLsn: checkpoint ? parseLsn(checkpoint) : null,
    backupFrom: field('BACKUP FROM'),
    startTime: field('START TIME'),
    label: field('LABEL'),
  };
}

// ---------------------------------------------------------------------------------------------
// Parsing and the catalogue

export function parseSentinel(text: string, key: string): BackupSentinel {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new Error(`backup sentinel ${key} is not valid JSON: ${(err as Error).message}`);
  }
  const s = raw as Partial<BackupSentinel>;
  const missing = (['name', 'start_lsn', 'timeline', 'start_wal_file', 'finished_at', 'started_at', 'parts', 'compression'] as const)
    .filter((f) => s[f] === undefined || s[f] === null);
  if (missing.length > 0) throw new Error(`backup sentinel ${key} lacks ${missing.join(', ')}`);
  if (!Array.isArray(s.parts) || s.parts.length === 0) throw new Error(`backup sentinel ${key} lists no parts`);
  for (const part of s.parts) {
    if (typeof part?.key !== 'string' || typeof part.sha256 !== 'string' || typeof part.raw_size !== 'number') {
      throw new Error(`backup sentinel ${key} has a malformed part entry`);
    }
    if (!part.key.startsWith(`${BACKUP_PREFIX}${s.name}/`)) throw new Error(`backup sentinel ${key} names a part outside its backup: ${part.key}`);
  }
  parseLsn(s.start_lsn!);
  return s as BackupSentinel;
}

export function serializeSentinel(sentinel: BackupSentinel): string {
  return JSON.stringify(sentinel, null, 2) + '\n';
}

/** Order: finished_at, then start LSN, then name (oldest first). */
export function compareBackups(a: BackupSentinel, b: BackupSentinel): number {
  const t = Date.parse(a.finished_at) - Date.parse(b.finished_at);
  if (t !== 0 && Number.isFinite(t)) return t;
  const l = parseLsn(a.start_lsn) - parseLsn(b.start_lsn);
  if (l !== 0) return l;
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

export interface IncompleteBackup {
  name: string;
  keys: string[];
  /** Newest modification among its objects. */
  lastModified: Date;
}

export interface BackupCatalogue {
  /** Complete backups, oldest first. */
  complete: BackupSentinel[];
  /** Backups with parts but no sentinel (in progress, or abandoned). */
  incomplete: IncompleteBackup[];
  /** Sentinels that could not be read, with the reason. */
  unreadable: Array<{ key: string; error: string }>;
  /** Part objects of each complete backup, by name. */
  objects: Map<string, ObjectInfo[]>;
}

/** Split the objects under basebackups/ into sentinels and per-backup parts. */
export function groupBackupObjects(objects: ObjectInfo[]): { sentinels: Map<string, ObjectInfo>; parts: Map<string, ObjectInfo[]> } {
  const sentinels = new Map<string, ObjectInfo>();
  const parts = new Map<string, ObjectInfo[]>();
  for (const object of objects) {
    if (!object.key.startsWith(BACKUP_PREFIX)) continue;
    const rest = object.key.slice(BACKUP_PREFIX.length);
    const slash = rest.indexOf('/');
    if (slash === -1) {
      if (rest.endsWith('.json')) sentinels.set(rest.slice(0, -'.json'.length), object);
      continue;
    }
    const name = rest.slice(0, slash);
    const list = parts.get(name) ?? [];
    list.push(object);
    parts.set(name, list);
  }
  return { sentinels, parts };
}

async function readAll(stream: NodeJS.ReadableStream, limit = 4 * 1024 * 1024): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string);
    size += b.length;
    if (size > limit) throw new Error('object too large');
    chunks.push(b);
  }
  return Buffer.concat(chunks);
}

export async function readSentinel(storage: Storage, name: string): Promise<BackupSentinel | null> {
  const key = backupSentinelKey(name);
  const body = await storage.get(key);
  if (!body) return null;
  return parseSentinel((await readAll(body)).toString('utf8'), key);
}

/** Read every sentinel (a few at a time) and list what is complete and what is not. */
export async function loadCatalogue(storage: Storage): Promise<BackupCatalogue> {
  const { sentinels, parts } = groupBackupObjects(await storage.list(BACKUP_PREFIX));
  const complete: BackupSentinel[] = [];
  const unreadable: Array<{ key: string; error: string }> = [];
  const names = [...sentinels.keys()];
  const concurrency = 8;
  for (let i = 0; i < names.length; i += concurrency) {
    await Promise.all(names.slice(i, i + concurrency).map(async (name) => {
      const key = backupSentinelKey(name);
      try {
        const sentinel = await readSentinel(storage, name);
        if (sentinel) complete.push(sentinel);
      } catch (err) {
        unreadable.push({ key, error: (err as Error).message });
      }
    }));
  }
  complete.sort(compareBackups);
  const incomplete: IncompleteBackup[] = [];
  const objects = new Map<string, ObjectInfo[]>();
  for (const [name, list] of parts) {
    if (sentinels.has(name)) {
      objects.set(name, list);
      continue;
    }
    const lastModified = new Date(Math.max(...list.map((o) => o.lastModified.getTime())));
    incomplete.push({ name, keys: list.map((o) => o.key), lastModified });
  }
  return { complete, incomplete, unreadable, objects };
}

/** NAME, or LATEST (case-insensitive) for the newest complete backup. */
export function chooseBackup(complete: BackupSentinel[], which: string): BackupSentinel {
  if (complete.length === 0) throw new Error('there are no complete base backups in storage');
  if (which.toUpperCase() === 'LATEST') return complete[complete.length - 1]!;
  const found = complete.find((b) => b.name === which);
  if (!found) throw new Error(`no complete base backup named ${JSON.stringify(which)} (see backup-list)`);
  return found;
}

/** The newest backup that finished at or before `target` (a restore to that time can start from it). */
export function chooseBackupForTime(complete: BackupSentinel[], target: Date): BackupSentinel {
  const candidates = complete.filter((b) => Date.parse(b.finished_at) <= target.getTime());
  if (candidates.length === 0) {
    const oldest = complete[0];
    throw new Error(
      `no base backup finished before ${target.toISOString()}` + (oldest ? ` (the oldest finished at ${oldest.finished_at})` : ' (there are none)'),
    );
  }
  return candidates[candidates.length - 1]!;
}

/** The newest backup whose end (stop LSN, or start when unknown) is at or before `lsn` on a timeline it can reach. */
export function chooseBackupForLsn(complete: BackupSentinel[], lsn: number): BackupSentinel {
  const candidates = complete.filter((b) => parseLsn(b.stop_lsn ?? b.start_lsn) <= lsn);
  if (candidates.length === 0) throw new Error(`no base backup ended before LSN ${formatLsn(lsn)}`);
  return candidates.sort((a, b) => parseLsn(a.stop_lsn ?? a.start_lsn) - parseLsn(b.stop_lsn ?? b.start_lsn))[candidates.length - 1]!;
}

export function partExtension(compression: CompressionMethod): string {
  return `.tar${CODEC_EXTENSIONS[compression]}`;
}
