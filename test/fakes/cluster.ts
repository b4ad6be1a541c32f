// A fake cluster of N members, each a real HaLoop over a FakeDcs (one shared FakeEtcd), a
// FakePostgres and a FakeHaIo, all on one FakeClock. The test drives it: iterate(member) runs one
// HA iteration; settle() iterates every member round-robin until nothing changes; advance(ms) lets
// time pass with the daemons' timers (lease renewals, heartbeats, the lease guard every 100 ms, the
// write fence of a member whose daemon is gone) and, with run(ms), HA iterations every loop_wait.
// After every step the invariants are checked (checkInvariants): a violation throws at once.
//
// A member's daemon can be stopped and started again with fresh memory (a new HaLoop and a new
// lease) while its PostgreSQL data, its etcd keys and the faults planned on its fakes persist.

import { DEFAULT_DYNAMIC_CONFIG, DEFAULT_TAGS } from '../../src/config/defaults.js';
import type { DynamicConfig, GovernorConfig, Tags } from '../../src/config/types.js';
import { KEY } from '../../src/dcs/keys.js';
import { ETCD_HEARTBEAT_INTERVAL_MS, RENEW_RETRY_MS, renewIntervalMs } from '../../src/ha/failsafe.js';
import type { LeaseKeeper } from '../../src/ha/lease.js';
import { HaLoop } from '../../src/ha/loop.js';
import { createLogger } from '../../src/log/logger.js';
import { FakeClock } from './clock.js';
import { FakeDcs } from './dcs.js';
import { FakeEtcd } from './etcd.js';
import { FakeHaIo } from './io.js';
import { FakeNetwork } from './network.js';
import { FakePostgres } from './postgres.js';

/** The lease guard's period in LeaseKeeper.start(), and the harness's time step. */
export const GUARD_INTERVAL_MS = 100;

export interface FakeClusterOptions {
  /** Member names (default m1, m2, m3) or how many. */
  members?: string[] | number;
  /** Overrides of the dynamic configuration every member bootstraps with (DEFAULT_DYNAMIC_CONFIG). */
  dynamic?: Partial<DynamicConfig>;
  tags?: Record<string, Partial<Tags>>;
  /** cluster_secret of every member (null: none, failsafe answers cannot be proven). */
  clusterSecret?: string | null;
  /** Check the invariants after every step (default true). */
  checkInvariants?: boolean;
}

/** One iteration as the harness saw it. */
export interface IterationRecord {
  at: number;
  member: string;
  rule: string | null;
  actions: string[];
  error: string | null;
}

export class FakeMember {
  loop: HaLoop | null = null;
  /** The lease keepers of every daemon process this member ran, newest last: a dead daemon's write
   *  fence still holds PostgreSQL to the last deadline it was armed with. */
  readonly leases: LeaseKeeper[] = [];
  /** Log lines of every daemon process this member ran (JSON, as governor writes them). */
  readonly logs: string[] = [];
  /** Decision rules of this member's iterations, in order. */
  readonly rules: string[] = [];
  /** The daemon is hung: its timers and iterations do not run (the process exists, frozen). */
  frozen = false;
  readonly timers = { renewAt: 0, heartbeatAt: 0, iterateAt: 0 };
  /** Timer work still running (a renewal or an iteration held by a fault): the next one waits for it,
   *  as the daemon's timers do, and nothing else does. */
  readonly inFlight: { renewal: Promise<void> | null; iteration: Promise<unknown> | null } = { renewal: null, iteration: null };

  constructor(
    readonly name: string,
    readonly config: GovernorConfig,
    readonly dcs: FakeDcs,
    readonly pg: FakePostgres,
    readonly io: FakeHaIo,
  ) {}

  /** The daemon runs and is not frozen. */
  get active(): boolean {
    return this.loop !== null && !this.frozen;
  }

  get rule(): string | null {
    return this.loop?.status.decision?.rule ?? null;
  }
}

