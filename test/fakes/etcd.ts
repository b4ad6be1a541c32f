// An in-memory etcd shared by the members of a fake cluster: keys with create and mod revisions,
// leases whose ttl runs on the fake clock (an expired lease takes its keys with it), transactions
// with the compares governor uses, and prefix watches. Only what src/dcs/etcd.ts relies on.

import type { FakeClock } from './clock.js';

export interface KeyValue {
  key: string;
  value: string;
  createRevision: number;
  modRevision: number;
  /** Lease id, "0" when none (as etcd reports it). */
  lease: string;
}

/** One compare of a transaction (etcd's Compare, reduced to the targets governor uses). */
export type Compare =
  | { key: string; target: 'value'; equals: string }
  /** create_revision == 0: the key does not exist. */
  | { key: string; target: 'absent' }
  | { key: string; target: 'lease'; equals: string }
  | { key: string; target: 'mod'; equals: number };

export type Operation =
  | { put: string; value?: string; lease?: string; ignoreValue?: boolean }
  | { delete: string }
  | { range: string };

export interface TxnResult {
  succeeded: boolean;
  /** The key-values read by `range` operations of the branch that ran (null: absent). */
  ranges: Array<KeyValue | null>;
}

export class LeaseNotFoundError extends Error {
  constructor(lease: string) {
    super(`etcdserver: requested lease not found (${lease})`);
    this.name = 'LeaseNotFoundError';
  }
}

interface Lease {
  ttlMs: number;
  expiresAt: number;
}

type Watcher = { prefix: string; onChange: (key: string) => void };

export class FakeEtcd {
  private readonly keys = new Map<string, KeyValue>();
  private readonly leases = new Map<string, Lease>();
  private readonly watchers = new Set<Watcher>();
  private nextLease = 0x1000;
  /** The store's revision: bumped by every put and delete. */
  revision = 1;

  constructor(private readonly clock: FakeClock) {}

  /** Drop leases whose ttl ran out on the fake clock, with their keys (etcd's lessor). */
  expireLeases(): void {
    const now = this.clock.monotonic();
    for (const [id, lease] of this.leases) {
      if (lease.expiresAt > now) continue;
      this.leases.delete(id);
      for (const kv of [...this.keys.values()]) if (kv.lease === id) this.remove(kv.key);
    }
  }

  grantLease(ttlSeconds: number): string {
    this.expireLeases();
    const id = String(this.nextLease++);
    this.leases.set(id, { ttlMs: ttlSeconds * 1000, expiresAt: this.clock.monotonic() + ttlSeconds * 1000 });
    return id;
  }

  /** One keep-alive: the remaining ttl in seconds, or 0 when the lease no longer exists. */
  keepAlive(id: string): number {
    this.expireLeases();
    const lease = this.leases.get(id);
    if (!lease) return 0;
    lease.expiresAt = this.clock.monotonic() + lease.ttlMs;
    return lease.ttlMs / 1000;
  }

  revokeLease(id: string): void {
    this.leases.delete(id);
    for (const kv of [...this.keys.values()]) if (kv.lease === id) this.remove(kv.key);
  }

  leaseExists(id: string): boolean {
    this.expireLeases();
    return this.leases.has(id);
  }

  get(key: string): KeyValue | null {
    this.expireLeases();
    const kv = this.keys.get(key);
    return kv ? { ...kv } : null;
  }

  /** Every key starting with `prefix`, in key order. */
  range(prefix: string): KeyValue[] {
    this.expireLeases();
    return [...this.keys.values()].filter((kv) => kv.key.startsWith(prefix)).sort((a, b) => (a.key < b.key ? -1 : 1)).map((kv) => ({ ...kv }));
  }

  put(key: string, value: string, lease?: string): void {
    this.txn([], [{ put: key, value, lease }], []);
  }

  delete(key: string): void {
    this.txn([], [{ delete: key }], []);
  }

  /** All compares hold: run `success`, else `failure`. A put on a lease that does not exist fails
   *  the whole transaction (as etcd does), before anything is written. */
  txn(compares: Compare[], success: Operation[], failure: Operation[]): TxnResult {
    this.expireLeases();
    const succeeded = compares.every((c) => this.holds(c));
    const ops = succeeded ? success : failure;
    for (const op of ops) {
      if ('put' in op && op.lease !== undefined && op.lease !== '0' && !this.leases.has(op.lease)) throw new LeaseNotFoundError(op.lease);
      if ('put' in op && op.ignoreValue && !this.keys.has(op.put)) throw new Error(`etcdserver: key not found (${op.put})`);
    }
    const ranges: Array<KeyValue | null> = [];
    const writes = ops.some((op) => !('range' in op));
    if (writes) this.revision += 1;
    for (const op of ops) {
      if ('range' in op) {
        const kv = this.keys.get(op.range);
        ranges.push(kv ? { ...kv } : null);
      } else if ('delete' in op) {
        this.remove(op.delete, false);
      } else {
        const old = this.keys.get(op.put);
        const value = op.ignoreValue ? old!.value : (op.value ?? '');
        this.keys.set(op.put, {
          key: op.put,
          value,
          createRevision: old?.createRevision ?? this.revision,
          modRevision: this.revision,
          lease: op.lease ?? '0',
        });
        this.notify(op.put);
      }
    }
    return { succeeded, ranges };
  }

  private holds(compare: Compare): boolean {
    const kv = this.keys.get(compare.key);
    switch (compare.target) {
      case 'absent':
        return kv === undefined;
      case 'value':
        return kv !== undefined && kv.value === compare.equals;
      case 'lease':
        return (kv?.lease ?? '0') === compare.equals;
      case 'mod':
        return (kv?.modRevision ?? 0) === compare.equals;
    }
  }

  private remove(key: string, bump = true): void {
    if (!this.keys.has(key)) return;
    if (bump) this.revision += 1;
    this.keys.delete(key);
    this.notify(key);
  }

  /** Call onChange(key) after every change of a key under `prefix` (delivered asynchronously, as
   *  etcd's watch stream is); returns a function that stops it. */
  watch(prefix: string, onChange: (key: string) => void): () => void {
    const watcher = { prefix, onChange };
    this.watchers.add(watcher);
    return () => this.watchers.delete(watcher);
  }

  private notify(key: string): void {
    for (const watcher of this.watchers) {
      if (key.startsWith(watcher.prefix)) queueMicrotask(() => this.watchers.has(watcher) && watcher.onChange(key));
    }
  }

  /** key -> value of every key under `prefix`: what a settled cluster compares between rounds. */
  snapshot(prefix = '/'): Record<string, string> {
    return Object.fromEntries(this.range(prefix).map((kv) => [kv.key, kv.value]));
  }

  /** etcd restarted with an empty data directory: every key and lease is gone. */
  wipe(): void {
    for (const key of [...this.keys.keys()]) this.remove(key);
    this.leases.clear();
  }
}
