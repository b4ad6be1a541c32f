import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { defaultHaproxyConfig } from '../../src/config/defaults.js';
import type { HaproxyConfig } from '../../src/config/types.js';
import { renderHaproxyConfig, sanitizeServerName, serverNames, type RoutingMember, type RoutingView } from '../../src/haproxy/render.js';
import { HAPROXY_TEMPLATE } from '../../src/haproxy/template.js';

const SETTINGS: HaproxyConfig = { ...defaultHaproxyConfig(), enabled: true };

function member(name: string, n: number, host = `10.0.0.${n}`): RoutingMember {
  return { name, host, port: 5432, apiHost: host, apiPort: 8008 };
}

/** The lines of one section (`global`, `defaults`, `listen master`, ...), comments dropped. */
function section(text: string, header: string): string[] {
  const lines = text.split('\n');
  const start = lines.indexOf(header);
  assert.ok(start >= 0, `no section "${header}" in:\n${text}`);
  const body: string[] = [];
  for (const line of lines.slice(start + 1)) {
    if (line !== '' && !line.startsWith(' ')) break;
    if (line.trim() !== '' && !line.trim().startsWith('#')) body.push(line.trim());
  }
  return body;
}

function servers(text: string, listen: string): string[] {
  return section(text, `listen ${listen}`).filter((l) => l.startsWith('server '));
}

describe('haproxy template', () => {
  it('the embedded template is identical to haproxy/haproxy.cfg.template', () => {
    const file = fs.readFileSync(path.join(process.cwd(), 'haproxy', 'haproxy.cfg.template'), 'utf8');
    assert.equal(HAPROXY_TEMPLATE, file);
  });
});

