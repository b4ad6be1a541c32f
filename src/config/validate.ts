// Checking a raw configuration tree (parsed YAML with environment values overlaid) and turning it
// into a typed, defaulted configuration. Every problem is collected, not just the first, and
// every message starts with the dotted field (or `ENV_VAR (dotted.field)`).

import path from 'node:path';
import { parseHostPort } from '../util/ports.js';
import { checkArchive } from './archive.js';
import { checkDataDirPolicy, DATA_DIR_POLICY_FIELDS } from './data-dir.js';
import { checkHaproxy } from './haproxy.js';
import { localOnlyMessage, localOnlyReason } from './local-only-parameters.js';
import { bothOrNeither, checkCtl, checkPostgresqlSsl, SSL_PARAMETERS, tlsFile } from './tls.js';
import {
  DEFAULT_DYNAMIC_CONFIG,
  DEFAULT_ETCD,
  DEFAULT_IMDS,
  DEFAULT_LOG_LEVEL,
  DEFAULT_NAMESPACE,
  DEFAULT_POSTGRESQL,
  DEFAULT_RESTAPI,
  DEFAULT_TAGS,
  DYNAMIC_LIMITS,
} from './defaults.js';
import type {
  Credentials,
  DynamicConfig,
  EtcdConfig,
  GovernorConfig,
  ImdsMode,
  PostgresqlConfig,
  RestApiConfig,
  Tags,
} from './types.js';

/** Where a leaf value came from ('imds': the EC2 instance metadata service). */
export type ConfigSource = 'default' | 'file' | 'imds' | `env:${string}`;

export type Raw = Record<string, unknown>;
type ParamValue = string | number | boolean;

export function isMapping(value: unknown): value is Raw {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** A short, safe description of a (non-secret) value for error messages. */
export function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (typeof value === 'string') {
    const shown = value.length > 80 ? value.slice(0, 77) + '...' : value;
    return JSON.stringify(shown);
  }
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return typeof value;
}

/** The type of a value, for messages that must not show the value itself. */
export function typeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return typeof value === 'undefined' ? 'nothing' : `a ${typeof value}`;
}

/** Edit distance counting an adjacent transposition as one edit (optimal string alignment). */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, d[i - 2]![j - 2]! + 1);
      d[i]![j] = best;
    }
  }
  return d[a.length]![b.length]!;
}

/** The known name closest to `name`, if it is close enough to be a likely typo. */
export function closest(name: string, known: readonly string[]): string | undefined {
  const norm = (s: string) => s.toLowerCase().replace(/-/g, '_');
  const target = norm(name);
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of known) {
    const d = editDistance(target, norm(candidate));
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  const limit = Math.min(3, Math.max(1, Math.floor(name.length / 3)));
  return bestDistance <= limit ? best : undefined;
}

export function join(parent: string, key: string): string {
  return parent === '' ? key : `${parent}.${key}`;
}

interface NumberRule {
  default: number;
  min: number;
  integer?: boolean;
}

/** Collects errors and value sources while a tree is checked. */
export class Checker {
  readonly errors: string[] = [];
  readonly sources: Record<string, ConfigSource> = {};
  /** Dotted paths of the fields declared secret (checked with `secret: true`), set or not: what
   *  `governor config --print` masks, whatever the field is called. */
  readonly secrets = new Set<string>();
  private readonly suppressed: string[] = [];

  /**
   * @param origins dotted path → environment variable that set it.
   * @param renames [canonical prefix, displayed prefix] pairs, most specific first, so errors
   *                name the field as the user spelled it (aliases such as `etcd3`).
   * @param fromImds dotted paths whose values came from the EC2 instance metadata service.
   */
  constructor(
    readonly origins: ReadonlyMap<string, string> = new Map(),
    readonly renames: ReadonlyArray<readonly [string, string]> = [],
    readonly fromImds: ReadonlySet<string> = new Set(),
  ) {}

  envVar(p: string): string | undefined {
    return this.origins.get(p) ?? this.origins.get(p.replace(/\[\d+\]$/, ''));
  }

  fromEnv(p: string): boolean {
    return this.envVar(p) !== undefined;
  }

  private display(p: string): string {
    for (const [from, to] of this.renames) {
      if (p === from || p.startsWith(from + '.') || p.startsWith(from + '[')) return to + p.slice(from.length);
    }
    return p;
  }

