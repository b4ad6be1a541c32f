// edit-config, PATCH /config and the governorctl helpers around them: pure parts.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { applyEdits, diffLines, mergePatch, parseConfigDocument, parsePgArgument, parseSetArgument, toYaml } from '../../src/config/dynamic-edit.js';
import { validateDynamicConfig } from '../../src/config/load.js';
import { listFooter, listRows, parseScheduledTime } from '../../src/cli/ctl-format.js';
import type { ClusterView, Member } from '../../src/dcs/types.js';

const current = { ttl: 30, loop_wait: 10, retry_timeout: 10, maximum_lag_on_failover: 1048576, postgresql: { parameters: { work_mem: '4MB', max_connections: 100 } }, pause: false };

describe('--set and --pg arguments', () => {
  const rows: Array<[string, string[], unknown]> = [
    ['ttl=20', ['ttl'], 20],
    ['pause=true', ['pause'], true],
    ["postgresql.parameters.work_mem='8MB'", ['postgresql', 'parameters', 'work_mem'], '8MB'],
    ['postgresql.parameters.work_mem=8MB', ['postgresql', 'parameters', 'work_mem'], '8MB'],
    ['postgresql.parameters.work_mem=null', ['postgresql', 'parameters', 'work_mem'], null],
    ['postgresql.parameters.search_path="a,b"', ['postgresql', 'parameters', 'search_path'], 'a,b'],
    ['postgresql.parameters.x=', ['postgresql', 'parameters', 'x'], ''],
    ['ttl = 20', ['ttl'], 20],
  ];
  for (const [text, path, value] of rows) {
    test(text, () => assert.deepEqual(parseSetArgument(text), { path, value }));
  }
  test('bad arguments name the option', () => {
    assert.throws(() => parseSetArgument('ttl'), /--set: expected key.path=value/);
    assert.throws(() => parseSetArgument('a..b=1'), /--set: invalid key path/);
    assert.throws(() => parseSetArgument('__proto__.x=1'), /invalid key path/);
    assert.throws(() => parseSetArgument('ttl=[1'), /--set ttl: value is not valid YAML/);
    assert.throws(() => parsePgArgument('a.b=1'), /--pg: expected a parameter name without dots/);
  });
  test('--pg is shorthand for postgresql.parameters', () => {
    assert.deepEqual(parsePgArgument('shared_buffers=256MB'), { path: ['postgresql', 'parameters', 'shared_buffers'], value: '256MB' });
  });
});

describe('applying edits', () => {
  test('set, add and delete in order, without touching the input', () => {
    const before = structuredClone(current);
    const after = applyEdits(current, [parseSetArgument('ttl=20'), parsePgArgument('shared_buffers=256MB'), parsePgArgument('work_mem=null')]);
    assert.deepEqual(after, { ...current, ttl: 20, postgresql: { parameters: { max_connections: 100, shared_buffers: '256MB' } } });
    assert.deepEqual(current, before);
  });
  test('RFC 7386 merge patch: objects merge, null deletes, arrays and scalars replace', () => {
    assert.deepEqual(mergePatch({ a: { b: 1, c: 2 }, d: [1] }, { a: { b: null, e: 3 }, d: [2], f: 'x' }), { a: { c: 2, e: 3 }, d: [2], f: 'x' });
    assert.deepEqual(mergePatch(current, { pause: true }), { ...current, pause: true });
  });
  test("the daemon's validation names the bad field of an edit", () => {
    assert.throws(() => validateDynamicConfig(applyEdits(current, [parseSetArgument('ttl=abc')]), 'config'), /config\.ttl/);
    assert.throws(() => validateDynamicConfig(applyEdits(current, [parseSetArgument('ttl=5')]), 'config'), /config\.ttl: must be >= loop_wait/);
    assert.throws(() => validateDynamicConfig(applyEdits(current, [parseSetArgument('tll=40')]), 'config'), /config\.tll: unknown field \(did you mean "ttl"\?\)/);
    assert.throws(() => validateDynamicConfig(applyEdits(current, [parsePgArgument('port=5433')]), 'config'), /config\.postgresql\.parameters\.port/);
    assert.equal(validateDynamicConfig(applyEdits(current, [parsePgArgument('work_mem=8MB')]), 'config').postgresql.parameters.work_mem, '8MB');
  });
  test('documents: YAML or JSON mappings only', () => {
    assert.deepEqual(parseConfigDocument('ttl: 30\n', 'f'), { ttl: 30 });
    assert.deepEqual(parseConfigDocument('{"ttl": 30}', 'f'), { ttl: 30 });
    assert.deepEqual(parseConfigDocument('', 'f'), {});
    assert.throws(() => parseConfigDocument('- 1\n', 'f.yml'), /f\.yml: expected a mapping/);
    assert.throws(() => parseConfigDocument('a: [', 'f.yml'), /f\.yml: not valid YAML/);
  });
});

