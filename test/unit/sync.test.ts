import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Member, SyncState } from '../../src/dcs/types.js';
import type { ReplicationRow } from '../../src/postgres/types.js';
import { pickSyncStandby, planSync, standbyNames, type SyncInput, type SyncStep } from '../../src/ha/sync.js';

const member = (name: string, tags: Member['tags'] = {}): Member => ({
  name,
  conn_url: `postgres://10.0.0.1:5432/postgres`,
  api_url: `http://10.0.0.1:8008/patroni`,
  state: 'streaming',
  role: 'replica',
  tags,
});

const row = (name: string, flush: number, syncState = 'async', state = 'streaming'): ReplicationRow => ({
  applicationName: name,
  clientAddr: '10.0.0.2',
  state,
  sentLsn: flush,
  writeLsn: flush,
  flushLsn: flush,
  replayLsn: flush,
  syncState,
});

const MEMBERS = [member('a'), member('b'), member('c'), member('d', { nosync: true }), member('e', { nofailover: true })];

function input(over: Partial<SyncInput>): SyncInput {
  return { self: 'a', mode: true, strict: false, key: null, names: '', replication: [], members: MEMBERS, ...over };
}

const key = (leader: string, standby: string | null): SyncState => ({ leader, sync_standby: standby });

describe('pickSyncStandby', () => {
  it('the streaming replica that flushed the most, never a nosync or nofailover one', () => {
    assert.equal(pickSyncStandby({ self: 'a', key: null, members: MEMBERS, replication: [row('b', 10), row('c', 20), row('d', 99), row('e', 99)] }), 'c');
  });
  it('keeps the current standby while it streams (no churn)', () => {
    assert.equal(pickSyncStandby({ self: 'a', key: key('a', 'b'), members: MEMBERS, replication: [row('b', 10), row('c', 20)] }), 'b');
  });
  it('a current standby that stopped streaming is replaced', () => {
    assert.equal(pickSyncStandby({ self: 'a', key: key('a', 'b'), members: MEMBERS, replication: [row('b', 10, 'sync', 'catchup'), row('c', 20)] }), 'c');
  });
  it('nobody streaming: none', () => {
    assert.equal(pickSyncStandby({ self: 'a', key: null, members: MEMBERS, replication: [] }), null);
  });
});

describe('standbyNames', () => {
  it('quotes the member name; strict without a standby waits for any', () => {
    assert.equal(standbyNames('node-1', false), '"node-1"');
    assert.equal(standbyNames('we"ird', false), '"we""ird"');
    assert.equal(standbyNames(null, false), '');
    assert.equal(standbyNames(null, true), '*');
  });
});

describe('planSync', () => {
  // [case, input, steps]
  const cases: Array<[string, SyncInput, SyncStep[]]> = [
    ['mode off, nothing set: nothing to do', input({ mode: false }), []],
    [
      'mode off, an earlier standby: revoke it, then clear the names',
      input({ mode: false, key: key('a', 'b'), names: '"b"', replication: [row('b', 10, 'sync')] }),
      [{ writeKey: key('a', null) }, { setNames: '' }],
    ],
    [
      'mode on, fresh: the key becomes ours (no standby yet) and PostgreSQL names the best replica',
      input({ replication: [row('b', 10), row('c', 20)] }),
      [{ writeKey: key('a', null) }, { setNames: '"c"' }],
    ],
    [
      'names set but PostgreSQL does not report it sync yet: wait',
      input({ key: key('a', null), names: '"c"', replication: [row('b', 10), row('c', 20, 'potential')] }),
      [],
    ],
    ['PostgreSQL reports it sync: the key names it', input({ key: key('a', null), names: '"c"', replication: [row('b', 10), row('c', 20, 'sync')] }), [{ writeKey: key('a', 'c') }]],
    ['steady', input({ key: key('a', 'c'), names: '"c"', replication: [row('b', 10), row('c', 20, 'sync')] }), []],
    [
      'the standby stopped streaming: revoke first, then name another',
      input({ key: key('a', 'c'), names: '"c"', replication: [row('b', 10)] }),
      [{ writeKey: key('a', null) }, { setNames: '"b"' }],
    ],
    [
      "a new master (the key is the old leader's, naming us): the key becomes ours first",
      input({ self: 'c', key: key('a', 'c'), names: '', replication: [row('b', 10)] }),
      [{ writeKey: key('c', null) }, { setNames: '"b"' }],
    ],
    ['strict, nobody streaming: commits wait for any standby', input({ strict: true, key: key('a', null), replication: [] }), [{ setNames: '*' }]],
    ['not strict, nobody streaming: asynchronous until one streams', input({ key: key('a', null), names: '"b"', replication: [] }), [{ setNames: '' }]],
  ];
  for (const [name, given, steps] of cases) {
    it(name, () => assert.deepEqual(planSync(given), steps));
  }
});
