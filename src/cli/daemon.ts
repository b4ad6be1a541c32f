// `governor -c FILE`: the daemon. Wires config, DCS, PostgreSQL, the HA loop and the REST API.

import { createApiServer, listen } from '../api/server.js';
import { defaultHaproxyConfig, loadConfig } from '../config/load.js';
import { createEtcdDcs } from '../dcs/etcd.js';
import { WriteFence } from '../ha/fence.js';
import { HaLoop } from '../ha/loop.js';
import { governorCommand } from './self.js';
import { HaproxyManager } from '../haproxy/manager.js';
import { routingViewFromCluster } from '../haproxy/view.js';
import { createLogger } from '../log/logger.js';
import { createPostgresController } from '../postgres/controller.js';
import { monotonicMs } from '../util/time.js';

export async function runDaemon(configFile: string | undefined): Promise<void> {
  const { config } = loadConfig({ file: configFile ?? null });
  const logger = createLogger({ level: config.log.level, cluster: config.scope, member: config.name });
  process.title = `governor ${config.scope}/${config.name}`;
  const dcs = createEtcdDcs({ config, logger });
  const pg = createPostgresController(config, logger.child('postgres'));
  const fence = new WriteFence(governorCommand(), config.postgresql.data_dir, logger.child('fence'));
  fence.start();
  const haproxySettings = config.haproxy ?? defaultHaproxyConfig();
  const haproxy = haproxySettings.enabled ? new HaproxyManager(haproxySettings, config.scope, logger) : null;
  if (haproxy) {
    // Routing is a convenience beside HA: a HAProxy that cannot start is logged and retried, and
    // never keeps the daemon from managing PostgreSQL.
    await haproxy.start().catch((error: Error) => logger.error(`HAProxy did not start: ${error.message}`));
  }
  const loop = new HaLoop(config, dcs, pg, logger.child('ha'), fence, {
    // Each read of the cluster (watch-driven) goes to HAProxy; the manager serializes applies and a
    // queued apply uses the newest view, so the HA loop never waits for a reload.
    onCluster: haproxy ? (cluster) => void haproxy.apply(routingViewFromCluster(cluster)).catch(() => undefined) : undefined,
  });
  const api = createApiServer({
    config,
    dcs,
    logger: logger.child('api'),
    cluster: () => loop.status.lastCluster,
    pg: () => pg.status(),
    isLeader: () => loop.isLeader(),
    paused: () => loop.status.dynamic.pause === true,
    alive: () => {
      const last = loop.status.lastIterationAt;
      return last !== null && monotonicMs() - last < loop.status.dynamic.ttl * 1000 + 60_000;
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
    await loop.shutdown();
    await haproxy?.stop().catch((error: Error) => logger.error(`could not stop HAProxy: ${error.message}`));
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}
