// The local PostgreSQL instance, as the HA loop drives it (the PostgresController interface of
// types.ts). Its parts each have one job and share one ControllerContext (controller-context.ts):
//   lifecycle.ts      start, stop, promote, reload (the postmaster runner is postmaster.ts)
//   provisioning.ts   initdb, roles, pg_basebackup, pg_rewind, creating / moving aside the data directory
//   config-files.ts   postgresql.conf, pg_hba.conf, standby.signal, postgresql.auto.conf, .pgpass
//   queries.ts        status, WAL position, slots, synchronous_standby_names, checkpoint, archiver
import type { GovernorConfig } from '../config/types.js';
import type { Logger } from '../log/logger.js';
import { configFiles } from './config-files.js';
import { createControllerContext, type PostgresControllerOptions } from './controller-context.js';
import { lifecycle } from './lifecycle.js';
import { provisioning } from './provisioning.js';
import { queries } from './queries.js';
import type { PostgresController } from './types.js';

export { type PostgresControllerOptions, sidecarPaths } from './controller-context.js';
export { DEFAULT_BIN_DIR } from './postmaster.js';

export function createPostgresController(config: GovernorConfig, logger: Logger, options: PostgresControllerOptions = {}): PostgresController {
  const ctx = createControllerContext(config, logger, options);
  const files = configFiles(ctx);
  const asked = queries(ctx);
  return {
    ...provisioning(ctx, files),
    writeConfig: files.writeConfig,
    ...lifecycle(ctx, asked.status),
    ...asked,
  };
}
