// Loading governor.yml: YAML → alias normalization → environment overlay → (IMDS) → defaults +
// validation.
//
//   const { config, sources } = loadConfig({ file: '/etc/governor/governor.yml' });
//   const loaded = await loadConfigWithImds({ file });   // commands: missing name/addresses from EC2
//
// Errors are thrown as one ConfigError listing every problem, one per line, each naming the
// dotted field. Passwords are never echoed, and once loaded they are registered with the logger's
// redaction list.

import fs from 'node:fs';
import os from 'node:os';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Document } from 'yaml';
import { registerSecret } from '../log/logger.js';
import { applyEnv } from './env.js';
import { ConfigError } from './errors.js';
import { fetchInstanceIdentity, imdsEndpoint, type ImdsClientOptions } from './imds-client.js';
import { identityValues, imdsMode, missingValues, refusal, setRawField, type MissingValue } from './imds.js';
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
  /** Dotted paths of the secret fields (set or not), as declared by validation. */
  secrets: ReadonlySet<string>;
  /** Dotted path → line in the file, for the values that came from it. */
  lines: ReadonlyMap<string, number>;
  /** The file's name as given (null: none). */
  file: string | null;
  /** Values the EC2 instance metadata service supplied (empty when none). */
  imds: Array<[MissingValue['field'], string]>;
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

/** Dotted path → line of every key and list item in the document (1-based). Aliases are filed
 *  under their canonical names (etcd3 → etcd, etcd.host → etcd.hosts). */
function keyLines(doc: Document, lineCounter: LineCounter): Map<string, number> {
  const lines = new Map<string, number>();
  const canonical = (p: string) => p.replace(/^etcd3(?=\.|\[|$)/, 'etcd').replace(/^etcd\.host(?=\[|$)/, 'etcd.hosts');
  const walk = (node: unknown, p: string): void => {
    if (isMap(node)) {
      for (const pair of node.items) {
        if (!isScalar(pair.key)) continue;
        const child = p === '' ? String(pair.key.value) : `${p}.${String(pair.key.value)}`;
        if (pair.key.range) lines.set(canonical(child), lineCounter.linePos(pair.key.range[0]).line);
        walk(pair.value, child);
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => {
        const child = `${p}[${i}]`;
        const range = (item as { range?: [number, number, number] } | null)?.range;
        if (range) lines.set(canonical(child), lineCounter.linePos(range[0]).line);
        walk(item, child);
      });
    }
  };
  walk(doc.contents, '');
  return lines;
}

/** Parse YAML into a plain tree; syntax errors become a ConfigError with file:line:column. */
function parseYaml(text: string, name: string): { tree: unknown; lines: Map<string, number> } {
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
    return { tree: doc.toJS({ maxAliasCount: 100 }), lines: keyLines(doc, lineCounter) };
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

interface Prepared {
  tree: unknown;
  origins: Map<string, string>;
  renames: Array<[string, string]>;
  errors: string[];
  lines: Map<string, number>;
  file: string | null;
}

/** Parse the file and overlay the environment (no validation yet). */
function prepare(options: LoadConfigOptions): Prepared {
  const env = options.env ?? process.env;
  let parsed: { tree: unknown; lines: Map<string, number> } = { tree: {}, lines: new Map() };
  if (options.text !== undefined) parsed = parseYaml(options.text, options.file ?? '<config>');
  else if (options.file) parsed = parseYaml(readConfigFile(options.file), options.file);
  let tree = parsed.tree;
  if (tree === null || tree === undefined) tree = {}; // an empty file

  const errors: string[] = [];
  const origins = new Map<string, string>();
  let renames: Array<[string, string]> = [];
  if (isMapping(tree)) {
    renames = normalizeAliases(tree, errors);
    applyEnv(tree, env, origins, errors);
  }
  return { tree, origins, renames, errors, lines: parsed.lines, file: options.file ?? null };
}

/** Validate a prepared tree; `imds` lists the values the metadata service put into it. */
function finish(prepared: Prepared, imds: Array<[MissingValue['field'], string]> = []): LoadedConfig {
  const checker = new Checker(prepared.origins, prepared.renames, new Set(imds.map(([field]) => field)));
  const config = checkGovernor(checker, prepared.tree, os.hostname());
  const errors = [...prepared.errors, ...checker.errors];
  if (errors.length > 0) throw new ConfigError(errors);

  for (const secret of checker.secrets) {
    const value = valueAt(config, secret);
    if (typeof value === 'string') registerSecret(value);
  }
  return { config, sources: checker.sources, secrets: checker.secrets, lines: prepared.lines, file: prepared.file, imds };
}

/** The value at a dotted path (no list indexes: secrets are never inside lists). */
export function valueAt(root: unknown, dotted: string): unknown {
  let node = root;
  for (const key of dotted.split('.')) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}

/** Read, overlay, default and validate the configuration, without asking the EC2 instance
 *  metadata service (a missing name is the host name). Throws ConfigError. */
export function loadConfig(options: LoadConfigOptions = {}): LoadedConfig {
  return finish(prepare(options));
}

export interface LoadWithImdsOptions extends LoadConfigOptions {
  /** Client settings; the endpoint defaults to AWS_EC2_METADATA_SERVICE_ENDPOINT from `env`. */
  imdsClient?: ImdsClientOptions;
}

/**
 * loadConfig for the commands: when the member name, or a connect address behind a wildcard
 * listen, is missing and `imds` is on, they come from the EC2 instance metadata service (IMDSv2);
 * if it does not answer, a ConfigError names each missing field. The rest of the file is checked
 * first, so a broken file fails without waiting for IMDS.
 */
export async function loadConfigWithImds(options: LoadWithImdsOptions = {}): Promise<LoadedConfig> {
  const env = options.env ?? process.env;
  const prepared = prepare(options);
  if (!isMapping(prepared.tree)) return finish(prepared);
  const tree = prepared.tree;
  const missing = missingValues(tree);
  if (missing.length === 0 || imdsMode(tree, env) === 'off') return finish(prepared);

  // Everything else first, with placeholders where IMDS would fill in.
  const trial = { ...prepared, tree: structuredClone(tree) };
  for (const [field, value] of identityValues(missing, { instanceId: 'i-00000000', localIpv4: '192.0.2.1' })) setRawField(trial.tree, field, value);
  finish(trial);

  let identity;
  try {
    identity = await fetchInstanceIdentity({ endpoint: imdsEndpoint(env), ...options.imdsClient });
  } catch (error) {
    throw new ConfigError(refusal(missing, (error as Error).message));
  }
  const values = identityValues(missing, identity);
  for (const [field, value] of values) setRawField(tree, field, value);
  return finish(prepared, values);
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
