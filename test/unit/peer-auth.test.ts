import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { peerAuthHeaders } from '../../src/ha/peer-auth.js';
import type { GovernorConfig } from '../../src/config/types.js';

const CREDENTIAL = { username: 'admin', password: 's3cret-pw' };
const BASIC = `Basic ${Buffer.from('admin:s3cret-pw').toString('base64')}`;

function restapi(tls: boolean, auth = true): Pick<GovernorConfig, 'restapi'> {
  return {
    restapi: {
      listen: '0.0.0.0:8008',
      connect_address: '10.0.0.1:8008',
      authentication: auth ? CREDENTIAL : null,
      certfile: tls ? '/etc/governor/rest.crt' : null,
      keyfile: tls ? '/etc/governor/rest.key' : null,
      cafile: null,
    },
  };
}

describe('peerAuthHeaders: the REST credential goes only over the scheme the cluster uses', () => {
  // [case, this member serves TLS, has a credential, api_url, Authorization sent (or null = refused, with this in the reason)]
  const cases: Array<[string, boolean, boolean, string, string | null, RegExp?]> = [
    ['plain cluster, http member', false, true, 'http://10.0.0.2:8008/patroni', BASIC],
    ['plain cluster, https member', false, true, 'https://10.0.0.2:8008/patroni', BASIC],
    ['TLS cluster, https member', true, true, 'https://10.0.0.2:8008/patroni', BASIC],
    ['TLS cluster, http member: refused', true, true, 'http://10.0.0.2:8008/patroni', null, /plain http .*restapi\.certfile/],
    ['TLS cluster, HTTP in capitals is still http', true, true, 'HTTP://10.0.0.2:8008/', null, /plain http/],
    ['no credential configured: nothing to send, nothing refused', true, false, 'http://10.0.0.2:8008/', 'none'],
    ['a file: URL never gets it', false, true, 'file:///etc/passwd', null, /neither http nor https/],
    ['a gopher: URL never gets it', false, true, 'gopher://10.0.0.2:70/', null, /neither http nor https/],
    ['user information in the URL: tampering', false, true, 'http://x:y@10.0.0.2:8008/', null, /user information/],
    ['not a URL', false, true, 'not a url', null, /is not a URL/],
  ];
  for (const [name, tls, auth, url, expected, reason] of cases) {
    it(name, () => {
      for (const form of [url, (() => { try { return new URL(url); } catch { return url; } })()]) {
        const result = peerAuthHeaders(restapi(tls, auth), form);
        if (expected === null) {
          assert.equal(result.headers, null);
          assert.match(result.refused!, reason!);
          assert.doesNotMatch(result.refused!, /s3cret-pw/, 'the reason never carries the secret');
        } else if (expected === 'none') {
          assert.deepEqual(result.headers, {});
        } else {
          assert.equal(result.headers?.Authorization, expected);
          assert.equal(result.refused, null);
        }
      }
    });
  }
});
