// Which cluster-wide configuration documents are acceptable whole: a replacement (PUT /config) must
// spell out every setting, and a value read from the DCS must carry at least the timing settings,
// so neither an empty body nor an emptied key silently resets the cluster to defaults (turning
// synchronous_mode off, say). Both then pass checkDynamic, the check bootstrap.dcs passes.

import { ConfigError } from './errors.js';
import type { DynamicConfig } from './types.js';
import { Checker, isMapping, join, typeOf } from './checker.js';
import { checkDynamic } from './dynamic.js';

/** Every field of the dynamic configuration, as GET /config shows them. */
export const DYNAMIC_FIELDS = [
  'ttl', 'loop_wait', 'retry_timeout', 'maximum_lag_on_failover', 'postgresql', 'pause', 'failsafe_mode', 'synchronous_mode', 'synchronous_mode_strict',
] as const;

/** What a value of the DCS `config` key must hold: governor always writes every field, and
 *  earlier versions (and Patroni) at least these. */
export const DCS_REQUIRED_FIELDS = ['ttl', 'loop_wait', 'retry_timeout', 'maximum_lag_on_failover'] as const;

function check(value: unknown, field: string, required: readonly string[], hint: string): DynamicConfig {
  const checker = new Checker();
  if (value === undefined || value === null) checker.fail(field, `expected a mapping of settings, got ${typeOf(value)}`);
  else if (isMapping(value)) {
    for (const name of required) {
      if (value[name] === undefined || value[name] === null) checker.fail(join(field, name), `required ${hint}`);
    }
  }
  const config = checkDynamic(checker, field, value); // also says when value is not a mapping
  if (checker.errors.length > 0) throw new ConfigError(checker.errors);
  return config;
}

/** PUT /config (and a replacement by edit-config --apply): every field present and valid. */
export function validateCompleteDynamicConfig(value: unknown, field = 'config'): DynamicConfig {
  return check(value, field, DYNAMIC_FIELDS, '(PUT /config replaces the whole configuration: send every field, as GET /config shows it, or change single fields with PATCH /config)');
}

/** A value read from the DCS `config` key; throws ConfigError naming each problem. */
export function validateDcsDynamicConfig(value: unknown, field = 'config'): DynamicConfig {
  return check(value, field, DCS_REQUIRED_FIELDS, '(the config key in etcd must carry the timing settings)');
}
