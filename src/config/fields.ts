// Checks shared by several sections: names, absolute paths, host:port addresses, a listen address
// with the connect address other members use, and credentials.

import path from 'node:path';
import { parseHostPort } from '../util/ports.js';
import { describe, type Checker, type Raw } from './checker.js';
import type { Credentials } from './types.js';

export const NAME_RE = /^[A-Za-z0-9._-]{1,63}$/;
const WILDCARD_HOSTS = new Set(['0.0.0.0', '::', '*']);

export function checkName(what: string): (s: string) => string | null {
  return (s) =>
    NAME_RE.test(s) && s !== '.' && s !== '..'
      ? null
      : `must be a ${what} of 1-63 characters from A-Z a-z 0-9 . _ -, got ${describe(s)}`;
}

export function checkAbsolutePath(s: string): string | null {
  if (!path.posix.isAbsolute(s)) return `must be an absolute path, got ${describe(s)}`;
  return null;
}

/** Normalize an absolute path: collapse `..`, `//`, drop a trailing slash. */
export function normalizePath(s: string): string {
  if (s === '') return s;
  const n = path.posix.normalize(s);
  return n.length > 1 && n.endsWith('/') ? n.slice(0, -1) : n;
}

function formatHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/** Check a host:port string. Returns the parsed hosts (one unless multiHost) or null. */
export function hostPort(
  ch: Checker,
  p: string,
  value: string,
  opts: { multiHost?: boolean; reachable?: boolean } = {},
): { hosts: string[]; port: number } | null {
  if (value === '') return null; // already reported
  if (/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(value)) {
    ch.fail(p, `expected host:port without a scheme, got ${describe(value)}`);
    return null;
  }
  let parsed: { host: string; port: number };
  try {
    parsed = parseHostPort(value, ch.label(p));
  } catch (err) {
    ch.failLine(p, (err as Error).message);
    return null;
  }
  const hosts = value.trim().startsWith('[') ? [parsed.host] : parsed.host.split(',').map((h) => h.trim());
  if (hosts.length > 1 && !opts.multiHost) {
    ch.fail(p, `expected a single host:port, got ${describe(value)}`);
    return null;
  }
  if (hosts.some((h) => h === '' || /\s/.test(h))) {
    ch.fail(p, `expected host:port, got ${describe(value)}`);
    return null;
  }
  if (opts.reachable && WILDCARD_HOSTS.has(hosts[0]!)) {
    ch.fail(p, `must be an address other members can reach, not the wildcard ${describe(hosts[0])}`);
    return null;
  }
  return { hosts, port: parsed.port };
}

/** listen + connect_address, where connect_address defaults to listen unless listen is a wildcard. */
export function listenAndConnect(
  ch: Checker,
  prefix: string,
  raw: Raw,
  defListen: string,
  multiHost: boolean,
  envHint: string,
): { listen: string; connect_address: string } {
  const listenPath = `${prefix}.listen`;
  const connectPath = `${prefix}.connect_address`;
  const listen = ch.string(listenPath, raw.listen, { def: defListen }).trim();
  const parsedListen = hostPort(ch, listenPath, listen, { multiHost });

  if (raw.connect_address !== undefined && raw.connect_address !== null) {
    const connect = ch.string(connectPath, raw.connect_address, {}).trim();
    hostPort(ch, connectPath, connect, { reachable: true });
    return { listen, connect_address: connect };
  }
  ch.source(connectPath, false);
  if (!parsedListen) return { listen, connect_address: listen };
  if (parsedListen.hosts.some((h) => WILDCARD_HOSTS.has(h))) {
    ch.fail(
      connectPath,
      `required because ${ch.label(listenPath)} (${describe(listen)}) listens on all interfaces; ` +
        `set it (or ${envHint}) to a host:port other members can reach`,
    );
    return { listen, connect_address: '' };
  }
  return { listen, connect_address: `${formatHost(parsedListen.hosts[0]!)}:${parsedListen.port}` };
}

export function credentials(ch: Checker, p: string, value: unknown, defUsername: string | null, hints: { user: string; password: string }): Credentials {
  const m = ch.mapping(p, value, ['username', 'password']);
  const username = ch.string(`${p}.username`, m.username, {
    ...(defUsername === null ? { required: hints.user } : { def: defUsername }),
    check: (s) => (s.length > 63 ? `must be at most 63 characters, got ${describe(s)}` : null),
  });
  const password = ch.string(`${p}.password`, m.password, { required: hints.password, secret: true });
  return { username, password };
}