  label(p: string): string {
    const v = this.envVar(p);
    if (v !== undefined) return `${v} (${p})`;
    if (this.fromImds.has(p)) return `${p} (from the EC2 instance metadata)`;
    return p === '' ? 'configuration' : this.display(p);
  }

  private isSuppressed(p: string): boolean {
    return this.suppressed.some((s) => s === '' || p === s || p.startsWith(s + '.') || p.startsWith(s + '['));
  }

  /** Record `<field>: <message>`. */
  fail(p: string, message: string): void {
    if (!this.isSuppressed(p)) this.errors.push(`${this.label(p)}: ${message}`);
  }

  /** Record a message that already names the field (e.g. from parseHostPort). */
  failLine(p: string, line: string): void {
    if (!this.isSuppressed(p)) this.errors.push(line);
  }

  source(p: string, present: boolean): void {
    const v = this.envVar(p);
    this.sources[p] = v !== undefined ? `env:${v}` : this.fromImds.has(p) ? 'imds' : present ? 'file' : 'default';
  }

  /** A mapping with only `known` keys (any keys when known is null). Absent or null → {}. */
  mapping(p: string, value: unknown, known: readonly string[] | null): Raw {
    if (value === undefined || value === null) return {};
    if (!isMapping(value)) {
      // Only the type: a block in the wrong shape may hold a secret (authentication: "user:pw").
      const got = `got ${typeOf(value)}`;
      this.fail(p, p === '' ? `expected a mapping at the top level, ${got}` : `expected a mapping, ${got}`);
      this.suppressed.push(p);
      return {};
    }
    if (known) {
      for (const key of Object.keys(value)) {
        if (known.includes(key)) continue;
        const guess = closest(key, known);
        this.fail(
          join(p, key),
          guess ? `unknown field (did you mean "${guess}"?)` : `unknown field (expected one of: ${known.join(', ')})`,
        );
      }
    }
    return value;
  }

  /** A string. `required` (a hint) makes absence an error; otherwise absence gives `def`. */
  string(
    p: string,
    value: unknown,
    opts: { def?: string; required?: string; secret?: boolean; check?: (s: string) => string | null },
  ): string {
    this.source(p, value !== undefined);
    if (opts.secret) this.secrets.add(p);
    if (value === undefined || (value === null && opts.required !== undefined)) {
      if (opts.required !== undefined) {
        this.fail(p, `required${opts.required ? ` (${opts.required})` : ''}`);
        return '';
      }
      return opts.def ?? '';
    }
    return this.checkString(p, value, opts);
  }

  /** A string or null; absent → null. */
  nullableString(p: string, value: unknown, opts: { secret?: boolean; check?: (s: string) => string | null } = {}): string | null {
    this.source(p, value !== undefined);
    if (opts.secret) this.secrets.add(p);
    if (value === undefined || value === null) return null;
    return this.checkString(p, value, opts);
  }

  private checkString(p: string, value: unknown, opts: { secret?: boolean; check?: (s: string) => string | null }): string {
    if (typeof value !== 'string') {
      this.fail(
        p,
        opts.secret
          ? `must be a string (got ${typeOf(value)}; quote it in YAML; value not shown)`
          : `must be a string, got ${describe(value)}`,
      );
      return '';
    }
    if (value === '') {
      this.fail(p, 'must not be empty');
      return '';
    }
    if (/[\0\r\n]/.test(value)) {
      this.fail(p, opts.secret ? 'must not contain line breaks or NUL (value not shown)' : `must not contain line breaks or NUL, got ${describe(value)}`);
      return '';
    }
    const problem = opts.check?.(value);
    if (problem) {
      this.fail(p, problem);
      return '';
    }
    return value;
  }

  /** A number with a lower bound; environment strings are converted. NaN when invalid. */
  number(p: string, value: unknown, rule: NumberRule): number {
    this.source(p, value !== undefined);
    if (value === undefined) return rule.default;
    const what = `${rule.integer ? 'an integer' : 'a number'} >= ${rule.min}`;
    let n: number | undefined;
    if (typeof value === 'number') n = value;
    else if (typeof value === 'string' && this.fromEnv(p) && value.trim() !== '') n = Number(value.trim());
    if (n === undefined || !Number.isFinite(n) || (rule.integer && !Number.isInteger(n)) || n < rule.min) {
      this.fail(p, `must be ${what}, got ${describe(value)}`);
      return NaN;
    }
    return n;
  }

