// Zstandard, streaming, without native code (so it runs inside a single executable).
//
// Writing: @hpcc-js/wasm-zstd (zstd 1.5.7 compiled to wasm; the wasm bytes are inlined in its JS).
// Input is cut into 4 MiB pieces, each compressed into its own frame; zstd -d and every other
// decoder read concatenated frames as one stream, and 4 MiB frames lose almost nothing against a
// level-1 window of 512 KiB. Its public compress() copies the result out of wasm memory through a JS
// array, about 25x slower than the compression itself, so we call the same embind functions
// directly on its heap (pinned version; checked at load, see zstdWasm()).
// Reading: fzstd, a pure-JS streaming decoder: any frames the CLI writes (window up to 32 MiB),
// concatenated and skippable frames, in bounded memory. It does not verify frame checksums; the
// archive verifies each object's sha256 instead.

import { Transform, type TransformCallback } from 'node:stream';
import { Decompress } from 'fzstd';

const FRAME_INPUT = 4 * 1024 * 1024;
// Level 1: twice as fast as 3 in this wasm build (~180 vs ~90 MB/s per core on pgbench WAL) for a
// ratio of 13.7 instead of 15.5; WAL has to keep up with the database, and pgBackRest's archive-push
// is measured against at this level too (bench/archive-vs-pgbackrest.ts).
export const ZSTD_LEVEL = 1;

interface EmbindZstd {
  compress(dst: number, dstCapacity: number, src: number, srcSize: number, level: number): number;
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
  if (typeof zstd?.compress !== 'function' || typeof zstd.compressBound !== 'function' || typeof heap?._malloc !== 'function' || !heap.HEAPU8) {
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
    const run = (z: ZstdWasm) => {
      try {
        work(z);
      } catch (error) {
        callback(error as Error);
        return;
      }
      callback();
    };
    if (wasm) run(wasm);
    else loadZstd().then(run, (error: Error) => callback(error));
  }

  private writeFrame(z: ZstdWasm, n: number): void {
    const all = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingBytes);
    this.pending = all.length > n ? [all.subarray(n)] : [];
    this.pendingBytes -= n;
    this.frames++;
    this.push(compressFrame(z, all.subarray(0, n)));
  }
}

export class ZstdDecoder extends Transform {
  private received = 0;
  private readonly decoder = new Decompress((chunk) => {
    if (chunk.length > 0) this.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length));
  });

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.received += chunk.length;
    this.run(callback, () => this.decoder.push(chunk, false));
  }

  override _flush(callback: TransformCallback): void {
    this.run(callback, () => {
      if (this.received === 0) throw new Error('empty input (a zstd object holds at least one frame)');
      this.decoder.push(new Uint8Array(0), true);
    });
  }

  private run(callback: TransformCallback, work: () => void): void {
    try {
      work();
    } catch (error) {
      callback(zstdError(error as Error & { code?: number }));
      return;
    }
    callback();
  }
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
