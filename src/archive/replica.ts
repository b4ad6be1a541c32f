// A new replica's data from the newest base backup in storage instead of from the master: the
// restored copy then replays archived WAL through restore_command and streams from the master.

import type { GovernorConfig } from '../config/types.js';
import type { Logger } from '../log/logger.js';
import { resolvePgUser } from '../postgres/exec.js';
import { fetchBackup } from './backup-fetch.js';
import { listBackups } from './backup-list.js';
import { openStorage } from './storage/index.js';

/**
 * Unpack the newest complete backup of this cluster (same system identifier) into the empty data
 * directory. Returns the backup's name, or null when storage holds none for this cluster.
 */
export async function restoreReplicaFromBackup(config: GovernorConfig, systemIdentifier: string | null, logger: Logger): Promise<string | null> {
  const archive = config.archive;
  if (!archive?.enabled) return null;
  const storage = openStorage(archive, logger);
  const backups = (await listBackups(storage))
    .filter((b) => systemIdentifier === null || b.system_identifier === systemIdentifier)
    .sort((a, b) => Date.parse(a.finished_at) - Date.parse(b.finished_at));
  const newest = backups.at(-1);
  if (!newest) return null;
  logger.info('restoring the data directory from a base backup', { backup: newest.name, storage: storage.description, bytes: newest.raw_size });
  const result = await fetchBackup({
    storage,
    sentinel: newest,
    dir: config.postgresql.data_dir,
    user: await resolvePgUser(config.postgresql.run_as_user),
    logger,
    progressTty: null,
  });
  logger.info('base backup restored', { backup: newest.name, bytes: result.bytes, ms: result.ms });
  return newest.name;
}
