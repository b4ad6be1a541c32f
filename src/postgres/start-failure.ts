// Why PostgreSQL failed to start, read from the tail of its log: only a diagnosed data fault may
// cost a replica its data directory (re-clone, through the move-aside policy); a port, shared
// memory, configuration or permission fault, or anything not recognised, never touches the data.

export type StartFailureCause = 'data' | 'port' | 'shared-memory' | 'config' | 'permission' | 'unknown';

export interface StartDiagnosis {
  cause: StartFailureCause;
  /** The log line that decided it (null: nothing recognised). */
  evidence: string | null;
}

/** What each cause means, for the log. */
export const CAUSE_DESCRIPTIONS: Record<StartFailureCause, string> = {
  data: 'the data directory is damaged or does not fit the master',
  port: 'the address, port, socket or lock file is in use',
  'shared-memory': 'shared memory or semaphores could not be had',
  config: 'the configuration is invalid',
  permission: 'files or directories have the wrong owner or permissions',
  unknown: 'not recognised',
};

/** Checked in this order on each line: a line that names a resource (a permission denied on
 *  pg_control, say) is that resource's fault, not the data's. */
const PATTERNS: ReadonlyArray<readonly [StartFailureCause, RegExp]> = [
  ['port', /could not bind|could not create listen socket|could not create any TCP\/IP sockets|could not create Unix-domain socket|Address already in use|lock file "[^"]*" already exists|is another postmaster/i],
  ['shared-memory', /shared memory|could not create semaphores|could not map anonymous|out of memory/i],
  ['config', /configuration file "[^"]*" contains errors|invalid value for parameter|unrecognized configuration parameter|syntax error in file|could not (?:open|access) (?:the server )?configuration file|parameter "[^"]*" cannot be changed|is outside the valid range for parameter/i],
  ['permission', /permission denied|has wrong ownership|has invalid permissions|must be owned by|has group or world access/i],
  ['data', new RegExp([
    'could not locate a valid checkpoint record',
    'invalid (?:primary |secondary )?checkpoint record',
    'could not locate required checkpoint record',
    'could not find required checkpoint record',
    'requested timeline \\d+ is not a child of this server\'s history',
    'database files are incompatible with server',
    'incorrect checksum in control file',
    'could not open file "global/pg_control": No such file',
    'invalid (?:checkpoint|resource manager ID in) .*record',
    'WAL file is from different database system',
    'unexpected timeline ID',
    'requested timeline \\d+ does not contain minimum recovery point',
    'is not a valid data directory',
    'invalid data in history file',
  ].join('|'), 'i')],
];

/** Lines that end a postmaster's log: the boundary between one start attempt and the next. */
const SHUTDOWN_LINE = /database system is shut down/;

/** The lines the last start attempt wrote: after the previous attempt's closing line (trailing
 *  closing lines of this attempt itself are kept). */
export function lastAttempt(lines: string[]): string[] {
  let end = lines.length;
  while (end > 0 && (SHUTDOWN_LINE.test(lines[end - 1]!) || lines[end - 1]!.trim() === '')) end--;
  for (let i = end - 1; i >= 0; i--) if (SHUTDOWN_LINE.test(lines[i]!)) return lines.slice(i + 1);
  return lines;
}

/** The cause of the last failed start, from the last lines of PostgreSQL's log. */
export function classifyStartFailure(logTail: string): StartDiagnosis {
  const lines = lastAttempt(logTail.split('\n'));
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i]!;
    if (!/FATAL|PANIC|ERROR|LOG/.test(line)) continue;
    for (const [cause, pattern] of PATTERNS) {
      if (pattern.test(line)) return { cause, evidence: line.trim() };
    }
  }
  return { cause: 'unknown', evidence: null };
}
