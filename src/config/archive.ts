// Checking the `archive` block of governor.yml (see ArchiveConfig in types.ts): where WAL and base
// backups go, how they are compressed and encrypted, and when backups are taken. The storage URL
// parser lives here too, so that validation and src/archive/storage agree on what a URL means.

import path from 'node:path';
import { CronExpressionParser } from 'cron-parser';
import { DEFAULT_ARCHIVE, defaultSpoolDir } from './defaults.js';
import type { ArchiveConfig, CompressionMethod } from './types.js';
import { describe, type Checker } from './checker.js';

export { DEFAULT_ARCHIVE, defaultArchiveConfig } from './defaults.js';

export const ARCHIVE_FIELDS = [
  'enabled',
  'storage',
  'compression',
  's3',
  'upload_concurrency',
  'prefetch',
  'backup_schedule',
  'backup_num_to_retain',
  'backup_wal_timeout',
  'spool_dir',
  'create_replica_methods',
] as const;

export const ARCHIVE_S3_FIELDS = [
  'region',
  'endpoint',
  'force_path_style',
  'sse',
  'sse_kms_key_id',
  'access_key_id',
  'secret_access_key',
] as const;

export const COMPRESSION_METHODS: readonly CompressionMethod[] = ['lz4', 'zstd', 'brotli', 'gzip', 'none'];
const SSE_MODES = ['none', 'AES256', 'aws:kms'] as const;
const REPLICA_METHODS = ['backup', 'basebackup'] as const;

/** Where a storage URL points. `prefix` has no leading or trailing slash ('' = bucket root). */
export type StorageLocation = { kind: 's3'; bucket: string; prefix: string } | { kind: 'file'; root: string };

