import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { stringify } from 'yaml';
import { formatStorageUrl, parseStorageUrl } from '../../src/config/archive.js';
import { DEFAULT_ARCHIVE, defaultArchiveConfig, loadConfig, maskSecrets } from '../../src/config/load.js';
import { redact } from '../../src/log/logger.js';
import { configError, errorLine } from '../helpers/config-errors.js';

type Tree = Record<string, unknown>;

const BASE: Tree = {
  scope: 'demo',
  name: 'node1',
  postgresql: {
    data_dir: '/var/lib/postgresql/15/governor',
    authentication: { superuser: { password: 'su-secret-1' }, replication: { password: 'repl-secret-2' } },
  },
};

function load(archive: unknown = undefined, env: NodeJS.ProcessEnv = {}, extra: Tree = {}) {
  const tree: Tree = { ...structuredClone(BASE), ...extra };
  if (archive !== undefined) tree.archive = archive;
  return loadConfig({ text: stringify(tree), env });
}



describe('archive config: defaults', () => {
  it('is disabled with the documented defaults when the block is absent', () => {
    const { config, sources } = load();
    assert.deepEqual(config.archive, {
      enabled: false,
      storage: '',
      compression: 'lz4',
      s3: {
        region: null,
        endpoint: null,
        force_path_style: false,
        sse: 'none',
        sse_kms_key_id: null,
        access_key_id: null,
        secret_access_key: null,
      },
      upload_concurrency: 4,
      prefetch: 4,
      backup_schedule: null,
      backup_num_to_retain: 5,
      backup_wal_timeout: 300,
      spool_dir: '/var/lib/postgresql/15/archive-spool',
      create_replica_methods: ['basebackup'],
    });
    assert.deepEqual(config.archive, defaultArchiveConfig());
    assert.equal(sources['archive.compression'], 'default');
    assert.equal(sources['archive.s3.sse'], 'default');
  });

  it('puts the spool directory beside the data directory', () => {
    const { config } = load(undefined, {}, { postgresql: { ...(BASE.postgresql as Tree), data_dir: '/srv/pg/data/' } });
    assert.equal(config.archive?.spool_dir, '/srv/pg/archive-spool');
    assert.equal(defaultArchiveConfig('/srv/pg/data').spool_dir, '/srv/pg/archive-spool');
  });

  it('defaultArchiveConfig returns a fresh copy; DEFAULT_ARCHIVE is frozen', () => {
    const copy = defaultArchiveConfig();
    copy.s3.region = 'x';
    copy.create_replica_methods.push('backup');
    assert.equal(DEFAULT_ARCHIVE.s3.region, null);
    assert.deepEqual(DEFAULT_ARCHIVE.create_replica_methods, ['basebackup']);
    assert.ok(Object.isFrozen(DEFAULT_ARCHIVE) && Object.isFrozen(DEFAULT_ARCHIVE.s3));
  });

  it('accepts a full block and normalizes URLs, paths and the schedule', () => {
    const { config, sources } = load({
      enabled: true,
      storage: 's3://my-bucket/clusters/demo/',
      compression: 'zstd',
      s3: {
        region: 'eu-west-1',
        endpoint: 'http://127.0.0.1:9000',
        force_path_style: true,
        sse: 'aws:kms',
        sse_kms_key_id: 'arn:aws:kms:eu-west-1:111122223333:key/abcd',
        access_key_id: 'AKIAEXAMPLE',
        secret_access_key: 'very-secret-key',
      },
      upload_concurrency: 8,
      prefetch: 0,
      backup_schedule: ' 0  1 * *   SUN ',
      backup_num_to_retain: 1,
      spool_dir: '/var/spool/governor/',
      create_replica_methods: ['backup', 'basebackup'],
    });
    const a = config.archive!;
    assert.equal(a.storage, 's3://my-bucket/clusters/demo');
    assert.equal(a.compression, 'zstd');
    assert.equal(a.s3.sse, 'aws:kms');
    assert.equal(a.prefetch, 0);
    assert.equal(a.backup_schedule, '0 1 * * SUN');
    assert.equal(a.spool_dir, '/var/spool/governor');
    assert.deepEqual(a.create_replica_methods, ['backup', 'basebackup']);
    assert.equal(sources['archive.storage'], 'file');
  });

  it('accepts file storage and SSE names in any case', () => {
    const { config } = load({ enabled: true, storage: 'file:///var/lib//archive/', s3: { sse: 'aes256' } });
    assert.equal(config.archive?.storage, 'file:///var/lib/archive');
    assert.equal(config.archive?.s3.sse, 'AES256');
  });

  it('treats storage "" and null as unset while disabled', () => {
    assert.equal(load({ storage: '' }).config.archive?.storage, '');
    assert.equal(load({ storage: null }).config.archive?.storage, '');
  });
});

