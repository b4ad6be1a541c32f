// The boot script, run for real with bash: against a local stand-in for the instance metadata
// service that speaks the IMDSv2 token protocol, with stand-ins for the two commands that only
// exist on an EC2 instance (the aws CLI answering get-secret-value, and systemctl), writing the
// environment file into a temporary directory.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { ENV_OVERRIDES } from '../../src/config/env.js';
import { ENVIRONMENT_FILE, IMDS_URL, bootScript, clusterEnvironment, type BootSecret } from '../lib/boot-script.js';
import { resolveSettings } from '../lib/settings.js';

const run = promisify(execFile);

const ARN = (name: string) => `arn:aws:secretsmanager:eu-west-1:123456789012:secret:orders-${name}-AbCdEf`;
const SECRETS: BootSecret[] = [
  { variable: 'PGPASSWORD_SUPERUSER', label: 'PostgreSQL superuser password', secretArn: ARN('superuser') },
  { variable: 'PGPASSWORD_STANDBY', label: 'PostgreSQL replication password', secretArn: ARN('replication') },
  { variable: 'GOVERNOR_RESTAPI_PASSWORD', label: 'REST API password', secretArn: ARN('restapi') },
  { variable: 'GOVERNOR_CLUSTER_SECRET', label: 'cluster secret', secretArn: ARN('cluster') },
];
const PASSWORDS: Record<string, string> = {
  [ARN('superuser')]: 'Su9erSecretPassw0rdForTheSuperuser',
  [ARN('replication')]: 'Repl1cationPasswordXYZ',
  [ARN('restapi')]: 'RestApiPassword42',
  [ARN('cluster')]: 'ClusterSecretForFailsafeProofs0123456789',
};

const settings = resolveSettings({
  scope: 'orders',
  etcdHosts: ['10.20.0.10:2379', '10.20.0.11:2379'],
  clientCidrs: ['10.20.0.0/16'],
});
const environment = clusterEnvironment(settings, {
  bucketName: 'orders-archive',
  kmsKeyArn: 'arn:aws:kms:eu-west-1:123456789012:key/0f0e0d0c-1111-2222-3333-444455556666',
  region: 'eu-west-1',
});

/** IMDSv2: PUT /latest/api/token with a TTL header gives a token; metadata needs the token. */
function startImds(options: { refuseTokens?: boolean } = {}): Promise<http.Server> {
  const token = 'AQAEAtoken-for-this-test';
  const metadata: Record<string, string> = { 'instance-id': 'i-0123456789abcdef0', 'local-ipv4': '10.20.3.44' };
  const server = http.createServer((req, res) => {
    if (req.method === 'PUT' && req.url === '/latest/api/token') {
      if (options.refuseTokens || req.headers['x-aws-ec2-metadata-token-ttl-seconds'] === undefined) {
        res.writeHead(options.refuseTokens ? 403 : 400).end();
      } else res.writeHead(200).end(token);
      return;
    }
    if (req.method !== 'GET' || req.headers['x-aws-ec2-metadata-token'] !== token) {
      res.writeHead(401).end();
      return;
    }
    const item = req.url?.replace('/latest/meta-data/', '') ?? '';
    if (metadata[item] === undefined) res.writeHead(404).end();
    else res.writeHead(200).end(metadata[item]);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

interface Sandbox {
  dir: string;
  environmentFile: string;
  log: string;
  script: string;
}

function sandbox(server: http.Server, passwords: Record<string, string>, withAws = true): Sandbox {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'governor-boot-'));
  const bin = path.join(dir, 'bin');
  const secrets = path.join(dir, 'secrets');
  fs.mkdirSync(bin);
  fs.mkdirSync(secrets);
  for (const [arn, value] of Object.entries(passwords)) fs.writeFileSync(path.join(secrets, arn), value);
  const log = path.join(dir, 'calls.log');
  if (withAws) {
    // Answers `aws secretsmanager get-secret-value --secret-id ARN --query SecretString --output text`
    // like the real one: the value and a newline, or an error and exit 254.
    fs.writeFileSync(
      path.join(bin, 'aws'),
      [
        '#!/bin/bash',
        'echo "aws $*" >>"$BOOT_TEST_LOG"',
        'id=; prev=',
        'for arg; do [ "$prev" = --secret-id ] && id=$arg; prev=$arg; done',
        '[ -f "$BOOT_TEST_SECRETS/$id" ] || { echo "An error occurred (ResourceNotFoundException)" >&2; exit 254; }',
        'cat "$BOOT_TEST_SECRETS/$id"; echo',
      ].join('\n'),
      { mode: 0o755 },
    );
  }
  fs.writeFileSync(path.join(bin, 'systemctl'), '#!/bin/bash\necho "systemctl $*" >>"$BOOT_TEST_LOG"\n', { mode: 0o755 });

  const environmentFile = path.join(dir, 'etc', 'governor', 'environment');
  const { port } = server.address() as AddressInfo;
  const lines = bootScript({ region: 'eu-west-1', environment, secrets: SECRETS });
  const replace = (from: string, to: string) => {
    const i = lines.indexOf(from);
    assert.ok(i >= 0, `the script has no line ${from}`);
    lines[i] = to;
  };
  replace(`imds=${IMDS_URL}`, `imds=http://127.0.0.1:${port}/latest`);
  replace(`environment_file=${ENVIRONMENT_FILE}`, `environment_file=${environmentFile}`);
  const script = path.join(dir, 'user-data.sh');
  fs.writeFileSync(script, lines.join('\n'));
  return { dir, environmentFile, log, script };
}

async function boot(box: Sandbox, withAws = true): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = {
    PATH: `${path.join(box.dir, 'bin')}:/usr/bin:/bin`,
    BOOT_TEST_LOG: box.log,
    BOOT_TEST_SECRETS: path.join(box.dir, 'secrets'),
  };
  assert.ok(withAws || !['/usr/bin/aws', '/bin/aws'].some((p) => fs.existsSync(p)));
  try {
    const { stdout, stderr } = await run('bash', [box.script], { env, timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout: string; stderr: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout, stderr: e.stderr };
  }
}

// The root package's build (make build), if there is one: its configuration loader is what reads
// the environment file on an instance.
const ROOT_LOADER = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../dist/src/config/load.js');

function parseEnvironmentFile(text: string): Map<string, string> {
  return new Map(text.trimEnd().split('\n').map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]));
}

