// Asserting on configuration errors, for the tests of the loader and its sections: a ConfigError
// lists one line per bad field, each starting with the field's path.

import assert from 'node:assert/strict';
import { ConfigError } from '../../src/config/load.js';

/** The smallest valid configuration file: scope, name and the two required passwords. */
export const MINIMAL_CONFIG = Object.freeze({
  scope: 'demo',
  name: 'node1',
  postgresql: {
    authentication: {
      superuser: { password: 'su-secret-1' },
      replication: { password: 'repl-secret-2' },
    },
  },
});

/** The ConfigError thrown by fn (fails the test if none). */
export function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected ConfigError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected a ConfigError');
}

/** The error line for the field `prefix` (fails the test if none), matching `pattern` when given. */
export function errorLine(error: ConfigError, prefix: string, pattern?: RegExp): string {
  const line = error.errors.find((l) => l.startsWith(`${prefix}:`));
  assert.ok(line, `no error line for ${prefix}; got:\n${error.message}`);
  if (pattern) assert.match(line, pattern);
  return line;
}
