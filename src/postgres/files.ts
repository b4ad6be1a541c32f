// File-system helpers: files owned by the PostgreSQL user, atomic writes, permission checks, postmaster.pid.
import { randomBytes } from 'node:crypto';
import type { Stats } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { PgUser } from './os-user.js';

export interface Owner {
  uid: number | undefined;
  gid: number | undefined;
}

/** Whether a user with (uid, primary gid, no supplementary groups) may search a directory with these stats. */
export function canTraverse(stat: Pick<Stats, 'uid' | 'gid' | 'mode'>, uid: number, gid: number): boolean {
  if (uid === 0) return true;
  if (stat.uid === uid) return (stat.mode & 0o100) !== 0;
  if (stat.gid === gid) return (stat.mode & 0o010) !== 0;
  return (stat.mode & 0o001) !== 0;
}

/** Every existing ancestor of `target` (root first), excluding target itself. */
export function ancestors(target: string): string[] {
  const out: string[] = [];
  let dir = path.dirname(path.resolve(target));
  for (;;) {
    out.unshift(dir);
    const parent = path.dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  return out;
}

/** Fail with a message naming the directory when the PostgreSQL user cannot reach `target`. */
export async function assertTraversable(target: string, user: PgUser): Promise<void> {
  for (const dir of ancestors(target)) {
    let stat: Stats;
    try {
      stat = await fs.stat(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return; // created later by us, mode 0755
      throw err;
    }
    if (!canTraverse(stat, user.effectiveUid, user.effectiveGid)) {
      throw new Error(
        `directory ${dir} is not traversable by OS user ${user.name} (mode ${(stat.mode & 0o777).toString(8)}, owner ${stat.uid}:${stat.gid}); ` +
          `PostgreSQL needs to reach ${target}: grant search permission (e.g. chmod o+x ${dir})`,
      );
    }
  }
}

async function exists(p: string): Promise<boolean> {
  try {
    await fs.lstat(p);
    return true;
  } catch {
    return false;
  }
}

async function chownIfNeeded(p: string, owner: Owner): Promise<void> {
  if (owner.uid !== undefined && owner.gid !== undefined) await fs.chown(p, owner.uid, owner.gid);
}

/**
 * Make sure `dir` exists. When it had to be created, missing parents get 0755 (root-owned when root), `dir`
 * itself gets `mode` and the owner. Returns whether it was created.
 */
export async function ensureDir(dir: string, mode: number, owner: Owner): Promise<boolean> {
  if (await exists(dir)) return false;
  const parent = path.dirname(path.resolve(dir));
  const first = await fs.mkdir(parent, { recursive: true, mode: 0o755 });
  if (first) {
    // Whatever the umask, parents we create must be traversable by the PostgreSQL user.
    for (let d = parent; d.length >= first.length; d = path.dirname(d)) await fs.chmod(d, 0o755);
  }
  try {
    await fs.mkdir(dir, { mode });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
  await fs.chmod(dir, mode);
  await chownIfNeeded(dir, owner);
  return true;
}

/** Make an existing directory owned by `owner` with `mode` (used on data_dir when it is empty). */
export async function ownDir(dir: string, mode: number, owner: Owner): Promise<void> {
  await chownIfNeeded(dir, owner);
  await fs.chmod(dir, mode);
}

/** Write atomically (temp file in the same directory + rename), owned by `owner`, mode 0600 unless told. */
export async function writeFileAtomic(file: string, content: string, owner: Owner, mode = 0o600): Promise<void> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  const handle = await fs.open(tmp, 'wx', mode);
  try {
    await handle.writeFile(content, 'utf8');
    await handle.chmod(mode);
    if (owner.uid !== undefined && owner.gid !== undefined) await handle.chown(owner.uid, owner.gid);
    await handle.sync();
  } catch (err) {
    await handle.close();
    await fs.rm(tmp, { force: true });
    throw err;
  }
  await handle.close();
  try {
    await fs.rename(tmp, file);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw err;
  }
}

/**
 * writeFileAtomic unless `file` already has exactly this content, mode and owner: a restart in
 * place (a crashed master's) rewrites the same configuration, and each atomic write is an fsync
 * on the way to PostgreSQL accepting writes again. True when it wrote.
 */
export async function writeFileIfChanged(file: string, content: string, owner: Owner, mode = 0o600): Promise<boolean> {
  try {
    const [current, info] = await Promise.all([fs.readFile(file, 'utf8'), fs.stat(file)]);
    const sameOwner = (owner.uid === undefined || info.uid === owner.uid) && (owner.gid === undefined || info.gid === owner.gid);
    if (current === content && (info.mode & 0o777) === mode && sameOwner) return false;
  } catch {
    // Missing or unreadable: write it.
  }
  await writeFileAtomic(file, content, owner, mode);
  return true;
}

/** Create the file when missing (empty) and make sure it is owned by `owner`; content is kept. */
export async function touchOwned(file: string, owner: Owner, mode = 0o600): Promise<void> {
  const handle = await fs.open(file, 'a', mode);
  try {
    if (owner.uid !== undefined && owner.gid !== undefined) await handle.chown(owner.uid, owner.gid);
  } finally {
    await handle.close();
  }
}

/** Remove everything inside `dir` (not dir itself). */
export async function emptyDir(dir: string): Promise<void> {
  const resolved = path.resolve(dir);
  if (dir.trim() === '' || resolved === '/') throw new Error(`refusing to empty ${JSON.stringify(dir)}`);
  let entries: string[];
  try {
    entries = await fs.readdir(resolved);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  for (const entry of entries) await fs.rm(path.join(resolved, entry), { recursive: true, force: true });
}

/** The postmaster PID from data_dir/postmaster.pid, or null when absent/unreadable. */
/** First line of a PostgreSQL lock file (postmaster.pid or the socket's .lock): the postmaster PID. */
export async function readPostmasterPid(lockFile: string): Promise<number | null> {
  try {
    const text = await fs.readFile(lockFile, 'utf8');
    const pid = Number(text.split('\n')[0]?.trim());
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

/** Command name, state and parent of `pid` from /proc/<pid>/stat; null when it cannot be read. */
async function procStat(pid: number): Promise<{ comm: string; state: string; ppid: number } | null> {
  let stat: string;
  try {
    stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // The command name is parenthesised and may hold spaces; state and ppid follow it.
  const close = stat.lastIndexOf(')');
  const fields = stat.slice(close + 2).split(' ');
  return { comm: stat.slice(stat.indexOf('(') + 1, close), state: fields[0] ?? '', ppid: Number(fields[1]) };
}

/** Whether `pid` is a live process that (where /proc tells) is a PostgreSQL server, not a recycled PID. */
export async function isPostgresProcess(pid: number): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const stat = await procStat(pid);
  // Without /proc (not Linux) trust kill(pid, 0); with it, the process has just gone.
  if (!stat) return !(await exists('/proc/self/stat'));
  if (stat.state === 'Z' || stat.state === 'X') return false; // exited, not yet reaped
  if (/^(postgres|postmaster)/.test(stat.comm)) return true;
  try {
    return /postgres|postmaster/.test(await fs.readFile(`/proc/${pid}/cmdline`, 'utf8'));
  } catch {
    return false;
  }
}

/**
 * Send `signal` to `pid` only if /proc says its parent is `parentPid` (so a PID recycled since it
 * was read is never signalled); false when it is not, or no longer, that process's child.
 */
export async function signalChildOf(pid: number, parentPid: number, signal: NodeJS.Signals): Promise<boolean> {
  const stat = await procStat(pid);
  if (!stat || stat.ppid !== parentPid || stat.state === 'Z') return false;
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}

/** The last `lines` lines of a text file ('' when missing); reads at most the last 1 MiB. */
export async function tailFile(file: string, lines: number): Promise<string> {
  if (lines <= 0) return '';
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(file, 'r');
  } catch {
    return '';
  }
  try {
    const { size } = await handle.stat();
    const length = Math.min(size, 1024 * 1024);
    const buffer = Buffer.alloc(length);
    await handle.read(buffer, 0, length, size - length);
    const all = buffer.toString('utf8').replace(/\n$/, '').split('\n');
    return all.slice(-lines).join('\n');
  } finally {
    await handle.close();
  }
}
