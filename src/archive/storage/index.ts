// The Storage for an archive configuration: `s3://bucket/prefix` or `file:///path`.

import { parseStorageUrl } from '../../config/archive.js';
import type { ArchiveConfig } from '../../config/types.js';
import type { Logger } from '../../log/logger.js';
import type { Readable } from 'node:stream';
import type { ObjectInfo, Storage, StoredObject } from '../types.js';
import { FileStorage } from './file.js';
import type { S3StorageOptions } from './s3.js';

export { FileStorage } from './file.js';

/** S3 storage whose module (the AWS SDK: a large part of governor's start-up time) loads on first
 *  use, so wal-push and wal-fetch against file storage, or that find their answer in the spool,
 *  never pay for it. */
class LazyS3Storage implements Storage {
  readonly description: string;
  private inner: Promise<Storage> | null = null;

  constructor(private readonly options: S3StorageOptions) {
    this.description = `s3://${options.bucket}${options.prefix ? `/${options.prefix}` : ''}`;
  }

  private load(): Promise<Storage> {
    this.inner ??= import('./s3.js').then((m) => new m.S3Storage(this.options));
    return this.inner;
  }

  async put(key: string, body: Buffer | Readable, options?: { metadata?: Record<string, string> }): Promise<void> {
    return (await this.load()).put(key, body, options);
  }

  async get(key: string): Promise<Readable | null> {
    return (await this.load()).get(key);
  }

  async head(key: string): Promise<StoredObject | null> {
    return (await this.load()).head(key);
  }

  async list(prefix: string): Promise<ObjectInfo[]> {
    return (await this.load()).list(prefix);
  }

  async delete(keys: string[]): Promise<void> {
    return (await this.load()).delete(keys);
  }
}

/** Open the configured storage. Nothing is contacted yet: the first call reports problems. */
export function openStorage(config: ArchiveConfig, logger: Logger): Storage {
  if (!config.storage) {
    throw new Error('archive.storage is not set: set it to s3://bucket/prefix or file:///path (or WALG_S3_PREFIX / WAL_S3_BUCKET)');
  }
  let location;
  try {
    location = parseStorageUrl(config.storage);
  } catch (error) {
    throw new Error(`archive.storage: ${(error as Error).message}`);
  }
  const storageLogger = logger.child('archive-storage');
  if (location.kind === 'file') return new FileStorage(location.root, storageLogger);
  return new LazyS3Storage({
    bucket: location.bucket,
    prefix: location.prefix,
    s3: config.s3,
    queueSize: config.upload_concurrency || 4,
    logger: storageLogger,
  });
}
