// Rendering haproxy.cfg from the cluster view (pure). Deterministic: the same view and settings
// always give byte-identical text, so the manager can skip a reload when nothing changed.
//
// Port rw_port has exactly one server, the member named in the leader key, or none at all: with
// no server HAProxy closes the connection, it never routes writes to a member without the key.
// Port ro_port has the streaming replicas, and optionally the leader as a backup server that
// tracks master/<leader> (so its health is the /primary check, not /replica).

import net from 'node:net';
import type { HaproxyConfig } from '../config/types.js';
import { HAPROXY_TEMPLATE } from './template.js';

export interface RoutingMember {
  /** Member name (the server name in haproxy.cfg, sanitized). */
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
  replicas: RoutingMember[];
}

/** The cluster view with no leader and no replicas (what HAProxy starts with). */
export const EMPTY_VIEW: RoutingView = Object.freeze({ leader: null, replicas: Object.freeze([]) as unknown as RoutingMember[] });

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
function checkTls(m: RoutingMember, caFile: string | null | undefined): string {
  if (!m.apiTls) return '';
  if (!caFile) return ' check-ssl verify none';
  if (caFile.includes("'")) throw new Error(`haproxy: cannot put ${JSON.stringify(caFile)} in haproxy.cfg (a quote in the path)`);
  return ` check-ssl verify required ca-file '${caFile}'`;
}

function serverLine(server: string, m: RoutingMember, caFile?: string | null): string {
  return `    server ${server} ${formatAddress(m.host, m.port)} check port ${m.apiPort} addr ${m.apiHost}${checkTls(m, caFile)}`;
}

/** The server name each member gets: sanitized, unique, the leader first. Exposed for tests and
 *  for the manager, which needs the leader's server name to cut its sessions. */
export function serverNames(view: RoutingView): {
  leader: string | null;
  replicas: Array<{ member: RoutingMember; server: string }>;
  /** Members left out because an address is invalid (it would end up in the file verbatim). */
  skipped: RoutingMember[];
} {
  const used = new Set<string>();
  const unique = (name: string) => {
    const base = sanitizeServerName(name);
    let candidate = base;
    for (let i = 2; used.has(candidate); i++) candidate = `${base}-${i}`;
    used.add(candidate);
    return candidate;
  };
  const skipped: RoutingMember[] = [];
  const leader = view.leader && memberProblem(view.leader) === null ? unique(view.leader.name) : null;
  if (view.leader && leader === null) skipped.push(view.leader);
  const replicas: Array<{ member: RoutingMember; server: string }> = [];
  const seen = new Set<string>();
  for (const member of [...view.replicas].sort(compareMembers)) {
    if (view.leader && member.name === view.leader.name) continue; // the leader is never a replica
    if (seen.has(member.name)) continue; // one server per member
    seen.add(member.name);
    if (memberProblem(member) !== null) skipped.push(member);
    else replicas.push({ member, server: unique(member.name) });
  }
  return { leader, replicas, skipped };
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

/** haproxy.cfg for this view. `scope` only appears in a comment. */
export function renderHaproxyConfig(view: RoutingView, settings: HaproxyConfig, scope: string): string {
  const names = serverNames(view);
  const skipped = (m: RoutingMember) => `    # ${sanitizeServerName(m.name)} left out: ${memberProblem(m)}`;

  const master: string[] = [];
  if (view.leader && names.leader) master.push(serverLine(names.leader, view.leader, settings.check_ca_file));
  else if (view.leader) master.push(skipped(view.leader), '    # no server: connections are closed, never sent to a non-leader');
  else master.push('    # no leader: no server, connections are closed, never sent to a non-leader');

  const replicas = names.replicas.map(({ member, server }) => serverLine(server, member, settings.check_ca_file));
  for (const m of names.skipped) if (m !== view.leader) replicas.push(skipped(m));
  const fallback = settings.replicas_fallback_to_master;
  if (fallback && view.leader && names.leader) {
    // Health from the leader's /primary check in `listen master` (a backup cannot have its own URI).
    replicas.push(`    server ${names.leader} ${formatAddress(view.leader.host, view.leader.port)} backup track master/${names.leader}`);
  }
  if (replicas.length === 0) replicas.push('    # no streaming replica and no leader to fall back to: connections are closed');

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
