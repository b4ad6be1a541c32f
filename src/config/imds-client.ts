// The EC2 instance metadata service, version 2: a session token first (PUT), then the reads with
// it. Only what governor needs: the instance id (a stable, unique member name) and the private
// IPv4 address (what other members connect to). One short deadline covers the whole exchange,
// so a machine that is not on EC2 waits at most that long.

import net from 'node:net';
import { httpRequest } from '../util/http-client.js';
import { DEFAULT_IMDS_ENDPOINT, IMDS_TIMEOUT_MS } from './defaults.js';

export interface InstanceIdentity {
  instanceId: string;
  localIpv4: string;
}

export interface ImdsClientOptions {
  /** Base URL, e.g. http://169.254.169.254 (AWS_EC2_METADATA_SERVICE_ENDPOINT). */
  endpoint?: string;
  /** For the token and both reads together. */
  timeoutMs?: number;
}

/** The token only has to outlive these three requests. */
const TOKEN_TTL_SECONDS = 60;

/** The endpoint the AWS SDK would use: AWS_EC2_METADATA_SERVICE_ENDPOINT or the link-local address. */
export function imdsEndpoint(env: NodeJS.ProcessEnv): string {
  const configured = env.AWS_EC2_METADATA_SERVICE_ENDPOINT?.trim();
  return (configured || DEFAULT_IMDS_ENDPOINT).replace(/\/+$/, '');
}

export class ImdsError extends Error {}

/** Ask IMDSv2 for the instance id and private IPv4. Throws ImdsError saying what failed. */
export async function fetchInstanceIdentity(options: ImdsClientOptions = {}): Promise<InstanceIdentity> {
  const endpoint = (options.endpoint ?? DEFAULT_IMDS_ENDPOINT).replace(/\/+$/, '');
  const budgetMs = options.timeoutMs ?? IMDS_TIMEOUT_MS;
  const deadline = Date.now() + budgetMs;
  const remaining = () => Math.max(1, deadline - Date.now());
  const call = async (what: string, method: string, path: string, headers: Record<string, string>): Promise<string> => {
    let response;
    try {
      response = await httpRequest(`${endpoint}${path}`, { method, headers, timeoutMs: remaining(), maxBytes: 64 * 1024 });
    } catch (error) {
      throw new ImdsError(`${what} from ${endpoint} failed: ${(error as Error).message}`);
    }
    if (response.status !== 200) throw new ImdsError(`${what} from ${endpoint} answered HTTP ${response.status}`);
    return response.body.trim();
  };

  let token: string;
  try {
    token = await call('the IMDSv2 session token', 'PUT', '/latest/api/token', { 'X-aws-ec2-metadata-token-ttl-seconds': String(TOKEN_TTL_SECONDS) });
  } catch (error) {
    if (Date.now() >= deadline) throw new ImdsError(`no answer from the instance metadata service at ${endpoint} within ${budgetMs} ms (not on EC2?)`);
    throw error;
  }
  const read = (name: string) => call(`meta-data/${name}`, 'GET', `/latest/meta-data/${name}`, { 'X-aws-ec2-metadata-token': token });
  const [instanceId, localIpv4] = await Promise.all([read('instance-id'), read('local-ipv4')]);
  if (!/^i-[0-9a-f]{8,32}$/.test(instanceId)) throw new ImdsError(`meta-data/instance-id from ${endpoint} is not an instance id: ${JSON.stringify(instanceId.slice(0, 40))}`);
  if (!net.isIPv4(localIpv4)) throw new ImdsError(`meta-data/local-ipv4 from ${endpoint} is not an IPv4 address: ${JSON.stringify(localIpv4.slice(0, 40))}`);
  return { instanceId, localIpv4 };
}
