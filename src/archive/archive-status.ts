// The last outcome of archive_command, where the daemon and backup-push can read it:
// <archive.spool_dir>/archive-status.json, written atomically by `governor wal-push` (PostgreSQL's OS
// user) when a segment fails to archive, and again when archiving works after a failure (so the
// steady state costs one small read per wal-push and no write). It holds the segment, the times
// and the error message (secrets redacted, one line, bounded), never a credential.
//
// The file is written by a process PostgreSQL runs, so it is read like any other unproven input:
// checked field by field, and a file that fails the check is ignored (the caller logs it once).

import fs from 'node:fs/promises';
import path from 'node:path';
import { redact } from '../log/logger.js';
import { writeFileAtomic } from '../postgres/files.js';
import { isWalFileName } from './layout.js';

export const ARCHIVE_STATUS_FILE = 'archive-status.json';
/** Longer messages are cut: the file is read on every monitor tick and shown in a table footer. */
export const MAX_ERROR_LENGTH = 500;
/** A status file larger than this is not ours. */
const MAX_FILE_BYTES = 8 * 1024;

export interface ArchiveStatusRecord {
  /** The last archive attempt failed. */
  failing: boolean;
  /** The WAL file of the last recorded attempt. */
  segment: string;
  /** When it was recorded (ISO 8601). */
  at: string;
  /** Failing: when the current run of failures began. */
  since: string | null;
  /** Consecutive failures (0 once archiving works again). */
  failures: number;
  /** Failing: the last error message. */
  error: string | null;
}

export function archiveStatusPath(spoolDir: string): string {
  return path.join(spoolDir, ARCHIVE_STATUS_FILE);
}

/** One line, secrets redacted, at most MAX_ERROR_LENGTH characters. */
export function cleanErrorMessage(message: string): string {
  // eslint-disable-next-line no-control-regex
  const line = redact(message).replace(/[\u0000-\u001f\u007f]+/g, ' ').replace(/\s+/g, ' ').trim();
  return line.length > MAX_ERROR_LENGTH ? `${line.slice(0, MAX_ERROR_LENGTH - 1)}…` : line;
}

const isIsoTime = (v: unknown): v is string => typeof v === 'string' && v.length <= 40 && Number.isFinite(Date.parse(v));

/** The record in `text`, or null when it is not a well-formed status record (garbage is never acted on). */
export function parseArchiveStatus(text: string): ArchiveStatusRecord | null {
  if (text.length > MAX_FILE_BYTES) return null;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
  const v = value as Record<string, unknown>;
  if (typeof v.failing !== 'boolean') return null;
  if (typeof v.segment !== 'string' || !isWalFileName(v.segment)) return null;
  if (!isIsoTime(v.at)) return null;
  if (v.since !== null && !isIsoTime(v.since)) return null;
  if (!Number.isSafeInteger(v.failures) || (v.failures as number) < 0) return null;
  if (v.error !== null && (typeof v.error !== 'string' || v.error.length > MAX_ERROR_LENGTH * 2)) return null;
  if (v.failing && (v.since === null || v.error === null || v.failures === 0)) return null;
  return {
    failing: v.failing, segment: v.segment, at: v.at, since: v.since as string | null, failures: v.failures as number,
    error: v.error === null ? null : cleanErrorMessage(v.error as string),
  };
}

/** The record after a failed attempt at `segment`. */
export function afterFailure(previous: ArchiveStatusRecord | null, segment: string, error: string, now: Date): ArchiveStatusRecord {
  const continuing = previous?.failing === true;
  return {
    failing: true,
    segment,
    at: now.toISOString(),
    since: continuing ? previous.since : now.toISOString(),
    failures: continuing ? previous.failures + 1 : 1,
    error: cleanErrorMessage(error),
  };
}

/** The record after `segment` was archived: null when nothing needs writing (archiving was not failing). */
export function afterSuccess(previous: ArchiveStatusRecord | null, segment: string, now: Date): ArchiveStatusRecord | null {
  if (previous?.failing !== true) return null;
  return { failing: false, segment, at: now.toISOString(), since: null, failures: 0, error: null };
}

/** Read the status file; null when absent or not well formed. */
export async function readArchiveStatus(spoolDir: string): Promise<ArchiveStatusRecord | null> {
  const text = await fs.readFile(archiveStatusPath(spoolDir), 'utf8').catch(() => null);
  return text === null ? null : parseArchiveStatus(text);
}

/** Whether the status file exists but could not be read as a record (for a log line). */
export async function archiveStatusUnreadable(spoolDir: string): Promise<boolean> {
  const text = await fs.readFile(archiveStatusPath(spoolDir), 'utf8').catch(() => null);
  return text !== null && parseArchiveStatus(text) === null;
}

async function write(spoolDir: string, record: ArchiveStatusRecord): Promise<void> {
  await fs.mkdir(spoolDir, { recursive: true, mode: 0o750 });
  // Readable by everyone on the node that may run governorctl or backup-push; it holds no secret.
  await writeFileAtomic(archiveStatusPath(spoolDir), `${JSON.stringify(record)}\n`, { uid: undefined, gid: undefined }, 0o644);
}

/** Record a failed attempt (wal-push). Never throws: a status that cannot be written must not mask the archive error. */
export async function recordArchiveFailure(spoolDir: string, segment: string, error: string, now = new Date()): Promise<void> {
  await write(spoolDir, afterFailure(await readArchiveStatus(spoolDir), segment, error, now)).catch(() => undefined);
}

/** Record a successful attempt; writes only when the last record was a failure. Never throws. */
export async function recordArchiveSuccess(spoolDir: string, segment: string, now = new Date()): Promise<void> {
  const next = afterSuccess(await readArchiveStatus(spoolDir), segment, now);
  if (next) await write(spoolDir, next).catch(() => undefined);
}
