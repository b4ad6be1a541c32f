// Which local files wal-push may read and wal-fetch may write. PostgreSQL passes %p relative to the
// data directory (pg_wal/<name>, pg_wal/RECOVERYXLOG); pg_rewind passes <data dir>/pg_wal/<name>.
// Anything else (a name with path tricks, a path outside pg_wal, a symlink) is refused with an
// error that names the argument, before a byte is read or written.

import type { Stats } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { isWalFileName } from './layout.js';

/** Longer than any path PostgreSQL hands to archive_command/restore_command (MAXPGPATH is 1024). */
const MAX_ARGUMENT_LENGTH = 1024;
/** The names restore_command writes under pg_wal besides the WAL file's own. */
export const RESTORE_TARGET_NAMES = ['RECOVERYXLOG', 'RECOVERYHISTORY'] as const;

/** What is wrong with a path argument as text (NUL, too long, empty), or null. */
export function pathArgumentProblem(value: string): string | null {
  if (value === '') return 'is empty';
  if (value.includes('\0')) return 'contains a NUL byte';
  if (value.length > MAX_ARGUMENT_LENGTH) return `is ${value.length} characters long (at most ${MAX_ARGUMENT_LENGTH})`;
  return null;
}

const show = (value: string) => JSON.stringify(value.length > 120 ? `${value.slice(0, 117)}...` : value);

async function realDirectory(dir: string, what: string): Promise<string> {
  try {
    return await fs.realpath(dir);
  } catch (error) {
    throw new Error(`${what}: cannot resolve ${dir}: ${(error as Error).message}`);
  }
}

async function lstatOrNull(file: string): Promise<Stats | null> {
  try {
    return await fs.lstat(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

/**
 * The absolute path of the WAL file wal-push may archive: `file` (%p) must name a WAL file in
 * postgresql.data_dir's own pg_wal (compared by real path, so a pg_wal symlinked to another disk
 * works) and be a regular file, not a link.
 */
export async function walPushSource(file: string, dataDir: string): Promise<string> {
  const problem = pathArgumentProblem(file);
  if (problem) throw new Error(`wal-push: the path argument ${problem}; expected %p, a file in pg_wal`);
  const resolved = path.resolve(file);
  const name = path.basename(resolved);
  if (!isWalFileName(name)) throw new Error(`wal-push: ${show(file)} is not a WAL file name (segment, .partial, .backup or .history)`);
  const pgWal = path.join(path.resolve(dataDir), 'pg_wal');
  const [actual, expected] = await Promise.all([realDirectory(path.dirname(resolved), 'wal-push'), realDirectory(pgWal, 'wal-push')]);
  if (actual !== expected) {
    throw new Error(
      `wal-push: ${show(file)} is not in ${pgWal} (postgresql.data_dir's pg_wal): archive_command archives only this member's own WAL; ` +
        'check archive_command and the -c configuration file',
    );
  }
  const stat = await lstatOrNull(resolved);
  if (stat === null) throw new Error(`wal-push: ${resolved} does not exist`);
  if (!stat.isFile()) throw new Error(`wal-push: ${resolved} is not a regular file (a symbolic link or special file is never archived)`);
  return resolved;
}

/**
 * The absolute path wal-fetch may write WAL file `name` to: `dest` (%p) must be pg_wal/RECOVERYXLOG,
 * pg_wal/RECOVERYHISTORY or pg_wal/<name> of a PostgreSQL data directory (one holding PG_VERSION:
 * the member's own, or the one `governor backup-fetch --restore` recovers), and not a link.
 */
export async function walFetchTarget(name: string, dest: string): Promise<string> {
  const problem = pathArgumentProblem(dest);
  if (problem) throw new Error(`wal-fetch: the path argument ${problem}; expected %p, a file in pg_wal`);
  const resolved = path.resolve(dest);
  const target = path.basename(resolved);
  if (target !== name && !(RESTORE_TARGET_NAMES as readonly string[]).includes(target)) {
    throw new Error(`wal-fetch: ${show(dest)} is not where PostgreSQL restores ${name} (pg_wal/RECOVERYXLOG, pg_wal/RECOVERYHISTORY or pg_wal/${name})`);
  }
  const pgWal = path.dirname(resolved);
  const dataDir = path.dirname(pgWal);
  const marker = path.basename(pgWal) === 'pg_wal' ? await fs.stat(path.join(dataDir, 'PG_VERSION')).catch(() => null) : null;
  if (!marker?.isFile()) {
    throw new Error(`wal-fetch: ${show(dest)} is not in the pg_wal directory of a PostgreSQL data directory (no ${path.join(dataDir, 'PG_VERSION')}); restore_command writes only there`);
  }
  const stat = await lstatOrNull(resolved);
  if (stat !== null && !stat.isFile()) throw new Error(`wal-fetch: ${resolved} exists and is not a regular file: refusing to replace it`);
  return resolved;
}
