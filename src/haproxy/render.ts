// Rendering haproxy.cfg from the cluster view (pure). Deterministic: the same view and settings
// always give byte-identical text, so the manager can skip work when nothing changed.
//
// The file is laid out so that a leader change needs no reload, only runtime API commands
// (runtime-plan.ts), which take effect in under a millisecond where a reload takes hundreds:
// - `listen master` (rw_port) has exactly one server, `leader`, whose address is the member named in
//   the leader key. While nobody holds the key it is in maintenance (`disabled`) with a placeholder
//   address: HAProxy closes the connection, it never routes writes to a member without the key.
// - `listen replicas` (ro_port) has one server per member, enabled for streaming replicas and in
//   maintenance for the others (the leader among them, so that when it rejoins as a replica it is
//   enabled at runtime too), plus optionally `leader:fallback`, a backup server that tracks
//   master/leader (so its health is the /primary check, not /replica).
// Only a member joining (or a leader at a host name, which the runtime API cannot set) changes the
// file's shape and needs a reload.

import net from 'node:net';
import type { HaproxyConfig } from '../config/types.js';
import { HAPROXY_TEMPLATE } from './template.js';

export interface RoutingMember {
  /** Member name (the server name in `listen replicas`, sanitized). */
  name: string;
  /** PostgreSQL address clients are sent to. */
  host: string;
  port: number;
  /** REST API address the health checks ask. */
  apiHost: string;
  apiPort: number;
  /** The REST API serves HTTPS (its api_url is https://): health checks speak TLS. */
  apiTls?: boolean;
}

export interface RoutingView {
  leader: RoutingMember | null;
  /** Members that should get read traffic (streaming replicas). */
  replicas: RoutingMember[];
  /** Every member HAProxy should have a server for (replicas that are not streaming yet too), so
   *  that their becoming a replica needs no reload. Defaults to the leader and the replicas. */
  members?: RoutingMember[];
}

/** The cluster view with no leader and no replicas (what HAProxy starts with). */
export const EMPTY_VIEW: RoutingView = Object.freeze({ leader: null, replicas: Object.freeze([]) as unknown as RoutingMember[] });

/** The one server of `listen master`, and the backup server of `listen replicas` that tracks it.
 *  A ':' never appears in a sanitized member name, so the latter cannot clash with a member. */
export const LEADER_SERVER = 'leader';
export const FALLBACK_SERVER = 'leader:fallback';

/** Where the leader server points while nobody holds the key (it is in maintenance then). */
const PLACEHOLDER = { host: '127.0.0.1', port: 1 };

const HOSTNAME_RE = /^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?)*\.?$/;

/** A member name as a HAProxy server name: characters outside [A-Za-z0-9_.-] become '_'. */
export function sanitizeServerName(name: string): string {
  const clean = name.replace(/[^A-Za-z0-9_.-]/g, '_');
  return clean === '' ? 'member' : clean;
}

function validHost(host: string): boolean {
  return net.isIP(host) !== 0 || HOSTNAME_RE.test(host);
}

function validPort(port: number): boolean {
  return Number.isInteger(port) && port >= 1 && port <= 65535;
}

