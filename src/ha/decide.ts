// decide(): a pure function from a snapshot to the actions the loop should take, and why.

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
