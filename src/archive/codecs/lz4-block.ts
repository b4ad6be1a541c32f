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

// Encoding one block: the reference's fast strategy (acceleration 1) in plain JavaScript, faster
// than lz4js on WAL (bench/archive-codecs.ts): a 65536-entry hash of 4-byte sequences (Knuth's
// multiplicative hash), 4-byte loads and compares through a DataView, the skip that makes incompressible
// input cheap, backward extension of each match, the position two bytes before a match's end hashed
// and tried at once (runs of matches, the shape of WAL pages), long literals copied with set().
// The block rules of the format hold: the last 5 bytes are literals and no match starts within the
// last 12 bytes, so the reference decoder accepts the block whatever its size.

const HASH_LOG = 16;
const MFLIMIT = 12;
const LAST_LITERALS = 5;
const SKIP_TRIGGER = 6;
const MAX_DISTANCE = 65535;

/** The worst case of compressing n bytes (all literals). */
export function lz4Bound(n: number): number {
  return n + Math.floor(n / 255) + 16;
}

function hash4(sequence: number): number {
  return Math.imul(sequence, 2654435761) >>> (32 - HASH_LOG);
}

/** `table` (Int32Array(1 << 16)) is scratch, reset here. */
export function newLz4HashTable(): Int32Array {
  return new Int32Array(1 << HASH_LOG);
}

/**
 * Compress `src` (one independent block) into `dst` (at least lz4Bound(src.length) bytes).
 * Returns the compressed size; the caller stores the block raw when that is not smaller.
 */
export function encodeLz4Block(src: Uint8Array, dst: Uint8Array, table: Int32Array): number {
  const length = src.length;
  let d = 0;
  let anchor = 0;
  if (length >= MFLIMIT + 1) {
    table.fill(-1);
    const view = new DataView(src.buffer, src.byteOffset, src.byteLength);
    const mflimit = length - MFLIMIT;
    const matchLimit = length - LAST_LITERALS;
    let ip = 0;
    table[hash4(view.getUint32(0, true))] = 0;
    ip = 1;
    outer: for (;;) {
      // Find a match.
      let ref: number;
      let searched = 1 << SKIP_TRIGGER;
      for (;;) {
        if (ip > mflimit) break outer;
        const sequence = view.getUint32(ip, true);
        const h = hash4(sequence);
        ref = table[h]!;
        table[h] = ip;
        if (ref >= 0 && ip - ref <= MAX_DISTANCE && view.getUint32(ref, true) === sequence) break;
        ip += searched++ >> SKIP_TRIGGER;
      }
      // Extend it backwards over the pending literals.
      while (ip > anchor && ref > 0 && src[ip - 1] === src[ref - 1]) {
        ip--;
        ref--;
      }
      for (;;) {
        // Forwards, past the 4 bytes known to match.
        let end = ip + 4;
        let from = ref + 4;
        const wordLimit = matchLimit - 4;
        while (end <= wordLimit) {
          const diff = view.getUint32(end, true) ^ view.getUint32(from, true);
          if (diff !== 0) {
            end += (31 - Math.clz32(diff & -diff)) >>> 3; // the first differing byte (little-endian)
            from = -1;
            break;
          }
          end += 4;
          from += 4;
        }
        if (from >= 0) {
          while (end < matchLimit && src[end] === src[from]) {
            end++;
            from++;
          }
        }
        d = writeSequence(src, dst, d, anchor, ip, ip - ref, end - ip - 4);
        ip = end;
        anchor = ip;
        if (ip > mflimit) break outer;
        table[hash4(view.getUint32(ip - 2, true))] = ip - 2;
        // A match right here continues without literals.
        const sequence = view.getUint32(ip, true);
        const h = hash4(sequence);
        ref = table[h]!;
        table[h] = ip;
        if (!(ref >= 0 && ip - ref <= MAX_DISTANCE && view.getUint32(ref, true) === sequence)) break;
      }
      ip++;
    }
  }
  // The last literals.
  return writeLiterals(src, dst, d, anchor, length);
}

/** Token, literals src[anchor, ip), offset and match length (beyond the minimum 4). */
function writeSequence(src: Uint8Array, dst: Uint8Array, d: number, anchor: number, ip: number, offset: number, matchLength: number): number {
  const literals = ip - anchor;
  const tokenAt = d++;
  let token = (literals >= 15 ? 15 : literals) << 4;
  if (literals >= 15) {
    let n = literals - 15;
    for (; n >= 255; n -= 255) dst[d++] = 255;
    dst[d++] = n;
  }
  if (literals < 16) for (let i = anchor; i < ip; i++) dst[d++] = src[i]!;
  else {
    dst.set(src.subarray(anchor, ip), d);
    d += literals;
  }
  dst[d++] = offset & 0xff;
  dst[d++] = offset >>> 8;
  if (matchLength >= 15) {
    token |= 15;
    let n = matchLength - 15;
    for (; n >= 255; n -= 255) dst[d++] = 255;
    dst[d++] = n;
  } else {
    token |= matchLength;
  }
  dst[tokenAt] = token;
  return d;
}

function writeLiterals(src: Uint8Array, dst: Uint8Array, d: number, anchor: number, end: number): number {
  const literals = end - anchor;
  if (literals >= 15) {
    dst[d++] = 15 << 4;
    let n = literals - 15;
    for (; n >= 255; n -= 255) dst[d++] = 255;
    dst[d++] = n;
  } else {
    dst[d++] = literals << 4;
  }
  dst.set(src.subarray(anchor, end), d);
  return d + literals;
}
