// governorctl list's view of WAL archiving on each member: read from the member's /metrics (the
// governor_archive_* families, src/api/metrics.ts), which needs no credential. Pure parsing here;
// a member whose /metrics does not answer or says nothing about archiving shows nothing.

export interface MemberArchiveState {
  failing: boolean;
  /** Seconds since archiving began failing, if known. */
  failingSeconds: number | null;
  segment: string | null;
  error: string | null;
}

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** One exposition line (name, optional {labels}, value), or null for comments and lines it cannot read. */
export function parseSampleLine(line: string): Sample | null {
  const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)$/.exec(line.trim());
  if (!match) return null;
  const labels: Record<string, string> = {};
  const body = match[2]?.slice(1, -1) ?? '';
  const labelRe = /\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?/gy;
  let consumed = 0;
  for (let m = labelRe.exec(body); m !== null; m = labelRe.exec(body)) {
    labels[m[1]!] = m[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    consumed = labelRe.lastIndex;
  }
  if (body.slice(consumed).trim() !== '') return null;
  const value = Number(match[3]);
  return Number.isNaN(value) && match[3] !== 'NaN' ? null : { name: match[1]!, labels, value };
}

/** The member's archiving state from its /metrics text; null when the text has no governor_archive_failing. */
export function archiveStateFromMetrics(text: string): MemberArchiveState | null {
  let failing: boolean | null = null;
  let failingSeconds: number | null = null;
  let segment: string | null = null;
  let error: string | null = null;
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const sample = parseSampleLine(line);
    if (!sample) continue;
    if (sample.name === 'governor_archive_failing') failing = sample.value === 1;
    else if (sample.name === 'governor_archive_failing_seconds' && Number.isFinite(sample.value)) failingSeconds = sample.value;
    else if (sample.name === 'governor_archive_failure_info') {
      segment = sample.labels.segment || null;
      error = sample.labels.error || null;
    }
  }
  if (failing === null) return null;
  return failing ? { failing, failingSeconds, segment, error } : { failing, failingSeconds: null, segment: null, error: null };
}

/** " 12 s", " 3 min", " 2 h" */
function duration(seconds: number): string {
  if (seconds < 120) return `${Math.round(seconds)} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  return `${Math.round(seconds / 3600)} h`;
}

/** Footer lines under the list table, one per member whose archiving fails. */
export function archiveFooter(states: Map<string, MemberArchiveState>): string[] {
  return [...states]
    .filter(([, s]) => s.failing)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, s]) => {
      const how = [s.failingSeconds !== null ? `for ${duration(s.failingSeconds)}` : null, s.segment ? `at ${s.segment}` : null].filter(Boolean).join(' ');
      return ` WAL archiving failing on ${name}${how ? ` ${how}` : ''}: ${s.error ?? 'no error recorded'}`;
    });
}
