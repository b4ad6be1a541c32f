// The daemon-to-fence protocol: only well-formed lines change the fence's state.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseFenceCommand } from '../../src/ha/fence.js';

test('fence commands', () => {
  const table: Array<[string, ReturnType<typeof parseFenceCommand>]> = [
    ['arm 123456', { verb: 'arm', deadline: 123456 }],
    ['  arm 5  ', { verb: 'arm', deadline: 5 }],
    ['disarm', { verb: 'disarm' }],
    ['arm', null],
    ['arm -5', null],
    ['arm 1e9', null],
    ['arm 12.5', null],
    ['arm 1234567890123456', null], // beyond any monotonic clock reading
    ['arm 5 6', null],
    ['disarm now', null],
    ['ARM 5', null],
    ['', null],
    ['rm -rf /', null],
  ];
  for (const [line, expected] of table) assert.deepEqual(parseFenceCommand(line), expected, JSON.stringify(line));
});
