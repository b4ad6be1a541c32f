import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { defaultHaproxyConfig } from '../../src/config/defaults.js';
import type { HaproxyConfig } from '../../src/config/types.js';
import { layoutShape, renderHaproxyConfig, routingLayout, sanitizeServerName, type RoutingMember, type RoutingView } from '../../src/haproxy/render.js';
import { runtimeCommands, runtimeErrors } from '../../src/haproxy/runtime-plan.js';
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

/** The file for a view (what the manager renders when it reloads). */
function render(view: RoutingView, settings: HaproxyConfig = SETTINGS, scope = 'demo'): string {
  return renderHaproxyConfig(routingLayout(view), settings, scope);
}

describe('renderHaproxyConfig', () => {
  const a = member('node1', 1);
  const b = member('node2', 2);
  const c = member('node3', 3);
  const placeholder = 'server leader 127.0.0.1:1 disabled check port 1 addr 127.0.0.1';
  const fallback = (host: string) => `server leader:fallback ${host} backup track master/leader`;

  // [case, view, settings patch, expected master servers, expected replicas servers]
  const cases: Array<[string, RoutingView, Partial<HaproxyConfig>, string[], string[]]> = [
    [
      'leader and two replicas: every member has a replicas server, the leader disabled there',
      { leader: a, replicas: [c, b] },
      {},
      ['server leader 10.0.0.1:5432 check port 8008 addr 10.0.0.1'],
      [
        'server node1 10.0.0.1:5432 disabled check port 8008 addr 10.0.0.1',
        'server node2 10.0.0.2:5432 check port 8008 addr 10.0.0.2',
        'server node3 10.0.0.3:5432 check port 8008 addr 10.0.0.3',
        fallback('10.0.0.1:5432'),
      ],
    ],
    [
      'no leader: the one rw server is in maintenance at a placeholder',
      { leader: null, replicas: [b] },
      {},
      [placeholder],
      ['server node2 10.0.0.2:5432 check port 8008 addr 10.0.0.2', fallback('127.0.0.1:1')],
    ],
    [
      'members that do not stream yet get a disabled server',
      { leader: a, replicas: [], members: [a, b] },
      { replicas_fallback_to_master: false },
      ['server leader 10.0.0.1:5432 check port 8008 addr 10.0.0.1'],
      ['server node1 10.0.0.1:5432 disabled check port 8008 addr 10.0.0.1', 'server node2 10.0.0.2:5432 disabled check port 8008 addr 10.0.0.2'],
    ],
    ['nothing at all, no fallback', { leader: null, replicas: [] }, { replicas_fallback_to_master: false }, [placeholder], []],
    [
      'names sanitized and kept unique',
      { leader: member('db 1', 1), replicas: [member('db/1', 2), member('db:2', 3)] },
      { replicas_fallback_to_master: false },
      ['server leader 10.0.0.1:5432 check port 8008 addr 10.0.0.1'],
      [
        'server db_1 10.0.0.1:5432 disabled check port 8008 addr 10.0.0.1',
        'server db_1-2 10.0.0.2:5432 check port 8008 addr 10.0.0.2',
        'server db_2 10.0.0.3:5432 check port 8008 addr 10.0.0.3',
      ],
    ],
    [
      'the leader listed as a replica too is not in rotation for reads',
      { leader: a, replicas: [a, b] },
      { replicas_fallback_to_master: false },
      ['server leader 10.0.0.1:5432 check port 8008 addr 10.0.0.1'],
      ['server node1 10.0.0.1:5432 disabled check port 8008 addr 10.0.0.1', 'server node2 10.0.0.2:5432 check port 8008 addr 10.0.0.2'],
    ],
    [
      'IPv6 and host names',
      { leader: member('v6', 1, 'fd00::1'), replicas: [member('dns', 2, 'db2.example.com')] },
      { replicas_fallback_to_master: false },
      ['server leader [fd00::1]:5432 check port 8008 addr fd00::1'],
      ['server dns db2.example.com:5432 check port 8008 addr db2.example.com', 'server v6 [fd00::1]:5432 disabled check port 8008 addr fd00::1'],
    ],
    [
      'invalid addresses are left out, never injected',
      { leader: { ...a, host: '10.0.0.1\n    server evil 6.6.6.6:5432' }, replicas: [{ ...b, apiHost: 'x y' }, { ...c, port: 70000 }] },
      { replicas_fallback_to_master: false },
      [placeholder],
      [],
    ],
  ];

  for (const [name, view, patch, master, replicas] of cases) {
    it(name, () => {
      const text = render(view, { ...SETTINGS, ...patch });
      assert.deepEqual(servers(text, 'master'), master);
      assert.deepEqual(servers(text, 'replicas'), replicas);
      assert.ok(!text.includes('evil'), text);
      assert.ok(!text.includes('{{'), text);
      assert.ok(text.endsWith('\n') && !text.endsWith('\n\n'));
    });
  }

  it('global, defaults and the health checks', () => {
    const text = renderHaproxyConfig(routingLayout({ leader: a, replicas: [b] }), { ...SETTINGS, maxconn: 321, check_interval_ms: 700 }, 'demo');
    assert.deepEqual(section(text, 'global'), [
      'master-worker',
      // manage: false (systemd): HAProxy runs as haproxy, governor reaches the socket through its group.
      'stats socket /run/haproxy/admin.sock mode 660 level admin expose-fd listeners',
      'pidfile /run/haproxy/haproxy.pid',
      'maxconn 321',
    ]);
    const managed = renderHaproxyConfig(routingLayout({ leader: a, replicas: [b] }), { ...SETTINGS, manage: true }, 'demo');
    assert.ok(section(managed, 'global').includes('stats socket /run/haproxy/admin.sock mode 600 level admin expose-fd listeners'), 'governor\'s own HAProxy: owner only');
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
    const bind = (listen_address: string) => section(render({ leader: null, replicas: [] }, { ...SETTINGS, listen_address }, 'x'), 'listen master')[0];
    assert.equal(bind('127.0.0.1'), 'bind 127.0.0.1:5000');
    assert.equal(bind('::'), 'bind [::]:5000 v4v6');
    assert.equal(bind('fd00::9'), 'bind [fd00::9]:5000');
    assert.equal(bind('proxy.local'), 'bind proxy.local:5000');
    assert.equal(bind('*'), 'bind *:5000');
  });

  it('a stats page when stats_listen is set', () => {
    const text = render({ leader: null, replicas: [] }, { ...SETTINGS, stats_listen: '127.0.0.1:7000' }, 'x');
    assert.deepEqual(section(text, 'listen stats'), ['mode http', 'bind 127.0.0.1:7000', 'stats enable', 'stats uri /', 'stats refresh 5s']);
  });

  it('is deterministic: the order of replicas does not matter', () => {
    const one = render({ leader: a, replicas: [b, c] });
    const two = render({ leader: { ...a }, replicas: [{ ...c }, { ...b }] });
    assert.equal(one, two);
    assert.notEqual(one, render({ leader: b, replicas: [a, c] }));
  });

  it('sanitizeServerName', () => {
    assert.equal(sanitizeServerName('node-1.dc_2'), 'node-1.dc_2');
    assert.equal(sanitizeServerName('a b/c:d'), 'a_b_c_d');
    assert.equal(sanitizeServerName(''), 'member');
  });
});

