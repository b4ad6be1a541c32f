// Storage in an S3 bucket (AWS or an S3-compatible store): `s3://bucket/prefix`. The SDK signs,
// retries and streams; this file maps the Storage contract onto its commands and turns its errors
// into messages that say which object failed and what to check.

import { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type ListObjectsV2CommandOutput,
  type ServerSideEncryption,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { ArchiveConfig } from '../../config/types.js';
import { redact, registerSecret, type Logger } from '../../log/logger.js';
import type { ObjectInfo, Storage, StoredObject } from '../types.js';

/** Buffers up to this size go up in one PutObject; larger ones and streams as multipart. */
export const SINGLE_PUT_LIMIT = 16 * 1024 * 1024;
/** Multipart part size. S3 allows 10,000 parts, so this caps one object at 160 GiB; memory use
 *  is up to partSize x queueSize per upload. */
export const PART_SIZE = 16 * 1024 * 1024;
const DELETE_BATCH = 1000;

export interface S3StorageOptions {
  bucket: string;
  /** Key prefix without leading or trailing slash; '' = the bucket root. */
  prefix: string;
  s3: ArchiveConfig['s3'];
  /** Parts of one multipart upload sent at once. */
  queueSize: number;
  logger: Logger;
  partSize?: number;
}

interface SdkError {
  name?: string;
  Code?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
}

function statusOf(error: unknown): number | undefined {
  return (error as SdkError).$metadata?.httpStatusCode;
}

function codeOf(error: unknown): string {
  const e = error as SdkError;
  // Service errors carry Code/name; network errors are plain Errors with a system code.
  return e.Code ?? (typeof e.code === 'string' ? e.code : undefined) ?? e.name ?? 'Error';
}

function isNotFound(error: unknown): boolean {
  const code = codeOf(error);
  return code === 'NoSuchKey' || code === 'NotFound' || statusOf(error) === 404;
}

export class S3Storage implements Storage {
  readonly description: string;
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly prefix: string;
  private readonly encryption: { ServerSideEncryption?: ServerSideEncryption; SSEKMSKeyId?: string };
  private batchDeleteRejected = false;

  constructor(private readonly options: S3StorageOptions) {
    const { bucket, prefix, s3 } = options;
    this.bucket = bucket;
    this.prefix = prefix;
    this.description = `s3://${bucket}${prefix ? `/${prefix}` : ''}`;
    registerSecret(s3.secret_access_key);
    this.client = new S3Client({
      region: s3.region ?? (process.env.AWS_REGION || 'us-east-1'),
      ...(s3.endpoint ? { endpoint: s3.endpoint } : {}),
      forcePathStyle: s3.force_path_style,
      // Static keys only when configured; otherwise the default chain (env, profile, EC2 role).
      ...(s3.access_key_id && s3.secret_access_key
        ? { credentials: { accessKeyId: s3.access_key_id, secretAccessKey: s3.secret_access_key } }
        : {}),
      // The SDK's default adds CRC32 trailers to streamed uploads, which S3-compatible stores
      // (MinIO before 2025, Ceph, s3rver) store as part of the object: corrupt data.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
    this.encryption =
      s3.sse === 'none'
        ? {}
        : { ServerSideEncryption: s3.sse as ServerSideEncryption, ...(s3.sse_kms_key_id ? { SSEKMSKeyId: s3.sse_kms_key_id } : {}) };
  }

  private fullKey(key: string): string {
    if (key === '' || key.startsWith('/')) throw new Error(`s3 storage ${this.description}: invalid key ${JSON.stringify(key)}`);
    return this.prefix ? `${this.prefix}/${key}` : key;
  }

  async put(key: string, body: Buffer | Readable, options: { metadata?: Record<string, string> } = {}): Promise<void> {
    const Key = this.fullKey(key);
    const params = { Bucket: this.bucket, Key, Metadata: options.metadata ?? {}, ...this.encryption };
    try {
      if (Buffer.isBuffer(body) && body.length <= SINGLE_PUT_LIMIT) {
        // A CRC32 checksum header (a buffer body: never a trailer): S3 checks what it stores, and a
        // bucket with S3 Object Lock (the AWS stack's option) refuses uploads without a checksum.
        // CRC32 costs about 1 ms per MiB here, a fifth of Content-MD5.
        await this.client.send(new PutObjectCommand({ ...params, Body: body, ContentLength: body.length, ChecksumAlgorithm: 'CRC32' }));
        return;
      }
      await this.multipart(params, body);
    } catch (error) {
      // Whoever feeds the stream must see the failure instead of waiting for us to read on.
      if (body instanceof Readable) body.destroy();
      throw this.error('upload', Key, error);
    }
  }

  private async multipart(params: { Bucket: string; Key: string }, body: Buffer | Readable): Promise<void> {
    const upload = new Upload({
      client: this.client,
      // A CRC32 header on every part (each part is a buffer, so never a trailer): the integrity check
      // that S3 Object Lock demands of uploads, as Content-MD5 is for a single PUT.
      params: { ...params, Body: body, ChecksumAlgorithm: 'CRC32' },
      partSize: this.options.partSize ?? PART_SIZE,
      queueSize: this.options.queueSize,
      // We abort ourselves: lib-storage would replace the upload's error with the abort's, and
      // some stores (s3rver) do not implement AbortMultipartUpload at all.
      leavePartsOnError: true,
    });
    try {
      await upload.done();
    } catch (error) {
      if (upload.uploadId) {
        await this.client
          .send(new AbortMultipartUploadCommand({ Bucket: params.Bucket, Key: params.Key, UploadId: upload.uploadId }))
          .catch((abortError: unknown) =>
            this.options.logger.warn('could not abort a failed multipart upload; its parts stay until a lifecycle rule removes them', {
              key: params.Key,
              uploadId: upload.uploadId,
              error: `${codeOf(abortError)}: ${redact((abortError as Error).message ?? '')}`,
            }),
          );
      }
      throw error;
    }
  }

  async get(key: string): Promise<Readable | null> {
    const Key = this.fullKey(key);
    try {
      const response = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key }));
      return response.Body as Readable;
    } catch (error) {
      if (isNotFound(error)) return null;
      throw this.error('download', Key, error);
    }
  }

  async head(key: string): Promise<StoredObject | null> {
    const Key = this.fullKey(key);
    try {
      const response = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key }));
      return { size: response.ContentLength ?? 0, metadata: { ...(response.Metadata ?? {}) } };
    } catch (error) {
      if (isNotFound(error)) return null;
      throw this.error('head', Key, error);
    }
  }

  async list(prefix: string): Promise<ObjectInfo[]> {
    const fullPrefix = this.prefix ? `${this.prefix}/${prefix}` : prefix;
    const strip = this.prefix ? this.prefix.length + 1 : 0;
    const found: ObjectInfo[] = [];
    let token: string | undefined;
    do {
      let page: ListObjectsV2CommandOutput;
      try {
        page = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: fullPrefix, ContinuationToken: token }));
      } catch (error) {
        throw this.error('list', fullPrefix + '*', error);
      }
      for (const object of page.Contents ?? []) {
        if (object.Key === undefined || !object.Key.startsWith(fullPrefix)) continue;
        found.push({ key: object.Key.slice(strip), size: object.Size ?? 0, lastModified: object.LastModified ?? new Date(0) });
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    // S3 pages are in UTF-8 byte order already; some compatible stores (s3rver) are not.
    return found.sort((a, b) => Buffer.compare(Buffer.from(a.key), Buffer.from(b.key)));
  }

  async delete(keys: string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += DELETE_BATCH) {
      const batch = keys.slice(i, i + DELETE_BATCH).map((key) => this.fullKey(key));
      if (!this.batchDeleteRejected) {
        try {
          await this.deleteBatch(batch);
          continue;
        } catch (error) {
          if (!this.batchUnsupported(error)) throw error;
          this.batchDeleteRejected = true;
          this.options.logger.info('the store rejects DeleteObjects; deleting one object at a time', {
            storage: this.description,
            error: `${codeOf(error)}: ${redact((error as Error).message ?? '')}`,
          });
        }
      }
      for (const Key of batch) {
        try {
          await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key }));
        } catch (error) {
          if (!isNotFound(error)) throw this.error('delete', Key, error);
        }
      }
    }
  }

  private async deleteBatch(fullKeys: string[]): Promise<void> {
    let response;
    try {
      response = await this.client.send(
        new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: fullKeys.map((Key) => ({ Key })), Quiet: true } }),
      );
    } catch (error) {
      if (this.batchUnsupported(error)) throw error;
      throw this.error('delete', `${fullKeys.length} objects from ${fullKeys[0]}`, error);
    }
    const failed = (response.Errors ?? []).filter((e) => e.Code !== 'NoSuchKey');
    if (failed.length > 0) {
      const first = failed[0]!;
      throw new Error(
        `S3 delete in ${this.description} failed for ${failed.length} of ${fullKeys.length} objects, first ${first.Key}: ` +
          `${first.Code}: ${first.Message ?? ''} (check the credentials allow s3:DeleteObject on this bucket)`,
      );
    }
  }

  /** Stores that lack the multi-object delete, or reject its checksum header. */
  private batchUnsupported(error: unknown): boolean {
    const code = codeOf(error);
    const status = statusOf(error);
    return (
      ['NotImplemented', 'MethodNotAllowed', 'MalformedXML', 'InvalidDigest', 'MissingContentMD5', 'InvalidRequest'].includes(code) ||
      status === 501 ||
      status === 405
    );
  }

  /** An error naming the object and what to check; never the credentials. */
  private error(operation: string, key: string, cause: unknown): Error {
    const code = codeOf(cause);
    const status = statusOf(cause);
    const where = `s3://${this.bucket}/${key}`;
    const message = redact((cause as Error)?.message ?? String(cause));
    const error = new Error(
      `S3 ${operation} of ${where} failed: ${code}${status ? ` (HTTP ${status})` : ''}: ${message}. ${this.hint(code, status)}`,
    );
    (error as Error & { code?: string }).code = code;
    return error;
  }

  private hint(code: string, status: number | undefined): string {
    const s3 = this.options.s3;
    const endpoint = s3.endpoint ?? 'AWS';
    if (code === 'NoSuchBucket') return `Check archive.storage: bucket ${this.bucket} does not exist at ${endpoint}.`;
    if (code.startsWith('KMS')) return 'Check archive.s3.sse_kms_key_id and that these credentials may use that KMS key.';
    if (code === 'AccessDenied' || status === 403) {
      return `Check the credentials (${s3.access_key_id ? 'archive.s3.access_key_id' : 'environment, profile or EC2 instance role'}) and that the bucket policy allows this operation.`;
    }
    if (code === 'InvalidAccessKeyId' || code === 'SignatureDoesNotMatch' || code === 'CredentialsProviderError') {
      return 'Check archive.s3.access_key_id / secret_access_key, or the AWS credentials in the environment or instance role.';
    }
    if (code === 'PermanentRedirect' || code === 'AuthorizationHeaderMalformed' || code === 'IllegalLocationConstraintException' || status === 301) {
      return `Check archive.s3.region (${s3.region ?? 'unset'}): the bucket lives in another region.`;
    }
    if (['ECONNREFUSED', 'ENOTFOUND', 'ECONNRESET', 'ETIMEDOUT', 'EAI_AGAIN', 'TimeoutError', 'NetworkingError'].includes(code)) {
      return `Check that ${endpoint === 'AWS' ? 'S3' : endpoint} is reachable from this host (archive.s3.endpoint).`;
    }
    if (status !== undefined && status >= 500) return 'The store failed on its side; it was retried; try again later.';
    return `Check archive.storage, archive.s3 and the store at ${endpoint}.`;
  }
}
