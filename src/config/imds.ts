// Which values the EC2 instance metadata service fills in, and how (pure; the HTTP client is
// imds-client.ts). A member on EC2 can run from a file that names neither itself nor its
// addresses: the instance id becomes the member name, and the private IPv4 address plus the
// listen port becomes the connect address wherever listen is a wildcard. IMDS is asked only when
// one of those values is missing, never to override one that is set.

import { parseHostPort } from '../util/ports.js';
import { DEFAULT_IMDS, DEFAULT_POSTGRESQL, DEFAULT_RESTAPI } from './defaults.js';
import type { InstanceIdentity } from './imds-client.js';
import type { ImdsMode } from './types.js';

type Raw = Record<string, unknown>;

/** A value IMDS can supply, and the variable an operator sets instead. */
export interface MissingValue {
  field: 'name' | 'restapi.connect_address' | 'postgresql.connect_address';
  envVar: string;
  /** For connect addresses: the port of the (wildcard) listen address. */
  port?: number;
  /** Why it is missing, for the refusal. */
  reason: string;
}

const WILDCARD_HOSTS = new Set(['0.0.0.0', '::', '*']);

function section(tree: Raw, key: string): Raw {
  const value = tree[key];
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Raw) : {};
}

/** The port of a wildcard listen address, or null when listen names an address (or is malformed:
 *  validation reports that). */
function wildcardPort(listen: unknown): number | null {
  if (typeof listen !== 'string') return null;
  try {
    const { host, port } = parseHostPort(listen, 'listen');
    return host.split(',').some((h) => WILDCARD_HOSTS.has(h.trim())) ? port : null;
  } catch {
    return null;
  }
}

/** The values of a raw (file + environment) tree that IMDS would have to supply. */
export function missingValues(tree: Raw): MissingValue[] {
  const missing: MissingValue[] = [];
  if (tree.name === undefined) missing.push({ field: 'name', envVar: 'GOVERNOR_NAME', reason: 'not set' });
  const sections = [
    ['restapi', DEFAULT_RESTAPI.listen, 'GOVERNOR_RESTAPI_CONNECT_ADDRESS'],
    ['postgresql', DEFAULT_POSTGRESQL.listen, 'GOVERNOR_POSTGRESQL_CONNECT_ADDRESS'],
  ] as const;
  for (const [name, defaultListen, envVar] of sections) {
    const raw = section(tree, name);
    if (raw.connect_address !== undefined && raw.connect_address !== null) continue;
    const port = wildcardPort(raw.listen ?? defaultListen);
    if (port !== null) {
      missing.push({ field: `${name}.connect_address`, envVar, port, reason: `not set, and ${name}.listen is a wildcard address` });
    }
  }
  return missing;
}

/** `imds` from the tree (file or GOVERNOR_IMDS), else off when the AWS SDK's own switch
 *  AWS_EC2_METADATA_DISABLED is true, else the default. A malformed value counts as on here;
 *  validation reports it. */
export function imdsMode(tree: Raw, env: NodeJS.ProcessEnv): ImdsMode {
  const value = tree.imds;
  if (value === false || (typeof value === 'string' && value.trim().toLowerCase() === 'off')) return 'off';
  if (value !== undefined) return 'on';
  if (env.AWS_EC2_METADATA_DISABLED?.trim().toLowerCase() === 'true') return 'off';
  return DEFAULT_IMDS;
}

/** The value IMDS gives each missing field. */
export function identityValues(missing: readonly MissingValue[], identity: InstanceIdentity): Array<[MissingValue['field'], string]> {
  return missing.map((m) => [m.field, m.field === 'name' ? identity.instanceId : `${identity.localIpv4}:${m.port}`]);
}

/** Set `field` (dotted) in the raw tree, creating the section if needed. */
export function setRawField(tree: Raw, field: string, value: string): void {
  const [head, leaf] = field.includes('.') ? (field.split('.') as [string, string]) : [null, field];
  if (head === null) {
    tree[leaf] = value;
    return;
  }
  const current = tree[head];
  if (current === undefined || current === null) tree[head] = {};
  const target = tree[head];
  if (typeof target === 'object' && target !== null && !Array.isArray(target)) (target as Raw)[leaf] = value;
}

/** One error line per missing field when IMDS could not supply them. */
export function refusal(missing: readonly MissingValue[], why: string): string[] {
  return missing.map((m) => {
    const fallback = m.field === 'name' ? ', or GOVERNOR_IMDS=off to use the host name' : '';
    return `${m.field}: ${m.reason}, and the EC2 instance metadata service could not supply it (${why}); set ${m.field} (or ${m.envVar})${fallback}`;
  });
}

/** The same values as environment variables, so the commands PostgreSQL runs (wal-push,
 *  wal-fetch) load the configuration the daemon runs with, without asking IMDS themselves. */
export function imdsEnvironment(values: ReadonlyArray<readonly [MissingValue['field'], string]>): Record<string, string> {
  const names: Record<MissingValue['field'], string> = {
    name: 'GOVERNOR_NAME',
    'restapi.connect_address': 'GOVERNOR_RESTAPI_CONNECT_ADDRESS',
    'postgresql.connect_address': 'GOVERNOR_POSTGRESQL_CONNECT_ADDRESS',
  };
  return Object.fromEntries(values.map(([field, value]) => [names[field], value]));
}
