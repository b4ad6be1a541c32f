import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decide } from '../../src/ha/decide.js';
import { rows } from './decide-rows.js';
import { changedParameters } from '../../src/ha/rules.js';
import { bestSwitchoverCandidate } from '../../src/ha/candidate.js';
import { masterMember, member } from '../helpers/snapshot.js';

for (const row of rows) {
  test(row.scenario, () => {
    const decision = decide(row.snap);
    assert.equal(decision.rule, row.rule, decision.message);
    assert.deepEqual(
      decision.actions.map((a) => a.type),
      row.actions,
    );
    assert.ok(decision.message.length > 10);
  });
}

test('the decision never promotes without acquiring the key first', () => {
  for (const row of rows) {
    const types = decide(row.snap).actions.map((a) => a.type);
    const promote = types.indexOf('promote');
    if (promote === -1) continue;
    const heldAlready = row.snap.cluster?.leader?.name === row.snap.self.name;
    assert.ok(heldAlready || types.indexOf('acquireLeader') !== -1 && types.indexOf('acquireLeader') < promote, row.scenario);
  }
});

test('changedParameters names added, removed and changed parameters', () => {
  assert.deepEqual(changedParameters({ a: 1, b: 'x' }, { a: 1, b: 'x' }), []);
  assert.deepEqual(changedParameters({ a: 1, b: 'x' }, { a: 2, c: true }), ['a', 'b', 'c']);
  assert.deepEqual(changedParameters(null, { work_mem: '4MB' }), ['work_mem']);
  assert.deepEqual(changedParameters(null, {}), ['(all)']);
});

test('switchover without a candidate: most WAL first, then the higher failover_priority, never priority 0', () => {
  const members = [
    masterMember('a'),
    member('b', { xlog_location: 1000, tags: { failover_priority: 1 } }),
    member('c', { xlog_location: 1000, tags: { failover_priority: 3 } }),
    member('d', { xlog_location: 2000, tags: { failover_priority: 0 } }),
  ];
  assert.equal(bestSwitchoverCandidate(members, 'a')?.name, 'c');
  assert.equal(bestSwitchoverCandidate([...members, member('e', { xlog_location: 1500 })], 'a')?.name, 'e');
  assert.equal(bestSwitchoverCandidate([masterMember('a'), member('d', { tags: { failover_priority: 0 } })], 'a'), null);
});

test('a restart carries the role the rule saw, not one queried again when it runs', () => {
  const roles = rows
    .map((row) => decide(row.snap))
    .flatMap((d) => d.actions.map((a) => ({ rule: d.rule, action: a })))
    .filter(({ action }) => action.type === 'restart')
    .map(({ rule, action }) => `${rule}:${(action as { role: string }).role}`);
  assert.ok(roles.includes('leader-restart:primary') && roles.includes('replica-restart:replica'), roles.join(' '));
});