  /** A boolean; environment strings true/false/1/0 (any case) are converted. */
  boolean(p: string, value: unknown, def: boolean): boolean {
    this.source(p, value !== undefined);
    if (value === undefined) return def;
    if (typeof value === 'boolean') return value;
    if (typeof value === 'string' && this.fromEnv(p)) {
      const v = value.trim().toLowerCase();
      if (v === 'true' || v === '1') return true;
      if (v === 'false' || v === '0') return false;
      this.fail(p, `must be true, false, 1 or 0, got ${describe(value)}`);
      return def;
    }
    this.fail(p, `must be true or false, got ${describe(value)}`);
    return def;
  }

  /** One of `allowed` (compared case-insensitively, returned as listed). */
  choice<T extends string>(p: string, value: unknown, allowed: readonly T[], def: T): T {
    this.source(p, value !== undefined);
    if (value === undefined) return def;
    const found = typeof value === 'string' ? allowed.find((a) => a === value.trim().toLowerCase()) : undefined;
    if (found === undefined) {
      this.fail(p, `must be one of ${allowed.map((a) => `"${a}"`).join(', ')}, got ${describe(value)}`);
      return def;
    }
    return found;
  }
}

// ---------------------------------------------------------------------------------------------
// Field-specific checks

const NAME_RE = /^[A-Za-z0-9._-]{1,63}$/;
const WILDCARD_HOSTS = new Set(['0.0.0.0', '::', '*']);
const PARAMETER_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/;
const OS_USER_RE = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,31}\$?$/;

/** PostgreSQL parameters governor derives from other settings; setting them directly would
 *  contradict those settings (e.g. a `port` that differs from postgresql.connect_address). */
const MANAGED_PARAMETERS: Record<string, string> = {
  listen_addresses: 'postgresql.listen',
  port: 'postgresql.listen',
  unix_socket_directories: 'postgresql.socket_dir',
  data_directory: 'postgresql.data_dir',
  config_file: 'governor (it writes postgresql.conf)',
  hba_file: 'governor (add lines with postgresql.pg_hba)',
  ident_file: 'governor',
};

function checkName(what: string): (s: string) => string | null {
  return (s) =>
    NAME_RE.test(s) && s !== '.' && s !== '..'
      ? null
      : `must be a ${what} of 1-63 characters from A-Z a-z 0-9 . _ -, got ${describe(s)}`;
}

/** Long enough that guessing it is out of reach: at least 16 characters (generate one with
 *  `openssl rand -hex 32`). */
