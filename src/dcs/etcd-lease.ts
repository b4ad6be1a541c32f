// Lease primitives on the raw etcd3 RPC clients: no library keep-alive loop, every call with a deadline.

import type { Etcd3, ICompare } from 'etcd3';

export async function grantLease(etcd: Etcd3, ttlSeconds: number, deadline: Date): Promise<string> {
  const res = await etcd.leaseClient.leaseGrant({ TTL: ttlSeconds, ID: 0 }, { deadline });
  if (res.error) throw new Error(`lease grant refused: ${res.error}`);
  return res.ID;
}

/**
 * One keep-alive on a stream of its own (etcd v3 has no unary keep-alive). Resolves to the TTL
 * etcd reports: <= 0 means the lease no longer exists.
 */
export async function keepAliveOnce(etcd: Etcd3, lease: string, deadline: Date): Promise<number> {
  const stream = await etcd.leaseClient.leaseKeepAlive({ deadline });
  stream.on('error', () => undefined); // errors after we settled must not become uncaught
  return new Promise<number>((resolve, reject) => {
    stream.on('data', (res) => {
      stream.end();
      resolve(Number(res.TTL));
    });
    stream.on('error', reject);
    stream.on('end', () => reject(new Error('keep-alive stream ended without an answer')));
    stream.write({ ID: lease });
  });
}

/**
 * Re-attach keys from lease `from` to lease `to` without touching their values. A key moves only
 * if it is still on `from` (and, when `value` is given, still holds it).
 */
export async function moveToLease(
  etcd: Etcd3,
  keys: { key: Buffer; value?: Buffer }[],
  from: string,
  to: string,
  deadline: Date,
): Promise<void> {
  for (const { key, value } of keys) {
    const compare: ICompare[] = [{ key, target: 'Lease', result: 'Equal', lease: from }];
    if (value) compare.push({ key, target: 'Value', result: 'Equal', value });
    await etcd.kv.txn({ compare, success: [{ request_put: { key, ignore_value: true, lease: to } }] }, { deadline });
  }
}
