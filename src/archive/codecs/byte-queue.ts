// A FIFO of received chunks that frame decoders read fixed-size pieces from, so a header or block
// split across chunk boundaries is reassembled without copying whole chunks around.

export class ByteQueue {
  private chunks: Buffer[] = [];
  /** Bytes of chunks[0] already consumed. */
  private offset = 0;
  length = 0;

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.length += chunk.length;
  }

  /** The first n bytes (n <= length) as one buffer, without consuming them. */
  peek(n: number): Buffer {
    const first = this.chunks[0];
    if (first && first.length - this.offset >= n) return first.subarray(this.offset, this.offset + n);
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    let offset = this.offset;
    for (const chunk of this.chunks) {
      const copied = chunk.copy(out, filled, offset, Math.min(chunk.length, offset + n - filled));
      filled += copied;
      offset = 0;
      if (filled === n) break;
    }
    return out;
  }

  /** Consume and return the first n bytes (n <= length). */
  take(n: number): Buffer {
    const out = this.peek(n);
    this.skip(n);
    return out;
  }

  /** Consume n bytes (n <= length). */
  skip(n: number): void {
    this.length -= n;
    while (n > 0) {
      const first = this.chunks[0]!;
      const available = first.length - this.offset;
      if (available > n) {
        this.offset += n;
        return;
      }
      n -= available;
      this.chunks.shift();
      this.offset = 0;
    }
  }
}
