// The Dcs on etcd v3: one lease per member (renewed explicitly, never by the library), the leader
// key and member key on it, compare-and-swap transactions, a prefix watch, bounded calls.

import { EtcdLeaseInvalidError, type Etcd3, type ICompare, type IRequestOp } from 'etcd3';
import type { DynamicConfig, GovernorConfig } from '../config/types.js';
import type { Logger } from '../log/logger.js';
import { monotonicMs } from '../util/time.js';
import * as codec from './codec.js';
import { boundedCall, createEtcdClient } from './etcd-client.js';
import { KEY, clusterPrefix, memberKey, prefixRangeEnd } from './keys.js';
import type { ClusterView, Dcs, DcsEvent, FailoverRequest, HistoryEntry, MemberData, SyncState, FailsafeMembers } from './types.js';
import { DcsUnavailableError } from './types.js';
import { grantLease, keepAliveOnce, moveToLease } from './etcd-lease.js';
import { watchPrefix } from './etcd-watch.js';

/** The Dcs plus what the etcd implementation offers beyond the interface. */
export interface EtcdDcs extends Dcs {
  /** Budget of every later call (seconds), e.g. after retry_timeout changed in the DCS config. */
  setRetryTimeout(seconds: number): void;
  /** Current lease id (decimal string), null before open() or after close(). */
  readonly leaseId: string | null;
  /** The cluster's key prefix, e.g. "/service/demo/". */
  readonly prefix: string;
  /** Distinct garbage values met since start, by key (codec.garbageKind), for /metrics. */
  invalidValues(): Record<string, number>;
}

export function createEtcdDcs(options: { config: GovernorConfig; logger: Logger }): EtcdDcs {
  return new EtcdDcsImpl(options.config, options.logger.child('dcs'));
}

const isLeaseInvalid = (error: unknown) => error instanceof EtcdLeaseInvalidError;
const buf = (value: string) => Buffer.from(value, 'utf8');

class EtcdDcsImpl implements EtcdDcs {
  readonly scope: string;
  readonly memberName: string;
  readonly prefix: string;
  private client: Etcd3 | null = null;
  private lease: string | null = null;
  private leaseLost = false;
  private regrantPending = false;
  private ttl: number;
  private retryTimeoutMs: number;
  /** Value we last wrote to `initialize` ("" after winning the race), for cancelInitialize. */
  private initializeWritten: string | null = null;
  private readonly reported = new Set<string>();
  private readonly invalidCounts: Record<string, number> = {};
  private readonly stoppers = new Set<() => Promise<void>>();

  constructor(
    private readonly config: GovernorConfig,
    private readonly log: Logger,
  ) {
    this.scope = config.scope;
    this.memberName = config.name;
    this.prefix = clusterPrefix(config.namespace || 'service', config.scope);
    this.ttl = config.bootstrap.dcs.ttl;
    this.retryTimeoutMs = config.bootstrap.dcs.retry_timeout * 1000;
  }

  get leaseId(): string | null {
    return this.lease;
  }

  private get etcd(): Etcd3 {
    this.client ??= createEtcdClient(this.config.etcd, () => this.retryTimeoutMs);
    return this.client;
  }

  private key(relative: string): Buffer {
    return buf(this.prefix + relative);
  }

  private call<T>(what: string, attempt: (deadline: Date) => Promise<T>): Promise<T> {
    return boundedCall(what, this.retryTimeoutMs, attempt);
  }

  /** A call that attaches keys to our lease (as of each attempt); "lease not found" marks it lost. */
  private async leaseCall<T>(what: string, attempt: (deadline: Date, lease: string) => Promise<T>): Promise<T> {
    let used: string | null = null;
    try {
      return await boundedCall(
        what,
        this.retryTimeoutMs,
        (deadline) => {
          used = this.lease;
          if (used === null || this.leaseLost) {
            throw new DcsUnavailableError(`etcd ${what}: no valid lease (open() or renewLease() first)`);
          }
          return attempt(deadline, used);
        },
        (error) => isLeaseInvalid(error) || error instanceof DcsUnavailableError,
      );
    } catch (error) {
      if (!isLeaseInvalid(error)) throw error;
      if (this.lease === used) this.leaseLost = true;
      this.log.warn('lease expired before a write; the next renewal grants a new one', { lease: used });
      throw new DcsUnavailableError(`etcd ${what}: lease ${used} has expired`, { cause: error });
    }
  }

