// PostgreSQL parameter mappings (postgresql.parameters, and the cluster-wide ones in the DCS).

import { describe, type Checker } from './checker.js';
import { localOnlyMessage, localOnlyReason } from './local-only-parameters.js';

type ParamValue = string | number | boolean;

const PARAMETER_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/;


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

export /** A PostgreSQL parameter mapping; names are lower-cased (PostgreSQL ignores their case).
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
