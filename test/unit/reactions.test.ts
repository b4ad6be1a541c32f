// The rows beside the loop (reactions.ts): the lease guard's decision and routing.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { guardReactions, react, routeReactions } from '../../src/ha/reactions.js';
import { cluster, leaderKey } from '../helpers/snapshot.js';
import { guardRows } from './reactions-rows.js';

for (const row of guardRows) {
  test(`lease guard: ${row.scenario}`, () => {
    const decision = react(guardReactions, row.input);
    assert.equal(decision.rule, row.expect, decision.message);
    assert.deepEqual(decision.actions, row.demotes ? [{ type: 'stop', mode: 'immediate' }] : []);
    if (row.says) assert.match(decision.message, row.says);
  });
}

test('routing: every view read routes to the member the leader key names, or to none', () => {
  const view = cluster({ leader: leaderKey('a') });
  assert.deepEqual(react(routeReactions, view).actions, [{ type: 'route', cluster: view }]);
  assert.match(react(routeReactions, cluster()).message, /no member/);
});
