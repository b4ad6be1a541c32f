// Who this member is: its cluster's namespace, its name, its tags, and the cluster secret.

import { closest, describe, type Checker } from './checker.js';
import { DEFAULT_NAMESPACE, DEFAULT_TAGS } from './defaults.js';
import { checkName, NAME_RE } from './fields.js';
import type { Tags } from './types.js';

/** Long enough that guessing it is out of reach: at least 16 characters (generate one with
 *  `openssl rand -hex 32`). */
export function checkClusterSecret(s: string): string | null {
  return s.length >= 16 ? null : 'must be at least 16 characters (generate one with: openssl rand -hex 32)';
}

/** Tags governor understands; Patroni's other well-known tags are allowed without a typo check. */
const KNOWN_TAGS = ['nofailover', 'noloadbalance', 'failover_priority'] as const;
const OTHER_PATRONI_TAGS = ['nosync', 'nostream', 'clonefrom', 'replicatefrom', 'nosync_priority'];

export function checkTags(ch: Checker, value: unknown): Tags {
  const m = ch.mapping('tags', value, null);
  const tags: Tags = {
    nofailover: ch.boolean('tags.nofailover', m.nofailover, DEFAULT_TAGS.nofailover),
    noloadbalance: ch.boolean('tags.noloadbalance', m.noloadbalance, DEFAULT_TAGS.noloadbalance),
    failover_priority: ch.number('tags.failover_priority', m.failover_priority, {
      default: DEFAULT_TAGS.failover_priority,
      min: 0,
      integer: true,
    }),
  };
  for (const key of Object.keys(m)) {
    if ((KNOWN_TAGS as readonly string[]).includes(key)) continue;
    if (key === '__proto__') {
      ch.fail(`tags.${key}`, 'not allowed as a tag name');
      continue;
    }
    const guess = OTHER_PATRONI_TAGS.includes(key) ? undefined : closest(key, KNOWN_TAGS);
    if (guess) {
      // An unknown tag is kept silently, so a misspelt nofailover would quietly do nothing.
      ch.fail(`tags.${key}`, `unknown tag that looks like a misspelling (did you mean "${guess}"?)`);
      continue;
    }
    tags[key] = structuredClone(m[key]);
    ch.source(`tags.${key}`, true);
  }
  return tags;
}

export function checkNamespace(ch: Checker, value: unknown): string {
  const raw = ch.string('namespace', value, { def: DEFAULT_NAMESPACE });
  if (raw === '') return raw;
  const ns = raw.replace(/^\/+|\/+$/g, '');
  const ok = ns !== '' && ns.split('/').every((seg) => NAME_RE.test(seg) && seg !== '.' && seg !== '..');
  if (!ok) {
    ch.fail('namespace', `must be one or more /-separated names of A-Z a-z 0-9 . _ - (e.g. "service"), got ${describe(raw)}`);
    return '';
  }
  return ns;
}

export function checkMemberName(ch: Checker, value: unknown, hostname: string): string {
  if (value === undefined) {
    ch.source('name', false);
    if (checkName('member name')(hostname) !== null) {
      ch.fail('name', `not set, and the host name ${describe(hostname)} is not a valid member name (1-63 of A-Z a-z 0-9 . _ -); set name (or GOVERNOR_NAME)`);
      return '';
    }
    return hostname;
  }
  return ch.string('name', value, { check: checkName('member name') });
}
