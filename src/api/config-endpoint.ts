// PATCH /config (a JSON merge patch, as Patroni's) and PUT /config (a whole new configuration):
// validated like the daemon's own configuration and written with a compare-and-swap on the key's
// revision, so two concurrent edits never silently overwrite each other.

import { ConfigError } from '../config/errors.js';
import { validateDynamicConfig } from '../config/load.js';
import { mergePatch } from '../config/dynamic-edit.js';
import { HttpError, type ApiBackend } from './server.js';

export async function handleConfigChange(backend: ApiBackend, body: Record<string, unknown>, mode: 'patch' | 'replace'): Promise<[number, unknown]> {
  let cluster;
  try {
    cluster = await backend.dcs.readCluster();
  } catch (error) {
    throw new HttpError(503, `etcd unreachable: ${(error as Error).message}`);
  }
  const current = cluster.config ?? backend.config.bootstrap.dcs;
  const wanted = mode === 'patch' ? mergePatch(current, body) : body;
  let config;
  try {
    config = validateDynamicConfig(wanted, 'config');
  } catch (error) {
    if (error instanceof ConfigError) throw new HttpError(400, error.message);
    throw error;
  }
  // '0': the key must still be absent (etcd reports mod_revision 0 for a missing key).
  if (!(await backend.dcs.setConfig(config, cluster.configRevision ?? '0'))) {
    throw new HttpError(409, 'the configuration was changed by someone else meanwhile: read it again and retry');
  }
  backend.logger.info('dynamic configuration changed through the REST API', { mode, pause: config.pause === true });
  backend.wake();
  return [200, config];
}
