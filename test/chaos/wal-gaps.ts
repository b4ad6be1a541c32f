// Gaps in a WAL archive (pure): which segments between two positions the archive lacks. Used after
// the "archive disk full" fault to check that archiving resumed without losing a segment.
//
// Archived files are named as src/archive/layout.ts stores them: wal/<WAL file name><codec ext>,
// each with a <name>.meta.json sidecar (file storage) and possibly .tmp-* leftovers. A segment name
// is TTTTTTTTLLLLLLLLSSSSSSSS: timeline, then the segment number split in a "log" part and a
// "seg" part of which there are 4 GiB / wal_segment_size per log (256 with 16 MiB segments).

import { stripCodec } from '../../src/archive/layout.js';

export const SEGMENTS_PER_LOG_16MB = 0x100;

export interface ArchivedSegment {
  timeline: number;
  segno: number;
  /** The last, incomplete segment of an old timeline, archived by the member promoted from it. */
  partial: boolean;
}

const SEGMENT = /^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})(\.partial)?$/;

/** A WAL segment file name as (timeline, segment number), or null for any other name. */
export function parseSegmentName(name: string, perLog = SEGMENTS_PER_LOG_16MB): ArchivedSegment | null {
  const match = SEGMENT.exec(name);
  if (!match) return null;
  const seg = parseInt(match[3]!, 16);
  if (seg >= perLog) return null;
  return { timeline: parseInt(match[1]!, 16), segno: parseInt(match[2]!, 16) * perLog + seg, partial: match[4] !== undefined };
}

export function segmentName(timeline: number, segno: number, perLog = SEGMENTS_PER_LOG_16MB): string {
  const hex = (n: number) => n.toString(16).toUpperCase().padStart(8, '0');
  return `${hex(timeline)}${hex(Math.floor(segno / perLog))}${hex(segno % perLog)}`;
}

/** The segments among the file names of an archive's wal/ directory (sidecars and temporaries skipped). */
export function archivedSegments(fileNames: readonly string[], perLog = SEGMENTS_PER_LOG_16MB): ArchivedSegment[] {
  const found: ArchivedSegment[] = [];
  for (const file of fileNames) {
    if (file.startsWith('.tmp-') || file.endsWith('.meta.json')) continue;
    const segment = parseSegmentName(stripCodec(file), perLog);
    if (segment) found.push(segment);
  }
  return found;
}

/**
 * Segment numbers in [from, to] the archive has no copy of. With `timeline`, only complete segments
 * of that timeline count (a stretch written by one master); without, a complete or partial segment
 * of any timeline counts (the stretch crosses promotions, where each number is covered by the
 * timeline that was current then, or by the .partial the promoted member archived).
 */
export function walGaps(archived: readonly ArchivedSegment[], from: number, to: number, timeline?: number): number[] {
  const have = new Set(archived.filter((s) => (timeline === undefined ? true : s.timeline === timeline && !s.partial)).map((s) => s.segno));
  const missing: number[] = [];
  for (let n = from; n <= to; n++) if (!have.has(n)) missing.push(n);
  return missing;
}
