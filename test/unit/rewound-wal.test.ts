import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { followedTimeline, readyToRetire, unmarkedOldTimelineSegments } from '../../src/postgres/rewound-wal.js';

describe('readyToRetire (archive status after pg_rewind)', () => {
  const cases: Array<[string, string[], string[], string[]]> = [
    ['no history file: timeline 1, nothing older', ['000000010000000000000004'], ['000000010000000000000004.ready'], []],
    [
      'following timeline 3: ready segments of timelines 1 and 2 retire, timeline 3 and history files stay',
      ['00000002.history', '00000003.history', '000000030000000000000005'],
      ['000000010000000000000004.ready', '000000020000000000000004.partial.ready', '000000030000000000000005.ready', '00000003.history.ready', '000000010000000000000003.done'],
      ['000000010000000000000004.ready', '000000020000000000000004.partial.ready'],
    ],
    ['foreign names are left alone', ['00000002.history'], ['garbage.ready', '00000001000000000000000.ready', '000000010000000000000004.ready.tmp'], []],
  ];
  for (const [name, wal, status, expected] of cases) {
    it(name, () => assert.deepEqual(readyToRetire(wal, status), expected));
  }
  it('followedTimeline reads hex timeline ids', () => {
    assert.equal(followedTimeline(['0000000A.history', '00000002.history']), 10);
    assert.equal(followedTimeline([]), 1);
  });
});

describe('unmarkedOldTimelineSegments (before a promotion)', () => {
  it('older-timeline segments without a status file; marked ones, the current timeline and .partial files are left', () => {
    const wal = ['00000002.history', '000000010000000000000004', '000000010000000000000003', '000000010000000000000004.partial', '000000020000000000000005', 'archive_status'];
    assert.deepEqual(unmarkedOldTimelineSegments(wal, ['000000010000000000000003.done']), ['000000010000000000000004']);
  });
  it('nothing on timeline 1 (no history file)', () => {
    assert.deepEqual(unmarkedOldTimelineSegments(['000000010000000000000004'], []), []);
  });
});
