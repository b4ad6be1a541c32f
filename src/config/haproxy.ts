// Checking the `haproxy` block of governor.yml (see HaproxyConfig in types.ts). The values end up in
// haproxy.cfg verbatim, so besides the usual type checks nothing may contain whitespace, quotes or
// `#`, which would change the meaning of the rendered line.

import net from 'node:net';
import path from 'node:path';
import { DEFAULT_HAPROXY } from './defaults.js';
import type { HaproxyConfig } from './types.js';
import { describe, type Checker } from './checker.js';
import { hostPort } from './fields.js';

export const HAPROXY_FIELDS = [
  'enabled',
  'manage',
  'bin',
  'config_file',
  'listen_address',
  'rw_port',
  'ro_port',
  'stats_socket',
  'master_socket',
  'pid_file',
  'replicas_fallback_to_master',
  'check_interval_ms',
  'stats_listen',
  'maxconn',
] as const;

/** sun_path is 108 bytes including the terminating NUL. */
const MAX_SOCKET_PATH = 107;
const HOSTNAME_RE = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;
const UNSAFE_RE = /[\s"'#\\]/;

function checkPath(socket: boolean): (s: string) => string | null {
  return (s) => {
    if (!path.posix.isAbsolute(s)) return `must be an absolute path, got ${describe(s)}`;
    if (UNSAFE_RE.test(s)) return `must not contain whitespace, quotes, # or backslashes, got ${describe(s)}`;
    if (socket && Buffer.byteLength(s) > MAX_SOCKET_PATH) {
      return `must be at most ${MAX_SOCKET_PATH} bytes (the limit of a Unix socket path), got ${Buffer.byteLength(s)}`;
    }
    return null;
  };
}

function checkListenAddress(s: string): string | null {
  if (s === '*' || net.isIP(s) !== 0 || HOSTNAME_RE.test(s)) return null;
  if (/^\[.*\]$/.test(s)) return `must be an IP address or host name without brackets, got ${describe(s)}`;
  return `must be an IP address, a host name or * (without a port), got ${describe(s)}`;
}

function port(ch: Checker, p: string, value: unknown, def: number): number {
  const n = ch.number(p, value, { default: def, min: 1, integer: true });
  if (n > 65535) {
    ch.fail(p, `must be a port number 1-65535, got ${n}`);
    return NaN;
  }
  return n;
}

/** The `haproxy` block; absent or null gives DEFAULT_HAPROXY (routing disabled). */
export function checkHaproxy(ch: Checker, value: unknown): HaproxyConfig {
  const m = ch.mapping('haproxy', value, HAPROXY_FIELDS);
  const d = DEFAULT_HAPROXY;
  const enabled = ch.boolean('haproxy.enabled', m.enabled, d.enabled);
  const manage = ch.boolean('haproxy.manage', m.manage, d.manage);
  const bin = ch.string('haproxy.bin', m.bin, { def: d.bin, check: checkPath(false) });
  const config_file = ch.string('haproxy.config_file', m.config_file, { def: d.config_file, check: checkPath(false) });
  const listen_address = ch.string('haproxy.listen_address', m.listen_address, {
    def: d.listen_address,
    check: checkListenAddress,
  });
  const rw_port = port(ch, 'haproxy.rw_port', m.rw_port, d.rw_port);
  const ro_port = port(ch, 'haproxy.ro_port', m.ro_port, d.ro_port);
  if (rw_port === ro_port) ch.fail('haproxy.ro_port', `must differ from ${ch.label('haproxy.rw_port')} (both are ${rw_port})`);
  const stats_socket = ch.string('haproxy.stats_socket', m.stats_socket, { def: d.stats_socket, check: checkPath(true) });
  const master_socket = ch.string('haproxy.master_socket', m.master_socket, { def: d.master_socket, check: checkPath(true) });
  if (stats_socket !== '' && stats_socket === master_socket) {
    ch.fail('haproxy.master_socket', `must differ from ${ch.label('haproxy.stats_socket')} (both are ${describe(stats_socket)})`);
  }
  const pid_file = ch.string('haproxy.pid_file', m.pid_file, { def: d.pid_file, check: checkPath(false) });
  const replicas_fallback_to_master = ch.boolean(
    'haproxy.replicas_fallback_to_master',
    m.replicas_fallback_to_master,
    d.replicas_fallback_to_master,
  );
  const check_interval_ms = ch.number('haproxy.check_interval_ms', m.check_interval_ms, {
    default: d.check_interval_ms,
    min: 100,
    integer: true,
  });
  const stats_listen = ch.nullableString('haproxy.stats_listen', m.stats_listen);
  if (stats_listen !== null && stats_listen !== '') {
    const parsed = hostPort(ch, 'haproxy.stats_listen', stats_listen.trim());
    if (parsed && (parsed.port === rw_port || parsed.port === ro_port)) {
      ch.fail('haproxy.stats_listen', `port ${parsed.port} is already used by ${ch.label(parsed.port === rw_port ? 'haproxy.rw_port' : 'haproxy.ro_port')}`);
    }
  }
  const maxconn = ch.number('haproxy.maxconn', m.maxconn, { default: d.maxconn, min: 1, integer: true });
  return {
    enabled,
    manage,
    bin: path.posix.normalize(bin),
    config_file: path.posix.normalize(config_file),
    listen_address,
    rw_port,
    ro_port,
    stats_socket: path.posix.normalize(stats_socket),
    master_socket: path.posix.normalize(master_socket),
    pid_file: path.posix.normalize(pid_file),
    replicas_fallback_to_master,
    check_interval_ms,
    stats_listen: stats_listen === null ? null : stats_listen.trim(),
    maxconn,
  };
}
