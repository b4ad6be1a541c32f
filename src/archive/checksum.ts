// sha256 of WAL content: every stored object carries the hex digest of its uncompressed bytes
// (layout.ts META_SHA256), computed on the way out and checked on the way back in.

import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';

const SHA256_HEX = /^[0-9a-f]{64}$/;

export interface Digest {
  /** Lower-case hex sha256. */
  sha256: string;
  /** Bytes hashed. */
  size: number;
}

export function isSha256Hex(value: unknown): value is string {
  return typeof value === 'string' && SHA256_HEX.test(value);
}

export function sha256Hex(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** A pass-through stream that hashes and counts what flows through it; digest() once it ended. */
export class HashingStream extends Transform {
  private readonly hash: Hash = createHash('sha256');
  private bytes = 0;
  private result: Digest | null = null;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    this.result = { sha256: this.hash.digest('hex'), size: this.bytes };
    callback();
  }

  /** The digest of everything that passed; throws when the stream has not ended yet. */
  digest(): Digest {
    if (!this.result) throw new Error('digest() called before the stream ended');
    return this.result;
  }
}

/** A pass-through stream that only counts bytes (compressed sizes for the logs). */
export class CountingStream extends Transform {
  bytes = 0;
  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    callback(null, chunk);
  }
}

/** sha256 and size of a local file, streamed. */
export async function sha256File(file: string): Promise<Digest> {
  const hashing = new HashingStream();
  await pipeline(createReadStream(file, { highWaterMark: 1 << 20 }), hashing, async (source: AsyncIterable<Buffer>) => {
    for await (const chunk of source) void chunk;
  });
  return hashing.digest();
}
