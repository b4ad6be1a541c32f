// The codecs objects are stored with, as streams: compressStream(method) / decompressStream(method).
// Every codec writes its standard format, so an object can be inspected or restored by hand with
// lz4 -d, zstd -d, brotli -d or gunzip; and every codec streams in bounded memory (a block or frame
// at a time), so a base backup of any size passes through without being held.
//
//   lz4     the default: a few hundred MB/s each way in plain JS, more than the network to S3
//           carries (codecs/lz4.ts: LZ4 frames of blocks from lz4-block.ts; bench/archive-codecs.ts measures)
//   zstd    about twice lz4's ratio on WAL at level 1 (codecs/zstd.ts: wasm zstd both ways, fzstd for
//           frames that do not declare their size)
//   brotli  node:zlib at quality 5: brotli's default (11) manages ~1 MB/s, which no WAL stream can
//           wait for; 4-5 is where it still compresses tens of MB/s with a gzip -9 or better ratio
//   gzip    node:zlib, default level 6
//   none    pass-through
//
// None of them uses a native addon or reads files at run time, so they work unchanged inside a
// single-executable build.

import { PassThrough, Readable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import type { CompressionMethod } from './types.js';
import { Lz4FrameDecoder, Lz4FrameEncoder } from './codecs/lz4.js';
import { ZstdDecoder, ZstdFrameEncoder } from './codecs/zstd.js';

export const BROTLI_QUALITY = 5;

/** A transform that compresses its input into `method`'s standard format. */
export function compressStream(method: CompressionMethod): Transform {
  switch (method) {
    case 'lz4':
      return new Lz4FrameEncoder();
    case 'zstd':
      return new ZstdFrameEncoder();
    case 'brotli':
      return zlib.createBrotliCompress({
        params: {
          [zlib.constants.BROTLI_PARAM_QUALITY]: BROTLI_QUALITY,
          [zlib.constants.BROTLI_PARAM_MODE]: zlib.constants.BROTLI_MODE_GENERIC,
        },
      });
    case 'gzip':
      return zlib.createGzip();
    case 'none':
      return new PassThrough();
    default:
      throw new Error(`unknown compression method ${JSON.stringify(method)}`);
  }
}

/** A transform that decompresses `method`'s format; corrupt or truncated input fails the stream
 *  (lz4 and zstd errors start with the codec's name, zlib's are its own: "unexpected end of file"). */
export function decompressStream(method: CompressionMethod): Transform {
  switch (method) {
    case 'lz4':
      return new Lz4FrameDecoder();
    case 'zstd':
      return new ZstdDecoder();
    case 'brotli':
      return zlib.createBrotliDecompress();
    case 'gzip':
      return zlib.createGunzip();
    case 'none':
      return new PassThrough();
    default:
      throw new Error(`unknown compression method ${JSON.stringify(method)}`);
  }
}

async function collect(input: Buffer, transform: Transform): Promise<Buffer> {
  const chunks: Buffer[] = [];
  await pipeline(Readable.from([input], { objectMode: false }), transform, async (source: AsyncIterable<Buffer>) => {
    for await (const chunk of source) chunks.push(chunk);
  });
  return Buffer.concat(chunks);
}

/** Compress a whole buffer (a WAL segment, a sentinel). */
export function compressBuffer(method: CompressionMethod, data: Buffer): Promise<Buffer> {
  return collect(data, compressStream(method));
}

/** Decompress a whole buffer. */
export function decompressBuffer(method: CompressionMethod, data: Buffer): Promise<Buffer> {
  return collect(data, decompressStream(method));
}
