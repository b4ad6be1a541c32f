// A fake HaIo for one member: the fake clock, the other members of the fake cluster answering as
// their REST APIs and PostgreSQL would (built from their FakePostgres, their config and their
// HaLoop), subject to the FakeNetwork's partitions, and the files of the member's own data
// directory from its FakePostgres. Failsafe probes go through the other members' real
// HaLoop.confirmFailsafe and are checked with the real proof verification (failsafe-proof.ts).

import { statusDocument } from '../../src/api/status.js';
import type { GovernorConfig } from '../../src/config/types.js';
import type { Member } from '../../src/dcs/types.js';
import { newNonce, verifyAnswer } from '../../src/ha/failsafe-proof.js';
import type { FailsafeProbe } from '../../src/ha/failsafe.js';
import type { HaIo, PeerIo } from '../../src/ha/io.js';
import type { HaLoop } from '../../src/ha/loop.js';
import { peerStatusFromJson, summarizeProbe } from '../../src/ha/peers.js';
import type { PeerStatus } from '../../src/ha/types.js';
import type { ProbeResult, WalPositionProbe } from '../../src/postgres/probe.js';
import type { FakeClock } from './clock.js';
import { Faults } from './faults.js';
import type { FakeNetwork } from './network.js';
import type { FakePostgres } from './postgres.js';

/** What the fake I/O needs to know of another member. */
export interface PeerHandle {
  config: GovernorConfig;
  pg: FakePostgres;
  /** Its running daemon (null: governor is not running there, its REST API does not answer). */
  loop: HaLoop | null;
}

/** Bytes a member's cluster measures (room needed for a clone of it). */
export const FAKE_DATA_SIZE_BYTES = 2 * 2 ** 30;

export class FakeHaIo implements HaIo {
  readonly faults = new Faults((method, call) => new Error(`injected failure of ${method} (call ${call})`));
  readonly peers: PeerIo;
  readonly files: HaIo['files'];

  constructor(
    readonly clock: FakeClock,
    private readonly self: { config: GovernorConfig; pg: FakePostgres },
    private readonly network: FakeNetwork,
    private readonly peer: (name: string) => PeerHandle | null,
  ) {
    this.peers = {
      statuses: (members, selfName) => this.statuses(members, selfName),
      walPosition: (member) => this.walPositionOf(member),
      probeFailsafe: (targets) => this.probeFailsafe(targets),
      probePostgres: (member) => this.probePostgres(member),
      openWalPositionProbe: (member) => this.openWalPositionProbe(member),
      dataSize: (member) => this.dataSize(member),
    };
    this.files = {
      timelineSwitch: async (timeline) => {
        await this.faults.enter('timelineSwitch');
        const history = self.pg.cluster?.history ?? [];
        return history.find((s) => s.parentTimeline === timeline - 1) ?? null;
      },
      walAwaitingArchive: async () => {
        await this.faults.enter('walAwaitingArchive');
        return self.pg.cluster?.walAwaitingArchive ?? 0;
      },
    };
  }

  private get name(): string {
    return this.self.config.name;
  }

  /** The member's REST API, if it answers us. */
  private api(name: string): PeerHandle | null {
    const handle = this.peer(name);
    return handle?.loop && this.network.reachable(this.name, name) ? handle : null;
  }

  /** The member's PostgreSQL, if it is up and answers us. */
  private postgres(name: string): FakePostgres | null {
    const handle = this.peer(name);
    return handle?.pg.up && this.network.reachable(this.name, name) ? handle.pg : null;
  }

  private async statusOf(name: string): Promise<Record<string, unknown>> {
    const handle = this.api(name);
    if (!handle) throw new Error(`${name}: connect ETIMEDOUT (unreachable)`);
    const loop = handle.loop!;
    return statusDocument({
      config: handle.config,
      pg: await handle.pg.status(),
      cluster: loop.status.lastCluster,
      isLeader: loop.isLeader(),
      paused: loop.status.dynamic.pause === true,
    });
  }

  private async statuses(members: Member[], selfName: string): Promise<PeerStatus[]> {
    await this.faults.enter('statuses');
    return Promise.all(
      members
        .filter((m) => m.name !== selfName)
        .map(async (m) => {
          try {
            return peerStatusFromJson(m.name, await this.statusOf(m.name));
          } catch {
            return { name: m.name, reachable: false, inRecovery: null, timeline: null, walPosition: null, nofailover: false, failoverPriority: 0 };
          }
        }),
    );
  }

  private async walPositionOf(member: Member): Promise<number | null> {
    await this.faults.enter('walPosition');
    return peerStatusFromJson(member.name, await this.statusOf(member.name)).walPosition;
  }

  /** As peers.ts probeFailsafe does over HTTP: each target's answer, verified with the secret. */
  private async probeFailsafe(targets: Array<{ name: string; api_url: string }>): Promise<Omit<FailsafeProbe, 'sentAt'>> {
    await this.faults.enter('probeFailsafe');
    const { scope, cluster_secret: secret } = this.self.config;
    const answers = targets.map((target) => {
      const handle = this.api(target.name);
      if (!handle) return { answered: false, confirmed: false, deposes: false, promiseMs: null, note: `${target.name}: unreachable` };
      const question = { name: this.name, scope, nonce: newNonce() };
      const { status, body } = handle.loop!.confirmFailsafe(question);
      const verdict = verifyAnswer(secret ?? '', { ...question, member: target.name }, status, JSON.stringify(body));
      if (!verdict.proven) return { answered: false, confirmed: false, deposes: false, promiseMs: null, note: `${target.name}: not proven (${verdict.why})` };
      if (verdict.confirmed) return { answered: true, confirmed: true, deposes: false, promiseMs: verdict.promiseMs, note: null };
      return { answered: true, confirmed: false, deposes: verdict.deposes, promiseMs: null, note: `${target.name}: ${verdict.reason}` };
    });
    return summarizeProbe(targets.length, answers);
  }

  private async probePostgres(member: Member): Promise<ProbeResult> {
    await this.faults.enter('probePostgres');
    const pg = this.postgres(member.name);
    if (!pg) return { reachable: false, inRecovery: null, error: `${member.name}: connection refused` };
    return { reachable: true, inRecovery: !pg.isPrimary, error: null };
  }

  private async openWalPositionProbe(member: Member): Promise<WalPositionProbe> {
    await this.faults.enter('openWalPositionProbe');
    if (!this.postgres(member.name)) throw new Error(`${member.name}: connection refused`);
    return {
      position: async () => {
        await this.faults.enter('walPositionProbe.position');
        const pg = this.postgres(member.name);
        if (!pg) throw new Error(`${member.name}: connection lost`);
        return (await pg.walPosition())?.walPosition ?? null;
      },
      close: async () => undefined,
    };
  }

  private async dataSize(member: Member): Promise<number> {
    await this.faults.enter('dataSize');
    if (!this.postgres(member.name)) throw new Error(`cannot measure the data size of ${member.name}: connection refused`);
    return FAKE_DATA_SIZE_BYTES;
  }
}
