// Durability helper shared by everything that renames files into place.

import fs from 'node:fs/promises';

/** fsync a directory, so that a rename or a new entry in it survives a crash. */
export async function fsyncDirectory(dir: string): Promise<void> {
  const handle = await fs.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