describe('renderHaproxyConfig', () => {
  const a = member('node1', 1);
  const b = member('node2', 2);
  const c = member('node3', 3);

  // [case, view, settings patch, expected master servers, expected replicas servers]
  const cases: Array<[string, RoutingView, Partial<HaproxyConfig>, string[], string[]]> = [
    [
      'leader and two replicas',
      { leader: a, replicas: [c, b] },
      {},
      ['server node1 10.0.0.1:5432 check port 8008 addr 10.0.0.1'],
      [
        'server node2 10.0.0.2:5432 check port 8008 addr 10.0.0.2',
        'server node3 10.0.0.3:5432 check port 8008 addr 10.0.0.3',
        'server node1 10.0.0.1:5432 backup track master/node1',
      ],
    ],
    ['no leader: no server at all on the rw port', { leader: null, replicas: [b] }, {}, [], ['server node2 10.0.0.2:5432 check port 8008 addr 10.0.0.2']],
    ['no replicas, fallback to the leader', { leader: a, replicas: [] }, {}, ['server node1 10.0.0.1:5432 check port 8008 addr 10.0.0.1'], ['server node1 10.0.0.1:5432 backup track master/node1']],
    ['no replicas, no fallback', { leader: a, replicas: [] }, { replicas_fallback_to_master: false }, ['server node1 10.0.0.1:5432 check port 8008 addr 10.0.0.1'], []],
    ['nothing at all', { leader: null, replicas: [] }, {}, [], []],
    [
      'names sanitized and kept unique',
      { leader: member('db 1', 1), replicas: [member('db/1', 2), member('db:2', 3)] },
      {},
      ['server db_1 10.0.0.1:5432 check port 8008 addr 10.0.0.1'],
      [
        'server db_1-2 10.0.0.2:5432 check port 8008 addr 10.0.0.2',
        'server db_2 10.0.0.3:5432 check port 8008 addr 10.0.0.3',
        'server db_1 10.0.0.1:5432 backup track master/db_1',
      ],
    ],
    [
      'the leader listed as a replica too is only the leader',
      { leader: a, replicas: [a, b] },
      { replicas_fallback_to_master: false },
      ['server node1 10.0.0.1:5432 check port 8008 addr 10.0.0.1'],
      ['server node2 10.0.0.2:5432 check port 8008 addr 10.0.0.2'],
    ],
    [
      'IPv6 and host names',
      { leader: member('v6', 1, 'fd00::1'), replicas: [member('dns', 2, 'db2.example.com')] },
      { replicas_fallback_to_master: false },
      ['server v6 [fd00::1]:5432 check port 8008 addr fd00::1'],
      ['server dns db2.example.com:5432 check port 8008 addr db2.example.com'],
    ],
    [
      'invalid addresses are left out, never injected',
      { leader: { ...a, host: '10.0.0.1\n    server evil 6.6.6.6:5432' }, replicas: [{ ...b, apiHost: 'x y' }, { ...c, port: 70000 }] },
      {},
      [],
      [],
    ],
  ];

  for (const [name, view, patch, master, replicas] of cases) {
    it(name, () => {
      const text = renderHaproxyConfig(view, { ...SETTINGS, ...patch }, 'demo');
      assert.deepEqual(servers(text, 'master'), master);
      assert.deepEqual(servers(text, 'replicas'), replicas);
      assert.ok(!text.includes('evil'), text);
      assert.ok(!text.includes('{{'), text);
      assert.ok(text.endsWith('\n') && !text.endsWith('\n\n'));
    });
  }

  it('global, defaults and the health checks', () => {
    const text = renderHaproxyConfig({ leader: a, replicas: [b] }, { ...SETTINGS, maxconn: 321, check_interval_ms: 700 }, 'demo', 101);
    assert.deepEqual(section(text, 'global'), [
      'master-worker',
      'stats socket /run/haproxy/admin.sock mode 600 uid 101 level admin expose-fd listeners',
      'pidfile /run/haproxy/haproxy.pid',
      'maxconn 321',
    ]);
    const defaults = section(text, 'defaults');
    for (const line of ['mode tcp', 'timeout connect 1s', 'timeout client 30m', 'timeout server 30m', 'timeout check 1s', 'option tcpka']) {
      assert.ok(defaults.includes(line), line);
    }
    const master = section(text, 'listen master');
    assert.equal(master[0], 'bind 0.0.0.0:5000');
    for (const line of [
      'option httpchk',
      'http-check send meth GET uri /primary',
      'http-check expect status 200',
      'default-server inter 700 downinter 100 fall 2 rise 1 on-marked-down shutdown-sessions init-addr libc,none',
    ]) {
      assert.ok(master.includes(line), line);
    }
    const replicas = section(text, 'listen replicas');
    assert.equal(replicas[0], 'bind 0.0.0.0:5001');
    assert.ok(replicas.includes('balance roundrobin'));
    assert.ok(replicas.includes('http-check send meth GET uri /replica'));
    assert.ok(!text.includes('listen stats'));
    assert.match(text, /^# haproxy\.cfg for governor cluster "demo"/);
  });

  it('bind address: IPv4, IPv6 (dual stack for ::), host name', () => {
    const bind = (listen_address: string) => section(renderHaproxyConfig({ leader: null, replicas: [] }, { ...SETTINGS, listen_address }, 'x'), 'listen master')[0];
    assert.equal(bind('127.0.0.1'), 'bind 127.0.0.1:5000');
    assert.equal(bind('::'), 'bind [::]:5000 v4v6');
    assert.equal(bind('fd00::9'), 'bind [fd00::9]:5000');
    assert.equal(bind('proxy.local'), 'bind proxy.local:5000');
    assert.equal(bind('*'), 'bind *:5000');
  });

  it('a stats page when stats_listen is set', () => {
    const text = renderHaproxyConfig({ leader: null, replicas: [] }, { ...SETTINGS, stats_listen: '127.0.0.1:7000' }, 'x');
    assert.deepEqual(section(text, 'listen stats'), ['mode http', 'bind 127.0.0.1:7000', 'stats enable', 'stats uri /', 'stats refresh 5s']);
  });

  it('is deterministic: the order of replicas does not matter', () => {
    const one = renderHaproxyConfig({ leader: a, replicas: [b, c] }, SETTINGS, 'demo');
    const two = renderHaproxyConfig({ leader: { ...a }, replicas: [{ ...c }, { ...b }] }, SETTINGS, 'demo');
    assert.equal(one, two);
    assert.notEqual(one, renderHaproxyConfig({ leader: b, replicas: [a, c] }, SETTINGS, 'demo'));
  });

  it('sanitizeServerName and serverNames', () => {
    assert.equal(sanitizeServerName('node-1.dc_2'), 'node-1.dc_2');
    assert.equal(sanitizeServerName('a b/c:d'), 'a_b_c_d');
    assert.equal(sanitizeServerName(''), 'member');
    const names = serverNames({ leader: member('x', 1), replicas: [member('x', 1), member('y', 2), member('y', 2), { ...member('z', 3), host: '' }] });
    assert.equal(names.leader, 'x');
    assert.deepEqual(names.replicas.map((r) => r.server), ['y']);
    assert.deepEqual(names.skipped.map((m) => m.name), ['z']);
  });
});
