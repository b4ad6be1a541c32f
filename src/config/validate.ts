// Checking a raw configuration tree (parsed YAML with environment values overlaid) and turning it
// into a typed, defaulted configuration. Every problem is collected, not just the first, and
// every message starts with the dotted field (or `ENV_VAR (dotted.field)`).
//
// This module checks the top level and hands each section to its own module; the machinery is
// checker.ts. It also re-exports the names callers have always imported from here.

import { checkArchive } from './archive.js';
import { Checker } from './checker.js';
import { DEFAULT_IMDS, DEFAULT_LOG_LEVEL } from './defaults.js';
import { checkDynamic } from './dynamic.js';
import { checkEtcd } from './etcd.js';
import { checkName } from './fields.js';
import { checkHaproxy } from './haproxy.js';
import { checkClusterSecret, checkMemberName, checkNamespace, checkTags } from './member.js';
import { checkPostgresql } from './postgresql.js';
import { checkRestApi } from './restapi.js';
import { checkCtl } from './tls.js';
import type { GovernorConfig, ImdsMode } from './types.js';

export { Checker, closest, describe, isMapping, join, typeOf, type ConfigSource, type Raw } from './checker.js';
export { checkDynamic } from './dynamic.js';
export { checkAbsolutePath, hostPort, normalizePath } from './fields.js';

/** on/off; YAML booleans are taken too (`imds: false`). */
function checkImds(ch: Checker, value: unknown): ImdsMode {
  if (typeof value === 'boolean') {
    ch.source('imds', true);
    return value ? 'on' : 'off';
  }
  return ch.choice('imds', value, ['on', 'off'] as const, DEFAULT_IMDS);
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
