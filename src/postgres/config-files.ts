// The files governor writes for its PostgreSQL: postgresql.conf, pg_hba.conf, standby.signal, an
// emptied postgresql.auto.conf, and the .pgpass file beside the data directory. Rendering is
// render.ts (pure); this writes the result, owned by the PostgreSQL user, only when it changed.

import fs from 'node:fs/promises';
import type { StartRole } from './types.js';
import { type ControllerContext, exists } from './controller-context.js';
import { writeFileAtomic, writeFileIfChanged } from './files.js';
import { autoConfParameters, buildParameters, EMPTY_AUTO_CONF, renderPgHba, renderPgpass, renderPostgresqlConf, SYNC_CONF } from './render.js';
import { SLOT_NAME_RE } from './admin.js';
import { keyFileProblem, sslSettings } from './ssl.js';

export interface ConfigFiles {
  writeConfig(role: StartRole): Promise<void>;
  writePassFile(): Promise<void>;
  /** governor never uses ALTER SYSTEM; whatever a base backup or rewind copied in there must not override us. */
  resetAutoConf(): Promise<void>;
}

export function configFiles(ctx: ControllerContext): ConfigFiles {
  const { config, pgc, logger, dataDir, passFile, inData, options, owner, pgUser } = ctx;
  const { superuser, replication } = pgc.authentication;

  /** PostgreSQL refuses to start on a key others can read; say so before it does, with the fix. */
  const checkSslKeyFile = async (): Promise<void> => {
    const keyFile = sslSettings(pgc).key_file;
    if (!keyFile || !sslSettings(pgc).cert_file) return;
    const user = await pgUser();
    let stat;
    try {
      stat = await fs.stat(keyFile);
    } catch (error) {
      throw new Error(`postgresql.ssl.key_file ${keyFile}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found' : (error as Error).message}`);
    }
    const problem = keyFileProblem(keyFile, { uid: stat.uid, gid: stat.gid, mode: stat.mode, isFile: stat.isFile() }, { uid: user.effectiveUid, gid: user.effectiveGid, name: user.name });
    if (problem) throw new Error(problem);
  };

  const writePassFile = async (): Promise<void> => {
    await writeFileIfChanged(passFile, renderPgpass([replication, superuser]), await owner());
  };

  const resetAutoConf = async (): Promise<void> => {
    const file = inData('postgresql.auto.conf');
    const current = await fs.readFile(file, 'utf8').catch(() => null);
    if (current === EMPTY_AUTO_CONF) return;
    const names = current ? autoConfParameters(current) : [];
    if (names.length > 0) logger.warn('clearing postgresql.auto.conf (governor owns the configuration)', { parameters: names });
    await writeFileAtomic(file, EMPTY_AUTO_CONF, await owner());
  };

  async function writeConfig(role: StartRole): Promise<void> {
    // PG_VERSION itself: during a bootstrap the directory reads as 'incomplete' until it is done.
    if (!(await exists(inData('PG_VERSION')))) throw new Error(`writeConfig: ${dataDir} holds no PostgreSQL cluster`);
    if (role.slotName && !SLOT_NAME_RE.test(role.slotName)) throw new Error(`invalid slot name ${JSON.stringify(role.slotName)}`);
    const who = await owner();
    if (config.archive?.enabled && !options.archiveCommands) {
      throw new Error('writeConfig: archive.enabled is set, but the PostgreSQL controller was created without archiveCommands');
    }
    await checkSslKeyFile();
    const { params, ignored } = buildParameters(pgc, role, passFile, config.archive?.enabled ? options.archiveCommands : null);
    if (ignored.length > 0) logger.warn('ignoring parameters governor sets itself', { parameters: ignored });
    await writePassFile();
    // Last, so that the synchronous standby governor picked overrides any configured value.
    params.set('include_if_exists', SYNC_CONF);
    await writeFileIfChanged(inData('postgresql.conf'), renderPostgresqlConf(params), who);
    await writeFileIfChanged(inData('pg_hba.conf'), renderPgHba(pgc), who);
    await resetAutoConf();
    if (role.role === 'replica') {
      await writeFileIfChanged(inData('standby.signal'), '', who);
      // A replica has no synchronous standby; when promoted, the master's loop picks one.
      await fs.rm(inData(SYNC_CONF), { force: true });
      ctx.sync.names = '';
    } else {
      await fs.rm(inData('standby.signal'), { force: true });
      await fs.rm(inData('recovery.signal'), { force: true });
    }
    logger.info('wrote PostgreSQL configuration', {
      role: role.role, primary: role.primary ? `${role.primary.host}:${role.primary.port}` : undefined, slot: role.slotName ?? undefined,
    });
  }

  return { writeConfig, writePassFile, resetAutoConf };
}
