// The cluster-wide configuration cannot be wiped or weaponised: a replacement must be complete,
// a DCS value must carry the timing settings, and parameters that run commands, load code or name
// files are refused cluster-wide while the local file may set them.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { stringify } from 'yaml';
import { ConfigError } from '../../src/config/errors.js';
import { loadConfig, validateDynamicConfig } from '../../src/config/load.js';
import { DYNAMIC_FIELDS, validateCompleteDynamicConfig, validateDcsDynamicConfig } from '../../src/config/dynamic-document.js';
import { LOCAL_ONLY_PARAMETERS, localOnlyReason } from '../../src/config/local-only-parameters.js';

const complete = {
  ttl: 30, loop_wait: 10, retry_timeout: 10, maximum_lag_on_failover: 1048576, postgresql: { parameters: { work_mem: '8MB' } },
  pause: false, failsafe_mode: true, synchronous_mode: true, synchronous_mode_strict: false,
};

function errorsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (error) {
    if (error instanceof ConfigError) return error.errors;
    throw error;
  }
  assert.fail('expected a ConfigError');
}

describe('a replacement (PUT /config, edit-config --apply) must be complete', () => {
  it('a complete document passes unchanged', () => {
    assert.deepEqual(validateCompleteDynamicConfig(structuredClone(complete)), complete);
  });
  it('an empty document names every missing field', () => {
    const errors = errorsOf(() => validateCompleteDynamicConfig({}));
    assert.deepEqual(errors.map((e) => e.split(':')[0]), DYNAMIC_FIELDS.map((f) => `config.${f}`));
    assert.match(errors[0]!, /PATCH/);
  });
  for (const field of DYNAMIC_FIELDS) {
    it(`missing ${field} is named`, () => {
      const doc: Record<string, unknown> = structuredClone(complete);
      delete doc[field];
      assert.deepEqual([...new Set(errorsOf(() => validateCompleteDynamicConfig(doc)).map((e) => e.split(':')[0]))], [`config.${field}`]);
    });
  }
  for (const [label, value] of [['null', null], ['a list', []], ['a string', 'ttl: 30']] as const) {
    it(`${label} is refused`, () => assert.ok(errorsOf(() => validateCompleteDynamicConfig(value)).some((e) => e.startsWith('config:'))));
  }
});

describe('a value of the DCS config key', () => {
  it('needs the timing settings; the rest is defaulted as in bootstrap.dcs', () => {
    assert.deepEqual(errorsOf(() => validateDcsDynamicConfig({})).map((e) => e.split(':')[0]), ['config.ttl', 'config.loop_wait', 'config.retry_timeout', 'config.maximum_lag_on_failover']);
    const config = validateDcsDynamicConfig({ ttl: 30, loop_wait: 10, retry_timeout: 10, maximum_lag_on_failover: 0 });
    assert.equal(config.synchronous_mode, false);
  });
  it('is checked as bootstrap.dcs is: unknown fields and bounds', () => {
    assert.match(errorsOf(() => validateDcsDynamicConfig({ ...complete, use_slots: true })).join('\n'), /config\.use_slots: unknown field/);
    assert.match(errorsOf(() => validateDcsDynamicConfig({ ...complete, ttl: 1 })).join('\n'), /config\.ttl/);
  });
});

describe('parameters that run commands, load code or name files', () => {
  for (const name of Object.keys(LOCAL_ONLY_PARAMETERS)) {
    it(`${name}: refused cluster-wide, naming the field and where it may be set`, () => {
      const doc = { ...complete, postgresql: { parameters: { [name.toUpperCase()]: 'x' } } };
      for (const validate of [validateDynamicConfig, validateCompleteDynamicConfig, validateDcsDynamicConfig]) {
        const errors = errorsOf(() => validate(doc, 'config'));
        assert.equal(errors.length, 1, errors.join('\n'));
        assert.match(errors[0]!, new RegExp(`^config\\.postgresql\\.parameters\\.${name.toUpperCase()}: `));
        // (data_directory and the like are refused everywhere: governor sets them from its own fields)
        assert.match(errors[0]!, /governor\.yml|is set by governor from/);
      }
    });
  }

  it('refused in bootstrap.dcs (it becomes the cluster configuration), allowed in the local postgresql.parameters', () => {
    const base = { scope: 'demo', name: 'node1', postgresql: { authentication: { superuser: { password: 'a' }, replication: { password: 'b' } } } };
    const bad = { ...base, bootstrap: { dcs: { postgresql: { parameters: { ssl_passphrase_command: 'cat /key' } } } } };
    assert.throws(() => loadConfig({ text: stringify(bad), env: {} }), /bootstrap\.dcs\.postgresql\.parameters\.ssl_passphrase_command: runs a shell command/);
    const local = { ...base, postgresql: { ...base.postgresql, parameters: { shared_preload_libraries: 'pg_stat_statements', log_directory: '/var/log/pg' } } };
    const { config } = loadConfig({ text: stringify(local), env: {} });
    assert.equal(config.postgresql.parameters.shared_preload_libraries, 'pg_stat_statements');
  });

  it('ordinary parameters stay allowed cluster-wide', () => {
    for (const name of ['work_mem', 'max_connections', 'log_min_duration_statement', 'ssl', 'archive_timeout', 'wal_keep_size']) assert.equal(localOnlyReason(name), null, name);
  });
});
