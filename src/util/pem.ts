// PEM files named in the configuration (certificates, keys, CA bundles), read once per process.

import { readFileSync } from 'node:fs';

const cache = new Map<string, Buffer>();

/** Read a PEM file named by `field` once; a missing or unreadable file is an error naming both. */
export function readPemFile(field: string, file: string): Buffer {
  const cached = cache.get(file);
  if (cached) return cached;
  let data: Buffer;
  try {
    data = readFileSync(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new Error(`${field} ${file}: ${code === 'ENOENT' ? 'not found' : code === 'EACCES' ? 'permission denied' : `cannot be read (${code ?? (error as Error).message})`}`);
  }
  cache.set(file, data);
  return data;
}
