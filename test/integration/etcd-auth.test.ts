// etcd user authentication (etcd.username / etcd.password): a real etcd with auth enabled through
// etcdctl; governor's DCS client works with the right password and is refused without it.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execa } from 'execa';
import type { GovernorConfig } from '../../src/config/types.js';
import { loadConfig } from '../../src/config/load.js';
import { createEtcdDcs } from '../../src/dcs/etcd.js';
import { DcsUnavailableError } from '../../src/dcs/types.js';
import { createLogger } from '../../src/log/logger.js';
import { startTestEtcd, type TestEtcd } from '../helpers/etcd.js';

const PASSWORD = 'etcd-root-pw-7';

function config(host: string, credentials: { username?: string; password?: string }): GovernorConfig {
  return loadConfig({
    env: {
      GOVERNOR_SCOPE: `auth${process.pid}`,
      GOVERNOR_NAME: 'node1',
      ETCD_HOSTS: host,
      ETCD_USERNAME: credentials.username ?? '',
      ETCD_PASSWORD: credentials.password ?? '',
      GOVERNOR_RETRY_TIMEOUT: '1',
      PGPASSWORD_SUPERUSER: 'x',
      PGPASSWORD_STANDBY: 'y',
    },
  }).config;
}

async function readWith(host: string, credentials: { username?: string; password?: string }) {
  const dcs = createEtcdDcs({ config: config(host, credentials), logger: createLogger({ level: 'error' }) });
  try {
    return await dcs.readCluster();
  } finally {
    await dcs.close().catch(() => undefined);
  }
}

describe('etcd with user authentication', () => {
  let etcd: TestEtcd;
  before(async () => {
    etcd = await startTestEtcd();
    const etcdctl = (args: string[]) => execa('etcdctl', ['--endpoints', etcd.endpoint, ...args], { env: { ETCDCTL_API: '3' } });
    await etcdctl(['user', 'add', `root:${PASSWORD}`]);
    await etcdctl(['auth', 'enable']);
  });
  after(async () => etcd?.stop());

  it('reads the cluster with the right user and password', async () => {
    const cluster = await readWith(etcd.host, { username: 'root', password: PASSWORD });
    assert.deepEqual(cluster.members, []);
  });

  it('is refused with a wrong password, and the password is not in the error', async () => {
    const error = await readWith(etcd.host, { username: 'root', password: 'wrong-pw-9' }).then(() => assert.fail('expected a refusal'), (e: unknown) => e as Error);
    assert.ok(error instanceof DcsUnavailableError, String(error));
    assert.match(error.message, /authentication failed|invalid user ID or password/i);
    assert.doesNotMatch(error.message, /wrong-pw-9/);
  });

  it('is refused without credentials', async () => {
    await assert.rejects(readWith(etcd.host, {}), DcsUnavailableError);
  });
});
