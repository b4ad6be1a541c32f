// LZ4 frame format (https://github.com/lz4/lz4/blob/dev/doc/lz4_Frame_format.md), streaming, in
// plain JavaScript: the `lz4` command line tool reads what we write and we read what it writes.
//
// Why this file exists: no npm package offers a streaming LZ4 *frame* codec that also runs inside
// a single executable (native addons cannot load there, and the wasm builds read .wasm files from
// node_modules), and the pure-JS block compressors are slow (lz4js: ~200 MB/s on WAL; the one wasm
// build measured, lz4-wasm-nodejs, no faster). lz4-block.ts encodes and decodes blocks;
// xxhash-wasm (its wasm bytes are inlined in its JS) supplies XXH32 for the header, block and
// content checksums. What remains here is the framing: a header, size-prefixed blocks, an end mark
// and a checksum.
//
// Writing: blocks are independent (no back-references across blocks, so each is compressed with
// a fresh hash table) and at most 1 MiB, in frames that declare 4 MiB blocks.
// Reading: any frame the CLI writes (linked or independent blocks, optional block/content
// checksums and content size, 64 KiB-4 MiB blocks), concatenated frames, skippable frames.
// Memory: one block of input plus 64 KiB of history.

import { Transform, type TransformCallback } from 'node:stream';
import xxhash, { type XXHashAPI } from 'xxhash-wasm';
import { ByteQueue } from './byte-queue.js';
import { settle, whenLoaded } from './when-loaded.js';
import { decodeLz4Block, encodeLz4Block, lz4Bound, newLz4HashTable } from './lz4-block.js';

const MAGIC = 0x184d2204;
const LEGACY_MAGIC = 0x184c2102;
const SKIPPABLE_MASK = 0xfffffff0;
const SKIPPABLE_MAGIC = 0x184d2a50;
const UNCOMPRESSED_BIT = 0x80000000;
const HISTORY = 64 * 1024;
const BLOCK_SIZES: Record<number, number> = { 4: 64 * 1024, 5: 256 * 1024, 6: 1024 * 1024, 7: 4 * 1024 * 1024 };

const WRITE_BLOCK_ID = 7;
const WRITE_BLOCK_SIZE = 1024 * 1024;
// FLG: version 01, independent blocks, content checksum; no block checksum, size or dictionary.
const WRITE_FLG = 0b0110_0100;

let xxhashApi: XXHashAPI | null = null;
let xxhashLoading: Promise<XXHashAPI> | null = null;

function loadXxhash(): Promise<XXHashAPI> {
  xxhashLoading ??= xxhash().then((api) => (xxhashApi = api));
  return xxhashLoading;
}

/** Run `work` once xxhash is instantiated (synchronously when it already is). */
function withXxhash(callback: TransformCallback, work: (api: XXHashAPI) => void): void {
  whenLoaded(xxhashApi, loadXxhash, callback, (api) => settle(callback, () => work(api)));
}

function headerChecksum(api: XXHashAPI, descriptor: Uint8Array): number {
  return (api.h32Raw(descriptor, 0) >>> 8) & 0xff;
}

export class Lz4FrameEncoder extends Transform {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private started = false;
  private hashTable = newLz4HashTable();
  private scratch = Buffer.alloc(0);
  private content: ReturnType<XXHashAPI['create32']> | null = null;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    withXxhash(callback, (api) => {
      this.start(api);
      this.content!.update(chunk);
      this.pending.push(chunk);
      this.pendingBytes += chunk.length;
      while (this.pendingBytes >= WRITE_BLOCK_SIZE) this.writeBlock(this.takePending(WRITE_BLOCK_SIZE));
    });
  }

  override _flush(callback: TransformCallback): void {
    withXxhash(callback, (api) => {
      this.start(api);
      if (this.pendingBytes > 0) this.writeBlock(this.takePending(this.pendingBytes));
      const end = Buffer.alloc(8);
      end.writeUInt32LE(this.content!.digest() >>> 0, 4); // after the 0 end mark
      this.push(end);
    });
  }

  private start(api: XXHashAPI): void {
    if (this.started) return;
    this.started = true;
    this.content = api.create32(0);
    const header = Buffer.alloc(7);
    header.writeUInt32LE(MAGIC, 0);
    header[4] = WRITE_FLG;
    header[5] = WRITE_BLOCK_ID << 4;
    header[6] = headerChecksum(api, header.subarray(4, 6));
    this.push(header);
  }

  private takePending(n: number): Buffer {
    const all = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingBytes);
    this.pending = all.length > n ? [all.subarray(n)] : [];
    this.pendingBytes -= n;
    return all.subarray(0, n);
  }

  private writeBlock(block: Buffer): void {
    // One scratch buffer for every block, and a copy of just the compressed bytes pushed: a fresh
    // 1 MiB buffer per block cost more in first-touch page faults than the copy (see SegmentBuffers).
    if (this.scratch.length < 4 + lz4Bound(block.length)) this.scratch = Buffer.allocUnsafeSlow(4 + lz4Bound(block.length));
    const out = this.scratch;
    const size = encodeLz4Block(block, out.subarray(4), this.hashTable);
    if (size >= block.length) {
      // Incompressible: store it as it is.
      const raw = Buffer.allocUnsafe(4);
      raw.writeUInt32LE((UNCOMPRESSED_BIT | block.length) >>> 0, 0);
      this.push(raw);
      this.push(block);
      return;
    }
    out.writeUInt32LE(size, 0);
    this.push(Buffer.from(out.subarray(0, 4 + size)));
  }
}

