// Zstandard, streaming, without native code (so it runs inside a single executable).
//
// Writing: @hpcc-js/wasm-zstd (zstd 1.5.7 compiled to wasm; the wasm bytes are inlined in its JS).
// Input is cut into 4 MiB pieces, each compressed into its own frame; zstd -d and every other
// decoder read concatenated frames as one stream, and 4 MiB frames lose almost nothing against a
// level-1 window of 512 KiB. Its public compress() copies the result out of wasm memory through a JS
// array, about 25x slower than the compression itself, so we call the same embind functions
// directly on its heap (pinned version; checked at load, see zstdWasm()).
// Reading: frames that declare their content size (ours, and the CLI's for files) of up to
// WASM_FRAME_LIMIT are decoded whole by the same wasm zstd (ZSTD_decompress: ten times fzstd's
// speed, and it verifies frame checksums), one frame at a time: the frame boundaries are found by
// walking block headers here. From the first frame that does not declare its size, or declares more,
// the rest of the stream goes through fzstd, a pure-JS streaming decoder (window up to 32 MiB,
// concatenated and skippable frames, bounded memory; it does not verify checksums, the archive
// checks each object's sha256 anyway).

import { settle, whenLoaded } from './when-loaded.js';
import { Transform, type TransformCallback } from 'node:stream';
import { Decompress } from 'fzstd';
import { ByteQueue } from './byte-queue.js';

const FRAME_INPUT = 4 * 1024 * 1024;
// Level 1: twice as fast as 3 in this wasm build (~180 vs ~90 MB/s per core on pgbench WAL) for a
// ratio of 13.7 instead of 15.5; WAL has to keep up with the database, and pgBackRest's archive-push
// is measured against at this level too (bench/archive-vs-pgbackrest.ts).
export const ZSTD_LEVEL = 1;

interface EmbindZstd {
  compress(dst: number, dstCapacity: number, src: number, srcSize: number, level: number): number;
  decompress(dst: number, dstCapacity: number, src: number, srcSize: number): number;
  compressBound(size: number): number;
  isError(code: number): number | boolean;
  getErrorName(code: number): string;
  version(): string;
}

interface WasmHeap {
  _malloc(size: number): number;
  _free(pointer: number): void;
  HEAPU8: Uint8Array;
}

interface ZstdWasm {
  zstd: EmbindZstd;
  heap: WasmHeap;
  /** Buffers reused by every call: all calls are synchronous, so one set serves every stream. */
  input: number;
  output: number;
  outputCapacity: number;
}

let wasm: ZstdWasm | null = null;
let loading: Promise<ZstdWasm> | null = null;

async function instantiate(): Promise<ZstdWasm> {
  const { Zstd } = await import('@hpcc-js/wasm-zstd');
  const instance = (await Zstd.load()) as unknown as { _zstdClass?: EmbindZstd; _mainModule?: { _module?: WasmHeap } };
  const zstd = instance._zstdClass;
  const heap = instance._mainModule?._module;
  if (typeof zstd?.compress !== 'function' || typeof zstd.decompress !== 'function' || typeof zstd.compressBound !== 'function' || typeof heap?._malloc !== 'function' || !heap.HEAPU8) {
    throw new Error('zstd: @hpcc-js/wasm-zstd changed its internals; install the version pinned in package.json');
  }
  const outputCapacity = zstd.compressBound(FRAME_INPUT);
  return { zstd, heap, input: heap._malloc(FRAME_INPUT), output: heap._malloc(outputCapacity), outputCapacity };
}

function loadZstd(): Promise<ZstdWasm> {
  loading ??= instantiate().then((loaded) => (wasm = loaded));
  return loading;
}

/** One independent zstd frame holding `data` (at most FRAME_INPUT bytes). */
function compressFrame(z: ZstdWasm, data: Buffer): Buffer {
  z.heap.HEAPU8.set(data, z.input);
  const size = z.zstd.compress(z.output, z.outputCapacity, z.input, data.length, ZSTD_LEVEL);
  if (z.zstd.isError(size)) throw new Error(`zstd: compression failed: ${z.zstd.getErrorName(size)}`);
  // HEAPU8 is read again: the heap may have grown (and been replaced) during the call.
  const frame = Buffer.allocUnsafe(size);
  frame.set(z.heap.HEAPU8.subarray(z.output, z.output + size));
  return frame;
}

