// The generic machinery for checking a raw configuration tree: a Checker that collects every
// problem (not just the first) with the field named as the user spelled it (or the environment
// variable that set it), records where each value came from, and checks the basic types. The
// per-section checks (postgresql.ts, etcd.ts, restapi.ts, ...) are built on it.

/** Where a leaf value came from ('imds': the EC2 instance metadata service). */
export type ConfigSource = 'default' | 'file' | 'imds' | `env:${string}`;

export type Raw = Record<string, unknown>;

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