/** host:port for a server or bind line; IPv6 literals in brackets. */
export function formatAddress(host: string, port: number): string {
  return net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Why a member cannot be rendered (its addresses end up in the file verbatim), or null. */
export function memberProblem(m: RoutingMember): string | null {
  if (!validHost(m.host) || !validPort(m.port)) return 'invalid PostgreSQL address';
  if (!validHost(m.apiHost) || !validPort(m.apiPort)) return 'invalid REST API address';
  return null;
}

/** Both addresses are IP literals, which the runtime API can set (`set server ... addr`). */
export function settableAtRuntime(m: RoutingMember): boolean {
  return net.isIP(m.host) !== 0 && net.isIP(m.apiHost) !== 0;
}

export function sameAddresses(a: RoutingMember | null, b: RoutingMember | null): boolean {
  if (a === null || b === null) return a === b;
  return a.host === b.host && a.port === b.port && a.apiHost === b.apiHost && a.apiPort === b.apiPort;
}

function compareMembers(a: RoutingMember, b: RoutingMember): number {
  const key = (m: RoutingMember) => [m.name, m.host, String(m.port).padStart(5, '0'), m.apiHost, String(m.apiPort).padStart(5, '0')];
  const ka = key(a);
  const kb = key(b);
  for (let i = 0; i < ka.length; i++) {
    if (ka[i]! < kb[i]!) return -1;
    if (ka[i]! > kb[i]!) return 1;
  }
  return 0;
}

/** TLS for a health check against an HTTPS REST API: verified against the CA when there is one. */
function checkTls(apiTls: boolean, caFile: string | null | undefined): string {
  if (!apiTls) return '';
  if (!caFile) return ' check-ssl verify none';
  if (caFile.includes("'")) throw new Error(`haproxy: cannot put ${JSON.stringify(caFile)} in haproxy.cfg (a quote in the path)`);
  return ` check-ssl verify required ca-file '${caFile}'`;
}

/** Whether the members' REST APIs speak HTTPS (they share restapi settings): the leader's, else any member's. */
export function layoutApiTls(layout: RoutingLayout): boolean {
  return layout.leader?.apiTls ?? layout.replicas.some((r) => r.member.apiTls === true);
}

export interface ReplicaServer {
  server: string;
  member: RoutingMember;
  /** Streaming replica: in rotation. Otherwise in maintenance. */
  enabled: boolean;
}

/** What HAProxy should run: the file is rendered from it, runtime commands move between two. */
export interface RoutingLayout {
  /** The member named in the leader key, when its addresses are valid. */
  leader: RoutingMember | null;
  /** One server per member in `listen replicas`, sorted by member. */
  replicas: ReplicaServer[];
  /** Members left out because an address is invalid (it would end up in the file verbatim). */
  skipped: RoutingMember[];
}

/**
 * The layout for a view. `keep`: members HAProxy already has servers for; they stay (in
 * maintenance) even when they left the view, so that a member whose key expired (a dead node)
 * does not change the file's shape in the middle of a failover. The next reload drops them.
 */
export function routingLayout(view: RoutingView, keep: readonly RoutingMember[] = []): RoutingLayout {
  const skipped: RoutingMember[] = [];
  const leader = view.leader && memberProblem(view.leader) === null ? view.leader : null;
  if (view.leader && leader === null) skipped.push(view.leader);
  const streaming = new Set(view.replicas.filter((r) => r.name !== view.leader?.name).map((r) => r.name));

  const byName = new Map<string, RoutingMember>();
  const candidates = [...(view.members ?? []), ...(view.leader ? [view.leader] : []), ...view.replicas];
  for (const member of [...candidates].sort(compareMembers)) {
    if (byName.has(member.name)) continue; // one server per member
    if (memberProblem(member) !== null) {
      if (member !== view.leader) skipped.push(member);
      continue;
    }
    byName.set(member.name, member);
  }
  for (const member of keep) if (!byName.has(member.name) && memberProblem(member) === null) byName.set(member.name, member);

  const used = new Set<string>();
  const replicas: ReplicaServer[] = [];
  for (const member of [...byName.values()].sort(compareMembers)) {
    const base = sanitizeServerName(member.name);
    let server = base;
    for (let i = 2; used.has(server); i++) server = `${base}-${i}`;
    used.add(server);
    replicas.push({ server, member, enabled: streaming.has(member.name) });
  }
  return { leader, replicas, skipped };
}

/**
 * What only a reload can change: the servers of `listen replicas` and their addresses, and the
 * leader's address when the runtime API cannot set it (a host name). Two layouts with the same
 * shape differ only in what runtime commands set.
 */
export function layoutShape(layout: RoutingLayout): string {
  const servers = layout.replicas.map((r) => [r.server, r.member.host, r.member.port, r.member.apiHost, r.member.apiPort, r.member.apiTls === true]);
  const leader = layout.leader && !settableAtRuntime(layout.leader) ? layout.leader : null;
  return JSON.stringify({ servers, leader, apiTls: layoutApiTls(layout) });
}

/** The members a layout has servers for (what HAProxy keeps until the next reload). */
export function layoutMembers(layout: RoutingLayout): RoutingMember[] {
  return layout.replicas.map((r) => r.member);
}

function fill(template: string, values: Record<string, string>): string {
  const lines: string[] = [];
  for (const line of template.split('\n')) {
    const whole = /^\{\{(\w+)\}\}$/.exec(line);
    if (whole && values[whole[1]!] === '') continue;
    lines.push(
      line.replace(/\{\{(\w+)\}\}/g, (_, key: string) => {
        const value = values[key];
        if (value === undefined) throw new Error(`haproxy template: unknown placeholder {{${key}}}`);
        return value;
      }),
    );
  }
  return lines.join('\n').replace(/\n+$/, '') + '\n';
}

/** Who may use the runtime API socket besides its owner, HAProxy's own (never root) user: nobody
 *  when governor runs HAProxy (as governor's user); group haproxy under systemd (governor.service
 *  runs governor with SupplementaryGroups=haproxy). */
export function statsSocketMode(settings: Pick<HaproxyConfig, 'manage'>): string {
  return settings.manage ? '600' : '660';
}

/** haproxy.cfg for this layout. `scope` only appears in a comment. */
export function renderHaproxyConfig(layout: RoutingLayout, settings: HaproxyConfig, scope: string): string {
  const leader = layout.leader;
  const target = leader ?? { ...PLACEHOLDER, apiHost: PLACEHOLDER.host, apiPort: PLACEHOLDER.port };
  const master = [
    leader ? `    # the leader key names ${sanitizeServerName(leader.name)}` : '    # no leader: in maintenance, connections are closed, never sent to a non-leader',
    `    server ${LEADER_SERVER} ${formatAddress(target.host, target.port)}${leader ? '' : ' disabled'} check port ${target.apiPort} addr ${target.apiHost}${checkTls(layoutApiTls(layout), settings.check_ca_file)}`,
  ];
  const skippedLine = (m: RoutingMember) => `    # ${sanitizeServerName(m.name)} left out: ${memberProblem(m)}`;

  const replicas = layout.replicas.map(
    ({ server, member, enabled }) =>
      `    server ${server} ${formatAddress(member.host, member.port)}${enabled ? '' : ' disabled'} check port ${member.apiPort} addr ${member.apiHost}${checkTls(member.apiTls === true, settings.check_ca_file)}`,
  );
  for (const m of layout.skipped) replicas.push(skippedLine(m));
  const fallback = settings.replicas_fallback_to_master;
  if (fallback) {
    // Health and maintenance from master/leader (a backup server cannot have its own check URI).
    replicas.push(`    server ${FALLBACK_SERVER} ${formatAddress(target.host, target.port)} backup track master/${LEADER_SERVER}`);
  }
  if (replicas.length === 0) replicas.push('    # no members yet: connections are closed');

  const stats = settings.stats_listen
    ? ['', 'listen stats', '    mode http', `    bind ${settings.stats_listen}`, '    stats enable', '    stats uri /', '    stats refresh 5s'].join('\n')
    : '';

  const listen = settings.listen_address;
  return fill(HAPROXY_TEMPLATE, {
    scope: sanitizeServerName(scope),
    rw_port: String(settings.rw_port),
    ro_port: String(settings.ro_port),
    fallback_note: fallback ? ' (the leader when none is up)' : '',
    stats_socket: settings.stats_socket,
    stats_socket_mode: statsSocketMode(settings),
    pid_file: settings.pid_file,
    maxconn: String(settings.maxconn),
    bind_address: net.isIPv6(listen) ? `[${listen}]` : listen,
    // "::" alone would take IPv6 only; a wildcard means every address.
    bind_options: listen === '::' ? ' v4v6' : '',
    check_interval_ms: String(settings.check_interval_ms),
    down_interval_ms: String(Math.min(settings.check_interval_ms, 100)),
    master_servers: master.join('\n'),
    replica_servers: replicas.join('\n'),
    stats_section: stats,
  });
}
