// Shared by the packaging tests: where the repository's units and AMI files are, the governor
// executable they install, running a command with its output captured, and a scratch root that
// holds what the Debian packages would have put on the machine.

import { execFile, type ExecFileOptions } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/config/load.js';
import type { GovernorConfig } from '../../src/config/types.js';
import { parseEnvironmentFile, parseUnitFile, unitValues, type UnitFile } from './systemd-unit.js';

/** The tests run from the repository root (npm scripts, make). */
export const REPO = process.cwd();
export const repoPath = (...parts: string[]) => path.join(REPO, ...parts);

/** The single executable the AMI ships: GOVERNOR_BINARY or dist/governor (make binary). */
export function governorBinary(): string {
  const file = process.env.GOVERNOR_BINARY ?? repoPath('dist', 'governor');
  if (!fs.existsSync(file)) throw new Error(`GOVERNOR_BINARY: ${file} does not exist; run "make binary" first (make test-packaging does)`);
  return file;
}

export function readUnit(...parts: string[]): UnitFile {
  return parseUnitFile(fs.readFileSync(repoPath(...parts), 'utf8'));
}

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run a command (argument array, no shell); never rejects for a non-zero exit. */
export function run(file: string, args: string[], options: ExecFileOptions = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { encoding: 'utf8', maxBuffer: 16 << 20, timeout: 120_000, ...options }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
      if (code === null) return reject(new Error(`${file} ${args.join(' ')}: ${error!.message}`));
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function removeDir(dir: string): void {
  if (process.env.GOVERNOR_KEEP_TEST_DIRS !== '1') fs.rmSync(dir, { recursive: true, force: true });
}

/** What the packages provide that the scripts and systemd-analyze look at, copied from this
 *  (Debian 12, packages installed) machine: the systemd units of the packages, the binaries the
 *  units run, dpkg's state directory (for dpkg-statoverride). */
export function packagedRoot(prefix = 'gov-root-'): string {
  const root = tempDir(prefix);
  fs.cpSync('/usr/lib/systemd/system', path.join(root, 'usr/lib/systemd/system'), { recursive: true, verbatimSymlinks: true });
  for (const bin of ['/usr/bin/etcd', '/usr/sbin/haproxy', '/bin/kill']) {
    const real = fs.realpathSync(bin);
    fs.mkdirSync(path.join(root, path.dirname(bin)), { recursive: true });
    // A hard link where the file system allows it: etcd alone is 20 MB, and several tests build a root.
    try {
      fs.linkSync(real, path.join(root, bin));
    } catch {
      fs.copyFileSync(real, path.join(root, bin));
      fs.chmodSync(path.join(root, bin), 0o755);
    }
  }
  fs.mkdirSync(path.join(root, 'var/lib/dpkg'), { recursive: true });
  return root;
}

/** Every unit file and drop-in the repository ships, as installed (path under the root). */
export const INSTALLED_UNITS: ReadonlyArray<{ source: string; installed: string }> = [
  { source: 'systemd/governor.service', installed: '/etc/systemd/system/governor.service' },
  { source: 'systemd/etcd-proxy.service', installed: '/etc/systemd/system/etcd-proxy.service' },
  { source: 'systemd/haproxy-governor.conf', installed: '/etc/systemd/system/haproxy.service.d/governor.conf' },
];

/** `systemd-analyze verify` of units inside `root`. It exits 0 on unknown keys and bad values
 *  (it only prints them), so any output at all counts as a failure. */
export async function verifyUnits(root: string, units: string[]): Promise<{ ok: boolean; output: string }> {
  const result = await run('systemd-analyze', ['verify', '--man=no', `--root=${root}`, ...units]);
  const output = `${result.stdout}${result.stderr}`.trim();
  return { ok: result.code === 0 && output === '', output };
}

/** The environment governor gets under governor.service from `envFile` (an EnvironmentFile):
 *  the unit's Environment=, then the file, minus UnsetEnvironment=. */
export function governorServiceEnvironment(envFileText: string): Record<string, string> {
  const unit = readUnit('systemd', 'governor.service');
  const env = parseEnvironmentFile(envFileText);
  for (const name of unitValues(unit, 'Service', 'UnsetEnvironment').flatMap((v) => v.split(/\s+/))) delete env[name];
  return env;
}

/** The AMI's governor.yml with the example environment, loaded the way the daemon loads it. */
export function amiConfig(overrides: Record<string, string> = {}, file = repoPath('ami', 'files', 'governor.yml')): GovernorConfig {
  const env = governorServiceEnvironment(fs.readFileSync(repoPath('ami', 'files', 'environment.example'), 'utf8'));
  return loadConfig({ file, env: { ...env, ...overrides } }).config;
}