  private async put(relative: string, value: string, deadline: Date, lease?: string): Promise<void> {
    await this.etcd.kv.put({ key: this.key(relative), value: buf(value), lease }, { deadline });
  }

  private async txn(compare: ICompare[], success: IRequestOp[], failure: IRequestOp[], deadline: Date) {
    return this.etcd.kv.txn({ compare, success, failure }, { deadline });
  }

  private adoptLease(lease: string): void {
    this.log.info('using a new lease', { lease, ttl: this.ttl, previous: this.lease });
    this.lease = lease;
    this.leaseLost = false;
    this.regrantPending = false;
  }

  async open(ttlSeconds: number): Promise<void> {
    this.ttl = ttlSeconds;
    await this.call('lease grant', async (deadline) => this.adoptLease(await grantLease(this.etcd, this.ttl, deadline)));
  }

  async close(): Promise<void> {
    await Promise.all([...this.stoppers].map((stop) => stop()));
    this.client?.close();
    this.client = null;
    this.lease = null;
  }

  async readCluster(): Promise<ClusterView> {
    const res = await this.call('read cluster', (deadline) => {
      const key = buf(this.prefix);
      return this.etcd.kv.range({ key, range_end: prefixRangeEnd(key) }, { deadline });
    });
    const entries = res.kvs.map((kv) => ({
      key: kv.key.toString('utf8').slice(this.prefix.length),
      value: kv.value.toString('utf8'),
      modRevision: kv.mod_revision,
      lease: kv.lease,
    }));
    return codec.buildClusterView(entries, (g) => this.reportGarbage(g));
  }

  /** Each distinct garbage value is logged and counted once, however often it is read (every
   *  loop_wait); a fingerprint stands for the value, which may be large. */
  private reportGarbage(garbage: codec.Garbage): void {
    const id = `${garbage.key}\u0000${codec.valueFingerprint(garbage.value)}`;
    if (this.reported.has(id)) return;
    if (this.reported.size >= 1000) this.reported.clear();
    this.reported.add(id);
    const kind = codec.garbageKind(garbage.key);
    this.invalidCounts[kind] = (this.invalidCounts[kind] ?? 0) + 1;
    // The value itself is not logged: it may hold secrets (config parameters). The key is cut short
    // (a member key's name is whatever its writer chose).
    this.log.warn('ignoring malformed value in etcd', {
      key: (this.prefix + garbage.key).slice(0, 200),
      reason: garbage.reason.slice(0, 2000),
      bytes: Buffer.byteLength(garbage.value),
      ...(kind === 'config' ? { effect: 'the last valid cluster configuration stays in force' } : {}),
    });
  }

  invalidValues(): Record<string, number> {
    return { ...this.invalidCounts };
  }

  async ping(): Promise<number> {
    const sentAt = monotonicMs();
    await this.call('ping', (deadline) => this.etcd.kv.range({ key: this.key(KEY.leader), count_only: true }, { deadline }));
    return sentAt;
  }

  async renewLease(): Promise<{ sentAt: number; renewed: boolean }> {
    const sentAt = monotonicMs();
    return this.call('lease keep-alive', async (deadline) => {
      const current = this.lease;
      if (current === null || this.leaseLost) {
        this.adoptLease(await grantLease(this.etcd, this.ttl, deadline));
        return { sentAt, renewed: false };
      }
      if ((await keepAliveOnce(this.etcd, current, deadline)) <= 0) {
        this.log.warn('lease has expired; granting a new one', { lease: current });
        this.adoptLease(await grantLease(this.etcd, this.ttl, deadline));
        return { sentAt, renewed: false };
      }
      if (this.regrantPending) {
        // TTL changed: new lease, keys moved onto it, and only then is it ours. Should any step
        // fail, the next renewal starts over from the old lease, which still carries the keys.
        const next = await grantLease(this.etcd, this.ttl, deadline);
        const ours = [{ key: this.key(KEY.leader), value: buf(this.memberName) }, { key: this.key(memberKey(this.memberName)) }];
        await moveToLease(this.etcd, ours, current, next, deadline);
        this.adoptLease(next);
      }
      return { sentAt, renewed: true };
    });
  }

