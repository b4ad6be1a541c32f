// Filling and emptying the data directory: initdb, the replication role, pg_basebackup from the
// master, pg_rewind after a timeline split, and creating, moving aside or removing the directory
// (data-dir.ts decides what may be touched; nothing here deletes what it cannot prove is its own).

import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { ensureReplicationRole } from './admin.js';
import type { ConfigFiles } from './config-files.js';
import { type ControllerContext, exists } from './controller-context.js';
import { describeFailure } from './exec.js';
import { emptyDir, ownDir, touchOwned, writeFileAtomic } from './files.js';
import { checkPeerAuthentication } from './peer-session.js';
import { buildConninfo } from './render.js';
import { readyToRetire, unmarkedOldTimelineSegments } from './rewound-wal.js';
import { sslConninfo, sslEnvironment, sslSettings } from './ssl.js';
import type { HostPort, PostgresController } from './types.js';

export type Provisioning = Pick<
  PostgresController,
  'dataDirState' | 'initdb' | 'createRoles' | 'basebackup' | 'rewind' | 'createDataDir' | 'dataDirRoom' | 'moveDataDirAside' | 'removeDataDir' | 'holdDataDir'
>;

/** See rewound-wal.ts: old-timeline segments this member must never archive (after a rewind, and
 *  before a promotion). */
export async function retireOldTimelineReady(ctx: ControllerContext): Promise<void> {
  const { inData, logger } = ctx;
  const statusDir = inData('pg_wal/archive_status');
  const walFiles = await fs.readdir(inData('pg_wal')).catch(() => [] as string[]);
  const statusFiles = await fs.readdir(statusDir).catch(() => [] as string[]);
  const retire = readyToRetire(walFiles, statusFiles);
  for (const name of retire) await fs.rename(path.join(statusDir, name), path.join(statusDir, name.replace(/\.ready$/, '.done')));
  const unmarked = unmarkedOldTimelineSegments(walFiles, statusFiles);
  // Owned by the PostgreSQL user: pg_rewind and the archiver open these files (a root-owned
  // `.done` made the next pg_rewind fail with "Permission denied" and forced a re-clone).
  const who = unmarked.length > 0 ? await ctx.owner() : null;
  for (const name of unmarked) await touchOwned(path.join(statusDir, `${name}.done`), who!);
  const segments = [...retire.map((n) => n.replace(/\.ready$/, '')), ...unmarked];
  if (segments.length > 0) logger.info('marked old-timeline WAL as not to be archived by this member', { segments });
}

export function provisioning(ctx: ControllerContext, files: ConfigFiles): Provisioning {
  const { pgc, logger, dataDir, passFile, inData, owner, run, prepareDirs, assertStopped, directory } = ctx;
  const { superuser, replication } = pgc.authentication;

  return {
    dataDirState: () => directory.state(),

    async initdb(): Promise<void> {
      await prepareDirs();
      if ((await fs.readdir(dataDir)).length > 0) throw new Error(`initdb: data directory ${dataDir} is not empty`);
      const pwFile = path.join(path.dirname(dataDir), `.governor-initdb-${randomBytes(6).toString('hex')}`);
      await writeFileAtomic(pwFile, superuser.password + '\n', await owner());
      try {
        const result = await run('initdb', [
          '-D', dataDir, '--data-checksums', '-U', superuser.username, `--pwfile=${pwFile}`,
          '--auth-local=scram-sha-256', '--auth-host=scram-sha-256', '-E', 'UTF8', '--locale=C.UTF-8',
        ], { timeoutMs: 300_000 });
        if (result.code !== 0) throw new Error(describeFailure('initdb', result));
      } finally {
        await fs.rm(pwFile, { force: true });
      }
      await files.resetAutoConf();
      logger.info('initialized data directory', { path: dataDir });
    },

    async createRoles(): Promise<void> {
      if (replication.username === superuser.username) {
        logger.info('replication user is the superuser; no role to create');
        return;
      }
      await ctx.withSuperuser((client) => ensureReplicationRole(client, replication, logger));
    },

    async basebackup(source: HostPort): Promise<void> {
      await assertStopped('take a base backup');
      // Before anything is emptied: pg_basebackup (libpq 15) would answer a clear-text password request.
      await checkPeerAuthentication(source, replication, pgc, { replication: true, timeoutMs: 10_000 });
      await prepareDirs();
      // Only into an empty directory: what it holds otherwise may be the only copy of something.
      const present = await fs.readdir(dataDir);
      if (present.length > 0) throw new Error(`base backup into ${dataDir} refused: the directory is not empty (${present.length} entries)`);
      await ownDir(dataDir, 0o700, await owner());
      await files.writePassFile();
      logger.info('taking base backup', { source: `${source.host}:${source.port}` });
      const result = await run('pg_basebackup', [
        '-D', dataDir, '-X', 'stream', '-c', 'fast', '-h', source.host, '-p', String(source.port),
        '-U', replication.username, '--no-password',
      ], { env: { PGPASSFILE: passFile, PGCONNECT_TIMEOUT: '10', ...sslEnvironment(sslSettings(pgc)) } });
      if (result.code !== 0) {
        // The directory was empty before: everything in it now is this attempt's.
        await emptyDir(dataDir).catch(() => undefined);
        throw new Error(`base backup from ${source.host}:${source.port} failed: ${describeFailure('pg_basebackup', result)}`);
      }
      await ownDir(dataDir, 0o700, await owner());
      await files.resetAutoConf();
      for (const signal of ['standby.signal', 'recovery.signal']) await fs.rm(inData(signal), { force: true });
      logger.info('base backup complete', { source: `${source.host}:${source.port}` });
    },

    async rewind(source: HostPort): Promise<boolean> {
      await assertStopped('rewind');
      // pg_rewind may first run crash recovery in single-user mode, which needs a valid postgresql.conf and
      // refuses standby mode; writeConfig puts the signal file back afterwards.
      for (const signal of ['standby.signal', 'recovery.signal']) await fs.rm(inData(signal), { force: true });
      if (!(await exists(inData('postgresql.conf')))) await files.writeConfig({ role: 'primary' });
      await files.writePassFile();
      const sourceServer = buildConninfo([
        ['host', source.host], ['port', source.port], ['user', superuser.username], ['dbname', 'postgres'],
        ['passfile', passFile], ['connect_timeout', 10], ...sslConninfo(sslSettings(pgc)),
      ]);
      logger.info('rewinding', { source: `${source.host}:${source.port}` });
      const result = await run('pg_rewind', ['-D', dataDir, `--source-server=${sourceServer}`], { env: { PGCONNECT_TIMEOUT: '10' } });
      const output = (result.stderr + result.stdout).trim();
      if (result.code !== 0) {
        logger.error('pg_rewind failed', { source: `${source.host}:${source.port}`, code: result.code, output: output.split('\n').slice(-30).join('\n') });
        return false;
      }
      await files.resetAutoConf();
      logger.info('pg_rewind succeeded', { source: `${source.host}:${source.port}`, output: output.split('\n').slice(-5).join('\n') });
      await retireOldTimelineReady(ctx);
      return true;
    },

    createDataDir: (kind, fill) => directory.create(kind, fill),
    dataDirRoom: () => directory.room(),
    moveDataDirAside: (reason) => directory.moveAside(reason),
    removeDataDir: (reason) => directory.remove(reason),
    holdDataDir: (hold) => directory.hold(hold),
  };
}
