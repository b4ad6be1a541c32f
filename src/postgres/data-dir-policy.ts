// What governor may do with a data directory: the pure half (names, messages, the disposal
// decision). Safety rule 3 of DESIGN.md: a directory that may hold the only copy of some data is
// moved aside, never deleted, unless the operator asked (governorctl reinit) and it is a cluster of
// this scope; content that is not a PostgreSQL cluster of this scope is never deleted at all.

/** Why a data directory was moved aside; part of the copy's name. */
export type MoveAsideReason = 'rewind-failed' | 'start-failed' | 'reinit';
export const MOVE_ASIDE_REASONS: readonly MoveAsideReason[] = ['rewind-failed', 'start-failed', 'reinit'];

/** A data directory governor moved aside (it never deletes one of these itself). */
export interface MovedAsideCopy {
  path: string;
  reason: MoveAsideReason;
  /** When it was moved aside (ISO 8601, UTC, from its name). */
  at: string;
}

/**
 * Room a clone needs beyond the master's data size: WAL written while the copy runs, and some
 * head room so PostgreSQL is not started on a full disk. 10 % of the master's size, at least
 * 512 MiB (32 WAL segments).
 */
export const SPACE_MARGIN_FRACTION = 0.1;
export const SPACE_MARGIN_MIN_BYTES = 512 * 1024 * 1024;

export function requiredFreeBytes(masterBytes: number): number {
  return masterBytes + Math.max(SPACE_MARGIN_MIN_BYTES, Math.ceil(masterBytes * SPACE_MARGIN_FRACTION));
}

/** 2026-12-07T20:15:00.123Z → 20261207T201500Z */
function compactUtc(at: Date): string {
  return at.toISOString().replace(/\.\d{3}Z$/, 'Z').replace(/[-:]/g, '');
}

