// A throw-away S3 server for tests: s3rver in its own process (so a hung request or its event loop
// cannot stall the test process), on a free port, storing under a temporary directory, with one
// bucket already created. Stop it by PID.
//
// s3rver 3.7 caveats: no AbortMultipartUpload, suffix ranges (bytes=-N) answered wrongly,
// signatures not verified (any credentials work; S3RVER/S3RVER by convention).

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { stopProcess } from '../../src/cli/demo/etcd-process.js';
import type { ArchiveConfig } from '../../src/config/types.js';

export interface TestS3 {
  /** http://127.0.0.1:<port> */
  endpoint: string;
  bucket: string;
  readonly pid: number;
  dir: string;
  /** s3://<bucket>: an archive.storage value (append /prefix to share the bucket). */
  url: string;
  /** Credentials s3rver accepts. */
  accessKeyId: string;
  secretAccessKey: string;
  /** The archive.s3 block that reaches this server. */
  archiveS3: ArchiveConfig['s3'];
  /** The environment that points governor (and the AWS SDK) at this server, for clusters whose
   *  archive settings come from the environment (test/helpers/env.ts overrideEnvironment). */
  environment: Record<string, string>;
  /** Kill the server and remove its directory. */
  stop(): Promise<void>;
}

// Runs in the child: start s3rver on port 0 and report the port it got on stdout.
const SERVER_SCRIPT = `
const S3rver = require(process.env.S3RVER_MODULE);
new S3rver({
  address: '127.0.0.1',
  port: 0,
  silent: true,
  directory: process.env.S3RVER_DIR,
  configureBuckets: [{ name: process.env.S3RVER_BUCKET }],
}).run().then(
  (address) => console.log(JSON.stringify({ port: address.port })),
  (error) => { console.error(error); process.exit(1); },
);
`;

export async function startTestS3(options: { bucket?: string; startTimeoutMs?: number } = {}): Promise<TestS3> {
  const bucket = options.bucket ?? 'governor-test';
  const dir = mkdtempSync(join(tmpdir(), 'governor-s3-'));
  const child = spawn(process.execPath, ['-e', SERVER_SCRIPT], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      // s3rver signs list continuation tokens with a cipher OpenSSL 3 only has in its legacy provider.
      NODE_OPTIONS: '--openssl-legacy-provider',
      S3RVER_MODULE: createRequire(import.meta.url).resolve('s3rver'),
      S3RVER_DIR: dir,
      S3RVER_BUCKET: bucket,
    },
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('s3rver did not report its port in time')), options.startTimeoutMs ?? 15_000);
      const lines = createInterface({ input: child.stdout! });
      lines.once('line', (line) => {
        clearTimeout(timer);
        try {
          resolve((JSON.parse(line) as { port: number }).port);
        } catch {
          reject(new Error(`unexpected s3rver output: ${line}`));
        }
      });
      child.once('error', (error) => reject(new Error(`could not start s3rver: ${error.message}`)));
      child.once('exit', (code, signal) => reject(new Error(`s3rver exited (code ${code}, signal ${signal})`)));
    });
    child.stdout!.resume();
    const pid = child.pid!;
    const endpoint = `http://127.0.0.1:${port}`;
    return {
      endpoint,
      bucket,
      pid,
      dir,
      url: `s3://${bucket}`,
      accessKeyId: 'S3RVER',
      secretAccessKey: 'S3RVER',
      environment: {
        AWS_ENDPOINT: endpoint,
        AWS_REGION: 'us-east-1',
        AWS_S3_FORCE_PATH_STYLE: 'true',
        AWS_ACCESS_KEY_ID: 'S3RVER',
        AWS_SECRET_ACCESS_KEY: 'S3RVER',
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      },
      archiveS3: {
        region: 'us-east-1',
        endpoint,
        force_path_style: true,
        sse: 'none',
        sse_kms_key_id: null,
        access_key_id: 'S3RVER',
        secret_access_key: 'S3RVER',
      },
      async stop() {
        await stopProcess(pid, 5000);
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    if (child.pid !== undefined) await stopProcess(child.pid, 2000);
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`${(error as Error).message}\n${stderr}`);
  }
}
