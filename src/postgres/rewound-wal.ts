// After pg_rewind, which `.ready` files in pg_wal/archive_status must this member never archive?
//
// A rewound former master keeps `.ready` files for segments it wrote on a timeline the cluster has
// left (its own abandoned history, or the shared prefix of it). Nobody archives a full segment of an
// old timeline under the new one, so left alone they wait until this member is promoted again and
// then archive_command meets a different copy of that segment in the archive (the one the old
// master, or the member that took over, stored first): "archive already holds a different ...",
// retried forever, and every later segment queues behind it. Found by the chaos suite (partition,
// rejoin, failover back within minutes). Marking them `.done` is what PostgreSQL itself does for
// segments a standby receives with archive_mode = on; they are then recycled normally.

const SEGMENT_READY = /^([0-9A-F]{8})[0-9A-F]{16}(\.partial)?\.ready$/;
const SEGMENT = /^([0-9A-F]{8})[0-9A-F]{16}$/;
const HISTORY = /^([0-9A-F]{8})\.history$/;

/** The timeline the rewound directory follows now: the newest history file pg_rewind brought over. */
export function followedTimeline(walFiles: string[]): number {
  let timeline = 1;
  for (const name of walFiles) {
    const match = HISTORY.exec(name);
    if (match) timeline = Math.max(timeline, parseInt(match[1]!, 16));
  }
  return timeline;
}

/** `.ready` status files of segments on timelines older than the followed one (history files are
 *  kept: they are the same on every member and recovery needs them). */
export function readyToRetire(walFiles: string[], statusFiles: string[]): string[] {
  const timeline = followedTimeline(walFiles);
  return statusFiles.filter((name) => {
    const match = SEGMENT_READY.exec(name);
    return match !== null && parseInt(match[1]!, 16) < timeline;
  });
}

/**
 * Segments of older timelines in pg_wal that have no status file at all. A replica whose WAL
 * receiver was cut mid-segment (its master lost) keeps that segment without `.done`; once promoted,
 * PostgreSQL's first checkpoint would mark it `.ready` and archive_command would meet the old
 * master's own, longer copy in the archive (found by the chaos suite). They get a `.done` before
 * promotion, as the WAL receiver would have given them.
 */
export function unmarkedOldTimelineSegments(walFiles: string[], statusFiles: string[]): string[] {
  const timeline = followedTimeline(walFiles);
  const marked = new Set(statusFiles.map((name) => name.replace(/\.(ready|done)$/, '')));
  return walFiles.filter((name) => {
    const match = SEGMENT.exec(name);
    return match !== null && parseInt(match[1]!, 16) < timeline && !marked.has(name);
  });
}