describe('routingLayout and layoutShape', () => {
  const a = member('node1', 1);
  const b = member('node2', 2);
  const c = member('node3', 3);

  it('one server per member, duplicates and invalid addresses dropped', () => {
    const layout = routingLayout({ leader: member('x', 1), replicas: [member('x', 1), member('y', 2), member('y', 2), { ...member('z', 3), host: '' }] });
    assert.equal(layout.leader?.name, 'x');
    assert.deepEqual(layout.replicas.map((r) => [r.server, r.enabled]), [['x', false], ['y', true]]);
    assert.deepEqual(layout.skipped.map((m) => m.name), ['z']);
  });

  it('members HAProxy already has stay (disabled) until the next reload', () => {
    const layout = routingLayout({ leader: b, replicas: [] }, [a, b, c]);
    assert.deepEqual(layout.replicas.map((r) => [r.member.name, r.enabled]), [['node1', false], ['node2', false], ['node3', false]]);
  });

  // [case, before, after, same shape]
  const shapes: Array<[string, RoutingView, RoutingView, boolean]> = [
    ['leader moves between members', { leader: a, replicas: [b, c] }, { leader: b, replicas: [a, c] }, true],
    ['leader key freed', { leader: a, replicas: [b, c] }, { leader: null, replicas: [b, c], members: [a, b, c] }, true],
    ['a replica stops streaming', { leader: a, replicas: [b, c] }, { leader: a, replicas: [b], members: [a, b, c] }, true],
    ['a member joins', { leader: a, replicas: [b] }, { leader: a, replicas: [b, c] }, false],
    ['a member changes address', { leader: a, replicas: [b] }, { leader: a, replicas: [{ ...b, port: 6432 }] }, false],
    ['a leader at a host name cannot be set at runtime', { leader: a, replicas: [b] }, { leader: { ...b, host: 'db2.example.com' }, replicas: [a], members: [a, b] }, false],
  ];
  for (const [name, before, after, same] of shapes) {
    it(`shape: ${name}`, () => {
      const from = routingLayout(before);
      assert.equal(layoutShape(routingLayout(after, from.replicas.map((r) => r.member))) === layoutShape(from), same);
    });
  }
});

