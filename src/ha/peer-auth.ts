// The one place that decides whether the REST credential (restapi.authentication) may go with a
// request to another member's api_url. Every request that carries it (failsafe probes,
// governorctl's state-changing calls) asks here first.
//
// The rule: the credential travels only over the scheme the cluster uses. When this member's own
// REST API serves TLS (restapi.certfile), the cluster's members are https, so an http api_url is
// either a member misconfigured or something written into etcd to harvest the password: it gets no
// credential. A cluster without TLS sends it over http, as it must (its operator chose that).

import type { GovernorConfig } from '../config/types.js';
import { basicAuthHeaders } from '../util/basic-auth.js';

export type PeerAuth =
  /** Send these headers (empty when the cluster has no REST credential). */
  | { headers: Record<string, string>; refused: null }
  /** Send nothing to this URL; `refused` says why, for the log and the error (never the secret). */
  | { headers: null; refused: string };

/** The URL as parsed from a member key, or the reason it cannot be used. */
function parseApiUrl(apiUrl: URL | string): URL | string {
  if (apiUrl instanceof URL) return apiUrl;
  try {
    return new URL(apiUrl);
  } catch {
    return `api_url ${JSON.stringify(String(apiUrl).slice(0, 200))} is not a URL`;
  }
}

/** Whether this member's REST API serves HTTPS, so the cluster's api_urls are https. */
export function clusterUsesRestTls(config: Pick<GovernorConfig, 'restapi'>): boolean {
  return typeof config.restapi.certfile === 'string' && config.restapi.certfile !== '';
}

/**
 * The headers that carry the REST credential to `apiUrl`, or null with the reason it must not go
 * there. A URL that is neither http nor https never gets it; with restapi.certfile set, only https does.
 */
export function peerAuthHeaders(config: Pick<GovernorConfig, 'restapi'>, apiUrl: URL | string): PeerAuth {
  const auth = config.restapi.authentication;
  const url = parseApiUrl(apiUrl);
  if (typeof url === 'string') return { headers: null, refused: url };
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    return { headers: null, refused: `api_url ${url.origin} is neither http nor https` };
  }
  // Userinfo in a member key's URL would be sent by nobody here, but it is a sign of tampering.
  if (url.username !== '' || url.password !== '') {
    return { headers: null, refused: `api_url of ${url.host} carries user information; member keys never do` };
  }
  if (!auth) return { headers: {}, refused: null };
  if (clusterUsesRestTls(config) && url.protocol !== 'https:') {
    return {
      headers: null,
      refused: `api_url ${url.origin} is plain http while this cluster's REST APIs serve https (restapi.certfile is set): ` +
        'the REST credential is not sent over http; fix that member\'s restapi.certfile / connect_address',
    };
  }
  return { headers: basicAuthHeaders(auth), refused: null };
}
