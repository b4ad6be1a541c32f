// A small streaming tar reader: enough for what pg_basebackup writes (ustar, with GNU long names
// and pax path records tolerated). It never buffers an entry's content: data is handed to the
// entry's sink as it arrives, and the sink's promises give backpressure.

import { Writable } from 'node:stream';

export const TAR_BLOCK = 512;

export type TarEntryType = 'file' | 'directory' | 'symlink' | 'hardlink' | 'other';

export interface TarHeader {
  /** Path inside the archive (prefix and long-name records applied), without a trailing slash. */
  name: string;
  type: TarEntryType;
  /** The raw typeflag character ('0', '5', ...). */
  typeflag: string;
  size: number;
  mode: number;
  mtime: number;
  linkname: string;
}

export interface TarEntrySink {
  write(chunk: Buffer): void | Promise<void>;
  end(): void | Promise<void>;
}

/** Called once per entry; return a sink to receive its content, or null to skip it. */
export type TarEntryHandler = (header: TarHeader) => TarEntrySink | null | Promise<TarEntrySink | null>;

export class TarFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TarFormatError';
  }
}

function cString(block: Buffer, start: number, length: number): string {
  const slice = block.subarray(start, start + length);
  const nul = slice.indexOf(0);
  return (nul === -1 ? slice : slice.subarray(0, nul)).toString('utf8');
}

/** An octal numeric field, or GNU base-256 when the high bit of the first byte is set. */
export function parseNumericField(block: Buffer, start: number, length: number): number {
  const field = block.subarray(start, start + length);
  if (field[0]! & 0x80) {
    let value = 0;
    for (let i = 1; i < field.length; i++) value = value * 256 + field[i]!;
    // The first byte's low 7 bits are the most significant part.
    value += (field[0]! & 0x7f) * 256 ** (field.length - 1);
    if (!Number.isSafeInteger(value)) throw new TarFormatError('tar numeric field too large');
    return value;
  }
  const text = cString(block, start, length).trim();
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) throw new TarFormatError(`malformed tar numeric field ${JSON.stringify(text)}`);
  return parseInt(text, 8);
}

function headerChecksumOk(block: Buffer): boolean {
  const stored = parseNumericField(block, 148, 8);
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < TAR_BLOCK; i++) {
    const byte = i >= 148 && i < 156 ? 0x20 : block[i]!;
    unsigned += byte;
    signed += byte > 127 ? byte - 256 : byte;
  }
  return stored === unsigned || stored === signed;
}

function isZeroBlock(block: Buffer): boolean {
  for (let i = 0; i < TAR_BLOCK; i++) if (block[i] !== 0) return false;
  return true;
}

const TYPES: Record<string, TarEntryType> = { '0': 'file', '\0': 'file', '7': 'file', '5': 'directory', '2': 'symlink', '1': 'hardlink' };

/** Parse one 512-byte header block (the checksum is verified). */
export function parseTarHeader(block: Buffer): TarHeader {
  if (block.length !== TAR_BLOCK) throw new TarFormatError('short tar header');
  if (!headerChecksumOk(block)) throw new TarFormatError('tar header checksum mismatch');
  let name = cString(block, 0, 100);
  const magic = block.subarray(257, 262).toString('latin1');
  if (magic === 'ustar') {
    const prefix = cString(block, 345, 155);
    if (prefix) name = `${prefix}/${name}`;
  }
  const typeflag = String.fromCharCode(block[156]!);
  return {
    name: name.replace(/\/+$/, ''),
    type: TYPES[typeflag] ?? 'other',
    typeflag,
    size: parseNumericField(block, 124, 12),
    mode: parseNumericField(block, 100, 8) & 0o7777,
    mtime: parseNumericField(block, 136, 12),
    linkname: cString(block, 157, 100),
  };
}

/** The `path` record of a pax extended header, if any. */
export function paxPath(data: Buffer): string | null {
  let pos = 0;
  let path: string | null = null;
  while (pos < data.length) {
    const space = data.indexOf(0x20, pos);
    if (space === -1) break;
    const length = Number(data.subarray(pos, space).toString('latin1'));
    if (!Number.isInteger(length) || length <= 0 || pos + length > data.length) throw new TarFormatError('malformed pax record');
    const record = data.subarray(space + 1, pos + length - 1).toString('utf8');
    const eq = record.indexOf('=');
    if (eq > 0 && record.slice(0, eq) === 'path') path = record.slice(eq + 1);
    pos += length;
  }
  return path;
}

/** A push parser: feed chunks with push() (await each), then end(). */
export class TarReader {
  private header = Buffer.alloc(TAR_BLOCK);
  private headerFill = 0;
  /** Content bytes left in the current entry. */
  private remaining = 0;
  /** Padding bytes left after the current entry's content. */
  private padding = 0;
  private sink: TarEntrySink | null = null;
  /** Collects the content of a long-name or pax record. */
  private meta: { kind: 'longname' | 'pax'; chunks: Buffer[] } | null = null;
  private nextName: string | null = null;
  private finished = false;
  private inEntry = false;
  /** Bytes consumed so far (for error messages). */
  offset = 0;
  entries = 0;

  constructor(private readonly onEntry: TarEntryHandler) {}

  /** True once the end-of-archive marker was read. */
  get complete(): boolean {
    return this.finished;
  }

