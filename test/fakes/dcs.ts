// FakeDcs: the Dcs of one member on a FakeEtcd, with the semantics of src/dcs/etcd.ts (same keys,
// same transactions, the same lease bookkeeping: a lease that expired is replaced on the next
// renewal with renewed:false, a ttl change re-grants and moves our keys), plus faults: the member
// cut off from etcd (every call rejects with DcsUnavailableError, as a call bounded by
// retry_timeout does), and any method failing or hanging on a given call (faults.ts).

import type { DynamicConfig, GovernorConfig } from '../../src/config/types.js';
import * as codec from '../../src/dcs/codec.js';
import { KEY, classifyKey, clusterPrefix, memberKey } from '../../src/dcs/keys.js';
import { DcsUnavailableError, type ClusterView, type Dcs, type DcsEvent, type FailoverRequest, type FailsafeMembers, type HistoryEntry, type MemberData, type SyncState } from '../../src/dcs/types.js';
import type { FakeClock } from './clock.js';
import { LeaseNotFoundError, type Compare, type FakeEtcd, type Operation } from './etcd.js';
import { Faults } from './faults.js';

export class FakeDcs implements Dcs {
  readonly scope: string;
  readonly memberName: string;
  readonly prefix: string;
  /** Cut off from etcd: every call rejects with DcsUnavailableError. */
  partitioned = false;
  readonly faults = new Faults((method, call) => new DcsUnavailableError(`etcd ${method}: injected failure (call ${call})`));
  /** Garbage values met by readCluster (key: reason), as the etcd Dcs logs them. */
  readonly garbage: Array<{ key: string; reason: string }> = [];
  private lease: string | null = null;
  private leaseLost = false;
  private regrantPending = false;
  private ttl: number;
  private initializeWritten: string | null = null;
  private readonly stoppers = new Set<() => void>();

  constructor(
    readonly etcd: FakeEtcd,
    private readonly clock: FakeClock,
    config: Pick<GovernorConfig, 'scope' | 'namespace' | 'name' | 'bootstrap'>,
  ) {
    this.scope = config.scope;
    this.memberName = config.name;
    this.prefix = clusterPrefix(config.namespace || 'service', config.scope);
    this.ttl = config.bootstrap.dcs.ttl;
  }

  get leaseId(): string | null {
    return this.lease;
  }

  get ttlSeconds(): number {
    return this.ttl;
  }

  private key(relative: string): string {
    return this.prefix + relative;
  }

  /** Every call goes through here: the partition and the planned faults first. */
  private async call<T>(method: string, body: () => T | Promise<T>): Promise<T> {
    await this.faults.enter(method);
    if (this.partitioned) throw new DcsUnavailableError(`etcd ${method}: no answer within retry_timeout (partitioned)`);
    return body();
  }

  /** A call attaching keys to our lease: "lease not found" marks it lost (etcd.ts leaseCall). */
  private async leaseCall<T>(method: string, body: (lease: string) => T): Promise<T> {
    return this.call(method, () => {
      const used = this.lease;
      if (used === null || this.leaseLost) throw new DcsUnavailableError(`etcd ${method}: no valid lease (open() or renewLease() first)`);
      try {
        return body(used);
      } catch (error) {
        if (!(error instanceof LeaseNotFoundError)) throw error;
        if (this.lease === used) this.leaseLost = true;
        throw new DcsUnavailableError(`etcd ${method}: lease ${used} has expired`, { cause: error });
      }
    });
  }

  private adoptLease(lease: string): void {
    this.lease = lease;
    this.leaseLost = false;
    this.regrantPending = false;
  }

  private txn(compares: Compare[], success: Operation[], failure: Operation[] = []) {
    return this.etcd.txn(compares, success, failure);
  }

  private is(relative: string, value: string): Compare {
    return { key: this.key(relative), target: 'value', equals: value };
  }

  private absent(relative: string): Compare {
    return { key: this.key(relative), target: 'absent' };
  }

