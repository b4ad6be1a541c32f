// The data directory as governor may touch it: what it holds (inspect), filling an empty one so a
// failed or interrupted attempt removes only what it created (create), moving it aside beside
// itself (moveAside), removing its contents when policy allows (remove), and holding it for the
// operator (hold). Every destructive step names the path and why in the log. The decisions are in
// data-dir-policy.ts (pure) and the HA rules.

import fs from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../log/logger.js';
import { describeForeignContent, movedAsideName, parseMovedAsideName, type MoveAsideReason, type MovedAsideCopy } from './data-dir-policy.js';
import { emptyDir, ensureDir, type Owner } from './files.js';
import type { DataDirCreation, DataDirHold, DataDirReport, DataDirState, PostgresStatus } from './types.js';

/** How long the list of moved-aside copies is reused (an operator deleting one is seen after this). */
const COPIES_REFRESH_MS = 10_000;
/** Entries checked for a PG_VERSION of their own (a data_dir set to the parent of a cluster). */
const SUBDIRECTORIES_CHECKED = 20;

export interface DataDirInspection {
  state: DataDirState;
  /** For 'foreign': the refusal (path, what was found, what to do). */
  problem: string | null;
}

/** What a creation in progress records beside the data directory, so that after a crash the next
 *  daemon knows the content is its own leftover and not something to keep. */
interface CreationMarker {
  kind: DataDirCreation;
  /** The data directory did not exist before: undoing removes it too. */
  created_dir: boolean;
  started_at: string;
}

export interface DataDirectoryOptions {
  dataDir: string;
  member: string;
  logger: Logger;
  /** The PostgreSQL OS user (directories governor re-creates are theirs). */
  owner: () => Promise<Owner>;
  /** Rejects when PostgreSQL runs in the directory (and clears a dead postmaster's lock files). */
  assertStopped: (what: string) => Promise<void>;
}

const exists = (p: string) => fs.lstat(p).then(() => true, () => false);
const errorCode = (error: unknown) => (error as NodeJS.ErrnoException).code;

export class DataDirectory {
  readonly path: string;
  private readonly markerFile: string;
  private held: DataDirHold | null = null;
  private copies: { list: MovedAsideCopy[]; at: number } | null = null;

  constructor(private readonly options: DataDirectoryOptions) {
    this.path = path.resolve(options.dataDir);
    this.markerFile = path.join(path.dirname(this.path), `.governor-${path.basename(this.path)}.creating`);
  }

  async inspect(): Promise<DataDirInspection> {
    let entries: string[];
    try {
      entries = await fs.readdir(this.path);
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return { state: 'missing', problem: null };
      if (errorCode(error) === 'ENOTDIR') {
        return { state: 'foreign', problem: describeForeignContent(this.path, this.options.member, { entries: [], clusterSubdirectories: [], notDirectory: true }) };
      }
      throw error;
    }
    if (await exists(this.markerFile)) return { state: 'incomplete', problem: null };
    if (entries.length === 0) return { state: 'empty', problem: null };
    if (entries.includes('PG_VERSION')) return { state: 'initialized', problem: null };
    const clusterSubdirectories: string[] = [];
    for (const entry of entries.slice(0, SUBDIRECTORIES_CHECKED)) {
      if (await exists(path.join(this.path, entry, 'PG_VERSION'))) clusterSubdirectories.push(entry);
    }
    return { state: 'foreign', problem: describeForeignContent(this.path, this.options.member, { entries, clusterSubdirectories, notDirectory: false }) };
  }

  /** The state the HA loop decides on; a hold ends once the directory no longer holds the cluster
   *  it was about (emptied or moved away by the operator). */
  async state(): Promise<DataDirState> {
    const { state } = await this.inspect();
    if (this.held && state !== 'initialized') {
      this.options.logger.info(`${this.path} is now ${state}: the hold ends (${this.held.state})`);
      this.held = null;
    }
    return state;
  }

  /** For the member key and REST status. A running postmaster proves a cluster is there, so the
   *  directory is read only while PostgreSQL is down. */
  async report(running: boolean): Promise<DataDirReport> {
    const inspection = running ? { state: 'initialized' as const, problem: null } : await this.inspect();
    return {
      path: this.path,
      state: inspection.state,
      problem: inspection.problem ?? this.held?.reason ?? null,
      hold: this.held,
      movedAside: await this.movedAside(),
    };
  }

  /** `status` with this directory's report (without one when the directory cannot be read). */
  async attachTo(status: PostgresStatus): Promise<PostgresStatus> {
    try {
      return { ...status, dataDirectory: await this.report(status.running) };
    } catch (error) {
      this.options.logger.debug('could not read the data directory', { error });
      return status;
    }
  }

  hold(hold: DataDirHold | null): void {
    if (hold) this.options.logger.error(`holding ${this.path} (${hold.state}): ${hold.reason}`);
    else if (this.held) this.options.logger.info(`hold on ${this.path} released`);
    this.held = hold;
  }

  get currentHold(): DataDirHold | null {
    return this.held;
  }

