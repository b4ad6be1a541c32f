// ControlData from pg_controldata output (run with LC_ALL=C so the labels are English) or from
// pg_control read directly.
import type { ControlData } from './types.js';
import { parseLsn } from './lsn.js';
import type { PgControlSnapshot } from './pg-control.js';

/** "Key:   value" lines into a map; lines without a colon are skipped. */
export function parseControlDataLines(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const idx = line.indexOf(':');
    if (idx <= 0) continue;
    out.set(line.slice(0, idx).trim(), line.slice(idx + 1).trim());
  }
  return out;
}

/** Interpret pg_controldata output; throws when a required field is missing or malformed. */
export function parseControlData(text: string): ControlData {
  const fields = parseControlDataLines(text);
  const get = (key: string): string => {
    const value = fields.get(key);
    if (value === undefined || value === '') throw new Error(`pg_controldata output lacks "${key}"`);
    return value;
  };
  const systemIdentifier = get('Database system identifier');
  if (!/^\d+$/.test(systemIdentifier)) throw new Error(`malformed system identifier ${JSON.stringify(systemIdentifier)}`);
  const clusterState = get('Database cluster state');
  const timeline = Number(get("Latest checkpoint's TimeLineID"));
  if (!Number.isInteger(timeline) || timeline < 1) throw new Error('malformed checkpoint timeline in pg_controldata output');
  return controlData(systemIdentifier, clusterState, timeline, parseLsn(get('Latest checkpoint location')));
}

/** ControlData from pg_control read directly (pg-control.ts). */
export function controlDataFromSnapshot(snapshot: PgControlSnapshot): ControlData {
  return controlData(snapshot.systemIdentifier, snapshot.state, snapshot.timeline, snapshot.checkpointLsn);
}

function controlData(systemIdentifier: string, clusterState: string, timeline: number, checkpointLsn: number): ControlData {
  return {
    systemIdentifier,
    clusterState,
    timeline,
    checkpointLsn,
    wasPrimary: clusterState === 'shut down' || clusterState === 'in production',
    cleanShutdown: clusterState.startsWith('shut down'),
  };
}
