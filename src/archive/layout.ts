// Where things live under the storage root. One layout for S3 and file storage:
//   wal/<file name><ext>                     WAL segments, .history and .backup files
//   basebackups/<backup name>/<part>.tar<ext> base backup parts (base.tar, <tablespace oid>.tar)
//   basebackups/<backup name>.json           the sentinel, written last: a backup without one is incomplete
// <ext> names the codec (.lz4, .zst, .br, .gz, or nothing), so objects written with an earlier
// codec stay readable after compression is changed. Every object carries user metadata
// `sha256` (hex digest of the uncompressed content) and `raw-size` (uncompressed bytes).

import type { CompressionMethod } from '../config/types.js';

export const WAL_PREFIX = 'wal/';
export const BACKUP_PREFIX = 'basebackups/';

export const CODEC_EXTENSIONS: Record<CompressionMethod, string> = {
  lz4: '.lz4',
  zstd: '.zst',
  brotli: '.br',
  gzip: '.gz',
  none: '',
};

/** The metadata keys every stored object carries. */
export const META_SHA256 = 'sha256';
export const META_RAW_SIZE = 'raw-size';

const WAL_SEGMENT = /^[0-9A-F]{24}$/;
const WAL_FILE = /^([0-9A-F]{24}(\.partial|\.[0-9A-F]{8}\.backup)?|[0-9A-F]{8}\.history)$/;

/** A WAL file name PostgreSQL archives: segment, .partial, .backup label or timeline .history. */
export function isWalFileName(name: string): boolean {
  return WAL_FILE.test(name);
}

export function isWalSegmentName(name: string): boolean {
  return WAL_SEGMENT.test(name);
}

export function walKey(fileName: string, codec: CompressionMethod): string {
  return `${WAL_PREFIX}${fileName}${CODEC_EXTENSIONS[codec]}`;
}

/** The codec of a stored object, from its name (no known extension = none). */
export function codecOfKey(key: string): CompressionMethod {
  for (const [codec, ext] of Object.entries(CODEC_EXTENSIONS) as Array<[CompressionMethod, string]>) {
    if (ext !== '' && key.endsWith(ext)) return codec;
  }
  return 'none';
}

/** The key without its codec extension. */
export function stripCodec(key: string): string {
  const ext = CODEC_EXTENSIONS[codecOfKey(key)];
  return ext ? key.slice(0, -ext.length) : key;
}

export function backupPartKey(backupName: string, part: string, codec: CompressionMethod): string {
  return `${BACKUP_PREFIX}${backupName}/${part}${CODEC_EXTENSIONS[codec]}`;
}

export function backupSentinelKey(backupName: string): string {
  return `${BACKUP_PREFIX}${backupName}.json`;
}
