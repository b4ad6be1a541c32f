// How to run this program again as a child process, from a script or from the single executable.

import { realpathSync } from 'node:fs';
import { createRequire } from 'node:module';

function isSingleExecutable(): boolean {
  try {
    const require = createRequire(process.execPath);
    return Boolean((require('node:sea') as { isSea?: () => boolean }).isSea?.());
  } catch {
    return false;
  }
}

/** The script's real path: `npx governor` runs it through a symlink under root's npm cache
 *  (~/.npm/_npx/<hash>/node_modules/.bin/governor), which PostgreSQL's OS user cannot enter; the
 *  file behind it is the one node loaded, and it is at least as reachable as the link. */
export function realScriptPath(script: string): string {
  try {
    return realpathSync(script);
  } catch {
    return script;
  }
}

/** argv prefix that starts `governor` again: [node, script] or [binary]. */
export function governorCommand(): string[] {
  if (isSingleExecutable()) return [process.execPath];
  const script = process.argv[1];
  if (!script) throw new Error('cannot determine the governor script path from process.argv');
  return [process.execPath, ...process.execArgv, realScriptPath(script)];
}