describe('archive config: storage URLs', () => {
  const cases: Array<[string, ReturnType<typeof parseStorageUrl>]> = [
    ['s3://bucket', { kind: 's3', bucket: 'bucket', prefix: '' }],
    ['s3://bucket/', { kind: 's3', bucket: 'bucket', prefix: '' }],
    ['s3://my.bucket-1/a/b/c/', { kind: 's3', bucket: 'my.bucket-1', prefix: 'a/b/c' }],
    ['file:///srv/archive', { kind: 'file', root: '/srv/archive' }],
    ['file:///srv/./x/../archive//', { kind: 'file', root: '/srv/archive' }],
  ];
  for (const [url, expected] of cases) {
    it(`parses ${url}`, () => {
      assert.deepEqual(parseStorageUrl(url), expected);
      assert.deepEqual(parseStorageUrl(formatStorageUrl(expected)), expected);
    });
  }
});

describe('archive config: environment', () => {
  // [variables, dotted field, expected value, expected source variable]
  const cases: Array<[NodeJS.ProcessEnv, string, unknown, string]> = [
    [{ GOVERNOR_ARCHIVE_STORAGE: 's3://bucket1/x' }, 'storage', 's3://bucket1/x', 'GOVERNOR_ARCHIVE_STORAGE'],
    [{ WALG_S3_PREFIX: 's3://bucket2/prefix' }, 'storage', 's3://bucket2/prefix', 'WALG_S3_PREFIX'],
    [{ WAL_S3_PREFIX: 's3://bucket3/p' }, 'storage', 's3://bucket3/p', 'WAL_S3_PREFIX'],
    [{ WAL_S3_BUCKET: 'spilo-bucket' }, 'storage', 's3://spilo-bucket/demo', 'WAL_S3_BUCKET'],
    [{ WAL_S3_BUCKET: 'spilo-bucket', SCOPE: 'other' }, 'storage', 's3://spilo-bucket/other', 'WAL_S3_BUCKET'],
    [{ WAL_S3_BUCKET: 'ignored', WALG_S3_PREFIX: 's3://bucket4/given' }, 'storage', 's3://bucket4/given', 'WALG_S3_PREFIX'],
    [{ WALG_FILE_PREFIX: '/srv/wal' }, 'storage', 'file:///srv/wal', 'WALG_FILE_PREFIX'],
    [{ GOVERNOR_ARCHIVE_ENABLED: 'true', GOVERNOR_ARCHIVE_STORAGE: 'file:///srv/a' }, 'enabled', true, 'GOVERNOR_ARCHIVE_ENABLED'],
    [{ WAL_S3_BUCKET: 'bkt' }, 'enabled', true, 'WAL_S3_BUCKET'],
    [{ WALG_FILE_PREFIX: '/srv/wal', GOVERNOR_ARCHIVE_ENABLED: '0' }, 'enabled', false, 'GOVERNOR_ARCHIVE_ENABLED'],
    [{ WALG_COMPRESSION_METHOD: 'zstd' }, 'compression', 'zstd', 'WALG_COMPRESSION_METHOD'],
    [{ GOVERNOR_ARCHIVE_COMPRESSION: 'Brotli' }, 'compression', 'brotli', 'GOVERNOR_ARCHIVE_COMPRESSION'],
    [{ GOVERNOR_ARCHIVE_COMPRESSION: 'gzip', WALG_COMPRESSION_METHOD: 'zstd' }, 'compression', 'gzip', 'GOVERNOR_ARCHIVE_COMPRESSION'],
    [{ GOVERNOR_ARCHIVE_STORAGE: 'file:///srv/g', WALG_S3_PREFIX: 's3://bucket5/x' }, 'storage', 'file:///srv/g', 'GOVERNOR_ARCHIVE_STORAGE'],
    [{ AWS_REGION: 'eu-central-1' }, 's3.region', 'eu-central-1', 'AWS_REGION'],
    [{ AWS_ENDPOINT: 'https://minio.local:9000' }, 's3.endpoint', 'https://minio.local:9000', 'AWS_ENDPOINT'],
    [{ AWS_S3_FORCE_PATH_STYLE: 'TRUE' }, 's3.force_path_style', true, 'AWS_S3_FORCE_PATH_STYLE'],
    [{ WALG_S3_SSE: 'AES256' }, 's3.sse', 'AES256', 'WALG_S3_SSE'],
    [{ WALG_S3_SSE: 'aws:kms', WALG_S3_SSE_KMS_ID: 'key-1' }, 's3.sse_kms_key_id', 'key-1', 'WALG_S3_SSE_KMS_ID'],
    [{ BACKUP_SCHEDULE: '0 1 * * *' }, 'backup_schedule', '0 1 * * *', 'BACKUP_SCHEDULE'],
    [{ BACKUP_NUM_TO_RETAIN: '3' }, 'backup_num_to_retain', 3, 'BACKUP_NUM_TO_RETAIN'],
    [{ WALG_UPLOAD_CONCURRENCY: '16' }, 'upload_concurrency', 16, 'WALG_UPLOAD_CONCURRENCY'],
    [{ WALG_DOWNLOAD_CONCURRENCY: '0' }, 'prefetch', 0, 'WALG_DOWNLOAD_CONCURRENCY'],
    [{ GOVERNOR_ARCHIVE_SPOOL_DIR: '/tmp/spool' }, 'spool_dir', '/tmp/spool', 'GOVERNOR_ARCHIVE_SPOOL_DIR'],
  ];
  for (const [env, field, expected, variable] of cases) {
    it(`${Object.keys(env).join(' + ')} sets archive.${field}`, () => {
      const { config, sources } = load(undefined, env);
      let value: unknown = config.archive;
      for (const segment of field.split('.')) value = (value as Record<string, unknown>)[segment];
      assert.deepEqual(value, expected);
      assert.equal(sources[`archive.${field}`], `env:${variable}`);
    });
  }

  it('the environment wins over the file', () => {
    const { config } = load({ enabled: false, storage: 's3://file-bucket' }, { WALG_S3_PREFIX: 's3://env-bucket/p' });
    assert.equal(config.archive?.storage, 's3://env-bucket/p');
    assert.equal(config.archive?.enabled, true);
  });

  it('never maps AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY into the config (the SDK reads them)', () => {
    const { config } = load(undefined, { AWS_ACCESS_KEY_ID: 'AKIA1', AWS_SECRET_ACCESS_KEY: 'env-secret' });
    assert.equal(config.archive?.s3.access_key_id, null);
    assert.equal(config.archive?.s3.secret_access_key, null);
  });
});

