// Small stream helpers for the base backup code: a tap that hashes, counts and inspects bytes on
// their way through, and a stream that fails at its end when a condition says so.

import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

export interface TapOptions {
  /** Called with every chunk before it is passed on; its promise gives backpressure. */
  inspect?: (chunk: Buffer) => void | Promise<void>;
  /** Called when the input ended, before the end is passed on; a throw/rejection fails the stream. */
  atEnd?: () => void | Promise<void>;
  /** Called with the byte count of every chunk (progress). */
  onBytes?: (n: number) => void;
  /** Hash the bytes (sha256). Default true. */
  hash?: boolean;
}

/** A pass-through that hashes (sha256) and counts what flows through it. */
export class TapStream extends Transform {
  bytes = 0;
  private readonly hash: Hash | null;
  private digestHex: string | null = null;

  constructor(private readonly options: TapOptions = {}) {
    super({ highWaterMark: 1 << 20 });
    this.hash = options.hash === false ? null : createHash('sha256');
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.hash?.update(chunk);
    this.bytes += chunk.length;
    this.options.onBytes?.(chunk.length);
    const inspected = this.options.inspect?.(chunk);
    if (inspected && typeof (inspected as Promise<void>).then === 'function') {
      (inspected as Promise<void>).then(() => callback(null, chunk), (err: Error) => callback(err));
    } else {
      callback(null, chunk);
    }
  }

  override _flush(callback: TransformCallback): void {
    if (this.hash) this.digestHex = this.hash.digest('hex');
    Promise.resolve()
      .then(() => this.options.atEnd?.())
      .then(() => callback(), (err: Error) => callback(err));
  }

  /** Hex sha256 of everything that passed; only after the stream ended. */
  get sha256(): string {
    if (this.digestHex === null) throw new Error('sha256 read before the stream ended');
    return this.digestHex;
  }
}
