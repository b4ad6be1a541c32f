import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { haproxyAlerts } from '../../src/haproxy/files.js';
import { parseServersState, sessionsTo } from '../../src/haproxy/reload.js';
import { forWorker, parseShowProc } from '../../src/haproxy/runtime.js';
import { routingViewFromCluster } from '../../src/haproxy/view.js';
import type { Member } from '../../src/dcs/types.js';

// Answers captured from HAProxy 2.6.12.
const SHOW_PROC = `#<PID>          <type>          <reloads>       <uptime>        <version>
9356            master          4 [failed: 1]   0d00h11m44s     2.6.12-1+deb12u4
# workers
13048           worker          1               0d00h00m07s     2.6.12-1+deb12u4
# old workers
12569           worker          2               0d00h01m07s     2.6.12-1+deb12u4
12001           worker          3               0d00h02m07s     2.6.12-1+deb12u4
# programs

`;

const SERVERS_STATE = `1
# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port
2 master 1 node-a 127.0.0.1 2 0 1 1 0 15 3 2 6 0 0 0 - 33869 - 0 37185 127.0.0.1 127.0.0.1 37185
3 replicas 1 node-b 127.0.0.1 2 0 1 1 0 1 0 1 6 0 0 0 - 32813 - 0 38859 127.0.0.1 127.0.0.1 38859
3 replicas 2 node-a 127.0.0.1 2 0 1 1 0 1 0 1 0 0 0 0 - 33869 - 0 0 - - 0

`;

const SHOW_SESS = `0x562d4ae39910: proto=tcpv4 src=127.0.0.1:52132 fe=master be=master srv=node-a ts=00 epoch=0 age=0s calls=2
0x562d4ae39a20: proto=tcpv4 src=127.0.0.1:52140 fe=replicas be=replicas srv=node-a ts=00 epoch=0 age=0s calls=2
0x562d4ae39b30: proto=tcpv4 src=127.0.0.1:52150 fe=replicas be=replicas srv=node-b ts=00 epoch=0 age=0s calls=2
0x7f802c034be0: proto=sockpair src=unix:2 fe=GLOBAL be=<NONE> srv=<none> ts=00 epoch=0 age=0s calls=1
`;

describe('haproxy runtime answers', () => {
  it('parseShowProc: master, current and old workers', () => {
    assert.deepEqual(parseShowProc(SHOW_PROC), {
      master: { pid: 9356, reloads: 4, failed: 1 },
      workers: [13048],
      oldWorkers: [12569, 12001],
    });
    assert.deepEqual(parseShowProc(''), { master: null, workers: [], oldWorkers: [] });
  });

  it('parseServersState: backend, server, address and maintenance', () => {
    assert.deepEqual(parseServersState(SERVERS_STATE), [
      { backend: 'master', server: 'node-a', host: '127.0.0.1', port: 33869, maint: false },
      { backend: 'replicas', server: 'node-b', host: '127.0.0.1', port: 32813, maint: false },
      { backend: 'replicas', server: 'node-a', host: '127.0.0.1', port: 33869, maint: false },
    ]);
    // admin state 5 = forced maintenance (1) + disabled in the file (4); 4 alone: enabled since.
    const line = (admin: number) => `2 master 1 leader 127.0.0.1 0 ${admin} 1 1 4 1 0 0 14 0 0 0 - 1 - 0 1 127.0.0.1 127.0.0.1 1`;
    assert.equal(parseServersState(line(5))[0]!.maint, true);
    assert.equal(parseServersState(line(4))[0]!.maint, false);
    assert.equal(parseServersState(line(0x20))[0]!.maint, true);
    assert.deepEqual(parseServersState('1\n# be_id ...\n\n'), []);
    assert.deepEqual(parseServersState('Proxy is disabled.\n'), []);
  });

  it('sessionsTo: sessions of the given backend/server pairs', () => {
    assert.deepEqual(sessionsTo(SHOW_SESS, ['master/node-a', 'replicas/node-a']), ['0x562d4ae39910', '0x562d4ae39a20']);
    assert.deepEqual(sessionsTo(SHOW_SESS, ['master/node-a']), ['0x562d4ae39910']);
    assert.deepEqual(sessionsTo(SHOW_SESS, ['master/node-c']), []);
  });

  it('forWorker prefixes every command', () => {
    assert.equal(forWorker(42, ['show info', 'show sess']), '@!42 show info; @!42 show sess');
  });

  it('haproxyAlerts keeps the ALERT lines that explain the failure', () => {
    const output = `[NOTICE]   (9303) : haproxy version is 2.6.12-1+deb12u4
[ALERT]    (9303) : config : parsing [h.cfg:14] : 'bind' : invalid address: 'x' in 'x:15000'
[ALERT]    (9303) : config : Error(s) found in configuration file : h.cfg
[ALERT]    (9303) : config : Fatal errors found in configuration.`;
    assert.equal(haproxyAlerts(output), "config : parsing [h.cfg:14] : 'bind' : invalid address: 'x' in 'x:15000'");
    assert.equal(haproxyAlerts('something else'), 'something else');
  });
});

describe('routingViewFromCluster', () => {
  const member = (name: string, n: number, extra: Partial<Member> = {}): Member => ({
    name,
    conn_url: `postgres://10.0.0.${n}:5432/postgres`,
    api_url: `http://10.0.0.${n}:8008/patroni`,
    state: 'running',
    role: 'replica',
    ...extra,
  });

  it('leader from the leader key, running replicas without noloadbalance', () => {
    const members = [
      member('n1', 1, { role: 'master' }),
      member('n2', 2),
      member('n3', 3, { tags: { noloadbalance: true } }),
      member('n4', 4, { state: 'starting' }),
      member('n5', 5, { conn_url: 'postgres://[fd00::5]:6432/postgres', api_url: 'http://[fd00::5]:9008/patroni' }),
      member('n6', 6, { api_url: 'not a url' }),
    ];
    const view = routingViewFromCluster({ leader: { name: 'n1', revision: '1', lease: '1' }, members });
    assert.deepEqual(view.leader, { name: 'n1', host: '10.0.0.1', port: 5432, apiHost: '10.0.0.1', apiPort: 8008, apiTls: false });
    assert.deepEqual(view.replicas, [
      { name: 'n2', host: '10.0.0.2', port: 5432, apiHost: '10.0.0.2', apiPort: 8008, apiTls: false },
      { name: 'n5', host: 'fd00::5', port: 6432, apiHost: 'fd00::5', apiPort: 9008, apiTls: false },
    ]);
    // Every member with valid addresses gets a server (so it needs no reload once it streams).
    assert.deepEqual(view.members?.map((m) => m.name), ['n1', 'n2', 'n3', 'n4', 'n5']);
  });

  it('no leader key, or a leader without a member key: no leader', () => {
    assert.equal(routingViewFromCluster({ leader: null, members: [member('n1', 1)] }).leader, null);
    assert.equal(routingViewFromCluster({ leader: { name: 'gone', revision: '1', lease: '1' }, members: [] }).leader, null);
  });
});
