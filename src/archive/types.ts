// The storage and codec contracts the archive code is written against.

import type { Readable } from 'node:stream';
import type { CompressionMethod } from '../config/types.js';

export type { CompressionMethod };

export interface ObjectInfo {
  /** Key relative to the storage root (no leading slash). */
  key: string;
  size: number;
  lastModified: Date;
}

export interface StoredObject {
  size: number;
  /** User metadata stored with the object (S3 x-amz-meta-*, lower-case keys). */
  metadata: Record<string, string>;
}

/** An object store rooted at a URL (`s3://bucket/prefix`, `file:///path`). Keys are relative to it. */
export interface Storage {
  /** The root URL without credentials, for logs and messages. */
  readonly description: string;
  /** Store a whole object durably; large or unknown-length bodies go up as multipart uploads.
   *  Resolves only once the store acknowledged the complete object. */
  put(key: string, body: Buffer | Readable, options?: { metadata?: Record<string, string> }): Promise<void>;
  /** The object's content, or null when it does not exist. */
  get(key: string): Promise<Readable | null>;
  /** Size and metadata, or null when it does not exist. */
  head(key: string): Promise<StoredObject | null>;
  /** Every object whose key starts with prefix, in key order. */
  list(prefix: string): Promise<ObjectInfo[]>;
  /** Delete these keys (absent keys are not an error). */
  delete(keys: string[]): Promise<void>;
}
