// Is WAL archiving failing on this member, and why? A pure judgement over what the daemon (or
// backup-push) can observe:
//   - the status wal-push records (archive-status.ts): the segment, the error, since when;
//   - pg_stat_archiver: PostgreSQL's own count and times of failed and successful attempts, which
//     also see a governor that could not even start (then wal-push recorded nothing, and the error
//     is only in PostgreSQL's log, read by archiveErrorFromPostgresLog);
//   - whether the failed segment still waits (.ready): once PostgreSQL archived it (through the
//     uploader's marker, in the shell, without wal-push) or dropped it, the record is history.

import type { ArchiverStatus } from '../postgres/types.js';
import type { ArchiveStatusRecord } from './archive-status.js';
import { cleanErrorMessage } from './archive-status.js';

export interface ArchiveHealthInput {
  record: ArchiveStatusRecord | null;
  /** pg_stat_archiver; null when unknown (PostgreSQL not running, or not asked). */
  archiver: ArchiverStatus | null;
  /** PostgreSQL runs as a primary here: archive_command runs only there. */
  primary: boolean;
  /** The record's segment still has its .ready file; null when not known. */
  segmentReady: boolean | null;
  /** The archive error found in PostgreSQL's log, when wal-push recorded none. */
  postgresLogError?: string | null;
}

export interface ArchiveHealth {
  failing: boolean;
  /** Where the failure was seen: wal-push's record, or only PostgreSQL's statistics. */
  source: 'wal-push' | 'pg_stat_archiver' | null;
  segment: string | null;
  /** When the current run of failures began (ISO 8601), if known. */
  since: string | null;
  /** The last failed attempt (ISO 8601), if known. */
  lastFailureAt: string | null;
  /** Consecutive failures, if known. */
  failures: number | null;
  error: string | null;
}

export const ARCHIVE_OK: ArchiveHealth = { failing: false, source: null, segment: null, since: null, lastFailureAt: null, failures: null, error: null };

/** What an operator sees when PostgreSQL counts failures but wal-push left no word. */
export const UNRECORDED_FAILURE =
  "archive_command failed and governor wal-push recorded no error: governor itself may not start as PostgreSQL's OS user; see PostgreSQL's log";

const time = (iso: string | null | undefined): number => (iso ? Date.parse(iso) : NaN);
const later = (a: string | null | undefined, b: string | null | undefined): string | null => {
  if (!a) return b ?? null;
  if (!b) return a;
  return time(a) >= time(b) ? a : b;
};

export function archiveHealth(input: ArchiveHealthInput): ArchiveHealth {
  const { record, archiver, primary, segmentReady } = input;
  const archivedAt = time(archiver?.lastArchivedAt);
  const archivedSince = (iso: string) => Number.isFinite(archivedAt) && archivedAt > time(iso);
  // A replica archives nothing: an old record counts there only while its segment provably waits.
  const recordFailing = record?.failing === true
    && (primary ? segmentReady !== false : segmentReady === true)
    && !archivedSince(record.at);
  const failedAt = time(archiver?.lastFailedAt);
  const statsFailing = primary && Number.isFinite(failedAt) && (!Number.isFinite(archivedAt) || failedAt >= archivedAt);

  if (recordFailing) {
    return {
      failing: true, source: 'wal-push', segment: record.segment, since: record.since,
      lastFailureAt: later(record.at, statsFailing ? archiver!.lastFailedAt : null), failures: record.failures, error: record.error,
    };
  }
  if (statsFailing) {
    return {
      failing: true, source: 'pg_stat_archiver', segment: null, since: null, lastFailureAt: archiver!.lastFailedAt, failures: null,
      error: input.postgresLogError ? cleanErrorMessage(`${input.postgresLogError} (from PostgreSQL's log)`) : UNRECORDED_FAILURE,
    };
  }
  return ARCHIVE_OK;
}

/** What makes two failures "the same" for the log: the segment and the error with its numbers and
 *  random names (temporary files, request ids, pids) blanked, so a retry of one cause is logged once. */
export function failureKey(health: Pick<ArchiveHealth, 'segment' | 'error'>): string {
  return `${health.segment ?? ''} ${(health.error ?? '').replace(/[0-9a-f]{6,}|\d+/gi, '#')}`;
}

// PostgreSQL's own log lines start with log_line_prefix '%m [%p] ' (render.ts); the archive
// command's stderr is copied in between them as it was written.
const POSTGRES_LINE = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d|\b(LOG|WARNING|DETAIL|ERROR|FATAL|HINT|STATEMENT|CONTEXT):\s/;

/** The archive command's own error from the tail of PostgreSQL's log: the most telling line it
 *  printed before PostgreSQL's last "archive command failed". Null when there is none. */
export function archiveErrorFromPostgresLog(tail: string): string | null {
  const lines = tail.split('\n');
  let failedAt = -1;
  for (let i = lines.length - 1; i >= 0; i--) {
    if (/archive command failed|archive command was terminated/.test(lines[i]!)) {
      failedAt = i;
      break;
    }
  }
  if (failedAt < 0) return null;
  const output: string[] = [];
  for (let i = failedAt - 1; i >= 0 && output.length < 30; i--) {
    const line = lines[i]!;
    if (POSTGRES_LINE.test(line)) break;
    if (line.trim() !== '') output.unshift(line.trim());
  }
  const telling = output.find((l) => /^(\w*Error|error)\b.*:/.test(l)) ?? output.find((l) => /error|denied|cannot|not found/i.test(l)) ?? output.at(-1);
  const failure = lines[failedAt]!.replace(POSTGRES_LINE, '').replace(/^.*?(archive command)/, '$1').trim();
  return telling ? `${telling} (${failure})` : failure;
}