export function fakeMemberConfig(name: string, index: number, options: FakeClusterOptions = {}): GovernorConfig {
  const host = `10.0.0.${index + 1}`;
  const dynamic: DynamicConfig = { ...structuredClone(DEFAULT_DYNAMIC_CONFIG), ...options.dynamic };
  return {
    scope: 'fake',
    namespace: 'service',
    name,
    etcd: { hosts: ['127.0.0.1:2379'], protocol: 'http', username: null, password: null, cacert: null, cert: null, key: null },
    restapi: { listen: `${host}:8008`, connect_address: `${host}:8008`, authentication: null },
    postgresql: {
      bin_dir: '/fake/bin',
      data_dir: `/fake/${name}/data`,
      listen: `${host}:5432`,
      connect_address: `${host}:5432`,
      socket_dir: `/fake/${name}/sock`,
      authentication: { superuser: { username: 'postgres', password: 'fake-su-pw' }, replication: { username: 'replicator', password: 'fake-repl-pw' } },
      parameters: {},
      pg_hba: [],
      run_as_user: null,
    },
    bootstrap: { dcs: dynamic },
    tags: { ...DEFAULT_TAGS, ...options.tags?.[name] },
    log: { level: 'info' },
    cluster_secret: options.clusterSecret === undefined ? 'fake-cluster-secret-0123456789' : options.clusterSecret,
  };
}

export class FakeCluster {
  readonly clock = new FakeClock();
  readonly etcd = new FakeEtcd(this.clock);
  readonly network = new FakeNetwork();
  readonly members = new Map<string, FakeMember>();
  readonly iterations: IterationRecord[] = [];
  readonly violations: string[] = [];
  private readonly checking: boolean;
  /** Leader key holders seen, for the handover check: [from, to] pairs still to verify. */
  private lastLeader: string | null = null;
  private pendingHandovers: Array<{ from: string; to: string; acknowledged: number }> = [];

  private constructor(private readonly options: FakeClusterOptions) {
    this.checking = options.checkInvariants !== false;
    const names = typeof options.members === 'number' ? Array.from({ length: options.members }, (_, i) => `m${i + 1}`) : (options.members ?? ['m1', 'm2', 'm3']);
    names.forEach((name, index) => {
      const config = fakeMemberConfig(name, index, options);
      const pg = new FakePostgres(config, this.clock, this.network);
      const io = new FakeHaIo(this.clock, { config, pg }, this.network, (peer) => {
        const m = this.members.get(peer);
        return m ? { config: m.config, pg: m.pg, loop: m.active ? m.loop : null } : null;
      });
      this.members.set(name, new FakeMember(name, config, new FakeDcs(this.etcd, this.clock, config), pg, io));
    });
  }

  /** A cluster whose daemons all run (data directories empty: the first settle() bootstraps). */
  static async start(options: FakeClusterOptions = {}): Promise<FakeCluster> {
    const cluster = new FakeCluster(options);
    for (const name of cluster.members.keys()) await cluster.startDaemon(name);
    return cluster;
  }

  member(name: string): FakeMember {
    const m = this.members.get(name);
    if (!m) throw new Error(`no member ${name} in the fake cluster`);
    return m;
  }

  loop(name: string): HaLoop {
    const loop = this.member(name).loop;
    if (!loop) throw new Error(`governor is not running on ${name}`);
    return loop;
  }

  get prefix(): string {
    return this.member([...this.members.keys()][0]!).dcs.prefix;
  }

  /** The name in the leader key (null: free). */
  get leader(): string | null {
    return this.etcd.get(this.prefix + KEY.leader)?.value ?? null;
  }

  /** Members whose PostgreSQL runs read-write. */
  get primaries(): string[] {
    return [...this.members.values()].filter((m) => m.pg.isPrimary).map((m) => m.name);
  }

  // --- daemons -----------------------------------------------------------------------------------

  /** Start governor on `name` as the daemon does (HaLoop.start without its timers): a new lease,
   *  a first renewal, a fresh HaLoop with empty memory. */
  async startDaemon(name: string): Promise<HaLoop> {
    const m = this.member(name);
    if (m.loop) throw new Error(`governor already runs on ${name}`);
    m.dcs.forgetLease();
    m.pg.controllerRestarted();
    const logger = createLogger({ level: 'info', member: name, cluster: m.config.scope, write: (line) => m.logs.push(line) });
    const loop = new HaLoop(m.config, m.dcs, m.pg, logger, null, { io: m.io });
    m.loop = loop;
    m.frozen = false;
    m.leases.push(loop.lease);
    await m.dcs.open(m.config.bootstrap.dcs.ttl).catch(() => undefined);
    const now = this.clock.monotonic();
    Object.assign(m.timers, { renewAt: now, heartbeatAt: now, iterateAt: now });
    Object.assign(m.inFlight, { renewal: null, iteration: null });
    await this.renew(m);
    return loop;
  }

  /** governor on `name` is gone (killed): nothing of it runs; PostgreSQL is left as it was. */
  stopDaemon(name: string): void {
    const m = this.member(name);
    m.loop = null;
    m.frozen = false;
  }

