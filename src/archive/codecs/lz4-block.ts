// Decoding one LZ4 block (https://github.com/lz4/lz4/blob/dev/doc/lz4_Block_format.md).
// lz4js's decompressBlock checks nothing: a corrupt block reads past its input and writes past its
// output without a sound (typed arrays drop such writes), which only a content checksum, when
// the frame has one, would notice. This decoder stops at the first inconsistency, and copies long
// literals and matches with set/copyWithin instead of byte by byte (about twice as fast on WAL).

const MIN_MATCH = 4;

/**
 * Decode `src` (exactly one block) into `dst` starting at `start`; bytes before `start` are the
 * history matches may refer to. Returns the end index in dst, or -1 when the block is corrupt
 * (truncated sequence, match before the history, output beyond `limit`).
 */
export function decodeLz4Block(src: Uint8Array, dst: Uint8Array, start: number, limit: number): number {
  const end = src.length;
  let s = 0;
  let d = start;
  while (s < end) {
    const token = src[s++]!;
    let literals = token >>> 4;
    if (literals === 15) {
      let more: number;
      do {
        if (s >= end) return -1;
        more = src[s++]!;
        literals += more;
      } while (more === 255);
    }
    if (literals > 0) {
      if (s + literals > end || d + literals > limit) return -1;
      if (literals < 16) for (let i = 0; i < literals; i++) dst[d++] = src[s++]!;
      else {
        dst.set(src.subarray(s, s + literals), d);
        d += literals;
        s += literals;
      }
    }
    if (s === end) return d; // the last sequence has literals only
    if (s + 2 > end) return -1;
    const offset = src[s]! | (src[s + 1]! << 8);
    s += 2;
    let length = token & 15;
    if (length === 15) {
      let more: number;
      do {
        if (s >= end) return -1;
        more = src[s++]!;
        length += more;
      } while (more === 255);
    }
    length += MIN_MATCH;
    let from = d - offset;
    if (offset === 0 || from < 0 || d + length > limit) return -1;
    if (offset >= length) {
      dst.copyWithin(d, from, from + length);
      d += length;
    } else if (offset === 1) {
      dst.fill(dst[from]!, d, d + length);
      d += length;
    } else {
      // Overlapping: the match repeats the last `offset` bytes, so it must grow byte by byte.
      const stop = d + length;
      while (d < stop) dst[d++] = dst[from++]!;
    }
  }
  return d;
}
