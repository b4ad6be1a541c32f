// The restapi section: addresses, basic-auth credentials and TLS files.

import { type Checker } from './checker.js';
import { DEFAULT_RESTAPI } from './defaults.js';
import { credentials, listenAndConnect } from './fields.js';
import { bothOrNeither, tlsFile } from './tls.js';
import type { Credentials, RestApiConfig } from './types.js';

export function checkRestApi(ch: Checker, value: unknown): RestApiConfig {
  const m = ch.mapping('restapi', value, ['listen', 'connect_address', 'authentication', 'certfile', 'keyfile', 'cafile']);
  const addresses = listenAndConnect(ch, 'restapi', m, DEFAULT_RESTAPI.listen, false, 'GOVERNOR_RESTAPI_CONNECT_ADDRESS');
  let authentication: Credentials | null = null;
  if (m.authentication === undefined || m.authentication === null) {
    ch.source('restapi.authentication', m.authentication !== undefined);
  } else {
    authentication = credentials(ch, 'restapi.authentication', m.authentication, null, {
      user: 'set it, or GOVERNOR_RESTAPI_USERNAME, or remove restapi.authentication',
      password: 'set it, or GOVERNOR_RESTAPI_PASSWORD, or remove restapi.authentication',
    });
  }
  const certfile = tlsFile(ch, 'restapi.certfile', m.certfile);
  const keyfile = tlsFile(ch, 'restapi.keyfile', m.keyfile);
  const cafile = tlsFile(ch, 'restapi.cafile', m.cafile);
  bothOrNeither(ch, ['restapi.certfile', certfile], ['restapi.keyfile', keyfile]);
  return { ...addresses, authentication, certfile, keyfile, cafile };
}
