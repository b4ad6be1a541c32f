// The chaos suite's long run, by command: `make chaos DURATION=30m [SEED=N]` or
// `node dist/test/chaos/long.js --duration 30m [--seed N]`. Prints the fault count per kind,
// dual-master intervals, lost acknowledged commits, acknowledged writes and the time back to full
// redundancy per fault; exits 1 when the verdict fails. Ctrl-C stops injecting faults and still
// judges the history and cleans up.

import { parseArgs } from 'node:util';
import { faultLogLines, summaryLines } from './report.js';
import { runChaos } from './run.js';
import { FAULT_KINDS, type FaultKind } from './faults.js';

/** "30m", "90s", "1h", "45" (minutes) → ms. */
function parseDuration(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(h|m|s)?$/.exec(text.trim());
  if (!match) throw new Error(`--duration: expected e.g. 30m, 90s, 1h; got ${JSON.stringify(text)}`);
  const unit = { h: 3_600_000, m: 60_000, s: 1000 }[(match[2] ?? 'm') as 'h' | 'm' | 's'];
  return Number(match[1]) * unit;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '30m' },
      seed: { type: 'string' },
      kinds: { type: 'string' },
      'archive-size-mb': { type: 'string', default: '512' },
    },
  });
  const kinds = values.kinds ? (values.kinds.split(',') as FaultKind[]) : undefined;
  for (const kind of kinds ?? []) if (!FAULT_KINDS.includes(kind)) throw new Error(`--kinds: unknown ${kind} (known: ${FAULT_KINDS.join(', ')})`);
  let stop = false;
  process.on('SIGINT', () => {
    if (stop) process.exit(130);
    stop = true;
    console.log('# SIGINT: no more faults; judging the history and cleaning up (again to abort at once)');
  });
  const result = await runChaos({
    durationMs: parseDuration(values.duration!),
    seed: values.seed !== undefined ? Number(values.seed) : undefined,
    kinds,
    archiveSizeMb: Number(values['archive-size-mb']),
    shouldStop: () => stop,
  });
  console.log('fault log:');
  for (const line of faultLogLines(result)) console.log(line);
  for (const line of summaryLines(result)) console.log(line);
  return result.ok ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: Error) => {
    console.error(`chaos: ${error.stack ?? error.message}`);
    process.exit(2);
  },
);
