// `governor wal-push %p` (archive_command): exit 0 only once the file is durably and verifiably in
// storage. PostgreSQL calls it one file at a time, so it must not cost one upload per segment:
//   - a spool marker with the file's sha256 (left by the daemon's WalUploader or an earlier
//     wal-push) means "stored and verified": return at once;
//   - a file another process is uploading right now (its claim) is waited for, not uploaded twice;
//   - otherwise upload it, and beside it up to upload_concurrency-1 further .ready files, leaving
//     markers for them, so the next calls return at once even without the daemon.

import path from 'node:path';
import type { ArchiveConfig, GovernorConfig } from '../config/types.js';
import type { Logger } from '../log/logger.js';
import { sleep } from '../util/time.js';
import { recordArchiveFailure, recordArchiveSuccess } from './archive-status.js';
import type { Storage } from './types.js';
import { walPushSource } from './wal-paths.js';
import { readyWalFiles, WalSpool } from './wal-spool.js';
import { openArchiveStorage, readLocalWal, uploadClaimed, uploadWalFile, type UploadContext, type UploadResult } from './wal-uploader.js';

/** How long wal-push waits for another process's upload of the same file before doing it itself. */
const CLAIM_WAIT_MS = 60_000;

export function archiveSettings(config: GovernorConfig, command: string): ArchiveConfig {
  const archive = config.archive;
  if (!archive?.enabled) {
    throw new Error(`${command}: archiving is not enabled in this configuration (set archive.enabled: true and archive.storage)`);
  }
  return archive;
}

export interface WalPushOptions {
  config: GovernorConfig;
  /** %p: the file to archive, relative to the current directory (PostgreSQL runs us in the data directory). */
  file: string;
  logger: Logger;
  storage?: Storage;
}

export type WalPushOutcome = UploadResult['outcome'] | 'marker';

export async function walPush(options: WalPushOptions): Promise<{ outcome: WalPushOutcome; ahead: number }> {
  const archive = archiveSettings(options.config, 'wal-push');
  // Refused before anything is read, and not recorded as an archive failure: PostgreSQL never asks this.
  const file = await walPushSource(options.file, options.config.postgresql.data_dir);
  const name = path.basename(file);
  try {
    const result = await pushFile(options, archive, file, name);
    await recordArchiveSuccess(archive.spool_dir, name);
    return result;
  } catch (error) {
    // Where the daemon (log, /metrics, governorctl list) and backup-push see it: PostgreSQL only logs our stderr.
    await recordArchiveFailure(archive.spool_dir, name, `wal-push ${name}: ${(error as Error).message}`);
    throw error;
  }
}

async function pushFile(options: WalPushOptions, archive: ArchiveConfig, file: string, name: string): Promise<{ outcome: WalPushOutcome; ahead: number }> {
  const started = Date.now();
  const spool = new WalSpool(archive.spool_dir, archive.storage);
  const logger = options.logger;

  const local = await readLocalWal(file).catch((error: NodeJS.ErrnoException) => {
    throw new Error(error.code === 'ENOENT' ? `wal-push: ${file} does not exist` : `wal-push: cannot read ${file}: ${error.message}`);
  });
  const { digest } = local;
  const done = (outcome: WalPushOutcome, extra: Record<string, unknown> = {}) => {
    logger.info('WAL archived', { segment: name, outcome, bytes: digest.size, ms: Date.now() - started, ...extra });
    return outcome;
  };
  if ((await spool.marker(name)) === digest.sha256) return { outcome: done('marker'), ahead: 0 };

  // Someone (the daemon's uploader) is uploading this very file: its marker is the quickest answer.
  const waitUntil = Date.now() + CLAIM_WAIT_MS;
  while (Date.now() < waitUntil && (await spool.claimedByOther(name))) await sleep(20);
  if ((await spool.marker(name)) === digest.sha256) return { outcome: done('marker'), ahead: 0 };

  await spool.ensure().catch((error: Error) => logger.warn(`spool directory unusable, uploading without markers: ${error.message}`, { spool: spool.dir }));
  const storage = options.storage ?? (await openArchiveStorage(archive, logger));
  const ctx: UploadContext = { storage, codec: archive.compression };
  const pgWalDir = path.dirname(file);
  const ownRelease = await spool.claim(name).catch(() => null);
  const ready = await readyWalFiles(path.join(pgWalDir, 'archive_status')).catch(() => [] as string[]);
  const aheadNames = await pickAhead(spool, ready, name, Math.max(1, archive.upload_concurrency) - 1);
  const ahead = aheadNames.map((n) =>
    uploadClaimed(ctx, spool, pgWalDir, n).then(
      (result) => { if (result) logger.info('WAL uploaded ahead', { segment: n, outcome: result.outcome, bytes: result.bytes, compressed_bytes: result.compressedBytes, ms: result.ms }); },
      (error: Error) => logger.warn(`WAL upload ahead of ${n} failed: ${error.message}`, { segment: n }),
    ));
  try {
    const result = await uploadWalFile(ctx, file, local);
    await spool.writeMarker(name, result.sha256, result.identity).catch(() => undefined);
    return {
      outcome: done(result.outcome, { compressed_bytes: result.compressedBytes, key: result.key, ahead: aheadNames.length }),
      ahead: aheadNames.length,
    };
  } finally {
    await ownRelease?.().catch(() => undefined);
    await Promise.allSettled(ahead);
    await spool.cleanup(new Set(ready)).catch(() => undefined); // markers of files PostgreSQL has archived since
  }
}

/** Up to `count` other .ready files, in archiving order, that have no marker yet and nobody is uploading. */
async function pickAhead(spool: WalSpool, ready: string[], self: string, count: number): Promise<string[]> {
  if (count <= 0) return [];
  const marked = await spool.markers();
  const picked: string[] = [];
  for (const name of ready) {
    if (picked.length >= count) break;
    if (name === self || marked.has(name) || (await spool.claimedByOther(name))) continue;
    picked.push(name);
  }
  return picked;
}