describe('boot script', () => {
  let imds: http.Server;
  const boxes: string[] = [];
  let written: Map<string, string> | undefined;
  before(async () => {
    imds = await startImds();
  });
  after(() => {
    imds.close();
    if (!process.env.GOVERNOR_KEEP_TEST_DIRS) for (const dir of boxes) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('writes the environment file (mode 0600) with metadata and passwords, then starts governor', async () => {
    const box = sandbox(imds, PASSWORDS);
    boxes.push(box.dir);
    const result = await boot(box);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(fs.statSync(box.environmentFile).mode & 0o777, 0o600);
    assert.deepEqual(fs.readdirSync(path.dirname(box.environmentFile)), ['environment']); // no temp file left

    written = parseEnvironmentFile(fs.readFileSync(box.environmentFile, 'utf8'));
    assert.deepEqual(Object.fromEntries(written), {
      SCOPE: 'orders',
      ETCD_HOSTS: '10.20.0.10:2379,10.20.0.11:2379',
      GOVERNOR_RESTAPI_LISTEN: '0.0.0.0:8008',
      GOVERNOR_RESTAPI_USERNAME: 'governor',
      GOVERNOR_POSTGRESQL_LISTEN: '0.0.0.0:5432',
      PGUSER_SUPERUSER: 'postgres',
      PGUSER_STANDBY: 'replicator',
      GOVERNOR_HAPROXY_ENABLED: 'true',
      GOVERNOR_HAPROXY_LISTEN_ADDRESS: '0.0.0.0',
      GOVERNOR_HAPROXY_RW_PORT: '5000',
      GOVERNOR_HAPROXY_RO_PORT: '5001',
      WALG_S3_PREFIX: 's3://orders-archive/orders',
      AWS_REGION: 'eu-west-1',
      WALG_S3_SSE: 'aws:kms',
      WALG_S3_SSE_KMS_ID: 'arn:aws:kms:eu-west-1:123456789012:key/0f0e0d0c-1111-2222-3333-444455556666',
      BACKUP_NUM_TO_RETAIN: '5',
      BACKUP_SCHEDULE: '0 1 * * *',
      GOVERNOR_NAME: 'i-0123456789abcdef0',
      GOVERNOR_RESTAPI_CONNECT_ADDRESS: '10.20.3.44:8008',
      GOVERNOR_POSTGRESQL_CONNECT_ADDRESS: '10.20.3.44:5432',
      PGPASSWORD_SUPERUSER: PASSWORDS[ARN('superuser')],
      PGPASSWORD_STANDBY: PASSWORDS[ARN('replication')],
      GOVERNOR_RESTAPI_PASSWORD: PASSWORDS[ARN('restapi')],
      GOVERNOR_CLUSTER_SECRET: PASSWORDS[ARN('cluster')],
    });
    const known = new Set(ENV_OVERRIDES.flatMap((o) => o.vars).concat('AWS_REGION'));
    assert.deepEqual([...written.keys()].filter((name) => !known.has(name)), []);

    const calls = fs.readFileSync(box.log, 'utf8').trim().split('\n');
    for (const secret of SECRETS) {
      assert.ok(calls.includes(`aws secretsmanager get-secret-value --region eu-west-1 --secret-id ${secret.secretArn} --query SecretString --output text`), calls.join('\n'));
    }
    assert.deepEqual(calls.filter((c) => c.startsWith('systemctl')), ['systemctl enable etcd-proxy.service governor.service', 'systemctl restart etcd-proxy.service governor.service']);
    for (const password of Object.values(PASSWORDS)) {
      assert.ok(!result.stdout.includes(password) && !result.stderr.includes(password), 'a password reached the output');
    }
  });

  it('writes an environment governor\'s own configuration loader accepts', { skip: !fs.existsSync(ROOT_LOADER) && 'the root package is not built (make build)' }, async () => {
    assert.ok(written, 'the boot test before this one wrote no file');
    const { loadConfig } = (await import(pathToFileURL(ROOT_LOADER).href)) as {
      loadConfig: (options: { text: string; env: Record<string, string> }) => { config: any }; // eslint-disable-line @typescript-eslint/no-explicit-any
    };
    const { config } = loadConfig({ text: '', env: Object.fromEntries(written) });
    assert.equal(config.scope, 'orders');
    assert.equal(config.name, 'i-0123456789abcdef0');
    assert.deepEqual(config.etcd.hosts, ['10.20.0.10:2379', '10.20.0.11:2379']);
    assert.equal(config.restapi.connect_address, '10.20.3.44:8008');
    assert.equal(config.postgresql.connect_address, '10.20.3.44:5432');
    assert.equal(config.postgresql.authentication.superuser.password, PASSWORDS[ARN('superuser')]);
    assert.equal(config.restapi.authentication.password, PASSWORDS[ARN('restapi')]);
    assert.equal(config.cluster_secret, PASSWORDS[ARN('cluster')]);
    assert.equal(config.haproxy.enabled, true);
    assert.equal(config.archive.enabled, true);
    assert.equal(config.archive.storage, 's3://orders-archive/orders');
    assert.equal(config.archive.s3.sse, 'aws:kms');
    assert.equal(config.archive.backup_schedule, '0 1 * * *');
  });

  it('refuses a password an environment file cannot hold, naming the secret, not the value, and writes nothing', async () => {
    const box = sandbox(imds, { ...PASSWORDS, [ARN('replication')]: `it's"a$trap` });
    boxes.push(box.dir);
    const result = await boot(box);
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /governor boot: the PostgreSQL replication password in arn:aws:secretsmanager:\S+orders-replication-AbCdEf is empty or has characters other than/);
    assert.ok(!result.stderr.includes('trap'));
    assert.equal(fs.existsSync(box.environmentFile), false);
    assert.ok(!fs.readFileSync(box.log, 'utf8').includes('systemctl'));
  });

  it('stops when a secret cannot be read', async () => {
    const box = sandbox(imds, { [ARN('superuser')]: 'x1' });
    boxes.push(box.dir);
    const result = await boot(box);
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /cannot read the PostgreSQL replication password from Secrets Manager/);
    assert.equal(fs.existsSync(box.environmentFile), false);
  });

  it('stops when the metadata service gives no IMDSv2 token', async () => {
    const refusing = await startImds({ refuseTokens: true });
    try {
      const box = sandbox(refusing, PASSWORDS);
      boxes.push(box.dir);
      const result = await boot(box);
      assert.notEqual(result.code, 0);
      assert.match(result.stderr, /governor boot: no IMDSv2 token from http:\/\/127\.0\.0\.1:\d+\/latest/);
      assert.equal(fs.existsSync(box.environmentFile), false);
    } finally {
      refusing.close();
    }
  });

  it('says what to install when the aws CLI is missing', { skip: ['/usr/bin/aws', '/bin/aws'].some((p) => fs.existsSync(p)) && 'aws is installed in /usr/bin' }, async () => {
    const box = sandbox(imds, PASSWORDS, false);
    boxes.push(box.dir);
    const result = await boot(box, false);
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /the aws CLI is not installed \(Debian package awscli\)/);
  });
});

describe('boot script rendering', () => {
  it('refuses a value that would add a line to the environment file', () => {
    assert.throws(
      () => bootScript({ region: 'eu-west-1', environment: [['SCOPE', 'orders\nPGPASSWORD_SUPERUSER=x']], secrets: [] }),
      /the value of SCOPE contains a line break/,
    );
    assert.throws(() => bootScript({ region: 'eu-west-1', environment: [['scope', 'orders']], secrets: [] }), /"scope" is not an environment variable name/);
  });

  it('leaves BACKUP_SCHEDULE out when scheduled backups are off', () => {
    const off = resolveSettings({ scope: 'orders', etcdHosts: ['e:2379'], clientCidrs: ['10.0.0.0/8'], archive: { backupSchedule: null } });
    const env = clusterEnvironment(off, { bucketName: 'b', kmsKeyArn: 'k', region: 'r' });
    assert.equal(env.find(([name]) => name === 'BACKUP_SCHEDULE'), undefined);
  });
});