/** `<base>.<reason>.<UTC timestamp>`, with `-<n>` when that name is taken (two in one second). */
export function movedAsideName(base: string, reason: MoveAsideReason, at: Date, attempt = 0): string {
  return `${base}.${reason}.${compactUtc(at)}${attempt > 0 ? `-${attempt + 1}` : ''}`;
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The reason and time of a moved-aside copy of `base`, or null when `name` is not one. */
export function parseMovedAsideName(base: string, name: string): { reason: MoveAsideReason; at: string } | null {
  const match = new RegExp(`^${escapeRegExp(base)}\\.(${MOVE_ASIDE_REASONS.join('|')})\\.(\\d{4})(\\d{2})(\\d{2})T(\\d{2})(\\d{2})(\\d{2})Z(?:-\\d+)?$`).exec(name);
  if (!match) return null;
  const [, reason, year, month, day, hour, minute, second] = match;
  const at = new Date(`${year}-${month}-${day}T${hour}:${minute}:${second}Z`);
  if (!Number.isFinite(at.getTime())) return null;
  return { reason: reason as MoveAsideReason, at: at.toISOString() };
}

/** How many entry names an error message shows. */
export const SHOWN_ENTRIES = 5;

export interface ForeignContent {
  /** The directory's entries (any order). */
  entries: string[];
  /** Entries that are themselves PostgreSQL data directories (hold PG_VERSION). */
  clusterSubdirectories: string[];
  /** data_dir names something that is not a directory. */
  notDirectory: boolean;
}

/**
 * The refusal of a data directory that is not empty and holds no PostgreSQL cluster: the path,
 * what was found, the likely mistake, and what to do.
 */
export function describeForeignContent(dataDir: string, member: string, found: ForeignContent): string {
  const todo = `fix postgresql.data_dir, move the content away, or run "governorctl reinit ${member}" to move it aside (renamed beside it) and clone from the master`;
  if (found.notDirectory) return `data directory ${dataDir} exists and is not a directory: governor leaves it untouched; ${todo}`;
  // What an operator put there first: governor's and other tools' dot files last.
  const entries = [...found.entries].sort((a, b) => Number(a.startsWith('.')) - Number(b.startsWith('.')) || a.localeCompare(b));
  const shown = entries.slice(0, SHOWN_ENTRIES).join(', ') + (entries.length > SHOWN_ENTRIES ? ', …' : '');
  let hint = '';
  if (entries.length === 1 && entries[0] === 'lost+found') {
    hint = ` It looks like the root of a mounted file system (only lost+found): use a directory inside it, e.g. postgresql.data_dir: ${dataDir}/data.`;
  } else if (found.clusterSubdirectories.length > 0) {
    const sub = [...found.clusterSubdirectories].sort()[0]!;
    hint = ` ${dataDir}/${sub} is a PostgreSQL data directory: did you mean postgresql.data_dir: ${dataDir}/${sub}?`;
  }
  return `data directory ${dataDir} is not empty and holds no PostgreSQL cluster (no PG_VERSION; ${entries.length} entr${entries.length === 1 ? 'y' : 'ies'}: ${shown}): governor leaves it untouched.${hint} To go on: ${todo}`;
}

export interface DisposalInput {
  /** What asks for the directory to make way for a clone. */
  trigger: MoveAsideReason;
  dataDir: string;
  member: string;
  /** postgresql.remove_data_directory_on_rewind_failure (Patroni's setting). */
  removeOnFailure: boolean;
  /** postgresql.max_moved_aside_copies. */
  maxCopies: number;
  /** Copies moved aside earlier that still exist. */
  copies: number;
  /** Free bytes on data_dir's file system (for an unprivileged user: PostgreSQL writes there). */
  freeBytes: number;
  /** The master's data size (databases plus pg_wal). */
  masterBytes: number;
  /** The directory holds a PostgreSQL cluster whose system identifier is the cluster's. */
  ofThisScope: boolean;
}

export type Disposal =
  | { action: 'move-aside'; reason: string }
  | { action: 'remove'; reason: string }
  | { action: 'hold'; reason: string };

const MIB = 1024 * 1024;
const mib = (bytes: number) => `${Math.round(bytes / MIB)} MiB`;

/**
 * What to do with a data directory that must make way for a clone:
 * - remove_data_directory_on_rewind_failure (after a failed rewind or a data fault at start): remove
 *   it, as Patroni does;
 * - otherwise move it aside when the kept copies stay within max_moved_aside_copies and the file
 *   system has room for the clone beside it (requiredFreeBytes);
 * - if not: an automatic trigger holds (PostgreSQL stays stopped, nothing is touched, the member
 *   waits for governorctl reinit); governorctl reinit itself is the operator's consent to remove
 *   it, but only a cluster of this scope: anything else is never deleted.
 */
export function decideDisposal(input: DisposalInput): Disposal {
  const { dataDir, member } = input;
  const automatic = input.trigger !== 'reinit';
  if (automatic && input.removeOnFailure && input.ofThisScope) {
    return { action: 'remove', reason: `postgresql.remove_data_directory_on_rewind_failure is true: removing ${dataDir} (${input.trigger}) to clone it again` };
  }
  const required = requiredFreeBytes(input.masterBytes);
  let noRoom: string | null = null;
  if (input.copies >= input.maxCopies) {
    noRoom = `${input.copies} moved-aside cop${input.copies === 1 ? 'y' : 'ies'} of ${dataDir} kept already (postgresql.max_moved_aside_copies ${input.maxCopies})`;
  } else if (input.freeBytes < required) {
    noRoom = `${mib(input.freeBytes)} free beside ${dataDir}, a clone needs ${mib(required)} (the master's ${mib(input.masterBytes)} plus the margin)`;
  }
  if (noRoom === null) return { action: 'move-aside', reason: `moving ${dataDir} aside (${input.trigger}) and cloning from the master` };
  if (!automatic && input.ofThisScope) {
    return { action: 'remove', reason: `${noRoom}: ${dataDir} removed at the operator's request (governorctl reinit)` };
  }
  if (!automatic) {
    return { action: 'hold', reason: `${noRoom}, and ${dataDir} is not a cluster of this scope, which governor never deletes: move it away yourself (or free space, or delete an older moved-aside copy), then run "governorctl reinit ${member}" again` };
  }
  return {
    action: 'hold',
    reason: `${input.trigger}: ${noRoom}: PostgreSQL stays stopped and ${dataDir} untouched; delete a moved-aside copy you no longer need or free space, then run "governorctl reinit ${member}" (with still no room it removes ${dataDir})`,
  };
}