describe('archive config: errors name the field', () => {
  // [archive block, environment, field label the line starts with, message pattern]
  const cases: Array<[unknown, NodeJS.ProcessEnv, string, RegExp]> = [
    [true, {}, 'archive', /expected a mapping/],
    [{ enable: true }, {}, 'archive.enable', /did you mean "enabled"/],
    [{ enabled: 'yes' }, {}, 'archive.enabled', /true or false/],
    [{ enabled: true }, {}, 'archive.storage', /required when archive\.enabled is true: s3:\/\/bucket\[\/prefix\] or file:\/\/\/absolute\/path/],
    [{}, { GOVERNOR_ARCHIVE_ENABLED: '1' }, 'archive.storage', /required when GOVERNOR_ARCHIVE_ENABLED \(archive\.enabled\) is true/],
    [{ storage: 'http://bucket/x' }, {}, 'archive.storage', /expected s3:\/\/bucket\[\/prefix\] or file:\/\/\/absolute\/path, got "http:\/\/bucket\/x"/],
    [{ storage: 's3://Bad_Bucket/x' }, {}, 'archive.storage', /not a valid S3 bucket name/],
    [{ storage: 's3://ab' }, {}, 'archive.storage', /not a valid S3 bucket name/],
    [{ storage: 's3://bucket/a//b' }, {}, 'archive.storage', /empty, "\." or "\.\." path segments/],
    [{ storage: 's3://bucket/a/../b' }, {}, 'archive.storage', /path segments/],
    [{ storage: 's3://bucket/a b' }, {}, 'archive.storage', /whitespace/],
    [{ storage: 'file://relative/path' }, {}, 'archive.storage', /absolute path \(three slashes/],
    [{ storage: 'file:///' }, {}, 'archive.storage', /root directory/],
    [{ storage: 42 }, {}, 'archive.storage', /must be a string/],
    [{}, { WAL_S3_BUCKET: 'Not A Bucket' }, 'WAL_S3_BUCKET (archive.storage)', /not a valid S3 bucket name/],
    [{}, { WALG_FILE_PREFIX: 'relative/dir' }, 'WALG_FILE_PREFIX (archive.storage)', /expected s3:\/\/bucket/],
    [{}, { WALG_S3_PREFIX: 'bucket/prefix' }, 'WALG_S3_PREFIX (archive.storage)', /expected s3:\/\/bucket/],
    [{ compression: 'lzma' }, {}, 'archive.compression', /one of "lz4", "zstd", "brotli", "gzip", "none", got "lzma"/],
    [{}, { WALG_COMPRESSION_METHOD: 'lzma' }, 'WALG_COMPRESSION_METHOD (archive.compression)', /got "lzma"/],
    [{ s3: 'x' }, {}, 'archive.s3', /expected a mapping/],
    [{ s3: { regoin: 'x' } }, {}, 'archive.s3.regoin', /did you mean "region"/],
    [{ s3: { region: 'eu west' } }, {}, 'archive.s3.region', /region name/],
    [{ s3: { endpoint: 'minio:9000' } }, {}, 'archive.s3.endpoint', /http:\/\/ or https:\/\/ URL/],
    [{ s3: { endpoint: 'ftp://minio' } }, {}, 'archive.s3.endpoint', /http:\/\/ or https:\/\/ URL/],
    [{}, { AWS_ENDPOINT: 'nope' }, 'AWS_ENDPOINT (archive.s3.endpoint)', /URL/],
    [{ s3: { force_path_style: 'yes' } }, {}, 'archive.s3.force_path_style', /true or false/],
    [{}, { AWS_S3_FORCE_PATH_STYLE: 'maybe' }, 'AWS_S3_FORCE_PATH_STYLE (archive.s3.force_path_style)', /true, false, 1 or 0/],
    [{ s3: { sse: 'kms' } }, {}, 'archive.s3.sse', /one of "none", "AES256", "aws:kms", got "kms"/],
    [{ s3: { sse: 'aws:kms' } }, {}, 'archive.s3.sse_kms_key_id', /required when archive\.s3\.sse is aws:kms/],
    [{}, { WALG_S3_SSE: 'aws:kms' }, 'archive.s3.sse_kms_key_id', /required when WALG_S3_SSE \(archive\.s3\.sse\) is aws:kms/],
    [{ s3: { sse_kms_key_id: 'k' } }, {}, 'archive.s3.sse_kms_key_id', /only used with sse aws:kms/],
    [{ s3: { access_key_id: 'AKIA' } }, {}, 'archive.s3.secret_access_key', /required when archive\.s3\.access_key_id is set/],
    [{ s3: { secret_access_key: 'lonely-secret' } }, {}, 'archive.s3.access_key_id', /required when archive\.s3\.secret_access_key is set/],
    [{ s3: { access_key_id: 'AKIA', secret_access_key: 12345678 } }, {}, 'archive.s3.secret_access_key', /value not shown/],
    [{ upload_concurrency: 0 }, {}, 'archive.upload_concurrency', /integer >= 1, got 0/],
    [{}, { WALG_UPLOAD_CONCURRENCY: 'four' }, 'WALG_UPLOAD_CONCURRENCY (archive.upload_concurrency)', /integer >= 1/],
    [{ prefetch: -1 }, {}, 'archive.prefetch', /integer >= 0, got -1/],
    [{}, { WALG_DOWNLOAD_CONCURRENCY: '1.5' }, 'WALG_DOWNLOAD_CONCURRENCY (archive.prefetch)', /integer >= 0/],
    [{ backup_schedule: '0 1 * *' }, {}, 'archive.backup_schedule', /5 fields/],
    [{ backup_schedule: '0 0 1 * * *' }, {}, 'archive.backup_schedule', /5 fields/],
    [{ backup_schedule: '61 1 * * *' }, {}, 'archive.backup_schedule', /not a valid cron expression \(.*61/],
    [{ backup_schedule: 'H 1 * * *' }, {}, 'archive.backup_schedule', /H \(hashed\)/],
    [{ backup_schedule: 5 }, {}, 'archive.backup_schedule', /must be a string/],
    [{}, { BACKUP_SCHEDULE: '@daily' }, 'BACKUP_SCHEDULE (archive.backup_schedule)', /5 fields/],
    [{ backup_num_to_retain: 0 }, {}, 'archive.backup_num_to_retain', /integer >= 1, got 0/],
    [{}, { BACKUP_NUM_TO_RETAIN: '-2' }, 'BACKUP_NUM_TO_RETAIN (archive.backup_num_to_retain)', /integer >= 1/],
    [{ backup_wal_timeout: 0 }, {}, 'archive.backup_wal_timeout', /integer >= 1, got 0/],
    [{ spool_dir: 'spool' }, {}, 'archive.spool_dir', /absolute path/],
    [{ spool_dir: '/var/lib/postgresql/15/governor/spool' }, {}, 'archive.spool_dir', /outside postgresql\.data_dir/],
    [{}, { GOVERNOR_ARCHIVE_SPOOL_DIR: 'rel' }, 'GOVERNOR_ARCHIVE_SPOOL_DIR (archive.spool_dir)', /absolute path/],
    [{ create_replica_methods: 'backup' }, {}, 'archive.create_replica_methods', /expected a list/],
    [{ create_replica_methods: [] }, {}, 'archive.create_replica_methods', /must not be empty/],
    [{ create_replica_methods: ['backup', 'wal-e'] }, {}, 'archive.create_replica_methods[1]', /one of "backup", "basebackup", got "wal-e"/],
    [{ create_replica_methods: ['backup', 'backup'] }, {}, 'archive.create_replica_methods[1]', /listed twice/],
  ];
  for (const [archive, env, label, pattern] of cases) {
    it(`${label}: ${pattern.source.slice(0, 60)}`, () => {
      const err = configError(() => load(archive, env));
      assert.match(errorLine(err, label), pattern);
    });
  }

  it('never echoes credentials embedded in a storage or endpoint URL', () => {
    const err = configError(() =>
      load({ storage: 's3://AKIA:hunter2-secret@bucket/x', s3: { endpoint: 'http://user:hunter3-secret@minio:9000' } }),
    );
    assert.match(errorLine(err, 'archive.storage'), /must not contain credentials/);
    assert.match(errorLine(err, 'archive.s3.endpoint'), /must not contain credentials/);
    assert.ok(!err.message.includes('hunter'), err.message);
  });
});

describe('archive config: secrets', () => {
  it('registers secret_access_key with the logger and masks it', () => {
    const { config } = load({ s3: { access_key_id: 'AKIAEXAMPLE', secret_access_key: 'wJalrXUtnFEMI-secret' } });
    assert.equal(redact('key=wJalrXUtnFEMI-secret'), 'key=******');
    const masked = maskSecrets(config) as { archive: { s3: { secret_access_key: unknown; access_key_id: unknown } } };
    assert.equal(masked.archive.s3.secret_access_key, '******');
    assert.equal(masked.archive.s3.access_key_id, 'AKIAEXAMPLE');
    assert.ok(!JSON.stringify(masked).includes('wJalrXUtnFEMI'));
    assert.equal(config.archive?.s3.secret_access_key, 'wJalrXUtnFEMI-secret');
  });

  it('a secret with a line break is rejected without showing it', () => {
    const err = configError(() => load({ s3: { access_key_id: 'AKIA', secret_access_key: 'multi\nline-secret' } }));
    assert.match(errorLine(err, 'archive.s3.secret_access_key'), /value not shown/);
    assert.ok(!err.message.includes('line-secret'));
  });
});
