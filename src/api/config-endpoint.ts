// PATCH /config (a JSON merge patch, as Patroni's) and PUT /config (a whole new configuration):
// validated like the daemon's own configuration and written with a compare-and-swap on the key's
// revision, so two concurrent edits never silently overwrite each other. A PUT must spell out every
// setting (an empty body would otherwise reset the cluster to defaults); a PATCH must leave a valid
// whole; neither may set a parameter that runs commands or loads code (local-only-parameters.ts).

import { ConfigError } from '../config/errors.js';
import { validateDynamicConfig } from '../config/load.js';
import { validateCompleteDynamicConfig } from '../config/dynamic-document.js';
import { mergePatch } from '../config/dynamic-edit.js';
import { HttpError } from './http-error.js';
import type { ApiBackend } from './backend.js';

export async function handleConfigChange(backend: ApiBackend, body: Record<string, unknown> | null, mode: 'patch' | 'replace'): Promise<[number, unknown]> {
  if (body === null) {
    throw new HttpError(400, mode === 'replace'
      ? 'request body is empty: PUT /config replaces the whole configuration, so send every field (as GET /config shows them), or change single fields with PATCH /config'
      : 'request body is empty: send a JSON merge patch such as {"loop_wait": 5}');
  }
  let cluster;
  try {
    cluster = await backend.dcs.readCluster();
  } catch (error) {
    throw new HttpError(503, `etcd unreachable: ${(error as Error).message}`);
  }
  if (mode === 'patch' && cluster.configError !== undefined) {
    // Merging onto a value governor cannot read would guess at what the rest should be.
    throw new HttpError(409, `the config key in etcd is invalid (${cluster.configError}): replace it whole with PUT /config`);
  }
  const current = cluster.config ?? backend.config.bootstrap.dcs;
  let config;
  try {
    config = mode === 'patch' ? validateDynamicConfig(mergePatch(current, body), 'config') : validateCompleteDynamicConfig(body, 'config');
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
