// Entry point of the single executable (`make binary` → dist/governor): one file carries both programs.
// Started under a name beginning with "governorctl" (a symlink or a copy of the binary) it is governorctl;
// under any other name it is governor (whose `governor ctl …` is governorctl as well).
//
// Only the chosen program is loaded: governor.ts and governorctl.ts parse process.argv as soon as they are
// evaluated, so each is imported lazily (the bundler turns these imports into in-bundle lazy requires).

import path from 'node:path';

/** The name the program was started under: argv[0] as typed (a symlink keeps its own name there;
 *  a single executable repeats it as argv[1]), else the executable's own file name. */
export function invokedName(argv: readonly string[], argv0: string | undefined, execPath: string): string {
  for (const candidate of [argv0, argv[1], execPath]) {
    const name = path.basename(candidate ?? '');
    if (name.startsWith('governor')) return name;
  }
  return path.basename(execPath);
}

export function invokedAsCtl(argv: readonly string[], argv0: string | undefined, execPath: string): boolean {
  return invokedName(argv, argv0, execPath).startsWith('governorctl');
}

if (invokedAsCtl(process.argv, process.argv0, process.execPath)) {
  void import('./governorctl.js');
} else {
  void import('./governor.js');
}
