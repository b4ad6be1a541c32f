// A stand-in for the EC2 instance metadata service, version 2, on a free loopback port: PUT
// /latest/api/token (with the TTL header) hands out a token, and GET /latest/meta-data/* answers
// only with that token (401 otherwise), as IMDSv2 does. IMDS is not a component governor runs, so a
// test double is the only way to exercise the client off EC2.

import http from 'node:http';
import { randomBytes } from 'node:crypto';

export interface FakeImdsOptions {
  instanceId?: string;
  localIpv4?: string;
  /** Milliseconds before every answer (to exceed the client's deadline). */
  delayMs?: number;
}

export interface FakeImds {
  endpoint: string;
  /** Every request as "METHOD path status". */
  requests: string[];
  close(): Promise<void>;
}

export async function startFakeImds(options: FakeImdsOptions = {}): Promise<FakeImds> {
  const tokens = new Set<string>();
  const requests: string[] = [];
  const data: Record<string, string> = {
    '/latest/meta-data/instance-id': options.instanceId ?? 'i-0123456789abcdef0',
    '/latest/meta-data/local-ipv4': options.localIpv4 ?? '10.1.2.3',
  };
  const server = http.createServer((req, res) => {
    const answer = (status: number, body: string) => {
      requests.push(`${req.method} ${req.url} ${status}`);
      setTimeout(() => {
        res.writeHead(status, { 'Content-Type': 'text/plain' });
        res.end(body);
      }, options.delayMs ?? 0);
    };
    if (req.method === 'PUT' && req.url === '/latest/api/token') {
      const ttl = Number(req.headers['x-aws-ec2-metadata-token-ttl-seconds']);
      if (!Number.isInteger(ttl) || ttl < 1 || ttl > 21600) return answer(400, 'missing or bad X-aws-ec2-metadata-token-ttl-seconds');
      const token = randomBytes(16).toString('base64');
      tokens.add(token);
      return answer(200, token);
    }
    if (req.method === 'GET') {
      const token = req.headers['x-aws-ec2-metadata-token'];
      if (typeof token !== 'string' || !tokens.has(token)) return answer(401, 'Unauthorized');
      const value = data[req.url ?? ''];
      return value === undefined ? answer(404, 'Not Found') : answer(200, value);
    }
    return answer(405, 'Method Not Allowed');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address() as { port: number };
  return {
    endpoint: `http://127.0.0.1:${address.port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
