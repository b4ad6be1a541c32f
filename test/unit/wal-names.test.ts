// WAL segment name arithmetic used by wal-fetch's prefetch, and the order files are archived in.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  DEFAULT_SEGMENT_SIZE, formatSegmentName, isValidSegmentSize, parseSegmentName, segmentsAfter,
} from '../../src/archive/wal-fetch.js';
import { sortForArchiving } from '../../src/archive/wal-spool.js';

describe('segment names', () => {
  test('the next segment within a log id', () => {
    assert.deepEqual(segmentsAfter('000000010000000000000001', 3), [
      '000000010000000000000002', '000000010000000000000003', '000000010000000000000004',
    ]);
    assert.deepEqual(segmentsAfter('00000001000000000000000F', 1), ['000000010000000000000010']);
  });

  test('16 MiB segments wrap after FF into the next log id (0x100000000 bytes per log id)', () => {
    assert.deepEqual(segmentsAfter('0000000100000000000000FE', 3), [
      '0000000100000000000000FF', '000000010000000100000000', '000000010000000100000001',
    ]);
    assert.deepEqual(segmentsAfter('0000000300000A1F000000FF', 1), ['0000000300000A2000000000']);
  });

  test('other segment sizes wrap at 0x100000000 / size', () => {
    const mib64 = 64 << 20; // 64 segments per log id
    assert.deepEqual(segmentsAfter('00000002000000050000003F', 2, mib64), ['000000020000000600000000', '000000020000000600000001']);
    const gib1 = 1 << 30; // 4 per log id
    assert.deepEqual(segmentsAfter('000000010000000000000003', 1, gib1), ['000000010000000100000000']);
    const mib1 = 1 << 20; // 4096 per log id
    assert.deepEqual(segmentsAfter('000000010000000000000FFF', 1, mib1), ['000000010000000100000000']);
  });

  test('the timeline never changes', () => {
    for (const name of segmentsAfter('0000000A00000000000000FF', 5)) assert.ok(name.startsWith('0000000A'));
  });

  test('parse and format round-trip; large log ids stay exact', () => {
    for (const name of ['000000010000000000000001', '0000000AFFFFFFFF000000FF', '00000001000012340000007B']) {
      assert.equal(formatSegmentName(parseSegmentName(name)), name);
    }
    assert.deepEqual(parseSegmentName('000000020000000100000003'), { timeline: 2, segno: 256 + 3 });
    assert.deepEqual(segmentsAfter('00000001FFFFFFFE000000FF', 1), ['00000001FFFFFFFF00000000']);
  });

  test('names that are not segments, and segment numbers impossible for the size, are refused', () => {
    assert.throws(() => parseSegmentName('00000001.history'));
    assert.throws(() => parseSegmentName('000000010000000000000001.partial'));
    assert.throws(() => parseSegmentName('000000010000000000000100'), /not a segment name for 16777216-byte segments/);
    assert.throws(() => parseSegmentName('000000010000000000000040', 64 << 20));
  });

  test('segment sizes are powers of two from 1 MiB to 1 GiB', () => {
    assert.equal(isValidSegmentSize(DEFAULT_SEGMENT_SIZE), true);
    assert.equal(isValidSegmentSize(1 << 20), true);
    assert.equal(isValidSegmentSize(1 << 30), true);
    for (const bad of [0, 1 << 19, 2 ** 31, 3 << 20, 16777215, 1.5]) assert.equal(isValidSegmentSize(bad), false, String(bad));
  });
});

describe('archiving order', () => {
  test('timeline history files first, then oldest first; .partial and .backup after their segment', () => {
    assert.deepEqual(sortForArchiving([
      '000000020000000000000005', '000000010000000000000005.partial', '00000002.history', '000000010000000000000004',
      '000000010000000000000004.00000028.backup', '000000010000000000000003',
    ]), [
      '00000002.history', '000000010000000000000003', '000000010000000000000004', '000000010000000000000004.00000028.backup',
      '000000010000000000000005.partial', '000000020000000000000005',
    ]);
  });
});