  setTtl(ttlSeconds: number): void {
    if (ttlSeconds === this.ttl) return;
    this.ttl = ttlSeconds;
    // Like Patroni: the next renewal grants a lease with the new TTL and moves our keys onto it.
    this.regrantPending = this.lease !== null;
  }

  setRetryTimeout(seconds: number): void {
    this.retryTimeoutMs = seconds * 1000;
  }

  private async putKey(what: string, relative: string, value: string): Promise<void> {
    await this.call(what, (deadline) => this.put(relative, value, deadline));
  }

  private async deleteKey(what: string, relative: string): Promise<void> {
    await this.call(what, (deadline) => this.etcd.kv.deleteRange({ key: this.key(relative) }, { deadline }));
  }

  private is(relative: string, value: string): ICompare {
    return { key: this.key(relative), target: 'Value', result: 'Equal', value: buf(value) };
  }

  private absent(relative: string): ICompare {
    return { key: this.key(relative), target: 'Create', result: 'Equal', create_revision: 0 };
  }

  async touchMember(data: MemberData): Promise<void> {
    const value = codec.serializeMember(data);
    await this.leaseCall('touch member', (deadline, lease) => this.put(memberKey(this.memberName), value, deadline, lease));
  }

  async deleteMember(): Promise<void> {
    await this.deleteKey('delete member', memberKey(this.memberName));
  }

  async acquireLeader(): Promise<boolean> {
    return this.leaseCall('acquire leader', async (deadline, lease) => {
      const key = this.key(KEY.leader);
      const put: IRequestOp = { request_put: { key, value: buf(this.memberName), lease } };
      const res = await this.txn([this.absent(KEY.leader)], [put], [{ request_range: { key } }], deadline);
      // A retried attempt may find the key that an earlier, unanswered attempt created.
      const kv = res.responses[0]?.response_range?.kvs[0];
      return res.succeeded || (kv?.value.toString('utf8') === this.memberName && kv.lease === lease);
    });
  }

  async confirmLeader(): Promise<boolean> {
    return this.leaseCall('confirm leader', async (deadline, lease) => {
      const key = this.key(KEY.leader);
      const ours = this.is(KEY.leader, this.memberName);
      const onLease: ICompare = { key, target: 'Lease', result: 'Equal', lease };
      const check = await this.txn([ours, onLease], [], [{ request_range: { key } }], deadline);
      if (check.succeeded) return true;
      const kv = check.responses[0]?.response_range?.kvs[0];
      if (!kv || kv.value.toString('utf8') !== this.memberName) return false;
      // Our name on another lease (e.g. an interrupted TTL change): move the key to the current lease.
      const unchanged: ICompare = { key, target: 'Mod', result: 'Equal', mod_revision: kv.mod_revision };
      const put: IRequestOp = { request_put: { key, ignore_value: true, lease } };
      const moved = await this.txn([ours, unchanged], [put], [], deadline);
      if (moved.succeeded) this.log.info('leader key moved to the current lease', { from: kv.lease, lease });
      return moved.succeeded;
    });
  }

  async releaseLeader(): Promise<boolean> {
    return this.call('release leader', async (deadline) => {
      const del: IRequestOp = { request_delete_range: { key: this.key(KEY.leader) } };
      return (await this.txn([this.is(KEY.leader, this.memberName)], [del], [], deadline)).succeeded;
    });
  }