export class ZstdFrameEncoder extends Transform {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private frames = 0;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    if (this.pendingBytes < FRAME_INPUT) {
      callback();
      return;
    }
    this.withWasm(callback, (z) => {
      while (this.pendingBytes >= FRAME_INPUT) this.writeFrame(z, FRAME_INPUT);
    });
  }

  override _flush(callback: TransformCallback): void {
    this.withWasm(callback, (z) => {
      // An empty input still becomes one (empty) frame: zero bytes are not a zstd stream.
      if (this.pendingBytes > 0 || this.frames === 0) this.writeFrame(z, this.pendingBytes);
    });
  }

  private withWasm(callback: TransformCallback, work: (z: ZstdWasm) => void): void {
    whenLoaded(wasm, loadZstd, callback, (z) => settle(callback, () => work(z)));
  }

  private writeFrame(z: ZstdWasm, n: number): void {
    const all = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingBytes);
    this.pending = all.length > n ? [all.subarray(n)] : [];
    this.pendingBytes -= n;
    this.frames++;
    this.push(compressFrame(z, all.subarray(0, n)));
  }
}

/** Frames that declare at most this many bytes are decoded whole in wasm. */
export const WASM_FRAME_LIMIT = 64 * 1024 * 1024;
const ZSTD_MAGIC = 0xfd2fb528;
const SKIPPABLE_MASK = 0xfffffff0;
const SKIPPABLE_MAGIC = 0x184d2a50;

/** Where the next frame in `q` ends and what it declares: 'more' when its end has not arrived yet,
 *  null when this is not a zstd frame (fzstd then reports the error). Pure: reads, consumes nothing. */
export function scanFrame(q: ByteQueue): 'more' | null | { size: number; contentSize: number | null; skippable: boolean } {
  if (q.length < 4) return 'more';
  const magic = q.peek(4).readUInt32LE(0);
  if (((magic & SKIPPABLE_MASK) >>> 0) === SKIPPABLE_MAGIC) {
    if (q.length < 8) return 'more';
    const size = 8 + q.peek(8).readUInt32LE(4);
    return q.length < size ? 'more' : { size, contentSize: 0, skippable: true };
  }
  if (magic !== ZSTD_MAGIC) return null;
  if (q.length < 5) return 'more';
  const fhd = q.peek(5)[4]!;
  const singleSegment = (fhd >> 5) & 1;
  const fcsFlag = fhd >> 6;
  const dictBytes = [0, 1, 2, 4][fhd & 3]!;
  const fcsBytes = [singleSegment, 2, 4, 8][fcsFlag]!;
  const headerSize = 5 + (singleSegment ? 0 : 1) + dictBytes + fcsBytes;
  if (q.length < headerSize) return 'more';
  const header = q.peek(headerSize);
  let contentSize: number | null = null;
  const at = headerSize - fcsBytes;
  if (fcsBytes === 1) contentSize = header[at]!;
  else if (fcsBytes === 2) contentSize = header.readUInt16LE(at) + 256;
  else if (fcsBytes === 4) contentSize = header.readUInt32LE(at);
  else if (fcsBytes === 8) contentSize = Number(header.readBigUInt64LE(at));
  // Walk the block headers (3 bytes each: last flag, type, size) to the frame's end.
  let offset = headerSize;
  for (;;) {
    if (q.length < offset + 3) return 'more';
    const b = q.peek(offset + 3);
    const word = b[offset]! | (b[offset + 1]! << 8) | (b[offset + 2]! << 16);
    const type = (word >> 1) & 3;
    if (type === 3) return null; // reserved block type: corrupt
    offset += 3 + (type === 1 ? 1 : word >>> 3);
    if (word & 1) break;
  }
  offset += fhd & 4 ? 4 : 0; // content checksum
  return q.length < offset ? 'more' : { size: offset, contentSize, skippable: false };
}

