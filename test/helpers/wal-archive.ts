// A real PostgreSQL 15 that archives through `governor wal-push` (and restores through wal-fetch):
// shared by test/integration/wal-archive.test.ts and bench/wal-archive.ts.

import { chmod, chown, mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { stringify } from 'yaml';
import { findStoredWal } from '../../src/archive/wal-uploader.js';
import { isWalFileName, isWalSegmentName, stripCodec, WAL_PREFIX } from '../../src/archive/layout.js';
import type { Storage } from '../../src/archive/types.js';
import { defaultArchiveConfig } from '../../src/config/defaults.js';
import type { ArchiveConfig, GovernorConfig } from '../../src/config/types.js';
import type { Logger } from '../../src/log/logger.js';
import { createPostgresController } from '../../src/postgres/controller.js';
import { resolvePgUser } from '../../src/postgres/exec.js';
import { archiveCommands } from '../../src/postgres/render.js';
import type { PostgresController } from '../../src/postgres/types.js';
import { GOVERNOR_JS } from './cluster.js';
import { pgMemberConfig, pgQuery, waitFor } from './postgres.js';

/** A directory (and its missing parents below `root`) owned by the PostgreSQL OS user, as the archive commands run as it. */
export async function pgOwnedDir(dir: string, mode = 0o755): Promise<string> {
  await mkdir(dir, { recursive: true, mode });
  const user = await resolvePgUser(null);
  if (user.uid !== undefined && user.gid !== undefined) await chown(dir, user.uid, user.gid);
  await chmod(dir, mode);
  return dir;
}

export interface ArchivingMember {
  config: GovernorConfig;
  /** The YAML file wal-push/wal-fetch read (its directory and name hold a space, a quote and a %). */
  configFile: string;
  pg: PostgresController;
}

/** Config for member `name` archiving to `storage`, written as YAML where the PostgreSQL user can read it. */
export async function archivingMember(
  root: string, name: string, storage: string, archive: Partial<ArchiveConfig> = {}, parameters: GovernorConfig['postgresql']['parameters'] = {},
): Promise<Omit<ArchivingMember, 'pg'>> {
  const config = await pgMemberConfig(root, name, { parameters: { max_wal_size: '256MB', checkpoint_timeout: '30min', ...parameters } });
  config.archive = { ...defaultArchiveConfig(), enabled: true, storage, spool_dir: await pgOwnedDir(path.join(root, name, 'spool')), ...archive };
  const dir = path.join(root, name, "conf dir 'x' 100%");
  await mkdir(dir, { recursive: true, mode: 0o755 });
  const configFile = path.join(dir, "it's governor.yml");
  await writeConfigFile(configFile, config);
  return { config, configFile };
}

export async function writeConfigFile(file: string, config: GovernorConfig): Promise<void> {
  await writeFile(file, stringify(config), { mode: 0o644 });
}

/** initdb and start a primary whose archive_command is `node dist/src/cli/governor.js wal-push -c <configFile> "%p"`. */
export async function startArchivingPrimary(member: Omit<ArchivingMember, 'pg'>, logger: Logger): Promise<ArchivingMember> {
  await pgOwnedDir(path.dirname(member.config.postgresql.data_dir));
  const pg = createPostgresController(member.config, logger, { archiveCommands: archiveCommands([process.execPath, GOVERNOR_JS], member.configFile) });
  await pg.initdb();
  await pg.writeConfig({ role: 'primary' });
  await pg.start(60_000);
  await pg.createRoles();
  return { ...member, pg };
}

/** Insert about `megabytes` MB of rows into t (created on first use) and switch to a new segment;
 *  resolves the name of the segment that switch completed. */
export async function generateWal(config: GovernorConfig, megabytes: number): Promise<string> {
  await pgQuery(config, 'CREATE TABLE IF NOT EXISTS t (id bigserial PRIMARY KEY, payload text)');
  const rows = Math.ceil((megabytes * 1024 * 1024) / 600);
  await pgQuery(config, `INSERT INTO t (payload) SELECT md5(random()::text) || repeat('x', 500) FROM generate_series(1, ${rows})`);
  const [row] = await pgQuery<{ name: string }>(config, 'SELECT pg_walfile_name(pg_switch_wal()) AS name');
  return row!.name;
}

export async function readyFiles(config: GovernorConfig): Promise<string[]> {
  const entries = await readdir(path.join(config.postgresql.data_dir, 'pg_wal', 'archive_status')).catch(() => [] as string[]);
  return entries.filter((e) => e.endsWith('.ready')).map((e) => e.slice(0, -'.ready'.length)).sort();
}

export interface ArchiverStats {
  archived_count: number;
  last_archived_wal: string | null;
  failed_count: number;
  last_failed_wal: string | null;
}

export async function archiverStats(config: GovernorConfig): Promise<ArchiverStats> {
  const [row] = await pgQuery<ArchiverStats>(config, 'SELECT archived_count::int, last_archived_wal, failed_count::int, last_failed_wal FROM pg_stat_archiver');
  return row!;
}

/** Wait until PostgreSQL has archived `segment` (and everything before it: no .ready left at or below it). */
export async function waitArchived(config: GovernorConfig, segment: string, timeoutMs = 60_000): Promise<void> {
  await waitFor(`PostgreSQL to archive ${segment}`, async () => {
    const stats = await archiverStats(config);
    if (!stats.last_archived_wal || stats.last_archived_wal.slice(0, 24) < segment) return false;
    return (await readyFiles(config)).every((name) => name.slice(0, 24) > segment);
  }, timeoutMs, 50);
}

/** The WAL file names in storage (codec extensions stripped), sorted. */
export async function archivedNames(storage: Storage): Promise<string[]> {
  const objects = await storage.list(WAL_PREFIX);
  return objects.map((o) => stripCodec(o.key).slice(WAL_PREFIX.length)).filter(isWalFileName).sort();
}

/** Segment names of one timeline that are missing between the first and the last archived one (16 MiB segments). */
export function gaps(names: string[]): string[] {
  const segs = names.filter(isWalSegmentName).map((n) => ({ tli: n.slice(0, 8), no: parseInt(n.slice(8, 16), 16) * 256 + parseInt(n.slice(16), 16) }));
  const missing: string[] = [];
  for (const tli of new Set(segs.map((s) => s.tli))) {
    const numbers = new Set(segs.filter((s) => s.tli === tli).map((s) => s.no));
    const lo = Math.min(...numbers);
    const hi = Math.max(...numbers);
    for (let no = lo; no <= hi; no++) {
      if (!numbers.has(no)) missing.push(tli + Math.floor(no / 256).toString(16).toUpperCase().padStart(8, '0') + (no % 256).toString(16).toUpperCase().padStart(8, '0'));
    }
  }
  return missing;
}

/** The one stored object of `name` and its metadata (throws when there is none or more than one). */
export async function storedObject(storage: Storage, name: string) {
  const found = await findStoredWal(storage, name);
  if (found.length !== 1) throw new Error(`expected exactly one stored object for ${name}, found ${found.length}`);
  return found[0]!;
}