function checkClusterSecret(s: string): string | null {
  return s.length >= 16 ? null : 'must be at least 16 characters (generate one with: openssl rand -hex 32)';
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
function listenAndConnect(
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

/** A PostgreSQL parameter mapping; names are lower-cased (PostgreSQL ignores their case).
 *  `clusterWide`: the cluster's configuration, where parameters that run commands, load code or
 *  name files are refused (local-only-parameters.ts). */
function parameters(ch: Checker, p: string, value: unknown, clusterWide = false): Record<string, ParamValue> {
  const m = ch.mapping(p, value, null);
  const out: Record<string, ParamValue> = {};
  const seen = new Map<string, string>(); // lower-cased → key as written
  const keys = Object.keys(m);
  if (keys.length === 0) ch.source(p, value !== undefined);
  for (const key of keys) {
    const kp = `${p}.${key}`;
    const lower = key.toLowerCase();
    if (!PARAMETER_NAME_RE.test(key) || lower === '__proto__') {
      ch.fail(kp, 'not a valid PostgreSQL parameter name');
      continue;
    }
    const managed = MANAGED_PARAMETERS[lower];
    if (managed) {
      ch.fail(kp, `is set by governor from ${managed}; remove it here`);
      continue;
    }
    const localOnly = clusterWide ? localOnlyReason(lower) : null;
    if (localOnly) {
      ch.fail(kp, localOnlyMessage(localOnly));
      continue;
    }
    const previous = seen.get(lower);
    if (previous !== undefined) {
      const previousFromEnv = ch.fromEnv(`${p}.${previous}`);
      if (previousFromEnv) continue; // the environment wins over a differently-cased file key
      if (!ch.fromEnv(kp)) {
        ch.fail(kp, `duplicates ${describe(previous)} (parameter names are case-insensitive)`);
        continue;
      }
    }
    seen.set(lower, key);
    const v = m[key];
    if (typeof v === 'number') {
      if (!Number.isFinite(v)) {
        ch.fail(kp, `must be a finite number, got ${describe(v)}`);
        continue;
      }
    } else if (typeof v === 'string') {
      if (/[\0\r\n]/.test(v)) {
        ch.fail(kp, 'must not contain line breaks or NUL');
        continue;
      }
    } else if (typeof v !== 'boolean') {
      ch.fail(kp, `must be a string, number or boolean, got ${describe(v)}`);
      continue;
    }
    out[lower] = v;
    ch.sources[`${p}.${lower}`] = ch.fromEnv(kp) ? `env:${ch.envVar(kp)}` : 'file';
  }
  return out;
}

/** Cluster-wide settings (bootstrap.dcs, or the DCS `config` key). */
export function checkDynamic(ch: Checker, p: string, value: unknown): DynamicConfig {
  const m = ch.mapping(p, value, ['ttl', 'loop_wait', 'retry_timeout', 'maximum_lag_on_failover', 'postgresql', 'pause', 'failsafe_mode', 'synchronous_mode', 'synchronous_mode_strict']);
  const d = DEFAULT_DYNAMIC_CONFIG;
  const ttl = ch.number(`${p}.ttl`, m.ttl, { default: d.ttl, min: DYNAMIC_LIMITS.ttl, integer: true });
  const loop_wait = ch.number(`${p}.loop_wait`, m.loop_wait, { default: d.loop_wait, min: DYNAMIC_LIMITS.loop_wait });
  const retry_timeout = ch.number(`${p}.retry_timeout`, m.retry_timeout, {
    default: d.retry_timeout,
    min: DYNAMIC_LIMITS.retry_timeout,
  });
  const maximum_lag_on_failover = ch.number(`${p}.maximum_lag_on_failover`, m.maximum_lag_on_failover, {
    default: d.maximum_lag_on_failover,
    min: 0,
    integer: true,
  });
  const pg = ch.mapping(`${p}.postgresql`, m.postgresql, ['parameters']);
  const params = parameters(ch, `${p}.postgresql.parameters`, pg.parameters, true);
  const pause = ch.boolean(`${p}.pause`, m.pause, d.pause ?? false);
  const failsafe_mode = ch.boolean(`${p}.failsafe_mode`, m.failsafe_mode, d.failsafe_mode ?? true);
  const synchronous_mode = ch.boolean(`${p}.synchronous_mode`, m.synchronous_mode, d.synchronous_mode ?? false);
  const synchronous_mode_strict = ch.boolean(`${p}.synchronous_mode_strict`, m.synchronous_mode_strict, d.synchronous_mode_strict ?? false);

  if (![ttl, loop_wait, retry_timeout].some(Number.isNaN) && ttl < loop_wait + 2 * retry_timeout) {
    ch.fail(
      `${p}.ttl`,
      `must be >= loop_wait + 2 * retry_timeout (${loop_wait} + 2 * ${retry_timeout} = ${loop_wait + 2 * retry_timeout}), got ${ttl}: ` +
        'the master renews its leader key every loop_wait and each etcd call may take up to retry_timeout, ' +
        'so a shorter ttl lets the key expire under a healthy master; raise ttl or lower loop_wait/retry_timeout',
    );
  }
  return { ttl, loop_wait, retry_timeout, maximum_lag_on_failover, postgresql: { parameters: params }, pause, failsafe_mode, synchronous_mode, synchronous_mode_strict };
}

function checkEtcd(ch: Checker, value: unknown): EtcdConfig {
  const m = ch.mapping('etcd', value, ['hosts', 'protocol', 'username', 'password', 'cacert', 'cert', 'key']);

  let hosts: string[] = [...DEFAULT_ETCD.hosts];
  ch.source('etcd.hosts', m.hosts !== undefined);
  if (m.hosts !== undefined) {
    let list: unknown[] | null = null;
    if (typeof m.hosts === 'string') list = m.hosts.split(',').map((s) => s.trim()).filter((s) => s !== '');
    else if (Array.isArray(m.hosts)) list = m.hosts;
    else ch.fail('etcd.hosts', `expected a list of host:port (or a comma-separated string), got ${describe(m.hosts)}`);
    if (list) {
      hosts = [];
      if (list.length === 0) ch.fail('etcd.hosts', 'must list at least one host:port');
      list.forEach((item, i) => {
        const ip = `etcd.hosts[${i}]`;
        if (typeof item !== 'string') {
          ch.fail(ip, `expected host:port, got ${describe(item)}`);
          return;
        }
        const h = item.trim();
        if (hostPort(ch, ip, h)) hosts.push(h);
      });
    }
  }

  const protocol = ch.choice('etcd.protocol', m.protocol, ['http', 'https'] as const, DEFAULT_ETCD.protocol);
  const username = ch.nullableString('etcd.username', m.username);
  const password = ch.nullableString('etcd.password', m.password, { secret: true });
  const cacert = tlsFile(ch, 'etcd.cacert', m.cacert);
  const cert = tlsFile(ch, 'etcd.cert', m.cert);
  const key = tlsFile(ch, 'etcd.key', m.key);

  if (username !== null && password === null) ch.fail('etcd.password', `required when ${ch.label('etcd.username')} is set (or ETCD_PASSWORD)`);
  if (password !== null && username === null) ch.fail('etcd.username', `required when ${ch.label('etcd.password')} is set (or ETCD_USERNAME)`);
  if (cert !== null && key === null) ch.fail('etcd.key', `required when ${ch.label('etcd.cert')} is set (or ETCD_KEY)`);
  if (key !== null && cert === null) ch.fail('etcd.cert', `required when ${ch.label('etcd.key')} is set (or ETCD_CERT)`);
  if (protocol === 'http' && (cacert !== null || cert !== null || key !== null)) {
    const tls = (['etcd.cacert', 'etcd.cert', 'etcd.key'] as const).filter((_, i) => [cacert, cert, key][i] !== null);
    ch.fail('etcd.protocol', `is "http" but TLS files are set (${tls.map((f) => ch.label(f)).join(', ')}); use "https" (or ETCD_PROTOCOL=https)`);
  }
  return { hosts, protocol, username, password, cacert, cert, key };
}

function credentials(ch: Checker, p: string, value: unknown, defUsername: string | null, hints: { user: string; password: string }): Credentials {
  const m = ch.mapping(p, value, ['username', 'password']);
  const username = ch.string(`${p}.username`, m.username, {
    ...(defUsername === null ? { required: hints.user } : { def: defUsername }),
    check: (s) => (s.length > 63 ? `must be at most 63 characters, got ${describe(s)}` : null),
  });
  const password = ch.string(`${p}.password`, m.password, { required: hints.password, secret: true });
  return { username, password };
}

function checkRestApi(ch: Checker, value: unknown): RestApiConfig {
  const m = ch.mapping('restapi', value, ['listen', 'connect_address', 'authentication', 'certfile', 'keyfile', 'cafile']);
  const addresses = listenAndConnect(ch, 'restapi', m, DEFAULT_RESTAPI.listen, false, 'GOVERNOR_RESTAPI_CONNECT_ADDRESS');
  let authentication: Credentials | null = null;
  if (m.authentication === undefined || m.authentication === null) {
    ch.source('restapi.authentication', m.authentication !== undefined);
  } else {
    authentication = credentials(ch, 'restapi.authentication', m.authentication, null, {
      user: 'set it, or GOVERNOR_RESTAPI_USERNAME, or remove restapi.authentication',
      password: 'set it, or GOVERNOR_RESTAPI_PASSWORD, or remove restapi.authentication',
    });
  }
  const certfile = tlsFile(ch, 'restapi.certfile', m.certfile);
  const keyfile = tlsFile(ch, 'restapi.keyfile', m.keyfile);
  const cafile = tlsFile(ch, 'restapi.cafile', m.cafile);
  bothOrNeither(ch, ['restapi.certfile', certfile], ['restapi.keyfile', keyfile]);
  return { ...addresses, authentication, certfile, keyfile, cafile };
}

/** on/off; YAML booleans are taken too (`imds: false`). */
function checkImds(ch: Checker, value: unknown): ImdsMode {
  if (typeof value === 'boolean') {
    ch.source('imds', true);
    return value ? 'on' : 'off';
  }
  return ch.choice('imds', value, ['on', 'off'] as const, DEFAULT_IMDS);
}

function checkPostgresql(ch: Checker, value: unknown): PostgresqlConfig {
  const m = ch.mapping('postgresql', value, [
    'bin_dir',
    'data_dir',
    'listen',
    'connect_address',
    'socket_dir',
    'authentication',
    'parameters',
    'pg_hba',
    'run_as_user',
    'ssl',
    ...DATA_DIR_POLICY_FIELDS,
  ]);
  const d = DEFAULT_POSTGRESQL;
  const bin_dir = normalizePath(ch.string('postgresql.bin_dir', m.bin_dir, { def: d.bin_dir, check: checkAbsolutePath }));
  const data_dir = normalizePath(
    ch.string('postgresql.data_dir', m.data_dir, {
      def: d.data_dir,
      check: (s) => checkAbsolutePath(s) ?? (normalizePath(s) === '/' ? 'must not be the root directory' : null),
    }),
  );
  const addresses = listenAndConnect(ch, 'postgresql', m, d.listen, true, 'GOVERNOR_POSTGRESQL_CONNECT_ADDRESS');
  const socket_dir = normalizePath(ch.string('postgresql.socket_dir', m.socket_dir, { def: d.socket_dir, check: checkAbsolutePath }));

  const auth = ch.mapping('postgresql.authentication', m.authentication, ['superuser', 'replication']);
  const superuser = credentials(ch, 'postgresql.authentication.superuser', auth.superuser, d.superuser_username, {
    user: 'PGUSER_SUPERUSER',
    password: 'set it in the file or PGPASSWORD_SUPERUSER',
  });
  const replication = credentials(ch, 'postgresql.authentication.replication', auth.replication, d.replication_username, {
    user: 'PGUSER_STANDBY',
    password: 'set it in the file or PGPASSWORD_STANDBY',
  });
  if (superuser.username !== '' && superuser.username === replication.username && superuser.password !== replication.password) {
    ch.fail(
      'postgresql.authentication.replication.username',
      `is the same role as the superuser (${describe(superuser.username)}) but the passwords differ`,
    );
  }

  const params = parameters(ch, 'postgresql.parameters', m.parameters);

  const pg_hba: string[] = [];
  ch.source('postgresql.pg_hba', m.pg_hba !== undefined);
  if (m.pg_hba !== undefined && m.pg_hba !== null) {
    if (!Array.isArray(m.pg_hba)) ch.fail('postgresql.pg_hba', `expected a list of pg_hba.conf lines, got ${describe(m.pg_hba)}`);
    else
      m.pg_hba.forEach((line, i) => {
        const lp = `postgresql.pg_hba[${i}]`;
        if (typeof line !== 'string' || line.trim() === '') ch.fail(lp, `expected a pg_hba.conf line, got ${describe(line)}`);
        else if (/[\0\r\n]/.test(line)) ch.fail(lp, 'must be a single line');
        else pg_hba.push(line);
      });
  }

  const run_as_user = ch.nullableString('postgresql.run_as_user', m.run_as_user, {
    check: (s) => (OS_USER_RE.test(s) ? null : `must be an OS user name, got ${describe(s)}`),
  });

  const ssl = checkPostgresqlSsl(ch, m.ssl);
  if (ssl.cert_file !== null) {
    for (const name of SSL_PARAMETERS) {
      if (params[name] !== undefined) ch.fail(`postgresql.parameters.${name}`, 'is set by governor from postgresql.ssl; remove it here');
    }
  }

  return {
    bin_dir,
    data_dir,
    ...addresses,
    socket_dir,
    authentication: { superuser, replication },
    parameters: params,
    pg_hba,
    run_as_user,
    ssl,
    ...checkDataDirPolicy(ch, m),
  };
}

/** Tags governor understands; Patroni's other well-known tags are allowed without a typo check. */
const KNOWN_TAGS = ['nofailover', 'noloadbalance', 'failover_priority'] as const;
const OTHER_PATRONI_TAGS = ['nosync', 'nostream', 'clonefrom', 'replicatefrom', 'nosync_priority'];

function checkTags(ch: Checker, value: unknown): Tags {
  const m = ch.mapping('tags', value, null);
  const tags: Tags = {
    nofailover: ch.boolean('tags.nofailover', m.nofailover, DEFAULT_TAGS.nofailover),
    noloadbalance: ch.boolean('tags.noloadbalance', m.noloadbalance, DEFAULT_TAGS.noloadbalance),
    failover_priority: ch.number('tags.failover_priority', m.failover_priority, {
      default: DEFAULT_TAGS.failover_priority,
      min: 0,
      integer: true,
    }),
  };
  for (const key of Object.keys(m)) {
    if ((KNOWN_TAGS as readonly string[]).includes(key)) continue;
    if (key === '__proto__') {
      ch.fail(`tags.${key}`, 'not allowed as a tag name');
      continue;
    }
    const guess = OTHER_PATRONI_TAGS.includes(key) ? undefined : closest(key, KNOWN_TAGS);
    if (guess) {
      // An unknown tag is kept silently, so a misspelt nofailover would quietly do nothing.
      ch.fail(`tags.${key}`, `unknown tag that looks like a misspelling (did you mean "${guess}"?)`);
      continue;
    }
    tags[key] = structuredClone(m[key]);
    ch.source(`tags.${key}`, true);
  }
  return tags;
}

function checkNamespace(ch: Checker, value: unknown): string {
  const raw = ch.string('namespace', value, { def: DEFAULT_NAMESPACE });
  if (raw === '') return raw;
  const ns = raw.replace(/^\/+|\/+$/g, '');
  const ok = ns !== '' && ns.split('/').every((seg) => NAME_RE.test(seg) && seg !== '.' && seg !== '..');
  if (!ok) {
    ch.fail('namespace', `must be one or more /-separated names of A-Z a-z 0-9 . _ - (e.g. "service"), got ${describe(raw)}`);
    return '';
  }
  return ns;
}

function checkMemberName(ch: Checker, value: unknown, hostname: string): string {
  if (value === undefined) {
    ch.source('name', false);
    if (checkName('member name')(hostname) !== null) {
      ch.fail('name', `not set, and the host name ${describe(hostname)} is not a valid member name (1-63 of A-Z a-z 0-9 . _ -); set name (or GOVERNOR_NAME)`);
      return '';
    }
    return hostname;
  }
  return ch.string('name', value, { check: checkName('member name') });
}

export const TOP_LEVEL_FIELDS = ['scope', 'namespace', 'name', 'etcd', 'restapi', 'postgresql', 'bootstrap', 'tags', 'log', 'haproxy', 'archive', 'ctl', 'imds', 'cluster_secret'] as const;

/** Check a whole (alias-normalized, env-overlaid) tree. Errors are left in `ch.errors`. */
export function checkGovernor(ch: Checker, tree: unknown, hostname: string): GovernorConfig {
  const root = ch.mapping('', tree, TOP_LEVEL_FIELDS);
  const scope = ch.string('scope', root.scope, {
    required: 'set scope in the file, or SCOPE / GOVERNOR_SCOPE',
    check: checkName('cluster name'),
  });
  const namespace = checkNamespace(ch, root.namespace);
  const name = checkMemberName(ch, root.name, hostname);
  const etcd = checkEtcd(ch, root.etcd);
  const restapi = checkRestApi(ch, root.restapi);
  const postgresql = checkPostgresql(ch, root.postgresql);
  const bootstrap = ch.mapping('bootstrap', root.bootstrap, ['dcs']);
  const dcs = checkDynamic(ch, 'bootstrap.dcs', bootstrap.dcs);
  const tags = checkTags(ch, root.tags);
  const log = ch.mapping('log', root.log, ['level']);
  const level = ch.choice('log.level', log.level, ['debug', 'info', 'warn', 'error'] as const, DEFAULT_LOG_LEVEL);
  const haproxy = checkHaproxy(ch, root.haproxy);
  const archive = checkArchive(ch, root.archive, postgresql.data_dir);
  const ctl = checkCtl(ch, root.ctl);
  const imds = checkImds(ch, root.imds);
  const cluster_secret = ch.nullableString('cluster_secret', root.cluster_secret, { secret: true, check: checkClusterSecret });
  if (cluster_secret !== null && restapi.authentication && cluster_secret === restapi.authentication.password) {
    ch.fail('cluster_secret', 'must differ from restapi.authentication.password (the REST password travels to every peer; the secret never does)');
  }
  return { scope, namespace, name, etcd, restapi, postgresql, bootstrap: { dcs }, tags, log: { level }, haproxy, archive, ctl, imds, cluster_secret };
}