  /** A new governor process: the lease and what the last one remembered are gone (its lease lives
   *  on in etcd until it expires, with the keys on it). */
  forgetLease(): void {
    for (const stop of [...this.stoppers]) stop();
    this.lease = null;
    this.leaseLost = false;
    this.regrantPending = false;
    this.initializeWritten = null;
  }

  async open(ttlSeconds: number): Promise<void> {
    this.ttl = ttlSeconds;
    await this.call('open', () => this.adoptLease(this.etcd.grantLease(this.ttl)));
  }

  async close(): Promise<void> {
    for (const stop of [...this.stoppers]) stop();
    this.lease = null;
  }

  async readCluster(): Promise<ClusterView> {
    return this.call('readCluster', () => {
      const entries = this.etcd.range(this.prefix).map((kv) => ({
        key: kv.key.slice(this.prefix.length),
        value: kv.value,
        modRevision: String(kv.modRevision),
        lease: kv.lease,
      }));
      return codec.buildClusterView(entries, (g) => this.garbage.push({ key: g.key, reason: g.reason }));
    });
  }

  async ping(): Promise<number> {
    const sentAt = this.clock.monotonic();
    await this.call('ping', () => this.etcd.get(this.key(KEY.leader)));
    return sentAt;
  }

  async renewLease(): Promise<{ sentAt: number; renewed: boolean }> {
    const sentAt = this.clock.monotonic();
    return this.call('renewLease', () => {
      const current = this.lease;
      if (current === null || this.leaseLost || this.etcd.keepAlive(current) <= 0) {
        this.adoptLease(this.etcd.grantLease(this.ttl));
        return { sentAt, renewed: false };
      }
      if (this.regrantPending) {
        // TTL changed: a new lease, our keys moved onto it, only then is it ours (etcd.ts).
        const next = this.etcd.grantLease(this.ttl);
        const ours: Array<{ key: string; value?: string }> = [{ key: this.key(KEY.leader), value: this.memberName }, { key: this.key(memberKey(this.memberName)) }];
        for (const { key, value } of ours) {
          const compare: Compare[] = [{ key, target: 'lease', equals: current }];
          if (value !== undefined) compare.push({ key, target: 'value', equals: value });
          this.txn(compare, [{ put: key, ignoreValue: true, lease: next }]);
        }
        this.adoptLease(next);
      }
      return { sentAt, renewed: true };
    });
  }

  setTtl(ttlSeconds: number): void {
    if (ttlSeconds === this.ttl) return;
    this.ttl = ttlSeconds;
    this.regrantPending = this.lease !== null;
  }

  async touchMember(data: MemberData): Promise<void> {
    const value = codec.serializeMember(data);
    await this.leaseCall('touchMember', (lease) => this.txn([], [{ put: this.key(memberKey(this.memberName)), value, lease }]));
  }

  async deleteMember(): Promise<void> {
    await this.call('deleteMember', () => this.etcd.delete(this.key(memberKey(this.memberName))));
  }

  async acquireLeader(): Promise<boolean> {
    return this.leaseCall('acquireLeader', (lease) => {
      const key = this.key(KEY.leader);
      const res = this.txn([this.absent(KEY.leader)], [{ put: key, value: this.memberName, lease }], [{ range: key }]);
      const kv = res.ranges[0];
      return res.succeeded || (kv?.value === this.memberName && kv.lease === lease);
    });
  }

  async confirmLeader(): Promise<boolean> {
    return this.leaseCall('confirmLeader', (lease) => {
      const key = this.key(KEY.leader);
      const ours = this.is(KEY.leader, this.memberName);
      const check = this.txn([ours, { key, target: 'lease', equals: lease }], [], [{ range: key }]);
      if (check.succeeded) return true;
      const kv = check.ranges[0];
      if (!kv || kv.value !== this.memberName) return false;
      // Our name on another lease (an interrupted ttl change): move the key to the current lease.
      return this.txn([ours, { key, target: 'mod', equals: kv.modRevision }], [{ put: key, ignoreValue: true, lease }]).succeeded;
    });
  }

