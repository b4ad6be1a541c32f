// Loading governor.yml: YAML → alias normalization → environment overlay → defaults + validation.
//
//   const { config, sources } = loadConfig({ file: '/etc/governor/governor.yml' });
//
// Errors are thrown as one ConfigError listing every problem, one per line, each naming the
// dotted field. Passwords are never echoed, and once loaded they are registered with the logger's
// redaction list.

import fs from 'node:fs';
import os from 'node:os';
import { LineCounter, parseDocument } from 'yaml';
import { registerSecret } from '../log/logger.js';
import { applyEnv } from './env.js';
import { ConfigError } from './errors.js';
import { Checker, checkDynamic, checkGovernor, isMapping, type ConfigSource, type Raw } from './validate.js';
import type { DynamicConfig, GovernorConfig } from './types.js';

export { ConfigError } from './errors.js';
export { DEFAULT_ARCHIVE, DEFAULT_DYNAMIC_CONFIG, DEFAULT_HAPROXY, defaultArchiveConfig, defaultHaproxyConfig } from './defaults.js';
export { ENV_OVERRIDES, ENV_PARAMETER_PREFIX } from './env.js';
export type { ConfigSource } from './validate.js';

export interface LoadConfigOptions {
  /** Path of the YAML file. null/absent: no file (environment and defaults only). */
  file?: string | null;
  /** Environment to read overrides from; defaults to process.env. */
  env?: NodeJS.ProcessEnv;
  /** YAML text to use instead of reading `file` (then `file`, if given, only names it in errors). */
  text?: string;
}

export interface LoadedConfig {
  config: GovernorConfig;
  /** Dotted path of every leaf → where its value came from. Record-valued fields (parameters,
   *  extra tags) list one entry per key, or the field itself when empty. */
  sources: Record<string, ConfigSource>;
}

function readConfigFile(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new ConfigError(`config file ${file}: not found`);
    if (code === 'EACCES' || code === 'EPERM') throw new ConfigError(`config file ${file}: permission denied`);
    if (code === 'EISDIR') throw new ConfigError(`config file ${file}: is a directory`);
    throw new ConfigError(`config file ${file}: cannot be read (${code ?? (err as Error).message})`);
  }
}

/** Parse YAML into a plain tree; syntax errors become a ConfigError with file:line:column. */
function parseYaml(text: string, name: string): unknown {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      doc.errors.map((e) => {
        const { line, col } = lineCounter.linePos(e.pos[0]);
        // Only the message, never the offending source line: it might hold a password.
        const message = e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
        return `${name}:${line}:${col}: YAML syntax error: ${message}`;
      }),
    );
  }
  try {
    return doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    throw new ConfigError(`${name}: YAML could not be loaded: ${(err as Error).message.split('\n')[0]}`);
  }
}

/**
 * Fold Patroni-style aliases into the canonical shape, in place: `etcd3` → `etcd`, and
 * `etcd.host` (one host:port) → `etcd.hosts`. Returns how to name the aliased fields in errors.
 */
function normalizeAliases(tree: Raw, errors: string[]): Array<[string, string]> {
  const renames: Array<[string, string]> = [];
  let etcdName = 'etcd';
  if (tree.etcd3 !== undefined) {
    if (tree.etcd !== undefined) {
      errors.push('etcd3: give either etcd or etcd3 (an alias of etcd), not both');
    } else {
      tree.etcd = tree.etcd3;
      etcdName = 'etcd3';
    }
    delete tree.etcd3;
  }
  const etcd = tree.etcd;
  if (isMapping(etcd) && etcd.host !== undefined) {
    if (etcd.hosts !== undefined) {
      errors.push(`${etcdName}.host: give either host or hosts, not both`);
    } else {
      etcd.hosts = etcd.host === null ? null : [etcd.host];
      renames.push(['etcd.hosts[0]', `${etcdName}.host`], ['etcd.hosts', `${etcdName}.host`]);
    }
    delete etcd.host;
  }
  if (etcdName !== 'etcd') renames.push(['etcd', etcdName]);
  return renames;
}

/** Read, overlay, default and validate the configuration. Throws ConfigError. */
export function loadConfig(options: LoadConfigOptions = {}): LoadedConfig {
  const env = options.env ?? process.env;
  let tree: unknown = {};
  if (options.text !== undefined) tree = parseYaml(options.text, options.file ?? '<config>');
  else if (options.file) tree = parseYaml(readConfigFile(options.file), options.file);
  if (tree === null || tree === undefined) tree = {}; // an empty file

  const errors: string[] = [];
  const origins = new Map<string, string>();
  let renames: Array<[string, string]> = [];
  if (isMapping(tree)) {
    renames = normalizeAliases(tree, errors);
    applyEnv(tree, env, origins, errors);
  }
  const checker = new Checker(origins, renames);
  const config = checkGovernor(checker, tree, os.hostname());
  errors.push(...checker.errors);
  if (errors.length > 0) throw new ConfigError(errors);

  for (const secret of [
    config.etcd.password,
    config.restapi.authentication?.password,
    config.postgresql.authentication.superuser.password,
    config.postgresql.authentication.replication.password,
    config.archive?.s3.secret_access_key,
  ]) {
    registerSecret(secret);
  }
  return { config, sources: checker.sources };
}

/**
 * Check a cluster-wide configuration (the DCS `config` key, or an edit of it): unknown fields are
 * rejected, numbers checked, missing fields filled from DEFAULT_DYNAMIC_CONFIG. `field` prefixes
 * the dotted paths in error messages. Returns a fresh object; throws ConfigError.
 */
export function validateDynamicConfig(value: unknown, field = 'config'): DynamicConfig {
  const checker = new Checker();
  const config = checkDynamic(checker, field, value);
  if (checker.errors.length > 0) throw new ConfigError(checker.errors);
  return config;
}

const MASK = '******';
/** Fields whose values are secrets: every password, and the S3 secret access key. */
const SECRET_KEY_RE = /(^|_)password$|^secret_access_key$/i;

function mask(value: unknown, key: string | null): unknown {
  if (Array.isArray(value)) return value.map((v) => mask(v, null));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = mask(v, k);
    return out;
  }
  if (key !== null && SECRET_KEY_RE.test(key) && value !== null && value !== undefined) return MASK;
  return value;
}

/** Deep copy of the configuration with every password and secret key replaced by "******"
 *  (nulls stay null). */
export function maskSecrets(config: GovernorConfig): unknown {
  return mask(config, null);
}
