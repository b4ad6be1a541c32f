// Writing haproxy.cfg: a temp file in the same directory, fsync, `haproxy -c` on it, then rename
// over the real file (and fsync the directory). An invalid file never replaces the previous one;
// it is kept as <config_file>.rejected so the line numbers in HAProxy's message can be looked up.

import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fsyncDirectory } from '../util/fsync.js';

/** HAProxy refused a rendered configuration; the previous file and process are untouched. */
export class HaproxyConfigInvalid extends Error {
  constructor(
    readonly configFile: string,
    readonly rejectedFile: string,
    /** HAProxy's own explanation (its ALERT lines). */
    readonly haproxyMessage: string,
  ) {
    super(`haproxy rejected the configuration for ${configFile} (kept as ${rejectedFile}): ${haproxyMessage}`);
    this.name = 'HaproxyConfigInvalid';
  }
}

let counter = 0;

/** Who runs `haproxy -c`: the user HAProxy itself runs as. Parsing a configuration can run code
 *  (a lua-load script runs as it is loaded), so a root governor never parses one as root. */
export interface CheckUser {
  uid: number;
  gid: number;
}

/** Run `haproxy -c -f file`; resolves with HAProxy's output and whether the file is valid. */
export function checkConfig(bin: string, file: string, timeoutMs = 10_000, runAs: CheckUser | null = null): Promise<{ valid: boolean; output: string }> {
  return new Promise((resolve, reject) => {
    const options = {
      timeout: timeoutMs,
      encoding: 'utf8' as const,
      cwd: '/',
      env: { PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin' },
      ...(runAs ? { uid: runAs.uid, gid: runAs.gid } : {}),
    };
    execFile(bin, ['-c', '-f', file], options, (error, stdout, stderr) => {
      const output = `${stdout}${stderr}`.trim();
      if (!error) return resolve({ valid: true, output });
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'EACCES') return reject(new Error(`cannot run ${bin}: ${error.message}`));
      if (error.killed) return reject(new Error(`${bin} -c -f ${file} did not finish within ${timeoutMs} ms`));
      resolve({ valid: false, output });
    });
  });
}

/** The lines of HAProxy's output that explain a failure (ALERT lines, else everything). */
export function haproxyAlerts(output: string): string {
  const alerts = output
    .split('\n')
    .filter((l) => /\[ALERT\]/.test(l) && !/Fatal errors found|Error\(s\) found in configuration file/.test(l))
    .map((l) => l.replace(/^\[ALERT\]\s*\(\d+\)\s*:\s*/, '').trim());
  return (alerts.length > 0 ? alerts.join('; ') : output).slice(0, 2000);
}

async function writeTemp(file: string, text: string): Promise<string> {
  const dir = path.dirname(file);
  const temp = path.join(dir, `.${path.basename(file)}.governor-${process.pid}-${++counter}.tmp`);
  const handle = await fs.open(temp, 'wx', 0o644);
  try {
    await handle.writeFile(text, 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
  return temp;
}

/** Write `text` to `file` atomically, but only if `haproxy -c` accepts it. */
export async function writeValidatedConfig(bin: string, file: string, text: string, runAs: CheckUser | null = null): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  const temp = await writeTemp(file, text);
  try {
    const { valid, output } = await checkConfig(bin, temp, 10_000, runAs);
    if (!valid) {
      const rejected = `${file}.rejected`;
      await fs.rename(temp, rejected);
      throw new HaproxyConfigInvalid(file, rejected, haproxyAlerts(output.split(temp).join(rejected)));
    }
    await fs.rename(temp, file);
    await fsyncDirectory(path.dirname(file));
  } finally {
    await fs.rm(temp, { force: true });
  }
}

/** Write `text` to `file` atomically without validation (restoring a file that was valid before). */
export async function writeConfig(file: string, text: string): Promise<void> {
  const temp = await writeTemp(file, text);
  try {
    await fs.rename(temp, file);
    await fsyncDirectory(path.dirname(file));
  } finally {
    await fs.rm(temp, { force: true });
  }
}

export async function readIfExists(file: string): Promise<string | null> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}