  async releaseLeader(): Promise<boolean> {
    return this.call('releaseLeader', () => this.txn([this.is(KEY.leader, this.memberName)], [{ delete: this.key(KEY.leader) }]).succeeded);
  }

  async raceInitialize(): Promise<boolean> {
    const won = await this.call('raceInitialize', () => this.txn([this.absent(KEY.initialize)], [{ put: this.key(KEY.initialize), value: '' }]).succeeded);
    if (won) this.initializeWritten = '';
    return won;
  }

  async claimInitialize(systemIdentifier: string): Promise<boolean> {
    const won = await this.call('claimInitialize', () =>
      this.txn([this.absent(KEY.initialize)], [{ put: this.key(KEY.initialize), value: systemIdentifier }]).succeeded,
    );
    if (won) this.initializeWritten = systemIdentifier;
    return won;
  }

  async setInitialize(systemIdentifier: string): Promise<void> {
    await this.call('setInitialize', () => this.etcd.put(this.key(KEY.initialize), systemIdentifier));
    this.initializeWritten = systemIdentifier;
  }

  async cancelInitialize(): Promise<void> {
    const candidates = [...new Set(['', this.initializeWritten ?? ''])];
    await this.call('cancelInitialize', () => {
      for (const value of candidates) {
        if (this.txn([this.is(KEY.initialize, value)], [{ delete: this.key(KEY.initialize) }]).succeeded) return;
      }
    });
    this.initializeWritten = null;
  }

  async setConfig(config: DynamicConfig, expectedRevision?: string | null): Promise<boolean> {
    const value = codec.serializeConfig(config);
    return this.call('setConfig', () => {
      const key = this.key(KEY.config);
      if (expectedRevision === undefined || expectedRevision === null) {
        this.etcd.put(key, value);
        return true;
      }
      return this.txn([{ key, target: 'mod', equals: Number(expectedRevision) }], [{ put: key, value }]).succeeded;
    });
  }

  async setFailover(request: FailoverRequest): Promise<void> {
    await this.call('setFailover', () => this.etcd.put(this.key(KEY.failover), codec.serializeFailover(request)));
  }

  async clearFailover(): Promise<void> {
    await this.call('clearFailover', () => this.etcd.delete(this.key(KEY.failover)));
  }

  async setHistory(history: HistoryEntry[]): Promise<void> {
    await this.call('setHistory', () => this.etcd.put(this.key(KEY.history), codec.serializeHistory(history)));
  }

  async setLeaderOptime(walPosition: number): Promise<void> {
    await this.call('setLeaderOptime', () => this.etcd.put(this.key(KEY.leaderOptime), codec.serializeOptime(walPosition)));
  }

  async setSync(state: SyncState): Promise<boolean> {
    return this.call('setSync', () =>
      this.txn([this.is(KEY.leader, this.memberName)], [{ put: this.key(KEY.sync), value: codec.serializeSync(state) }]).succeeded,
    );
  }

  async setFailsafe(members: FailsafeMembers | null): Promise<boolean> {
    return this.call('setFailsafe', () => {
      const key = this.key(KEY.failsafe);
      const op: Operation = members === null ? { delete: key } : { put: key, value: codec.serializeFailsafe(members) };
      return this.txn([this.is(KEY.leader, this.memberName)], [op]).succeeded;
    });
  }

  async watch(onChange: (event: DcsEvent) => void): Promise<() => Promise<void>> {
    return this.call('watch', () => {
      const stopWatch = this.etcd.watch(this.prefix, (key) => onChange(classifyKey(key.slice(this.prefix.length))));
      const stop = () => {
        this.stoppers.delete(stop);
        stopWatch();
      };
      this.stoppers.add(stop);
      return async () => stop();
    });
  }
}