  /** The whole machine is gone: governor, PostgreSQL (no shutdown) and its network. */
  killMachine(name: string): void {
    this.stopDaemon(name);
    this.member(name).pg.crash();
    this.network.isolate(name);
  }

  /** The machine is back with its disk: network up, governor started afresh. */
  async reviveMachine(name: string): Promise<HaLoop> {
    this.network.heal(name);
    return this.startDaemon(name);
  }

  /** Restart governor with fresh memory (PostgreSQL keeps running, as with systemctl restart). */
  async restartDaemon(name: string): Promise<HaLoop> {
    this.stopDaemon(name);
    return this.startDaemon(name);
  }

  // --- driving -----------------------------------------------------------------------------------

  /** One HA iteration of `name`; an error is recorded, never thrown (HaLoop.run logs it the same). */
  async iterate(name: string): Promise<IterationRecord> {
    const m = this.member(name);
    const loop = this.loop(name);
    let error: string | null = null;
    try {
      await loop.iterate();
    } catch (e) {
      error = (e as Error).message;
    }
    const decision = loop.status.decision;
    const record = { at: this.clock.monotonic(), member: name, rule: decision?.rule ?? null, actions: decision?.actions.map((a) => a.type) ?? [], error };
    this.iterations.push(record);
    if (record.rule) m.rules.push(record.rule);
    m.timers.iterateAt = this.clock.monotonic() + loop.status.dynamic.loop_wait * 1000;
    this.checkInvariants();
    return record;
  }

  /** Iterate every running member round-robin until a whole round changes nothing (etcd's values,
   *  every PostgreSQL, every decision), at most maxRounds rounds; the rounds it took. */
  async settle(maxRounds = 30): Promise<number> {
    let before = this.fingerprint();
    for (let round = 1; round <= maxRounds; round++) {
      for (const m of this.members.values()) if (m.active) await this.iterate(m.name);
      const after = this.fingerprint();
      if (after === before) return round;
      before = after;
    }
    throw new Error(`the fake cluster did not settle within ${maxRounds} rounds:\n${this.describe()}`);
  }

  /** Let `ms` pass in steps of GUARD_INTERVAL_MS: lease renewals, heartbeats and the lease guard
   *  of every running daemon, and the write fence of members whose daemon is gone or frozen. Each
   *  runs as its timer would, without waiting for the others: a renewal or an iteration held by a
   *  fault delays nothing but its own next run (HaLoop.start() and LeaseKeeper.start()). */
  async advance(ms: number, options: { iterate?: boolean } = {}): Promise<void> {
    const end = this.clock.monotonic() + ms;
    while (this.clock.monotonic() < end) {
      this.clock.advance(Math.min(GUARD_INTERVAL_MS, end - this.clock.monotonic()));
      this.etcd.expireLeases();
      const now = this.clock.monotonic();
      for (const m of this.members.values()) {
        if (!m.active) {
          this.fence(m);
          continue;
        }
        const lease = m.loop!.lease;
        if (now >= m.timers.renewAt && !m.inFlight.renewal) {
          m.inFlight.renewal = this.renew(m).catch(this.noteBackgroundError).finally(() => (m.inFlight.renewal = null));
        }
        if (now >= m.timers.heartbeatAt) {
          m.timers.heartbeatAt = now + ETCD_HEARTBEAT_INTERVAL_MS;
          // Private in LeaseKeeper (start() runs it on a timer); see the report's seam note.
          void (lease as unknown as { heartbeat(): Promise<void> }).heartbeat();
        }
        void lease.guard();
        if (options.iterate && now >= m.timers.iterateAt && !m.inFlight.iteration) {
          m.inFlight.iteration = this.iterate(m.name).catch(this.noteBackgroundError).finally(() => (m.inFlight.iteration = null));
        }
      }
      await flush();
      if (this.backgroundError) throw this.backgroundError;
      this.checkInvariants();
    }
  }

  /** The first error of timer work (an invariant broken inside an iteration): advance() throws it. */
  private backgroundError: Error | null = null;
  private readonly noteBackgroundError = (error: Error): void => {
    this.backgroundError ??= error;
  };

  /** advance() with every running member iterating each loop_wait, as the daemons do. */
  run(ms: number): Promise<void> {
    return this.advance(ms, { iterate: true });
  }

  private async renew(m: FakeMember): Promise<void> {
    const lease = m.loop!.lease;
    const before = lease.lastRenewal;
    await lease.renew();
    const renewed = lease.lastRenewal !== before;
    m.timers.renewAt = this.clock.monotonic() + (renewed ? renewIntervalMs(m.loop!.status.dynamic.ttl * 1000) : RENEW_RETRY_MS);
  }

