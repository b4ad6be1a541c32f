// `governor -c FILE`: the daemon. Wires config, DCS, PostgreSQL, the HA loop and the REST API.

import path from 'node:path';
import { createApiServer, listen } from '../api/server.js';
import { defaultHaproxyConfig, loadConfigWithImds } from '../config/load.js';
import { imdsEnvironment } from '../config/imds.js';
import { createEtcdDcs } from '../dcs/etcd.js';
import { WriteFence } from '../ha/fence.js';
import { HaLoop } from '../ha/loop.js';
import { noteClusterView } from '../ha/cluster-memory.js';
import { restApiTls } from '../ha/peers.js';
import { governorCommand } from './self.js';
import { HaproxyManager } from '../haproxy/manager.js';
import { routingViewFromCluster } from '../haproxy/view.js';
import { createLogger } from '../log/logger.js';
import { createPostgresController } from '../postgres/controller.js';
import { archiveCommands } from '../postgres/render.js';
import { restoreReplicaFromBackup } from '../archive/replica.js';
import { BackupScheduler } from '../archive/schedule.js';
import { WalUploaderProcess } from '../archive/wal-uploader-process.js';
import { monotonicMs } from '../util/time.js';
import { LatestBackupTracker } from '../archive/latest-backup.js';
import { listBackups } from '../archive/backup-list.js';
import { archiveSettings } from '../archive/backup-push.js';
import { openStorage } from '../archive/storage/index.js';

/** How often /metrics may list the backups in storage (one LIST per member per interval). */
const BACKUP_LIST_REFRESH_MS = 5 * 60_000;

