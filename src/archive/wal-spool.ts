// The spool (archive.spool_dir) shared by the daemon's WAL uploader and wal-push:
//   <name>.done    written after a verified upload: "<sha256>\n<archive.storage URL>\n[<identity>\n]"
//                  (identity: wal-identity.ts; the shell fast path compares it with `stat`)
//   <name>.claim   "<pid> <ms since epoch>": someone is uploading <name> right now (O_EXCL)
//   prefetch/      wal-fetch's prefetched segments (see wal-fetch.ts)
// A marker lets wal-push exit 0 at once for a file whose sha256 it records; a claim keeps two
// processes from uploading the same file at the same time (the second waits for the marker).

import type { Stats } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../postgres/files.js';
import { isAlive } from '../util/process.js';
import { isSha256Hex } from './checksum.js';
import { isWalFileName } from './layout.js';

/** A claim older than this is taken for abandoned, whatever its PID says. */
const CLAIM_STALE_MS = 30 * 60_000;
/** Markers are removed once PostgreSQL no longer lists the file as .ready, or after a day. */
const MARKER_MAX_AGE_MS = 24 * 3600_000;

/** WAL files PostgreSQL waits to archive, in its own order: timeline history files first, then oldest first. */
export async function readyWalFiles(archiveStatusDir: string): Promise<string[]> {
  let entries: string[];
  try {
    entries = await fs.readdir(archiveStatusDir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const names = entries.filter((e) => e.endsWith('.ready')).map((e) => e.slice(0, -'.ready'.length)).filter(isWalFileName);
  return sortForArchiving(names);
}

export function sortForArchiving(names: string[]): string[] {
  const history = (n: string) => (n.endsWith('.history') ? 0 : 1);
  return [...names].sort((a, b) => history(a) - history(b) || (a < b ? -1 : a > b ? 1 : 0));
}

/** Parse a marker file's text: the sha256 when it was written for this storage URL, else null. */
export function parseMarker(text: string, storageUrl: string): string | null {
  const [sha, storage] = text.split('\n');
  return storage === storageUrl && isSha256Hex(sha) ? sha : null;
}

export function renderMarker(sha256: string, storageUrl: string, identity: string | null = null): string {
  if (identity !== null && /[\n\r]/.test(identity)) throw new Error(`renderMarker: identity ${JSON.stringify(identity)} spans lines`);
  return `${sha256}\n${storageUrl}\n${identity === null ? '' : `${identity}\n`}`;
}

/** Whether a claim file's text ("<pid> <ms>") names a process that still works on it. */
export function claimIsLive(text: string, now: number, alive: (pid: number) => boolean = isAlive): boolean {
  const [pidText, atText] = text.trim().split(' ');
  const pid = Number(pidText);
  const at = Number(atText);
  if (!Number.isInteger(pid) || pid <= 0 || !Number.isFinite(at)) return false;
  return now - at < CLAIM_STALE_MS && alive(pid);
}

/** A marker younger than this is kept even without .ready: its file may have turned .ready after `ready` was read. */
const MARKER_GRACE_MS = 60_000;

/** Markers no longer needed: PostgreSQL has archived the file (no .ready any more), or the marker is a day old. */
export function staleMarkers(markers: Map<string, number>, ready: Set<string>, now: number): string[] {
  return [...markers]
    .filter(([name, mtime]) => (!ready.has(name) && now - mtime > MARKER_GRACE_MS) || now - mtime > MARKER_MAX_AGE_MS)
    .map(([name]) => name);
}

/** The marker and claim files in archive.spool_dir. Every method tolerates a missing spool. A marker
 *  names the archive.storage URL it was written for: after the URL changes, old markers prove nothing. */
export class WalSpool {
  constructor(readonly dir: string, readonly storageUrl: string) {}

  private file(name: string, suffix: '.done' | '.claim'): string {
    return path.join(this.dir, name + suffix);
  }

  async ensure(owner?: { uid: number | undefined; gid: number | undefined }): Promise<void> {
    await fs.mkdir(this.dir, { recursive: true, mode: 0o750 });
    if (owner?.uid !== undefined && owner.gid !== undefined) await fs.chown(this.dir, owner.uid, owner.gid);
  }

  /** The sha256 recorded for `name` in this storage, or null. */
  async marker(name: string): Promise<string | null> {
    const text = await fs.readFile(this.file(name, '.done'), 'utf8').catch(() => null);
    return text === null ? null : parseMarker(text, this.storageUrl);
  }

  async writeMarker(name: string, sha256: string, identity: string | null = null): Promise<void> {
    await writeFileAtomic(this.file(name, '.done'), renderMarker(sha256, this.storageUrl, identity), { uid: undefined, gid: undefined }, 0o644);
  }

  /** Names with a marker, with the marker's mtime. */
  async markers(): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    const entries = await fs.readdir(this.dir).catch(() => [] as string[]);
    await Promise.all(entries.filter((e) => e.endsWith('.done')).map(async (entry) => {
      const stat: Stats | null = await fs.stat(path.join(this.dir, entry)).catch(() => null);
      if (stat) out.set(entry.slice(0, -'.done'.length), stat.mtimeMs);
    }));
    return out;
  }

  /** Take the upload claim for `name`; resolves a release function, or null while a live process holds it. */
  async claim(name: string): Promise<(() => Promise<void>) | null> {
    const file = this.file(name, '.claim');
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        await fs.writeFile(file, `${process.pid} ${Date.now()}\n`, { flag: 'wx', mode: 0o644 });
        return () => fs.rm(file, { force: true });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        if (await this.claimedByOther(name)) return null;
        await fs.rm(file, { force: true }); // abandoned: its process is gone
      }
    }
    return null;
  }

  async claimedByOther(name: string): Promise<boolean> {
    const text = await fs.readFile(this.file(name, '.claim'), 'utf8').catch(() => null);
    return text !== null && claimIsLive(text, Date.now());
  }

  /** Remove markers PostgreSQL no longer needs, and claims of processes that are gone. */
  async cleanup(ready: Set<string>): Promise<number> {
    const now = Date.now();
    const stale = staleMarkers(await this.markers(), ready, now);
    await Promise.all(stale.map((name) => fs.rm(this.file(name, '.done'), { force: true })));
    const entries = await fs.readdir(this.dir).catch(() => [] as string[]);
    for (const entry of entries.filter((e) => e.endsWith('.claim'))) {
      const text = await fs.readFile(path.join(this.dir, entry), 'utf8').catch(() => null);
      if (text !== null && !claimIsLive(text, now)) await fs.rm(path.join(this.dir, entry), { force: true });
    }
    return stale.length;
  }
}
