// Member name and connect addresses from the EC2 instance metadata service (IMDSv2), against a
// local stand-in that enforces the token protocol: asked only when a value is missing, never
// when it is switched off, and a clear refusal naming the fields when it does not answer.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { ConfigError, loadConfigWithImds } from '../../src/config/load.js';
import { fetchInstanceIdentity } from '../../src/config/imds-client.js';
import { httpRequest } from '../../src/util/http-client.js';
import { freePort } from '../../src/util/ports.js';
import { runGovernor } from '../helpers/cluster.js';
import { startFakeImds, type FakeImds } from '../helpers/imds.js';

const AUTH = { superuser: { password: 'su-pw-1' }, replication: { password: 'repl-pw-2' } };
/** A file that leaves the name and both connect addresses to IMDS (wildcard listens). */
const EC2_FILE = { scope: 'ec2', restapi: { listen: '0.0.0.0:8008' }, postgresql: { listen: '0.0.0.0:5432', authentication: AUTH } };

const dir = mkdtempSync(path.join(os.tmpdir(), 'governor-imds-'));
const cleanEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(GOVERNOR_|SCOPE$|ETCD_|PG|AWS_)/.test(k)));

async function closedEndpoint(): Promise<string> {
  return `http://127.0.0.1:${await freePort()}`;
}

describe('IMDSv2 client', () => {
  let imds: FakeImds;
  before(async () => {
    imds = await startFakeImds();
  });
  after(async () => imds.close());

  it('the stand-in refuses a read without a token (401), as IMDSv2 does', async () => {
    const response = await httpRequest(`${imds.endpoint}/latest/meta-data/instance-id`, { timeoutMs: 1000 });
    assert.equal(response.status, 401);
    const forged = await httpRequest(`${imds.endpoint}/latest/meta-data/instance-id`, { timeoutMs: 1000, headers: { 'X-aws-ec2-metadata-token': 'forged' } });
    assert.equal(forged.status, 401);
  });

  it('takes a token first, then reads instance-id and local-ipv4 with it', async () => {
    imds.requests.length = 0;
    const identity = await fetchInstanceIdentity({ endpoint: imds.endpoint });
    assert.deepEqual(identity, { instanceId: 'i-0123456789abcdef0', localIpv4: '10.1.2.3' });
    assert.equal(imds.requests[0], 'PUT /latest/api/token 200');
    assert.deepEqual(imds.requests.slice(1).sort(), ['GET /latest/meta-data/instance-id 200', 'GET /latest/meta-data/local-ipv4 200']);
  });

  it('gives up within its deadline when the service is slow', async () => {
    const slow = await startFakeImds({ delayMs: 3000 });
    const started = Date.now();
    try {
      await assert.rejects(fetchInstanceIdentity({ endpoint: slow.endpoint, timeoutMs: 500 }), /within 500 ms/);
      assert.ok(Date.now() - started < 1500, `took ${Date.now() - started} ms`);
    } finally {
      await slow.close();
    }
  });

  it('rejects an answer that is not an instance id or an IPv4 address', async () => {
    const odd = await startFakeImds({ localIpv4: 'not-an-ip' });
    try {
      await assert.rejects(fetchInstanceIdentity({ endpoint: odd.endpoint }), /local-ipv4 .* not an IPv4 address/);
    } finally {
      await odd.close();
    }
  });
});

