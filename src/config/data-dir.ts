// postgresql.remove_data_directory_on_rewind_failure and postgresql.max_moved_aside_copies: what
// governor may do with a data directory that must make way for a clone (src/postgres/data-dir-policy.ts).

import { DEFAULT_POSTGRESQL } from './defaults.js';
import type { Checker, Raw } from './checker.js';

export const DATA_DIR_POLICY_FIELDS = ['remove_data_directory_on_rewind_failure', 'max_moved_aside_copies'] as const;

/** Copies more than this would rather be a mistake (each is a whole data directory). */
const MAX_COPIES_LIMIT = 100;

export function checkDataDirPolicy(ch: Checker, m: Raw): { remove_data_directory_on_rewind_failure: boolean; max_moved_aside_copies: number } {
  const remove_data_directory_on_rewind_failure = ch.boolean(
    'postgresql.remove_data_directory_on_rewind_failure',
    m.remove_data_directory_on_rewind_failure,
    DEFAULT_POSTGRESQL.remove_data_directory_on_rewind_failure,
  );
  const max_moved_aside_copies = ch.number('postgresql.max_moved_aside_copies', m.max_moved_aside_copies, {
    default: DEFAULT_POSTGRESQL.max_moved_aside_copies,
    min: 0,
    integer: true,
  });
  if (max_moved_aside_copies > MAX_COPIES_LIMIT) {
    ch.fail('postgresql.max_moved_aside_copies', `must be at most ${MAX_COPIES_LIMIT} (each copy is a whole data directory), got ${max_moved_aside_copies}`);
  }
  return { remove_data_directory_on_rewind_failure, max_moved_aside_copies };
}