export class ZstdDecoder extends Transform {
  private received = 0;
  private readonly queue = new ByteQueue();
  /** Set once a frame is found that wasm does not decode: fzstd takes the rest of the stream. */
  private fallback: Decompress | null = null;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.received += chunk.length;
    if (this.fallback) {
      this.run(callback, () => this.fallback!.push(chunk, false));
      return;
    }
    this.queue.push(chunk);
    this.withWasm(callback, (z) => this.drain(z, false));
  }

  override _flush(callback: TransformCallback): void {
    if (this.received === 0) {
      callback(new Error('zstd: empty input (a zstd object holds at least one frame)'));
      return;
    }
    if (this.fallback) {
      this.run(callback, () => this.fallback!.push(new Uint8Array(0), true));
      return;
    }
    this.withWasm(callback, (z) => this.drain(z, true));
  }

  private withWasm(callback: TransformCallback, work: (z: ZstdWasm) => void): void {
    whenLoaded(wasm, loadZstd, callback, (z) => this.run(callback, () => work(z)));
  }

  /** Decode every complete frame in the queue; at the end, anything left over is an error. */
  private drain(z: ZstdWasm, end: boolean): void {
    while (this.queue.length > 0) {
      const frame = scanFrame(this.queue);
      if (frame === 'more' && !end) return;
      if (frame === 'more' || frame === null || (!frame.skippable && (frame.contentSize === null || frame.contentSize > WASM_FRAME_LIMIT))) {
        // Not one wasm decodes whole (no declared size, too large, truncated or not zstd at all):
        // fzstd takes it from here, and names the problem if there is one.
        this.fallback = new Decompress((chunk) => {
          if (chunk.length > 0) this.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length));
        });
        const rest = this.queue.take(this.queue.length);
        this.fallback.push(rest, end);
        return;
      }
      const data = this.queue.take(frame.size);
      if (!frame.skippable) {
        const out = decompressFrame(z, data, frame.contentSize!);
        if (out.length > 0) this.push(out);
      }
    }
  }

  private run(callback: TransformCallback, work: () => void): void {
    settle(callback, work, zstdError);
  }
}

/** Reused wasm buffers for decoding, grown on demand. */
let decodeIn = { pointer: 0, capacity: 0 };
let decodeOut = { pointer: 0, capacity: 0 };

function reserve(z: ZstdWasm, buffer: { pointer: number; capacity: number }, size: number): { pointer: number; capacity: number } {
  if (buffer.capacity >= size) return buffer;
  if (buffer.pointer) z.heap._free(buffer.pointer);
  const capacity = Math.max(size, 1 << 20);
  return { pointer: z.heap._malloc(capacity), capacity };
}

function decompressFrame(z: ZstdWasm, frame: Buffer, contentSize: number): Buffer {
  decodeIn = reserve(z, decodeIn, frame.length);
  decodeOut = reserve(z, decodeOut, contentSize);
  z.heap.HEAPU8.set(frame, decodeIn.pointer);
  const size = z.zstd.decompress(decodeOut.pointer, contentSize, decodeIn.pointer, frame.length);
  if (z.zstd.isError(size)) throw new Error(`zstd: ${z.zstd.getErrorName(size)} (corrupt object)`);
  if (size !== contentSize) throw new Error(`zstd: frame declares ${contentSize} bytes but holds ${size} (corrupt object)`);
  const out = Buffer.allocUnsafe(size);
  out.set(z.heap.HEAPU8.subarray(decodeOut.pointer, decodeOut.pointer + size)); // HEAPU8 again: the heap may have grown
  return out;
}

const FZSTD_ERRORS: Record<number, string> = {
  0: 'not zstd data or corrupt',
  1: 'the frame needs a window larger than this decoder supports (written with --long or --ultra?)',
  2: 'invalid block type (corrupt object)',
  3: 'invalid entropy tables (corrupt object)',
  4: 'a match refers before the start of the data (corrupt object)',
  5: 'input ends inside a frame (truncated object?)',
};

function zstdError(error: Error & { code?: number }): Error {
  if (error.message.startsWith('zstd:')) return error;
  const known = error.code !== undefined ? FZSTD_ERRORS[error.code] : undefined;
  return new Error(`zstd: ${known ?? error.message}`);
}