  /** The write fence (fence.ts) of a member whose daemon no longer re-arms it: PostgreSQL is
   *  stopped at the last deadline the daemon armed it with. */
  private fence(m: FakeMember): void {
    const lease = m.leases.at(-1);
    if (!m.pg.isPrimary || !lease) return;
    const deadline = lease.deadline(this.clock.monotonic());
    if (deadline !== null && this.clock.monotonic() >= deadline) {
      m.pg.events.push('fence');
      void m.pg.stop('immediate', 0);
    }
  }

  // --- invariants ----------------------------------------------------------------------------------

  /** Members whose PostgreSQL runs read-write within a write window a lease keeper of theirs
   *  (this daemon's, or the one its fence was armed by) still grants. */
  writers(now = this.clock.monotonic()): string[] {
    return [...this.members.values()]
      .filter((m) => m.pg.isPrimary && m.leases.some((lease) => {
        const deadline = lease.deadline(now);
        return deadline !== null && now < deadline;
      }))
      .map((m) => m.name);
  }

  /** Throws (and records) when a safety invariant is broken at this instant:
   *  - one writer: at most one running primary within its lease's write window;
   *  - no acknowledged WAL lost at a clean handover: the member the old master handed the key to
   *    has, once it runs read-write, at least every byte the old master acknowledged. */
  checkInvariants(): void {
    if (!this.checking) return;
    const problems: string[] = [];
    const writers = this.writers();
    if (writers.length > 1) problems.push(`two writers: ${writers.join(', ')} run read-write within their lease windows`);
    const leader = this.leader;
    if (leader !== null && leader !== this.lastLeader) {
      const previous = this.lastLeader ? this.members.get(this.lastLeader) : undefined;
      if (previous?.loop?.memory.cleanHandoffTo === leader) {
        this.pendingHandovers.push({ from: previous.name, to: leader, acknowledged: previous.pg.lastAcknowledged });
      }
      this.lastLeader = leader;
    }
    this.pendingHandovers = this.pendingHandovers.filter((h) => {
      const to = this.member(h.to).pg;
      if (!to.isPrimary) return true;
      if ((to.position ?? -1) < h.acknowledged) problems.push(`WAL lost at the clean handover ${h.from} -> ${h.to}: ${h.to} is at ${to.position}, ${h.from} acknowledged ${h.acknowledged}`);
      return false;
    });
    if (problems.length > 0) {
      this.violations.push(...problems);
      throw new Error(`invariant broken at ${this.clock.monotonic()} ms: ${problems.join('; ')}\n${this.describe()}`);
    }
  }

  /** Once settled: the leader key names a member whose PostgreSQL runs read-write, and it is the only one. */
  assertSettledMaster(): string {
    const leader = this.leader;
    const primaries = this.primaries;
    if (leader === null || primaries.length !== 1 || primaries[0] !== leader) {
      throw new Error(`expected one master holding the leader key; leader key: ${leader}, running read-write: [${primaries.join(', ')}]\n${this.describe()}`);
    }
    return leader;
  }

  // --- reading -------------------------------------------------------------------------------------

  private fingerprint(): string {
    return JSON.stringify({
      etcd: this.etcd.snapshot(this.prefix),
      members: [...this.members.values()].map((m) => ({
        up: m.pg.up,
        primary: m.pg.isPrimary,
        timeline: m.pg.timeline,
        position: m.pg.position,
        streaming: m.pg.streamingFrom?.member ?? null,
        rule: m.rule,
        actions: m.loop?.status.decision?.actions.map((a) => a.type) ?? null,
      })),
    });
  }

  /** One line per member, for failure messages. */
  describe(): string {
    return [...this.members.values()]
      .map((m) => {
        const role = m.pg.isPrimary ? 'primary' : m.pg.isReplica ? `replica${m.pg.streamingFrom ? ` <- ${m.pg.streamingFrom.member}` : ''}` : 'stopped';
        const daemon = m.loop ? (m.frozen ? 'frozen' : 'running') : 'down';
        return `  ${m.name}: governor ${daemon}, rule ${m.rule}, PostgreSQL ${role} tl ${m.pg.timeline} wal ${m.pg.position}${this.leader === m.name ? ' [leader key]' : ''}`;
      })
      .join('\n');
  }
}

/** Let promises started without await (the guard's probe, a demotion) run to their end. */
export async function flush(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}