describe('diff', () => {
  test('changed lines as - then +, unchanged context, nothing for no change', () => {
    const before = toYaml(current);
    const after = toYaml(applyEdits(current, [parsePgArgument('work_mem=8MB'), parseSetArgument('ttl=40')]));
    const diff = diffLines(before, after, 1);
    assert.match(diff, /^- {4}work_mem: 4MB\n\+ {4}work_mem: 8MB$/m);
    assert.match(diff, /^-ttl: 30\n\+ttl: 40$/m);
    assert.match(diff, /^\.\.\.$/m);
    assert.equal(diffLines(before, before), '');
  });
  test('keys are sorted, so a diff shows values, not reordering', () => {
    assert.equal(diffLines(toYaml({ b: 1, a: 2 }), toYaml({ a: 2, b: 1 })), '');
  });
  test('pure additions and removals', () => {
    assert.equal(diffLines('a\nb\n', 'a\nb\nc\n'), ' a\n b\n+c\n');
    assert.equal(diffLines('a\nb\n', 'b\n'), '-a\n b\n');
  });
});

describe('governorctl helpers', () => {
  const now = new Date('2026-06-01T12:00:00Z');
  test('--scheduled: now, ISO 8601, and clear errors', () => {
    assert.equal(parseScheduledTime(undefined, now), undefined);
    assert.equal(parseScheduledTime('now', now), undefined);
    assert.equal(parseScheduledTime('2026-06-01T14:30:00+02:00', now), '2026-06-01T12:30:00.000Z');
    assert.throws(() => parseScheduledTime('tomorrow', now), /--scheduled: expected an ISO 8601 time/);
    assert.throws(() => parseScheduledTime('2026-06-01T11:00:00Z', now), /--scheduled: 2026-06-01T11:00:00.000Z is in the past/);
  });

  const member = (name: string, over: Partial<Member> = {}): Member => ({
    name, conn_url: 'postgres://127.0.0.1:5432/postgres', api_url: 'http://127.0.0.1:8008/patroni', state: 'streaming', role: 'replica', xlog_location: 0, timeline: 1, ...over,
  });
  const view = (over: Partial<ClusterView>): ClusterView => ({
    initialize: '1', config: null, configRevision: null, leader: { name: 'a', revision: '1', lease: '1' },
    members: [member('a', { role: 'master', state: 'running' }), member('b')], failover: null, sync: null, failsafe: null, history: [], leaderOptime: 0, ...over,
  });
  test('list: a Pending restart column only when a member needs one', () => {
    assert.equal('Pending restart' in listRows('s', view({}))[0]!, false);
    const rows = listRows('s', view({ members: [member('a', { role: 'master', state: 'running' }), member('b', { pending_restart: true })] }));
    assert.deepEqual(rows.map((r) => r['Pending restart']), ['', '*']);
  });
  test('list footer: maintenance mode and a scheduled switchover', () => {
    assert.deepEqual(listFooter(view({})), []);
    const footer = listFooter(view({ config: { ...current, pause: true }, failover: { leader: 'a', member: 'b', scheduled_at: '2026-06-01T12:30:00.000Z' } }));
    assert.equal(footer[0], ' Maintenance mode: on');
    assert.match(footer.join('\n'), /Switchover scheduled at: 2026-06-01T12:30:00.000Z[\s\S]*from: a[\s\S]*to: b/);
  });
});