  /**
   * Fill a missing or empty data directory with `fill` (initdb, a base backup, a restore). If it
   * fails, what it created is removed and nothing else: the directory was empty (or missing) before.
   * A marker beside the directory says the same to the next daemon if this one dies meanwhile.
   */
  async create(kind: DataDirCreation, fill: () => Promise<void>): Promise<void> {
    const before = await this.inspect();
    let createdDir = before.state === 'missing';
    if (before.state === 'incomplete') {
      const leftover = await this.readMarker();
      createdDir = leftover?.created_dir ?? false;
      await this.clear(`the leftovers of an interrupted ${leftover?.kind ?? 'creation'} that governor started in an empty directory`, createdDir);
    } else if (before.state !== 'missing' && before.state !== 'empty') {
      throw new Error(`${kind} into ${this.path} refused: ${before.problem ?? 'it already holds a PostgreSQL cluster'}`);
    }
    await ensureDir(path.dirname(this.path), 0o755, { uid: undefined, gid: undefined });
    const marker: CreationMarker = { kind, created_dir: createdDir, started_at: new Date().toISOString() };
    await fs.writeFile(this.markerFile, JSON.stringify(marker) + '\n', { mode: 0o600 });
    try {
      await fill();
    } catch (error) {
      await this.clear(`what the failed ${kind} created (the directory was ${createdDir ? 'missing' : 'empty'} before)`, createdDir).catch((undo: Error) =>
        this.options.logger.error(`could not undo the failed ${kind} in ${this.path}: ${undo.message}`),
      );
      throw error;
    }
    await fs.rm(this.markerFile, { force: true });
  }

  private async readMarker(): Promise<CreationMarker | null> {
    try {
      const parsed = JSON.parse(await fs.readFile(this.markerFile, 'utf8')) as Partial<CreationMarker>;
      return { kind: parsed.kind === 'bootstrap' ? 'bootstrap' : 'clone', created_dir: parsed.created_dir === true, started_at: String(parsed.started_at) };
    } catch {
      return null;
    }
  }

  /** Remove what a creation put into the directory (all of it: it started empty), and the
   *  directory itself if the creation made it. */
  private async clear(what: string, removeDir: boolean): Promise<void> {
    await this.options.assertStopped(`remove ${what}`);
    await emptyDir(this.path);
    if (removeDir) await fs.rmdir(this.path).catch(() => undefined);
    await fs.rm(this.markerFile, { force: true });
    this.options.logger.warn(`removed ${what}`, { path: this.path });
  }

  /** Free bytes on the data directory's file system and the copies moved aside so far. */
  async room(): Promise<{ freeBytes: number; copies: MovedAsideCopy[] }> {
    const target = await fs.realpath(this.path).catch(() => path.dirname(this.path));
    const stats = await fs.statfs(target);
    // bavail, not bfree: PostgreSQL writes as an unprivileged user, who cannot use the reserved blocks.
    return { freeBytes: Number(stats.bavail) * Number(stats.bsize), copies: await this.movedAside(true) };
  }

  /** Rename the directory beside itself (same file system) and leave an empty one, owned and
   *  permissioned as before, in its place. Returns the copy's path. */
  async moveAside(reason: MoveAsideReason): Promise<string> {
    await this.options.assertStopped('move the data directory aside');
    // A symbolic link stays where it is: the directory it points at is what moves.
    const real = await fs.realpath(this.path);
    const stat = await fs.stat(real);
    const parent = path.dirname(real);
    const now = new Date();
    let target = '';
    for (let attempt = 0; ; attempt++) {
      target = path.join(parent, movedAsideName(path.basename(real), reason, now, attempt));
      if (!(await exists(target))) break;
    }
    try {
      await fs.rename(real, target);
    } catch (error) {
      const code = errorCode(error);
      if (code === 'EBUSY' || code === 'EXDEV') {
        throw Object.assign(new Error(`cannot move ${real} aside (${code}: it is a mount point); use a directory inside the mount point as postgresql.data_dir`), { code });
      }
      throw error;
    }
    await fs.mkdir(real, { mode: 0o700 });
    await fs.chmod(real, stat.mode & 0o7777);
    await fs.chown(real, stat.uid, stat.gid).catch(() => undefined);
    await syncDirectory(parent);
    this.copies = null;
    this.options.logger.warn(`moved the data directory aside (${reason}): ${real} is now ${target}; governor never deletes it`, { path: real, copy: target, reason });
    return target;
  }

  /** Remove the directory's contents (the directory stays). Only for what policy allows, with why. */
  async remove(reason: string): Promise<void> {
    if (this.path === '/') throw new Error('refusing to remove the contents of /');
    await this.options.assertStopped('remove the data directory');
    await emptyDir(this.path);
    this.options.logger.warn(`removed the contents of ${this.path}: ${reason}`, { path: this.path });
  }

  /** Copies of this data directory moved aside earlier (by any governor), oldest first. */
  async movedAside(fresh = false): Promise<MovedAsideCopy[]> {
    if (!fresh && this.copies && Date.now() - this.copies.at < COPIES_REFRESH_MS) return this.copies.list;
    const real = await fs.realpath(this.path).catch(() => this.path);
    const parent = path.dirname(real);
    const base = path.basename(real);
    const names = await fs.readdir(parent).catch(() => [] as string[]);
    const list: MovedAsideCopy[] = [];
    for (const name of names) {
      const parsed = parseMovedAsideName(base, name);
      if (parsed) list.push({ path: path.join(parent, name), ...parsed });
    }
    list.sort((a, b) => a.at.localeCompare(b.at) || a.path.localeCompare(b.path));
    this.copies = { list, at: Date.now() };
    return list;
  }
}

/** fsync a directory, so a rename in it survives a crash. */
async function syncDirectory(dir: string): Promise<void> {
  const handle = await fs.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