  async raceInitialize(): Promise<boolean> {
    const won = await this.call('race initialize', async (deadline) => {
      const put: IRequestOp = { request_put: { key: this.key(KEY.initialize), value: buf('') } };
      return (await this.txn([this.absent(KEY.initialize)], [put], [], deadline)).succeeded;
    });
    if (won) this.initializeWritten = '';
    return won;
  }

  async claimInitialize(systemIdentifier: string): Promise<boolean> {
    const won = await this.call('claim initialize', async (deadline) => {
      const put: IRequestOp = { request_put: { key: this.key(KEY.initialize), value: buf(systemIdentifier) } };
      return (await this.txn([this.absent(KEY.initialize)], [put], [], deadline)).succeeded;
    });
    if (won) this.initializeWritten = systemIdentifier;
    return won;
  }

  async setInitialize(systemIdentifier: string): Promise<void> {
    await this.putKey('set initialize', KEY.initialize, systemIdentifier);
    this.initializeWritten = systemIdentifier;
  }

  async cancelInitialize(): Promise<void> {
    const candidates = [...new Set(['', this.initializeWritten ?? ''])];
    await this.call('cancel initialize', async (deadline) => {
      const del: IRequestOp = { request_delete_range: { key: this.key(KEY.initialize) } };
      for (const value of candidates) {
        if ((await this.txn([this.is(KEY.initialize, value)], [del], [], deadline)).succeeded) return;
      }
    });
    this.initializeWritten = null;
  }

  async setConfig(config: DynamicConfig, expectedRevision?: string | null): Promise<boolean> {
    const value = codec.serializeConfig(config);
    if (expectedRevision === undefined || expectedRevision === null) {
      await this.putKey('set config', KEY.config, value);
      return true;
    }
    return this.call('set config', async (deadline) => {
      const key = this.key(KEY.config);
      const unchanged: ICompare = { key, target: 'Mod', result: 'Equal', mod_revision: expectedRevision };
      return (await this.txn([unchanged], [{ request_put: { key, value: buf(value) } }], [], deadline)).succeeded;
    });
  }

  async setFailover(request: FailoverRequest): Promise<void> {
    await this.putKey('set failover', KEY.failover, codec.serializeFailover(request));
  }

  async clearFailover(): Promise<void> {
    await this.deleteKey('clear failover', KEY.failover);
  }

  async setHistory(history: HistoryEntry[]): Promise<void> {
    await this.putKey('set history', KEY.history, codec.serializeHistory(history));
  }

  async setLeaderOptime(walPosition: number): Promise<void> {
    await this.putKey('set leader optime', KEY.leaderOptime, codec.serializeOptime(walPosition));
  }

  async setSync(state: SyncState): Promise<boolean> {
    // Only the leader-key holder decides who may take over: a deposed master must not rewrite it.
    return this.call('set sync', async (deadline) => {
      const put: IRequestOp = { request_put: { key: this.key(KEY.sync), value: buf(codec.serializeSync(state)) } };
      return (await this.txn([this.is(KEY.leader, this.memberName)], [put], [], deadline)).succeeded;
    });
  }

  async setFailsafe(members: FailsafeMembers | null): Promise<boolean> {
    // Only the leader-key holder names who may race while its failsafe promise can run.
    return this.call('set failsafe', async (deadline) => {
      const key = this.key(KEY.failsafe);
      const op: IRequestOp = members === null
        ? { request_delete_range: { key } }
        : { request_put: { key, value: buf(codec.serializeFailsafe(members)) } };
      return (await this.txn([this.is(KEY.leader, this.memberName)], [op], [], deadline)).succeeded;
    });
  }

  async watch(onChange: (event: DcsEvent) => void): Promise<() => Promise<void>> {
    const stop = await watchPrefix({
      etcd: this.etcd,
      prefix: this.prefix,
      timeoutMs: () => this.retryTimeoutMs,
      log: this.log,
      onChange,
    });
    const wrapped = async () => {
      this.stoppers.delete(wrapped);
      await stop();
    };
    this.stoppers.add(wrapped);
    return wrapped;
  }
}
