import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decide } from '../../src/ha/decide.js';
import { memory, rows } from './decide-data-dir-rows.js';
import { noteClusterView } from '../../src/ha/cluster-memory.js';
import { cluster, masterMember, member } from '../helpers/snapshot.js';

for (const row of rows) {
  test(row.scenario, () => {
    const decision = decide(row.snap);
    assert.equal(decision.rule, row.rule, decision.message);
    assert.deepEqual(decision.actions.map((a) => a.type), row.actions);
    if (row.says) assert.match(decision.message, row.says);
  });
}

const DESTRUCTIVE = ['bootstrap', 'clone', 'reinitialize', 'recloneData', 'rewind'];

test('foreign content or a hold: nothing destructive unless the operator asked (governorctl reinit)', () => {
  for (const row of rows) {
    const dir = row.snap.local.pg.dataDirectory;
    if (row.snap.local.dataDir !== 'foreign' && !dir?.hold) continue;
    const types = decide(row.snap).actions.map((a) => a.type);
    const destructive = types.filter((t) => DESTRUCTIVE.includes(t));
    if (row.snap.requests.reinitialize) assert.deepEqual(destructive, ['reinitialize'], row.scenario);
    else assert.deepEqual(destructive, [], row.scenario);
  }
});

test('no bootstrap by a member with data, one that saw the cluster initialized, or while a member key says PostgreSQL runs', () => {
  for (const row of rows) {
    if (!decide(row.snap).actions.some((a) => a.type === 'bootstrap')) continue;
    assert.ok(!['initialized', 'foreign'].includes(row.snap.local.dataDir), row.scenario);
    assert.notEqual(row.snap.memory.initializeSeen, true, row.scenario);
    assert.ok(row.snap.cluster!.members.every((m) => m.name === row.snap.self.name || m.role === 'uninitialized'), row.scenario);
  }
});

test('noteClusterView: initialize seen, and since when it has been missing', () => {
  const m = memory();
  const view = (initialize: string | null) => cluster({ initialize });
  noteClusterView(m, view(null), 'b', 100);
  assert.deepEqual([m.initializeSeen, m.initializeMissingSince], [undefined, 100]);
  noteClusterView(m, view(null), 'b', 200);
  assert.equal(m.initializeMissingSince, 100, 'the first time it was seen missing stays');
  noteClusterView(m, view(''), 'b', 300);
  assert.deepEqual([m.initializeSeen, m.initializeMissingSince], [undefined, 100], 'a bootstrap in progress is neither');
  noteClusterView(m, view('7000000000000000001'), 'b', 400);
  assert.deepEqual([m.initializeSeen, m.initializeMissingSince], [true, null]);
  noteClusterView(m, view(null), 'b', 500);
  assert.deepEqual([m.initializeSeen, m.initializeMissingSince], [true, 500], 'once seen, always seen');
});

test('noteClusterView: this member\'s own key vanishing after it was there is noted', () => {
  const m = memory();
  noteClusterView(m, cluster({ members: [masterMember('a')] }), 'b', 100);
  assert.equal(m.ownKeyLostAt, undefined, 'not there yet after a start: nothing lost');
  noteClusterView(m, cluster(), 'b', 200);
  assert.deepEqual([m.ownKeySeen, m.ownKeyLostAt], [true, undefined]);
  noteClusterView(m, cluster({ members: [] }), 'b', 300);
  assert.equal(m.ownKeyLostAt, 300);
  noteClusterView(m, cluster(), 'b', 400);
  assert.equal(m.ownKeyLostAt, 300, 'the last time it was missing stays');
});