export async function runDaemon(configFile: string | undefined): Promise<void> {
  const { config, imds } = await loadConfigWithImds({ file: configFile ?? null });
  const logger = createLogger({ level: config.log.level, cluster: config.scope, member: config.name });
  if (imds.length > 0) {
    logger.info('values from the EC2 instance metadata service', Object.fromEntries(imds));
    // PostgreSQL's archive_command and restore_command (governor wal-push/wal-fetch) inherit these.
    Object.assign(process.env, imdsEnvironment(imds));
  }
  process.title = `governor ${config.scope}/${config.name}`;
  // Read the REST CA now, once: a missing file stops the start with the field named, not a later race.
  const peerTls = restApiTls(config);
  const dcs = createEtcdDcs({ config, logger });
  const self = governorCommand();
  const configPath = configFile ? path.resolve(configFile) : null;
  const archiving = config.archive?.enabled === true;
  if (archiving && !configPath) throw new Error('archive.enabled needs the daemon started with -c CONFIG_FILE: archive_command runs governor wal-push with it');
  const pg = createPostgresController(config, logger.child('postgres'), {
    archiveCommands: archiving
      ? archiveCommands(self, configPath!, { spoolDir: config.archive!.spool_dir, storage: config.archive!.storage })
      : undefined,
  });
  const fence = new WriteFence(self, config.postgresql.data_dir, logger.child('fence'));
  fence.start();
  const haproxySettings = { ...(config.haproxy ?? defaultHaproxyConfig()), check_ca_file: config.restapi.cafile ?? null };
  const haproxy = haproxySettings.enabled ? new HaproxyManager(haproxySettings, config.scope, logger) : null;
  if (haproxy) {
    // Routing is a convenience beside HA: a HAProxy that cannot start is logged and retried, and
    // never keeps the daemon from managing PostgreSQL.
    await haproxy.start().catch((error: Error) => logger.error(`HAProxy did not start: ${error.message}`));
  }
  const loop = new HaLoop(config, dcs, pg, logger.child('ha'), fence, {
    peerTls,
    onCluster: (cluster) => {
      // Whether this daemon has seen the cluster initialized: the rules tell etcd that lost its
      // keys from a cluster that was never bootstrapped (cluster-memory.ts).
      noteClusterView(loop.memory, cluster, config.name, monotonicMs());
      // Each read of the cluster (watch-driven) goes to HAProxy; the manager serializes applies and
      // a queued apply uses the newest view, so the HA loop never waits for a reload.
      if (haproxy) void haproxy.apply(routingViewFromCluster(cluster)).catch(() => undefined);
    },
    restoreBackup: archiving ? (systemIdentifier) => restoreReplicaFromBackup(config, systemIdentifier, logger.child('archive')) : undefined,
  });
  // Uploads WAL ahead of archive_command on whichever member has segments ready (the master, or a
  // former master finishing its archive), so PostgreSQL never waits one upload per segment.
  // A child process as PostgreSQL's OS user: compression never blocks this event loop (where the
  // lease is renewed), and what it writes is owned like what wal-push writes.
  const uploader = archiving
    ? new WalUploaderProcess({ config, command: self, configFile: configPath!, logger: logger.child('archive') })
    : null;
  await uploader?.start();
  const scheduler = archiving
    ? new BackupScheduler({ config, configFile: configPath, governorArgv: self, logger: logger.child('backup'), isMaster: () => loop.isLeader() })
    : null;
  scheduler?.start();
  const latestBackup = archiving ? backupTracker(config, logger) : null;
  const sinceSeconds = (at: number | null) => (at === null ? null : Math.max(0, (monotonicMs() - at) / 1000));
  const api = createApiServer({
    config,
    dcs,
    logger: logger.child('api'),
    cluster: () => loop.status.lastCluster,
    etcdUnreachableMs: () => loop.etcdUnreachableMs(),
    pg: () => pg.status(),
    isLeader: () => loop.isLeader(),
    confirmFailsafe: (leader) => loop.confirmFailsafe(leader),
    paused: () => loop.status.dynamic.pause === true,
    alive: () => {
      const last = loop.status.lastIterationAt;
      return last !== null && monotonicMs() - last < loop.status.dynamic.ttl * 1000 + 60_000;
    },
    metrics: async () => {
      const lastRun = scheduler?.status.lastRun;
      if (lastRun?.ok && !lastRun.skipped) latestBackup?.note(lastRun.finishedAt);
      return {
        leaderChanges: loop.status.leaderChanges,
        archiver: archiving ? await pg.archiverStatus() : null,
        lastBackupAt: (await latestBackup?.get()) ?? null,
        dcsLastContactAgeSeconds: sinceSeconds(loop.status.lastClusterAt),
        loopIterationAgeSeconds: sinceSeconds(loop.status.lastIterationAt),
      };
    },
    requestRestart: () => {
      loop.requests.restart = true;
    },
    requestReinitialize: () => {
      loop.requests.reinitialize = true;
    },
    wake: () => loop.wake(),
  });
  await listen(api, config.restapi.listen);
  logger.info(`REST API listening on ${config.restapi.listen}`);
  await loop.start();
  logger.info(`governor started: scope ${config.scope}, member ${config.name}, etcd ${config.etcd.hosts.join(',')}`);

  let shuttingDown = false;
  const shutdown = async (signal: string) => {
    if (shuttingDown) return;
    shuttingDown = true;
    logger.info(`received ${signal}: stopping PostgreSQL and leaving the cluster`);
    api.close();
    api.closeAllConnections();
    await scheduler?.stop();
    await loop.shutdown();
    await uploader?.stop().catch((error: Error) => logger.error(`could not stop the WAL uploader: ${error.message}`));
    await haproxy?.stop().catch((error: Error) => logger.error(`could not stop HAProxy: ${error.message}`));
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

function backupTracker(config: Parameters<typeof archiveSettings>[0], logger: ReturnType<typeof createLogger>): LatestBackupTracker {
  const log = logger.child('archive');
  let storage: ReturnType<typeof openStorage> | null = null;
  return new LatestBackupTracker({
    list: async () => {
      storage ??= openStorage(archiveSettings(config), log);
      return (await listBackups(storage)).map((b) => new Date(b.finished_at));
    },
    refreshMs: BACKUP_LIST_REFRESH_MS,
    waitMs: 2000,
    onError: (error) => log.warn(`could not list base backups for /metrics: ${error.message}`),
  });
}