describe('runtimeCommands', () => {
  const a = member('node1', 1);
  const b = member('node2', 2);
  const c = member('node3', 3);
  const layout = (view: RoutingView) => routingLayout(view, [a, b, c]);

  // [case, from, to, fallback, commands]
  const cases: Array<[string, RoutingView, RoutingView, boolean, string[]]> = [
    ['nothing changed', { leader: a, replicas: [b, c] }, { leader: a, replicas: [b, c] }, true, []],
    [
      'switchover a → b: cut a, point at b, mark it up; b leaves and a joins the read rotation',
      { leader: a, replicas: [b, c] },
      { leader: b, replicas: [a, c] },
      true,
      [
        'set server master/leader state maint',
        'shutdown sessions server master/leader',
        'shutdown sessions server replicas/leader:fallback',
        'set server master/leader addr 10.0.0.2 port 5432',
        'set server master/leader check-addr 10.0.0.2 port 8008',
        'set server replicas/leader:fallback addr 10.0.0.2 port 5432',
        'set server master/leader state ready',
        'set server master/leader health up',
        'set server replicas/node1 state ready',
        'set server replicas/node2 state maint',
      ],
    ],
    [
      'leader key freed (no fallback): only the cut',
      { leader: a, replicas: [b, c] },
      { leader: null, replicas: [b, c] },
      false,
      ['set server master/leader state maint', 'shutdown sessions server master/leader'],
    ],
    [
      'a leader after none: nothing to cut',
      { leader: null, replicas: [b, c] },
      { leader: c, replicas: [b] },
      false,
      [
        'set server master/leader addr 10.0.0.3 port 5432',
        'set server master/leader check-addr 10.0.0.3 port 8008',
        'set server master/leader state ready',
        'set server master/leader health up',
        'set server replicas/node3 state maint',
      ],
    ],
  ];
  for (const [name, from, to, fallback, commands] of cases) {
    it(name, () => assert.deepEqual(runtimeCommands(layout(from), layout(to), fallback), commands));
  }

  it('runtimeErrors keeps what is not information', () => {
    assert.equal(runtimeErrors("\nno need to change the addr, port changed from '1' to '5432' by 'stats socket command'\n\n"), '');
    assert.equal(runtimeErrors('IP changed from 10.0.0.1 to 10.0.0.2 by stats socket command\n'), '');
    assert.equal(runtimeErrors('\nNo such server.\n\n'), 'No such server.');
  });
});
