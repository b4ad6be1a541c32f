// Reads PostgreSQL's timeline history files (pg_wal/0000000N.history) to record where a timeline forked.

import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseLsn } from './lsn.js';

export interface TimelineSwitch {
  parentTimeline: number;
  switchLsn: number;
  reason: string;
}

function lsnOrNull(text: string): number | null {
  try {
    return parseLsn(text);
  } catch {
    return null;
  }
}

/** Last line of a history file: the switch that created `timeline`. */
export function parseHistoryFile(text: string): TimelineSwitch | null {
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const last = lines.at(-1);
  if (!last) return null;
  const [tli, lsn, ...reason] = last.split(/\s+/);
  const switchLsn = lsnOrNull(lsn ?? '');
  if (!tli || switchLsn === null || !/^\d+$/.test(tli)) return null;
  return { parentTimeline: Number(tli), switchLsn, reason: reason.join(' ') };
}

export async function readTimelineSwitch(dataDir: string, timeline: number): Promise<TimelineSwitch | null> {
  const file = path.join(dataDir, 'pg_wal', `${timeline.toString(16).toUpperCase().padStart(8, '0')}.history`);
  try {
    return parseHistoryFile(await readFile(file, 'utf8'));
  } catch {
    return null;
  }
}
