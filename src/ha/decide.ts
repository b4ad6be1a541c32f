// decide(): a pure function from a snapshot to the actions the loop should take, and why.

import { besideTheLoop } from './reactions.js';
import { deriveFacts, rules } from './rules.js';
import type { Decision, Snapshot } from './types.js';

/** Time is an input (snapshot.now, snapshot.wallClock): the same snapshot always decides the same. */
export function decide(snapshot: Snapshot): Decision {
  const facts = deriveFacts(snapshot);
  for (const rule of rules) {
    if (rule.when(snapshot, facts)) return { rule: rule.name, ...rule.then(snapshot, facts) };
  }
  // The table ends with an always-true row; reaching here is a programming error.
  throw new Error('no HA rule matched');
}

/** Every rule name, in order: the life cycle of a member on one screen (`governor rules`). */
export function ruleNames(): string[] {
  return rules.map((r) => r.name);
}

/** The whole table in words (`governor rules`): each row with its condition and the sentence it
 *  logs, in evaluation order, then the rows that run beside the loop. */
export function explainRules(): string {
  const lines = ['The HA loop, every loop_wait and at once on an etcd watch event: the first row whose condition holds decides.', ''];
  const row = (label: string, r: { name: string; if: string; logs: string }) => {
    lines.push(`${label} ${r.name}`, `      if    ${r.if}`, `      logs  ${r.logs}`);
  };
  rules.forEach((r, i) => row(`${String(i + 1).padStart(2)}.`, r));
  besideTheLoop.forEach((table, t) => {
    lines.push('', `Beside the loop: ${table.trigger}.`, '');
    table.rows.forEach((r, i) => row(`${String.fromCharCode(65 + t)}${i + 1}.`, r));
  });
  return lines.join('\n');
}
