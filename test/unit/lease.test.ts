// The lease keeper's write window (safety rule 1): which etcd answers move the master's deadline.
// A fake DCS answers renewals; the keeper is driven by calling renew() directly, no timers.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LeaseKeeper } from '../../src/ha/lease.js';
import type { Dcs } from '../../src/dcs/types.js';
import { createLogger } from '../../src/log/logger.js';
import { LEASE_SAFETY_MARGIN_MS } from '../../src/ha/types.js';

const TTL_S = 5;

function keeper(answers: Array<{ sentAt: number; renewed: boolean }>) {
  const dcs = {
    renewLease: async () => {
      const next = answers.shift();
      if (!next) throw new Error('etcd unreachable');
      return next;
    },
    ping: async () => 0,
  } as unknown as Dcs;
  const logger = createLogger({ level: 'error', write: () => undefined });
  const replaced: number[] = [];
  const lease = new LeaseKeeper({
    dcs,
    logger,
    timing: () => ({ ttl: TTL_S, loopWait: 1, failsafeMode: true }),
    probePeers: async () => ({ asked: 0, answered: 0, confirmed: 0, deposed: 0, refused: [] }),
    demote: async () => undefined,
    isPrimary: () => true,
    onLeaseReplaced: () => replaced.push(1),
  });
  return { lease, replaced };
}

const windowEnd = (sentAt: number) => sentAt + TTL_S * 1000 - LEASE_SAFETY_MARGIN_MS;

test('a renewal counts for the write window only once the leader key is confirmed on the lease', async () => {
  const { lease } = keeper([{ sentAt: 1000, renewed: true }]);
  await lease.renew();
  assert.equal(lease.deadline(1100), null, 'a lease without the leader key on it gives a master no window');
  lease.leaderKeyConfirmed();
  assert.equal(lease.deadline(1100), windowEnd(1000));
});

test('renewals of the lease that carries the key move the deadline', async () => {
  const { lease } = keeper([{ sentAt: 1000, renewed: true }, { sentAt: 2600, renewed: true }]);
  await lease.renew();
  lease.leaderKeyConfirmed();
  await lease.renew();
  assert.equal(lease.deadline(2700), windowEnd(2600));
});

test('a lease granted anew (the old one expired, as after a hung daemon) does not extend the window', async () => {
  const { lease, replaced } = keeper([{ sentAt: 1000, renewed: true }, { sentAt: 30_000, renewed: false }, { sentAt: 31_000, renewed: true }]);
  await lease.renew();
  lease.leaderKeyConfirmed();
  await lease.renew();
  assert.equal(replaced.length, 1);
  assert.equal(lease.deadline(30_100), windowEnd(1000), 'the deadline stays where the old lease left it (long past)');
  await lease.renew();
  assert.equal(lease.deadline(31_100), windowEnd(1000), 'renewals of the new lease do not count before the key is on it');
  lease.leaderKeyConfirmed();
  assert.equal(lease.deadline(31_100), windowEnd(31_000), 'the key acquired again on the new lease: the window counts from its renewal');
});

test('a leader key found not to be ours stops renewals from extending the window', async () => {
  const { lease } = keeper([{ sentAt: 1000, renewed: true }, { sentAt: 2000, renewed: true }]);
  await lease.renew();
  lease.leaderKeyConfirmed();
  lease.leaderKeyLost();
  await lease.renew();
  assert.equal(lease.deadline(2100), windowEnd(1000));
});

test('a failed renewal leaves the deadline alone', async () => {
  const { lease } = keeper([{ sentAt: 1000, renewed: true }]);
  await lease.renew();
  lease.leaderKeyConfirmed();
  await lease.renew(); // etcd unreachable
  assert.equal(lease.deadline(1500), windowEnd(1000));
});