const STORAGE_FORMS = 's3://bucket[/prefix] or file:///absolute/path';
// AWS's rules for new buckets: 3-63 of a-z 0-9 . -, starting and ending with a letter or digit.
const BUCKET_RE = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const UNSAFE_KEY_CHARS = /[\s\\?#\u0000-\u001f\u007f]/;

function checkPrefix(prefix: string): string | null {
  if (prefix === '') return null;
  if (UNSAFE_KEY_CHARS.test(prefix)) return `the prefix must not contain whitespace, control characters, \\, ? or #, got ${describe(prefix)}`;
  const segments = prefix.split('/');
  if (segments.some((s) => s === '' || s === '.' || s === '..')) {
    return `the prefix must not contain empty, "." or ".." path segments, got ${describe(prefix)}`;
  }
  return null;
}

/**
 * Parse `s3://bucket[/prefix]` or `file:///absolute/path`. Throws an Error whose message says what
 * is wrong (without naming the field: callers add it). Never echoes user:password@ parts.
 */
export function parseStorageUrl(url: string): StorageLocation {
  const s3 = /^s3:\/\/([^/]*)(?:\/(.*))?$/i.exec(url);
  if (s3 && url.startsWith('s3://')) {
    const authority = s3[1]!;
    if (authority.includes('@')) {
      throw new Error(
        'must not contain credentials (value not shown): set archive.s3.access_key_id and secret_access_key, ' +
          'or leave them out to use the AWS default credential chain',
      );
    }
    if (!BUCKET_RE.test(authority) || authority.includes('..') || /^\d+\.\d+\.\d+\.\d+$/.test(authority)) {
      throw new Error(
        `${describe(authority)} is not a valid S3 bucket name (3-63 characters of a-z 0-9 . -, starting and ending ` +
          `with a letter or digit); expected ${STORAGE_FORMS}`,
      );
    }
    const prefix = (s3[2] ?? '').replace(/\/+$/, '');
    const problem = checkPrefix(prefix);
    if (problem) throw new Error(problem);
    return { kind: 's3', bucket: authority, prefix };
  }
  if (url.startsWith('file://')) {
    const rest = url.slice('file://'.length);
    if (!rest.startsWith('/')) {
      throw new Error(`must be file:// followed by an absolute path (three slashes: file:///var/lib/archive), got ${describe(url)}`);
    }
    const root = path.posix.normalize(rest).replace(/(.)\/+$/, '$1');
    if (root === '/') throw new Error('must not be the root directory');
    return { kind: 'file', root };
  }
  throw new Error(`expected ${STORAGE_FORMS}, got ${describe(url.includes('@') ? '(value with @ not shown)' : url)}`);
}

/** The canonical form of a storage location (what the config holds and logs show). */
export function formatStorageUrl(location: StorageLocation): string {
  if (location.kind === 'file') return `file://${location.root}`;
  return `s3://${location.bucket}${location.prefix ? `/${location.prefix}` : ''}`;
}

function checkStorage(s: string): string | null {
  try {
    parseStorageUrl(s);
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}

function checkCron(s: string): string | null {
  const fields = s.trim().split(/\s+/);
  if (fields.length !== 5) {
    return `must be a cron expression of 5 fields (minute hour day-of-month month day-of-week, in UTC), e.g. "0 1 * * *"; got ${describe(s)}`;
  }
  // H picks a random time per process start: members would disagree on when backups run.
  if (fields.some((f) => /(^|[^A-Za-z])H([^A-Za-z]|$)/i.test(f))) return `must not use H (hashed) values, got ${describe(s)}`;
  try {
    CronExpressionParser.parse(fields.join(' '), { tz: 'UTC' });
    return null;
  } catch (err) {
    return `is not a valid cron expression (${(err as Error).message}), got ${describe(s)}`;
  }
}

function checkEndpoint(s: string): string | null {
  let url: URL;
  try {
    url = new URL(s);
  } catch {
    return `must be an http:// or https:// URL, e.g. http://127.0.0.1:9000, got ${describe(s.includes('@') ? '(value with @ not shown)' : s)}`;
  }
  if (url.username || url.password) return 'must not contain credentials (value not shown)';
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `must be an http:// or https:// URL, got ${describe(s)}`;
  if (url.search || url.hash) return `must not have a query or fragment, got ${describe(s)}`;
  return null;
}

const REGION_RE = /^[A-Za-z0-9._-]{1,64}$/;

function checkS3(ch: Checker, value: unknown): ArchiveConfig['s3'] {
  const m = ch.mapping('archive.s3', value, ARCHIVE_S3_FIELDS);
  const d = DEFAULT_ARCHIVE.s3;
  const region = ch.nullableString('archive.s3.region', m.region, {
    check: (s) => (REGION_RE.test(s) ? null : `must be a region name such as "eu-west-1", got ${describe(s)}`),
  });
  const endpoint = ch.nullableString('archive.s3.endpoint', m.endpoint, { check: checkEndpoint });
  const force_path_style = ch.boolean('archive.s3.force_path_style', m.force_path_style, d.force_path_style);

  ch.source('archive.s3.sse', m.sse !== undefined);
  let sse: ArchiveConfig['s3']['sse'] = d.sse;
  if (m.sse !== undefined && m.sse !== null) {
    // Case-insensitive: WAL-G documents AES256, people write aes256.
    const given = typeof m.sse === 'string' ? m.sse.trim().toLowerCase() : undefined;
    const found = SSE_MODES.find((mode) => mode.toLowerCase() === given);
    if (found === undefined) ch.fail('archive.s3.sse', `must be one of "none", "AES256", "aws:kms", got ${describe(m.sse)}`);
    else sse = found;
  }
  const sse_kms_key_id = ch.nullableString('archive.s3.sse_kms_key_id', m.sse_kms_key_id);
  if (sse === 'aws:kms' && sse_kms_key_id === null) {
    ch.fail('archive.s3.sse_kms_key_id', `required when ${ch.label('archive.s3.sse')} is aws:kms (the KMS key id or ARN; WALG_S3_SSE_KMS_ID)`);
  } else if (sse !== 'aws:kms' && sse_kms_key_id !== null) {
    ch.fail('archive.s3.sse_kms_key_id', `only used with sse aws:kms, but ${ch.label('archive.s3.sse')} is ${describe(sse)}: set sse to aws:kms or remove the key id`);
  }

  const access_key_id = ch.nullableString('archive.s3.access_key_id', m.access_key_id);
  const secret_access_key = ch.nullableString('archive.s3.secret_access_key', m.secret_access_key, { secret: true });
  const chain = 'or set neither to use the AWS default credential chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, profile, EC2 instance role)';
  if (access_key_id !== null && secret_access_key === null) {
    ch.fail('archive.s3.secret_access_key', `required when ${ch.label('archive.s3.access_key_id')} is set (${chain})`);
  } else if (secret_access_key !== null && access_key_id === null) {
    ch.fail('archive.s3.access_key_id', `required when ${ch.label('archive.s3.secret_access_key')} is set (${chain})`);
  }
  return { region, endpoint, force_path_style, sse, sse_kms_key_id, access_key_id, secret_access_key };
}

function checkReplicaMethods(ch: Checker, value: unknown): ArchiveConfig['create_replica_methods'] {
  const p = 'archive.create_replica_methods';
  ch.source(p, value !== undefined);
  if (value === undefined || value === null) return [...DEFAULT_ARCHIVE.create_replica_methods];
  const allowed = REPLICA_METHODS.map((m) => `"${m}"`).join(', ');
  if (!Array.isArray(value)) {
    ch.fail(p, `expected a list of ${allowed}, got ${describe(value)}`);
    return [];
  }
  if (value.length === 0) {
    ch.fail(p, `must not be empty (a new replica needs a way to get its data: ${allowed})`);
    return [];
  }
  const methods: ArchiveConfig['create_replica_methods'] = [];
  value.forEach((item, i) => {
    const found = REPLICA_METHODS.find((m) => m === item);
    if (found === undefined) ch.fail(`${p}[${i}]`, `must be one of ${allowed}, got ${describe(item)}`);
    else if (methods.includes(found)) ch.fail(`${p}[${i}]`, `${describe(found)} is listed twice`);
    else methods.push(found);
  });
  return methods;
}

/** The `archive` block; absent or null gives the defaults (archiving disabled). `dataDir` is the
 *  checked postgresql.data_dir ('' when invalid), which the spool directory defaults beside. */
export function checkArchive(ch: Checker, value: unknown, dataDir: string): ArchiveConfig {
  const m = ch.mapping('archive', value, ARCHIVE_FIELDS);
  const d = DEFAULT_ARCHIVE;
  const enabled = ch.boolean('archive.enabled', m.enabled, d.enabled);

  let storage = d.storage;
  const storageUnset = m.storage === undefined || m.storage === null || m.storage === '';
  if (storageUnset) ch.source('archive.storage', m.storage !== undefined); // "" and null mean unset
  else storage = ch.string('archive.storage', m.storage, { check: checkStorage });
  if (storage !== '') storage = formatStorageUrl(parseStorageUrl(storage));
  else if (enabled && storageUnset) {
    ch.fail(
      'archive.storage',
      `required when ${ch.label('archive.enabled')} is true: ${STORAGE_FORMS} ` +
        '(or the environment: WALG_S3_PREFIX, WAL_S3_BUCKET, WALG_FILE_PREFIX, GOVERNOR_ARCHIVE_STORAGE)',
    );
  }

  const compression = ch.choice('archive.compression', m.compression, COMPRESSION_METHODS, d.compression);
  const s3 = checkS3(ch, m.s3);
  const upload_concurrency = ch.number('archive.upload_concurrency', m.upload_concurrency, {
    default: d.upload_concurrency,
    min: 1,
    integer: true,
  });
  const prefetch = ch.number('archive.prefetch', m.prefetch, { default: d.prefetch, min: 0, integer: true });
  const schedule = ch.nullableString('archive.backup_schedule', m.backup_schedule, { check: checkCron });
  const backup_schedule = schedule === null || schedule === '' ? null : schedule.trim().split(/\s+/).join(' ');
  const backup_num_to_retain = ch.number('archive.backup_num_to_retain', m.backup_num_to_retain, {
    default: d.backup_num_to_retain,
    min: 1,
    integer: true,
  });

  const backup_wal_timeout = ch.number('archive.backup_wal_timeout', m.backup_wal_timeout, {
    default: d.backup_wal_timeout,
    min: 1,
    integer: true,
  });

  const defaultSpool = dataDir === '' ? d.spool_dir : defaultSpoolDir(dataDir);
  let spool_dir = ch.string('archive.spool_dir', m.spool_dir, {
    def: defaultSpool,
    check: (s) => (path.posix.isAbsolute(s) ? null : `must be an absolute path, got ${describe(s)}`),
  });
  if (spool_dir !== '') {
    spool_dir = path.posix.normalize(spool_dir).replace(/(.)\/+$/, '$1');
    // pg_basebackup would ship it to every replica and pg_rewind would rewrite it.
    if (dataDir !== '' && (spool_dir === dataDir || spool_dir.startsWith(dataDir + '/'))) {
      ch.fail('archive.spool_dir', `must be outside ${ch.label('postgresql.data_dir')} (${describe(dataDir)}), got ${describe(spool_dir)}`);
    }
  }
  const create_replica_methods = checkReplicaMethods(ch, m.create_replica_methods);
  return {
    enabled,
    storage,
    compression,
    s3,
    upload_concurrency,
    prefetch,
    backup_schedule,
    backup_num_to_retain,
    backup_wal_timeout,
    spool_dir,
    create_replica_methods,
  };
}