describe('loadConfigWithImds', () => {
  let imds: FakeImds;
  before(async () => {
    imds = await startFakeImds();
  });
  after(async () => imds.close());
  const env = (extra: NodeJS.ProcessEnv = {}) => ({ AWS_EC2_METADATA_SERVICE_ENDPOINT: imds.endpoint, ...extra });

  it('fills the name and the connect addresses behind wildcard listens, with source imds', async () => {
    const loaded = await loadConfigWithImds({ text: stringify(EC2_FILE), env: env() });
    assert.equal(loaded.config.name, 'i-0123456789abcdef0');
    assert.equal(loaded.config.restapi.connect_address, '10.1.2.3:8008');
    assert.equal(loaded.config.postgresql.connect_address, '10.1.2.3:5432');
    assert.equal(loaded.sources['name'], 'imds');
    assert.equal(loaded.sources['restapi.connect_address'], 'imds');
    assert.equal(loaded.sources['postgresql.connect_address'], 'imds');
    assert.equal(loaded.sources['scope'], 'file');
  });

  it('is not asked when nothing is missing', async () => {
    imds.requests.length = 0;
    const file = { ...EC2_FILE, name: 'node1', restapi: { listen: '0.0.0.0:8008', connect_address: '10.0.0.1:8008' }, postgresql: { ...EC2_FILE.postgresql, listen: '10.0.0.1:5432' } };
    const loaded = await loadConfigWithImds({ text: stringify(file), env: env() });
    assert.equal(loaded.config.name, 'node1');
    assert.equal(loaded.config.postgresql.connect_address, '10.0.0.1:5432');
    assert.deepEqual(imds.requests, []);
  });

  it('only fills what is missing: a name from the environment stays', async () => {
    const loaded = await loadConfigWithImds({ text: stringify(EC2_FILE), env: env({ GOVERNOR_NAME: 'from-env' }) });
    assert.equal(loaded.config.name, 'from-env');
    assert.equal(loaded.sources['name'], 'env:GOVERNOR_NAME');
    assert.equal(loaded.config.restapi.connect_address, '10.1.2.3:8008');
  });

  for (const off of [{ GOVERNOR_IMDS: 'off' }, { AWS_EC2_METADATA_DISABLED: 'true' }]) {
    it(`is never asked with ${Object.keys(off)[0]}: the name is the host name`, async () => {
      imds.requests.length = 0;
      const file = { ...EC2_FILE, restapi: { listen: '127.0.0.1:8008' }, postgresql: { ...EC2_FILE.postgresql, listen: '127.0.0.1:5432' } };
      const loaded = await loadConfigWithImds({ text: stringify(file), env: env(off) });
      assert.equal(loaded.config.name, os.hostname());
      assert.deepEqual(imds.requests, []);
    });
  }

  it('refuses, naming every missing field and the variable to set, when IMDS does not answer', async () => {
    const started = Date.now();
    const error = await loadConfigWithImds({ text: stringify(EC2_FILE), env: { AWS_EC2_METADATA_SERVICE_ENDPOINT: await closedEndpoint() } }).then(
      () => assert.fail('expected a ConfigError'),
      (e: unknown) => e,
    );
    assert.ok(error instanceof ConfigError, String(error));
    assert.ok(Date.now() - started < 1500);
    assert.equal(error.errors.length, 3, error.message);
    assert.match(error.errors[0]!, /^name: not set, .*instance metadata.*GOVERNOR_NAME.*GOVERNOR_IMDS=off/);
    assert.match(error.errors[1]!, /^restapi\.connect_address: .*wildcard.*GOVERNOR_RESTAPI_CONNECT_ADDRESS/);
    assert.match(error.errors[2]!, /^postgresql\.connect_address: .*GOVERNOR_POSTGRESQL_CONNECT_ADDRESS/);
  });

  it('reports a broken file without waiting for IMDS', async () => {
    imds.requests.length = 0;
    const broken = { ...EC2_FILE, bootstrap: { dcs: { ttl: 'ten' } } };
    await assert.rejects(loadConfigWithImds({ text: stringify(broken), env: env() }), /bootstrap\.dcs\.ttl/);
    assert.deepEqual(imds.requests, []);
  });
});

describe('governor with IMDS', () => {
  let imds: FakeImds;
  const file = path.join(dir, 'ec2.yml');
  before(async () => {
    imds = await startFakeImds({ instanceId: 'i-00000000feedbeef' });
    writeFileSync(file, stringify(EC2_FILE));
  });
  after(async () => {
    await imds.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('config --print shows the values IMDS supplied, marked imds', async () => {
    const result = await runGovernor(['config', '--print', '-c', file], { env: { ...cleanEnv, AWS_EC2_METADATA_SERVICE_ENDPOINT: imds.endpoint }, timeoutMs: 20_000 });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^name: i-00000000feedbeef # imds$/m);
    assert.match(result.stdout, /^ {2}connect_address: 10\.1\.2\.3:5432 # imds$/m);
    assert.match(result.stdout, /^scope: ec2 # file .*ec2\.yml:1$/m);
    assert.doesNotMatch(result.stdout, /su-pw-1|repl-pw-2/);
  });

  it('the daemon refuses to start (exit 2) naming the fields when IMDS does not answer', async () => {
    const result = await runGovernor(['-c', file], { env: { ...cleanEnv, AWS_EC2_METADATA_SERVICE_ENDPOINT: await closedEndpoint() }, timeoutMs: 20_000 });
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /^configuration error: name: not set/);
    assert.match(result.stderr, /restapi\.connect_address/);
    assert.match(result.stderr, /postgresql\.connect_address/);
  });
});
