// Every row of the rule table is reached by at least one case of the table tests, and every row
// says in words when it applies and what it logs (`governor rules`).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decide, explainRules, ruleNames } from '../../src/ha/decide.js';
import { besideTheLoop } from '../../src/ha/reactions.js';
import { rules } from '../../src/ha/rules.js';
import { rows as dataDirRows } from './decide-data-dir-rows.js';
import { rows as decideRows } from './decide-rows.js';
import { guardRows } from './reactions-rows.js';

test('every rule of the table is reached by a case of decide.test.ts or decide-data-dir.test.ts', () => {
  const reached = new Set([...decideRows, ...dataDirRows].map((row) => decide(row.snap).rule));
  const missing = ruleNames().filter((name) => !reached.has(name));
  assert.deepEqual(missing, [], `rules no case reaches: ${missing.join(', ')}`);
});

test('every row beside the loop is reached by a case of reactions.test.ts', () => {
  const reached = new Set(guardRows.map((row) => row.expect));
  const guard = besideTheLoop[0]!.rows.map((r) => r.name);
  assert.deepEqual(guard.filter((name) => !reached.has(name)), []);
});

test('every row says when it applies and what it logs, and names are unique', () => {
  const all = [...rules, ...besideTheLoop.flatMap((t) => t.rows)];
  for (const row of all) {
    assert.ok(row.if.length > 10, `${row.name}: if`);
    assert.ok(row.logs.length > 5, `${row.name}: logs`);
  }
  assert.equal(new Set(all.map((r) => r.name)).size, all.length);
  const text = explainRules();
  for (const row of all) assert.ok(text.includes(row.name) && text.includes(row.if), row.name);
  assert.ok(text.indexOf(` 1. ${rules[0]!.name}\n`) < text.indexOf(`${rules.length}. ${rules.at(-1)!.name}\n`), 'evaluation order');
});
