// Whether PostgreSQL's OS user can run governor's own program. archive_command, restore_command and
// the WAL uploader run `governor wal-push|wal-fetch|wal-uploader` as that user, with the argv
// prefix the daemon was started with (self.ts governorCommand()). When that user cannot reach the
// program (a checkout or an npm cache under /root, node installed under a home directory), every
// segment fails to archive; the daemon checks at start and refuses to run rather than fail silently.

import { statSync, type Stats } from 'node:fs';
import path from 'node:path';
import type { PgUser } from '../postgres/exec.js';
import { runPgBinary } from '../postgres/exec.js';
import { ancestors, canTraverse } from '../postgres/files.js';

/** The parts of a file's status the permission check reads. */
export type StatFacts = Pick<Stats, 'uid' | 'gid' | 'mode'> & { isDirectory(): boolean; isFile(): boolean };

export interface UserIds {
  name: string;
  uid: number;
  gid: number;
}

/** Mode bits that apply to `user` (owner, group or other; no supplementary groups: a child spawned
 *  with uid/gid has none), shifted to the "other" position. */
function bitsFor(stat: StatFacts, user: UserIds): number {
  if (stat.uid === user.uid) return (stat.mode >> 6) & 0o7;
  if (stat.gid === user.gid) return (stat.mode >> 3) & 0o7;
  return stat.mode & 0o7;
}

const describeMode = (stat: StatFacts) => `mode ${(stat.mode & 0o777).toString(8)}, owner ${stat.uid}:${stat.gid}`;

/**
 * Why `user` cannot read (a script) or execute (a binary) `target`, or null when it can. Pure over
 * `stat` (a stat that follows symlinks; null for a missing path). Every directory on the way must
 * be searchable; the file itself readable, or executable.
 */
export function pathAccessProblem(target: string, need: 'read' | 'execute', user: UserIds, stat: (p: string) => StatFacts | null): string | null {
  if (user.uid === 0) return null;
  for (const dir of ancestors(target)) {
    const facts = stat(dir);
    if (facts === null) return `${dir} does not exist`;
    if (!canTraverse(facts, user.uid, user.gid)) return `user ${user.name} cannot enter ${dir} (${describeMode(facts)})`;
  }
  const facts = stat(target);
  if (facts === null) return `${target} does not exist`;
  if (!facts.isFile()) return `${target} is not a regular file`;
  const bits = bitsFor(facts, user);
  if (need === 'read' && (bits & 0o4) === 0) return `user ${user.name} cannot read ${target} (${describeMode(facts)})`;
  if (need === 'execute' && (bits & 0o1) === 0) return `user ${user.name} cannot execute ${target} (${describeMode(facts)})`;
  return null;
}

function statOrNull(p: string): StatFacts | null {
  try {
    return statSync(p);
  } catch {
    return null;
  }
}

/** The files of an argv prefix from governorCommand() and what each needs: the binary (node, or the
 *  single executable) executed, the script (if any) read. Options such as --enable-source-maps are skipped. */
export function commandFiles(command: string[]): Array<{ file: string; need: 'read' | 'execute' }> {
  const [binary, ...rest] = command;
  if (!binary) return [];
  const script = rest.at(-1);
  const files: Array<{ file: string; need: 'read' | 'execute' }> = [{ file: binary, need: 'execute' }];
  if (script !== undefined && path.isAbsolute(script)) files.push({ file: script, need: 'read' });
  return files;
}

export class GovernorNotRunnableError extends Error {
  constructor(command: string[], user: string, problem: string) {
    super(
      `PostgreSQL's OS user ${user} cannot run governor as "${command.join(' ')}": ${problem}. ` +
        `archive_command, restore_command and the WAL uploader run governor as ${user}, so every WAL segment would fail to archive. ` +
        `Install governor where ${user} can read it (the single executable from "make binary" in /usr/local/bin, or the package under /opt), ` +
        'or grant search and read permission on the path named',
    );
    this.name = 'GovernorNotRunnableError';
  }
}

/** The permission check alone (no process started): throws naming the path that blocks `user`. */
export function assertRunnableByPermissions(command: string[], user: PgUser): void {
  if (user.uid === undefined) return; // not root: PostgreSQL runs as ourselves
  const ids = { name: user.name, uid: user.effectiveUid, gid: user.effectiveGid };
  for (const { file, need } of commandFiles(command)) {
    const problem = pathAccessProblem(file, need, ids, statOrNull);
    if (problem) throw new GovernorNotRunnableError(command, user.name, problem);
  }
}

/**
 * Check that `user` can run governor with `command`: the permissions along each path, then
 * `governor --version` started as that user (which loads the program and its modules, as
 * archive_command will). Throws GovernorNotRunnableError naming the path or the output.
 */
export async function assertRunnableBy(command: string[], user: PgUser, timeoutMs = 60_000): Promise<void> {
  if (user.uid === undefined) return;
  assertRunnableByPermissions(command, user);
  const [binary, ...args] = command;
  const result = await runPgBinary(path.dirname(binary!), path.basename(binary!), [...args, '--version'], user, { timeoutMs });
  if (result.code !== 0) {
    const output = (result.stderr || result.stdout).trim().split('\n').filter((l) => l.trim() !== '').slice(0, 3).join(' | ');
    const how = result.timedOut ? `did not finish within ${timeoutMs / 1000} s` : `exited with ${result.code ?? result.signal}`;
    throw new GovernorNotRunnableError(command, user.name, `"governor --version" run as ${user.name} ${how}${output ? `: ${output}` : ''}`);
  }
}
