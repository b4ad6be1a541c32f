// A WAL file's identity: device, inode, size, mtime and ctime in nanoseconds, written the way
// `stat -L -c '%d %i %s %.9Y %.9Z'` prints them. The uploader records it in the spool marker
// beside the sha256 it stored, and archive_command's shell fast path compares it with what
// `stat` says now: one small process instead of hashing 16 MiB again (sha256sum ~50 ms here).
//
// Why equal identities mean equal content: every write, truncate or replacement of a file sets its
// ctime to the current time, and nothing can set ctime back. The identity is taken before the
// uploader reads the file and must be unchanged after the upload was verified, so the bytes it
// stored are the bytes the file had all along. The only blind spot is a write within the same
// clock tick as the file's previous change (kernel timestamps are coarse, 1-10 ms): so the
// identity is taken only once the ctime is RACY_MS old (the racy-git rule). PostgreSQL itself
// never writes to a segment once it is .ready; this guards against anything else replacing it.

import fs from 'node:fs/promises';
import type { BigIntStats } from 'node:fs';

/** Longer than one kernel timestamp tick at any HZ (100 Hz = 10 ms). */
export const RACY_MS = 20;


function nanos(ns: bigint): string {
  const s = ns / 1_000_000_000n;
  const frac = ns % 1_000_000_000n;
  return `${s}.${frac.toString().padStart(9, '0')}`;
}

/** The identity string of a stat result, exactly as `stat -L -c WAL_IDENTITY_STAT_FORMAT` (postgres/render.ts) prints it. */
export function formatIdentity(st: Pick<BigIntStats, 'dev' | 'ino' | 'size' | 'mtimeNs' | 'ctimeNs'>): string {
  return `${st.dev} ${st.ino} ${st.size} ${nanos(st.mtimeNs)} ${nanos(st.ctimeNs)}`;
}

/** Milliseconds to wait until a file whose ctime is `ctimeNs` may be identified (0: now). */
export function racyWaitMs(ctimeNs: bigint, nowMs: number): number {
  const ageMs = nowMs - Number(ctimeNs / 1_000_000n);
  // A ctime in the future (clock stepped back) never becomes safe by waiting a tick: refuse.
  if (ageMs < -1000) return Infinity;
  return ageMs >= RACY_MS ? 0 : RACY_MS - Math.max(0, ageMs);
}

/** The identity of `file` (following symlinks, as the shell does), waiting out a racy ctime;
 *  null when the file cannot be identified safely (its ctime is in the future). */
export async function takeIdentity(file: string): Promise<string | null> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const st = await fs.stat(file, { bigint: true });
    const wait = racyWaitMs(st.ctimeNs, Date.now());
    if (wait === 0) return formatIdentity(st);
    if (!Number.isFinite(wait)) return null;
    await new Promise((resolve) => setTimeout(resolve, wait + 1));
  }
  return null; // still changing: no identity, the fast path hashes instead
}

/** The identity of `file` now, or null when it is gone. */
export async function currentIdentity(file: string): Promise<string | null> {
  const st = await fs.stat(file, { bigint: true }).catch(() => null);
  return st ? formatIdentity(st) : null;
}