interface FrameInfo {
  blockChecksum: boolean;
  contentChecksum: boolean;
  contentSize: bigint | null;
  maxBlockSize: number;
}

type State = 'magic' | 'skip' | 'header' | 'block' | 'checksum';

export class Lz4FrameDecoder extends Transform {
  private queue = new ByteQueue();
  private state: State = 'magic';
  private frame: FrameInfo | null = null;
  private frames = 0;
  private received = 0;
  private skipRemaining = 0;
  private decoded = 0n;
  private content: ReturnType<XXHashAPI['create32']> | null = null;
  /** History (the previous 64 KiB of output) followed by room for one block. */
  private window = new Uint8Array(0);
  private historyLength = 0;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.received += chunk.length;
    this.queue.push(chunk);
    withXxhash(callback, (api) => this.drain(api));
  }

  override _flush(callback: TransformCallback): void {
    withXxhash(callback, (api) => {
      this.drain(api);
      if (this.received === 0) throw new Error('lz4: empty input (an lz4 object holds at least one frame)');
      if (this.state !== 'magic' || this.queue.length > 0) {
        throw new Error(`lz4: input ends inside a frame (${this.queue.length} bytes left over; truncated object?)`);
      }
      if (this.frames === 0) throw new Error('lz4: no lz4 frame in the input (only skippable frames)');
    });
  }

  private drain(api: XXHashAPI): void {
    for (;;) {
      switch (this.state) {
        case 'magic': {
          if (this.queue.length < 4) return;
          const magic = this.queue.peek(4).readUInt32LE(0);
          if (magic === MAGIC) {
            this.queue.skip(4);
            this.state = 'header';
          } else if (((magic & SKIPPABLE_MASK) >>> 0) === SKIPPABLE_MAGIC) {
            if (this.queue.length < 8) return;
            this.skipRemaining = this.queue.take(8).readUInt32LE(4);
            this.state = 'skip';
          } else if (magic === LEGACY_MAGIC) {
            throw new Error('lz4: legacy frame format (lz4 -l) is not supported; recompress without -l');
          } else {
            const what = this.frames === 0 ? 'not lz4 data' : 'garbage after the last frame';
            throw new Error(`lz4: ${what} (magic number 0x${magic.toString(16).padStart(8, '0')}); the object may be corrupt or use another codec`);
          }
          break;
        }
        case 'skip': {
          const n = Math.min(this.skipRemaining, this.queue.length);
          this.queue.skip(n);
          this.skipRemaining -= n;
          if (this.skipRemaining > 0) return;
          this.state = 'magic';
          break;
        }
        case 'header':
          if (!this.readHeader(api)) return;
          break;
        case 'block':
          if (!this.readBlock(api)) return;
          break;
        case 'checksum': {
          if (this.queue.length < 4) return;
          const expected = this.queue.take(4).readUInt32LE(0);
          if ((this.content!.digest() >>> 0) !== expected) throw new Error('lz4: content checksum mismatch (corrupt object)');
          this.endFrame();
          break;
        }
      }
    }
  }

  private readHeader(api: XXHashAPI): boolean {
    if (this.queue.length < 2) return false;
    const [flg, bd] = this.queue.peek(2);
    const length = 2 + (flg! & 0x08 ? 8 : 0) + (flg! & 0x01 ? 4 : 0) + 1;
    if (this.queue.length < length) return false;
    const header = this.queue.take(length);
    if (flg! >> 6 !== 0b01) throw new Error(`lz4: unsupported frame version ${flg! >> 6} (corrupt object?)`);
    if (flg! & 0x02 || bd! & 0x8f) throw new Error('lz4: reserved frame header bits are set (corrupt object?)');
    if (headerChecksum(api, header.subarray(0, length - 1)) !== header[length - 1]) {
      throw new Error('lz4: frame header checksum mismatch (corrupt object)');
    }
    if (flg! & 0x01) throw new Error('lz4: frames that need a dictionary are not supported');
    const maxBlockSize = BLOCK_SIZES[(bd! >> 4) & 0x07];
    if (maxBlockSize === undefined) throw new Error(`lz4: invalid block size id ${(bd! >> 4) & 0x07} (corrupt object?)`);
    this.frame = {
      blockChecksum: (flg! & 0x10) !== 0,
      contentChecksum: (flg! & 0x04) !== 0,
      contentSize: flg! & 0x08 ? header.readBigUInt64LE(2) : null,
      maxBlockSize,
    };
    if (this.window.length < HISTORY + maxBlockSize) this.window = new Uint8Array(HISTORY + maxBlockSize);
    this.historyLength = 0;
    this.decoded = 0n;
    this.content = this.frame.contentChecksum ? api.create32(0) : null;
    this.state = 'block';
    return true;
  }

  private readBlock(api: XXHashAPI): boolean {
    const frame = this.frame!;
    if (this.queue.length < 4) return false;
    const word = this.queue.peek(4).readUInt32LE(0);
    if (word === 0) {
      this.queue.skip(4);
      if (frame.contentSize !== null && frame.contentSize !== this.decoded) {
        throw new Error(`lz4: frame declares ${frame.contentSize} bytes but holds ${this.decoded} (corrupt object)`);
      }
      if (frame.contentChecksum) this.state = 'checksum';
      else this.endFrame();
      return true;
    }
    const size = word & ~UNCOMPRESSED_BIT;
    if (size > frame.maxBlockSize) throw new Error(`lz4: block of ${size} bytes exceeds the frame's ${frame.maxBlockSize} (corrupt object)`);
    const needed = 4 + size + (frame.blockChecksum ? 4 : 0);
    if (this.queue.length < needed) return false;
    this.queue.skip(4);
    const data = this.queue.take(size);
    if (frame.blockChecksum && (api.h32Raw(data, 0) >>> 0) !== this.queue.take(4).readUInt32LE(0)) {
      throw new Error('lz4: block checksum mismatch (corrupt object)');
    }
    // Stored blocks are passed on as they are: ByteQueue hands out views of chunks nobody reuses.
    const output = (word & UNCOMPRESSED_BIT) !== 0 ? data : this.decodeBlock(data, frame.maxBlockSize);
    this.keepHistory(output);
    this.decoded += BigInt(output.length);
    this.content?.update(output);
    this.push(output);
    return true;
  }

  private decodeBlock(data: Buffer, maxBlockSize: number): Buffer {
    const start = this.historyLength;
    const end = decodeLz4Block(data, this.window, start, start + maxBlockSize);
    if (end < 0) throw new Error('lz4: corrupt block (it refers outside its data or decodes past the frame\'s block size)');
    const output = Buffer.allocUnsafe(end - start); // not Buffer.from: that zero-fills first
    output.set(this.window.subarray(start, end));
    return output;
  }

  /** Linked blocks may refer up to 64 KiB back into earlier blocks' output. */
  private keepHistory(output: Buffer): void {
    if (output.length >= HISTORY) {
      this.window.set(output.subarray(output.length - HISTORY), 0);
      this.historyLength = HISTORY;
      return;
    }
    const keep = Math.min(this.historyLength, HISTORY - output.length);
    this.window.copyWithin(0, this.historyLength - keep, this.historyLength);
    this.window.set(output, keep);
    this.historyLength = keep + output.length;
  }

  private endFrame(): void {
    this.frames++;
    this.frame = null;
    this.content = null;
    this.state = 'magic';
  }
}
