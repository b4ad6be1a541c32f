// The chaos cluster's WAL archive on a small filesystem of its own (tmpfs of a fixed size), so the
// "archive disk full" fault can fill it for real: wal-push then hits ENOSPC as it would on a full
// NFS share or disk. Mounting needs root, as the rest of the suite (PostgreSQL runs as postgres).

import { execFile } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { resolvePgUser } from '../../src/postgres/exec.js';

const run = promisify(execFile);

export class ArchiveDisk {
  private mounted = false;

  private constructor(readonly dir: string) {}

  /** A tmpfs of `sizeMb` at `dir`, owned by PostgreSQL's OS user (wal-push runs as that user). */
  static async mount(dir: string, sizeMb: number): Promise<ArchiveDisk> {
    if (process.getuid?.() !== 0) throw new Error('the chaos suite mounts a tmpfs for the WAL archive and needs root');
    const user = await resolvePgUser(null);
    mkdirSync(dir, { recursive: true });
    const disk = new ArchiveDisk(dir);
    await run('mount', ['-t', 'tmpfs', '-o', `size=${sizeMb}m,mode=0700,uid=${user.uid},gid=${user.gid}`, 'tmpfs', dir]);
    disk.mounted = true;
    return disk;
  }

  get url(): string {
    return `file://${this.dir}`;
  }

  private get filler(): string {
    return path.join(this.dir, 'chaos-filler');
  }

  /** Write a file until the filesystem is full (1 MiB, then 4 KiB pieces): bytes written. */
  async fill(): Promise<number> {
    const handle = await fs.open(this.filler, 'w');
    let written = 0;
    try {
      for (const size of [1 << 20, 4096]) {
        const chunk = Buffer.alloc(size, 0x5a);
        while (true) {
          try {
            const { bytesWritten } = await handle.write(chunk);
            written += bytesWritten;
            if (bytesWritten < size) break;
          } catch (error) {
            if ((error as NodeJS.ErrnoException).code === 'ENOSPC') break;
            throw error;
          }
        }
      }
    } finally {
      await handle.close();
    }
    return written;
  }

  async free(): Promise<void> {
    await fs.rm(this.filler, { force: true });
  }

  /** Bytes in use and total, as df sees them. */
  async usage(): Promise<{ used: number; size: number }> {
    const stat = await fs.statfs(this.dir);
    return { used: (stat.blocks - stat.bfree) * stat.bsize, size: stat.blocks * stat.bsize };
  }

  /** File names in the archive's wal/ directory (none yet: empty). */
  async walFiles(): Promise<string[]> {
    try {
      return await fs.readdir(path.join(this.dir, 'wal'));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
  }

  /** Unmount (lazily if something still holds it) and remove the mount point. */
  async unmount(): Promise<void> {
    if (this.mounted) {
      try {
        await run('umount', [this.dir]);
      } catch {
        await run('umount', ['-l', this.dir]);
      }
      this.mounted = false;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
