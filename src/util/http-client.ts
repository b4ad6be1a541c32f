// One HTTP(S) request with a hard deadline and TLS options. Node's global fetch cannot be given a
// CA bundle without undici's Agent (not a dependency), and members must verify each other's REST
// certificates against the cluster's own CA, so calls between members, governorctl's calls and the
// instance metadata client go through node:http / node:https here.

import http from 'node:http';
import https from 'node:https';

export interface TlsClientOptions {
  /** PEM CA bundle the server's certificate must chain to; absent = the system trust store. */
  ca?: string | Buffer;
  /** Do not verify the server's certificate at all (governorctl --insecure). */
  insecure?: boolean;
  /** Client certificate and key (PEM), for servers that ask for one. */
  cert?: string | Buffer;
  key?: string | Buffer;
}

export interface HttpRequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  /** The whole request, connect to last byte. */
  timeoutMs: number;
  tls?: TlsClientOptions;
  /** Larger answers are cut off with an error (default 4 MiB). */
  maxBytes?: number;
}

export interface HttpResponse {
  status: number;
  body: string;
}

export function httpRequest(url: string | URL, options: HttpRequestOptions): Promise<HttpResponse> {
  const target = typeof url === 'string' ? new URL(url) : url;
  const secure = target.protocol === 'https:';
  if (!secure && target.protocol !== 'http:') return Promise.reject(new Error(`${target.protocol} URLs are not supported: ${target.origin}`));
  const maxBytes = options.maxBytes ?? 4 * 1024 * 1024;
  const headers: Record<string, string | number> = { ...options.headers };
  if (options.body !== undefined) headers['Content-Length'] = Buffer.byteLength(options.body);
  const tls = options.tls ?? {};
  return new Promise<HttpResponse>((resolve, reject) => {
    let settled = false;
    const finish = (error: Error | null, response?: HttpResponse) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (error) reject(error);
      else resolve(response!);
    };
    const requestOptions: https.RequestOptions = {
      method: options.method ?? 'GET',
      headers,
      // A fresh connection per request: no pooled socket keeps a short-lived command alive.
      agent: false,
      ...(secure ? { ca: tls.ca, cert: tls.cert, key: tls.key, rejectUnauthorized: tls.insecure !== true } : {}),
    };
    const request = (secure ? https : http).request(target, requestOptions, (response) => {
      const chunks: Buffer[] = [];
      let size = 0;
      response.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > maxBytes) {
          request.destroy();
          finish(new Error(`${target.origin}: answer larger than ${maxBytes} bytes`));
          return;
        }
        chunks.push(chunk);
      });
      response.on('end', () => finish(null, { status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      response.on('error', (error) => finish(error));
    });
    const timer = setTimeout(() => {
      request.destroy();
      finish(new Error(`${target.origin} did not answer within ${options.timeoutMs} ms`));
    }, options.timeoutMs);
    request.on('error', (error) => finish(error));
    request.end(options.body);
  });
}
