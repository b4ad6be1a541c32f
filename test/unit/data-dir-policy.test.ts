// The data directory policy: names of moved-aside copies, the space margin, the disposal decision
// (move aside, remove, hold) and the refusal of foreign content, row by row.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  decideDisposal, describeForeignContent, movedAsideName, parseMovedAsideName, requiredFreeBytes,
  SPACE_MARGIN_MIN_BYTES, type DisposalInput,
} from '../../src/postgres/data-dir-policy.js';

const GIB = 1024 ** 3;
const MIB = 1024 ** 2;

describe('moved-aside names', () => {
  const at = new Date('2026-12-07T20:15:00.123Z');
  test('<base>.<reason>.<UTC time>, with a counter when two land in one second', () => {
    assert.equal(movedAsideName('data', 'rewind-failed', at), 'data.rewind-failed.20261207T201500Z');
    assert.equal(movedAsideName('data', 'reinit', at, 1), 'data.reinit.20261207T201500Z-2');
  });
  test('parsed back to reason and time; anything else is not a copy', () => {
    assert.deepEqual(parseMovedAsideName('data', 'data.rewind-failed.20261207T201500Z'), { reason: 'rewind-failed', at: '2026-12-07T20:15:00.000Z' });
    assert.deepEqual(parseMovedAsideName('data', 'data.start-failed.20261207T201500Z-3'), { reason: 'start-failed', at: '2026-12-07T20:15:00.000Z' });
    for (const name of ['data', 'data.log', 'data.reinit.2026', 'data.removed.20261207T201500Z', 'data2.reinit.20261207T201500Z', 'xdata.reinit.20261207T201500Z', 'data.reinit.20261399T201500Z']) {
      assert.equal(parseMovedAsideName('data', name), null, name);
    }
    // A base with regular-expression characters is matched literally.
    assert.equal(parseMovedAsideName('pg.15', 'pgx15.reinit.20261207T201500Z'), null);
    assert.ok(parseMovedAsideName('pg.15', 'pg.15.reinit.20261207T201500Z'));
  });
});

test('a clone needs the master size plus 10 %, at least 512 MiB more', () => {
  assert.equal(requiredFreeBytes(0), SPACE_MARGIN_MIN_BYTES);
  assert.equal(requiredFreeBytes(100 * MIB), 100 * MIB + 512 * MIB);
  assert.equal(requiredFreeBytes(10 * GIB), 11 * GIB);
});

describe('decideDisposal', () => {
  const base: DisposalInput = {
    trigger: 'rewind-failed', dataDir: '/pg/data', member: 'node2', removeOnFailure: false, maxCopies: 2, copies: 0,
    freeBytes: 100 * GIB, masterBytes: 1 * GIB, ofThisScope: true,
  };
  const rows: Array<{ scenario: string; input: Partial<DisposalInput>; action: string; says: RegExp }> = [
    { scenario: 'rewind failed, room and no copy yet: move aside', input: {}, action: 'move-aside', says: /moving \/pg\/data aside \(rewind-failed\)/ },
    { scenario: 'data fault at start, room: move aside', input: { trigger: 'start-failed' }, action: 'move-aside', says: /start-failed/ },
    { scenario: 'reinit with room: move aside, even a cluster of this scope', input: { trigger: 'reinit' }, action: 'move-aside', says: /aside \(reinit\)/ },
    { scenario: 'Patroni behaviour asked for: remove after a failed rewind', input: { removeOnFailure: true }, action: 'remove', says: /remove_data_directory_on_rewind_failure is true: removing \/pg\/data/ },
    { scenario: 'Patroni behaviour never removes what is not of this scope', input: { removeOnFailure: true, ofThisScope: false }, action: 'move-aside', says: /moving/ },
    { scenario: 'Patroni behaviour does not apply to reinit (it moves aside when it can)', input: { removeOnFailure: true, trigger: 'reinit' }, action: 'move-aside', says: /moving/ },
    { scenario: 'copies limit reached: hold and wait for reinit', input: { copies: 2 }, action: 'hold', says: /2 moved-aside copies .* kept already \(postgresql.max_moved_aside_copies 2\).*governorctl reinit node2/ },
    { scenario: 'max_moved_aside_copies 0: never a copy, hold', input: { maxCopies: 0 }, action: 'hold', says: /max_moved_aside_copies 0/ },
    { scenario: 'too little space: hold, saying how much is needed', input: { freeBytes: 1 * GIB }, action: 'hold', says: /1024 MiB free beside \/pg\/data, a clone needs 1536 MiB/ },
    { scenario: 'exactly enough space: move aside', input: { freeBytes: requiredFreeBytes(1 * GIB) }, action: 'move-aside', says: /moving/ },
    { scenario: 'one byte short: hold', input: { freeBytes: requiredFreeBytes(1 * GIB) - 1 }, action: 'hold', says: /free beside/ },
    { scenario: 'reinit without room: removed at the operator\'s request', input: { trigger: 'reinit', freeBytes: 0 }, action: 'remove', says: /removed at the operator's request \(governorctl reinit\)/ },
    { scenario: 'reinit at the copies limit: removed at the operator\'s request', input: { trigger: 'reinit', copies: 5 }, action: 'remove', says: /operator's request/ },
    { scenario: 'reinit without room of content not of this scope: never deleted, hold', input: { trigger: 'reinit', freeBytes: 0, ofThisScope: false }, action: 'hold', says: /not a cluster of this scope, which governor never deletes/ },
  ];
  for (const row of rows) {
    test(row.scenario, () => {
      const disposal = decideDisposal({ ...base, ...row.input });
      assert.equal(disposal.action, row.action, disposal.reason);
      assert.match(disposal.reason, row.says);
    });
  }
});

describe('describeForeignContent', () => {
  test('names the path, a few entries and every way out', () => {
    const text = describeForeignContent('/srv/pg', 'node1', { entries: ['g', 'f', 'e', 'd', 'c', 'b', 'a'], clusterSubdirectories: [], notDirectory: false });
    assert.match(text, /^data directory \/srv\/pg is not empty and holds no PostgreSQL cluster \(no PG_VERSION; 7 entries: a, b, c, d, e, …\): governor leaves it untouched/);
    assert.match(text, /fix postgresql\.data_dir, move the content away, or run "governorctl reinit node1"/);
  });
  test('a lone lost+found: a mount point, use a directory inside it', () => {
    assert.match(describeForeignContent('/mnt/pg', 'n', { entries: ['lost+found'], clusterSubdirectories: [], notDirectory: false }), /root of a mounted file system .*postgresql\.data_dir: \/mnt\/pg\/data/);
  });
  test('the parent of a cluster: did you mean the subdirectory', () => {
    assert.match(
      describeForeignContent('/var/lib/postgresql/15', 'n', { entries: ['governor', 'notes.txt'], clusterSubdirectories: ['governor'], notDirectory: false }),
      /\/var\/lib\/postgresql\/15\/governor is a PostgreSQL data directory: did you mean postgresql\.data_dir: \/var\/lib\/postgresql\/15\/governor\?/,
    );
  });
  test('a file where the directory should be', () => {
    assert.match(describeForeignContent('/srv/pg', 'n', { entries: [], clusterSubdirectories: [], notDirectory: true }), /exists and is not a directory/);
  });
});
