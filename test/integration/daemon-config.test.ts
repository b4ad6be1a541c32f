// The daemon refuses to start on bad configuration, with a message naming the field.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runGovernor } from '../helpers/cluster.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'governor-config-'));
const file = (name: string, text: string) => {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
};
const cleanEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(GOVERNOR_|SCOPE$|ETCD_|PG)/.test(k)));

const cases: Array<{ scenario: string; yaml: string; env?: Record<string, string>; field: RegExp }> = [
  { scenario: 'bad ttl type', yaml: 'scope: a\nbootstrap:\n  dcs:\n    ttl: ten\n', field: /bootstrap\.dcs\.ttl/ },
  { scenario: 'unknown field with a suggestion', yaml: 'scope: a\nrestapi:\n  listn: 1.2.3.4:8008\n', field: /restapi\.listn.*listen/ },
  { scenario: 'malformed listen address', yaml: 'scope: a\npostgresql:\n  listen: nowhere\n', field: /postgresql\.listen/ },
  { scenario: 'missing passwords', yaml: 'scope: a\n', field: /postgresql\.authentication\.superuser\.password/ },
  { scenario: 'bad environment override', yaml: 'scope: a\n', env: { GOVERNOR_TTL: 'x' }, field: /GOVERNOR_TTL \(bootstrap\.dcs\.ttl\)/ },
];

for (const c of cases) {
  test(`daemon refuses to start: ${c.scenario}`, async () => {
    const result = await runGovernor(['-c', file(`${c.scenario.replace(/\W+/g, '-')}.yml`, c.yaml)], { env: { ...cleanEnv, ...c.env }, timeoutMs: 20_000 });
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /^configuration error: /);
    assert.match(result.stderr, c.field);
  });
}

test('daemon refuses to start: missing config file names the path', async () => {
  const result = await runGovernor(['-c', path.join(dir, 'nope.yml')], { env: cleanEnv, timeoutMs: 20_000 });
  assert.equal(result.code, 2);
  assert.match(result.stderr, /nope\.yml: not found/);
});

test('passwords never appear in configuration errors', async () => {
  const yaml = 'scope: a\npostgresql:\n  listen: bad\n  authentication:\n    superuser: {username: postgres, password: s3cr3t-value}\n    replication: {username: r, password: other-s3cr3t}\n';
  const result = await runGovernor(['-c', file('secret.yml', yaml)], { env: cleanEnv, timeoutMs: 20_000 });
  assert.equal(result.code, 2);
  assert.doesNotMatch(result.stderr, /s3cr3t/);
});

test('demo up --ttl is checked by the dynamic-config rules before anything is made', async () => {
  const demoDir = path.join(dir, 'demo-ttl');
  const result = await runGovernor(['demo', 'up', '--dir', demoDir, '--ttl', '4', '--no-archive'], { env: cleanEnv, timeoutMs: 20_000 });
  assert.equal(result.code, 2, result.stderr);
  assert.match(result.stderr, /bootstrap\.dcs\.ttl: must be >= loop_wait \+ 2 \* retry_timeout \(1 \+ 2 \* 2 = 5\), got 4/);
  assert.equal(existsSync(demoDir), false);
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
