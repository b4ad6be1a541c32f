// How to run this program again as a child process, from a script or from the single executable.

import { createRequire } from 'node:module';

function isSingleExecutable(): boolean {
  try {
    const require = createRequire(process.execPath);
    return Boolean((require('node:sea') as { isSea?: () => boolean }).isSea?.());
  } catch {
    return false;
  }
}

/** argv prefix that starts `governor` again: [node, script] or [binary]. */
export function governorCommand(): string[] {
  if (isSingleExecutable()) return [process.execPath];
  const script = process.argv[1];
  if (!script) throw new Error('cannot determine the governor script path from process.argv');
  return [process.execPath, ...process.execArgv, script];
}