  async push(chunk: Buffer): Promise<void> {
    let pos = 0;
    while (pos < chunk.length) {
      if (this.finished) {
        // Anything after the end-of-archive marker must be zero padding.
        for (let i = pos; i < chunk.length; i++) {
          if (chunk[i] !== 0) throw new TarFormatError(`data after the end-of-archive marker at offset ${this.offset + i - pos}`);
        }
        this.offset += chunk.length - pos;
        return;
      }
      if (this.remaining > 0) {
        const n = Math.min(this.remaining, chunk.length - pos);
        const part = chunk.subarray(pos, pos + n);
        if (this.meta) this.meta.chunks.push(Buffer.from(part));
        else if (this.sink) await this.sink.write(part);
        this.remaining -= n;
        pos += n;
        this.offset += n;
        if (this.remaining === 0) await this.endEntry();
        continue;
      }
      if (this.padding > 0) {
        const n = Math.min(this.padding, chunk.length - pos);
        this.padding -= n;
        pos += n;
        this.offset += n;
        continue;
      }
      const n = Math.min(TAR_BLOCK - this.headerFill, chunk.length - pos);
      chunk.copy(this.header, this.headerFill, pos, pos + n);
      this.headerFill += n;
      pos += n;
      this.offset += n;
      if (this.headerFill === TAR_BLOCK) {
        this.headerFill = 0;
        await this.startEntry(this.header);
      }
    }
  }

  private async startEntry(block: Buffer): Promise<void> {
    if (isZeroBlock(block)) {
      // One zero block ends the archive (GNU tar writes two; the second is then padding).
      this.finished = true;
      return;
    }
    let header: TarHeader;
    try {
      header = parseTarHeader(block);
    } catch (err) {
      throw new TarFormatError(`${(err as Error).message} at offset ${this.offset - TAR_BLOCK}`);
    }
    this.remaining = header.size;
    this.padding = (TAR_BLOCK - (header.size % TAR_BLOCK)) % TAR_BLOCK;
    if (header.typeflag === 'L' || header.typeflag === 'x') {
      if (header.size > 1024 * 1024) throw new TarFormatError('oversized tar extended header');
      this.meta = { kind: header.typeflag === 'L' ? 'longname' : 'pax', chunks: [] };
      this.inEntry = true;
      if (this.remaining === 0) await this.endEntry();
      return;
    }
    if (header.typeflag === 'g') {
      this.sink = null;
      this.inEntry = true;
      if (this.remaining === 0) await this.endEntry();
      return;
    }
    if (this.nextName !== null) {
      header.name = this.nextName.replace(/\/+$/, '');
      this.nextName = null;
    }
    // Only regular files carry content; a size on anything else is skipped.
    this.entries++;
    this.sink = await this.onEntry(header);
    this.inEntry = true;
    if (this.remaining === 0) await this.endEntry();
  }

  private async endEntry(): Promise<void> {
    this.inEntry = false;
    if (this.meta) {
      const data = Buffer.concat(this.meta.chunks);
      if (this.meta.kind === 'longname') {
        const nul = data.indexOf(0);
        this.nextName = (nul === -1 ? data : data.subarray(0, nul)).toString('utf8');
      } else {
        const p = paxPath(data);
        if (p !== null) this.nextName = p;
      }
      this.meta = null;
      return;
    }
    const sink = this.sink;
    this.sink = null;
    if (sink) await sink.end();
  }

  /** Call at end of input: fails when the archive was cut short. */
  end(): void {
    if (this.inEntry || this.remaining > 0 || this.headerFill > 0) {
      throw new TarFormatError(`tar stream truncated at offset ${this.offset}`);
    }
    if (!this.finished) throw new TarFormatError(`tar stream ended at offset ${this.offset} without an end-of-archive marker`);
  }
}

/** A safe relative path inside the target directory, or an error. */
export function safeEntryPath(name: string): string {
  const trimmed = name.replace(/^\.\/+/, '').replace(/\/+$/, '');
  if (trimmed === '' || trimmed === '.') return '';
  const refuse = () => new TarFormatError(`unsafe path in backup: entry ${JSON.stringify(name)} is absolute or has "..", empty or NUL parts, so it could land outside the target directory: refused`);
  if (trimmed.startsWith('/') || trimmed.includes('\0')) throw refuse();
  const parts = trimmed.split('/');
  if (parts.some((p) => p === '..' || p === '')) throw refuse();
  return parts.join('/');
}

const ENTRY_KINDS: Record<string, string> = {
  '1': 'a hard link', '2': 'a symbolic link', '3': 'a character device', '4': 'a block device', '6': 'a FIFO',
};

/** What an entry of an unexpected type is, in words (for refusals). */
export function describeEntryKind(header: Pick<TarHeader, 'typeflag' | 'linkname'>): string {
  const kind = ENTRY_KINDS[header.typeflag] ?? `an entry of tar type ${JSON.stringify(header.typeflag)}`;
  return header.linkname && (header.typeflag === '1' || header.typeflag === '2') ? `${kind} to ${JSON.stringify(header.linkname)}` : kind;
}

/** A Writable that feeds a TarReader, with backpressure from the entry sinks. */
export function tarWritable(onEntry: TarEntryHandler): Writable & { reader: TarReader } {
  const reader = new TarReader(onEntry);
  const writable = new Writable({
    highWaterMark: 256 * 1024,
    write(chunk: Buffer, _encoding, callback) {
      reader.push(chunk).then(() => callback(), callback);
    },
    final(callback) {
      try {
        reader.end();
        callback();
      } catch (err) {
        callback(err as Error);
      }
    },
  });
  return Object.assign(writable, { reader });
}
