// How the daemon spreads archive.upload_concurrency over uploader processes (one per core).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_PROCESSES, uploaderLayout } from '../../src/archive/wal-uploader-process.js';

const table: Array<{ concurrency: number; cores: number; processes: number; each: number }> = [
  { concurrency: 4, cores: 2, processes: 2, each: 2 },
  { concurrency: 1, cores: 2, processes: 1, each: 1 },
  { concurrency: 4, cores: 1, processes: 1, each: 4 },
  { concurrency: 3, cores: 2, processes: 2, each: 2 },
  { concurrency: 16, cores: 64, processes: MAX_PROCESSES, each: 4 },
  { concurrency: 0, cores: 2, processes: 1, each: 1 },
];
for (const row of table) {
  test(`upload_concurrency ${row.concurrency} on ${row.cores} cores: ${row.processes} processes x ${row.each}`, () => {
    assert.deepEqual(uploaderLayout(row.concurrency, row.cores), { processes: row.processes, concurrency: row.each });
  });
}
