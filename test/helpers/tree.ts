// A fingerprint of a directory tree (every entry's type, size, mode, mtime, and a hash of each
// file's content), to prove that something left it untouched.

import { createHash } from 'node:crypto';
import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import path from 'node:path';

export interface EntryPrint {
  type: 'file' | 'dir' | 'link' | 'other';
  size: number;
  mode: number;
  mtimeMs: number;
  /** sha256 of a file's content, or a link's target. */
  content?: string;
}

/** relative path → fingerprint of everything under `root` (root itself as ''). `skip` leaves out
 *  entries (and what is under them) by relative path. */
export async function fingerprintTree(root: string, skip: (relative: string) => boolean = () => false): Promise<Map<string, EntryPrint>> {
  const out = new Map<string, EntryPrint>();
  const visit = async (relative: string): Promise<void> => {
    const full = path.join(root, relative);
    const stat = await lstat(full);
    const type = stat.isFile() ? 'file' : stat.isDirectory() ? 'dir' : stat.isSymbolicLink() ? 'link' : 'other';
    const print: EntryPrint = { type, size: stat.size, mode: stat.mode, mtimeMs: stat.mtimeMs };
    if (type === 'file') print.content = createHash('sha256').update(await readFile(full)).digest('hex');
    if (type === 'link') print.content = await readlink(full);
    out.set(relative, print);
    if (type !== 'dir') return;
    for (const name of (await readdir(full)).sort()) {
      const child = relative === '' ? name : path.join(relative, name);
      if (!skip(child)) await visit(child);
    }
  };
  await visit('');
  return out;
}

/** Entries that differ between two fingerprints, as readable lines (empty: identical). */
export function treeDifferences(before: Map<string, EntryPrint>, after: Map<string, EntryPrint>): string[] {
  const lines: string[] = [];
  for (const [name, print] of before) {
    const now = after.get(name);
    if (!now) lines.push(`${name || '.'}: gone`);
    else if (JSON.stringify(now) !== JSON.stringify(print)) lines.push(`${name || '.'}: ${JSON.stringify(print)} -> ${JSON.stringify(now)}`);
  }
  for (const name of after.keys()) if (!before.has(name)) lines.push(`${name}: new`);
  return lines;
}
