import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { crc32c, parsePgControl } from '../../src/postgres/pg-control.js';

/** A pg_control image as PostgreSQL 15 writes it on x86_64: the struct, its CRC at byte 288, zeros to 8 KiB. */
function image(state: number, checkpointLsn: bigint, crcAt = 288, timeline = 1): Buffer {
  const file = Buffer.alloc(8192);
  file.writeBigUInt64LE(7_300_000_000_000_000_000n, 0); // system identifier
  file.writeUInt32LE(1300, 8); // pg_control_version
  file.writeInt32LE(state, 16);
  file.writeBigInt64LE(1_764_633_600n, 24);
  file.writeBigUInt64LE(checkpointLsn, 32);
  file.writeBigUInt64LE(checkpointLsn - 0x28n, 40); // checkPointCopy.redo
  file.writeUInt32LE(timeline, 48); // checkPointCopy.ThisTimeLineID
  file.writeUInt32LE(timeline > 1 ? timeline - 1 : 1, 52); // checkPointCopy.PrevTimeLineID
  file.writeUInt32LE(crc32c(file, crcAt), crcAt);
  return file;
}

describe('crc32c', () => {
  it('matches the CRC-32C check value', () => {
    assert.equal(crc32c(Buffer.from('123456789')), 0xe3069283);
    assert.equal(crc32c(Buffer.alloc(0)), 0);
  });
});

describe('parsePgControl', () => {
  const torn = image(1, 0x5030808n);
  torn.writeBigUInt64LE(0x5030900n, 32); // the checkpoint changed after the CRC was computed
  const id = '7300000000000000000';
  const cases: Array<[string, Buffer, ReturnType<typeof parsePgControl>]> = [
    ['shut down, PostgreSQL 15 layout', image(1, 0x5030808n), { systemIdentifier: id, state: 'shut down', checkpointLsn: 0x5030808, timeline: 1 }],
    ['in production', image(6, 0x4025b80n), { systemIdentifier: id, state: 'in production', checkpointLsn: 0x4025b80, timeline: 1 }],
    ['shutting down', image(3, 0x4025b80n), { systemIdentifier: id, state: 'shutting down', checkpointLsn: 0x4025b80, timeline: 1 }],
    ['in archive recovery on timeline 3', image(5, 0x4025b80n, 288, 3), { systemIdentifier: id, state: 'in archive recovery', checkpointLsn: 0x4025b80, timeline: 3 }],
    ['another version: the struct ends elsewhere', image(1, 0x100n, 256), { systemIdentifier: id, state: 'shut down', checkpointLsn: 0x100, timeline: 1 }],
    ['torn read: no CRC matches', torn, null],
    ['unknown state', image(9, 0x100n), null],
    ['timeline 0 is not a timeline', image(1, 0x100n, 288, 0), null],
    ['empty (missing file)', Buffer.alloc(0), null],
    ['truncated', image(1, 0x100n).subarray(0, 36), null],
    ['truncated before the timeline', image(1, 0x100n).subarray(0, 50), null],
  ];
  for (const [name, file, expected] of cases) {
    it(name, () => assert.deepEqual(parsePgControl(file), expected));
  }
});
