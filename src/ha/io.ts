// The I/O of the HA runtime besides the DCS and the local PostgreSQL controller: the clock, other
// members (their REST APIs and their PostgreSQL) and files in the local data directory. The loop,
// the executor and the lease keeper reach all of it through this interface, so unit tests drive
// them with fakes (test/fakes) and no process; the daemon uses realHaIo().

import path from 'node:path';
import { readyWalFiles } from '../archive/wal-spool.js';
import type { GovernorConfig } from '../config/types.js';
import type { Member } from '../dcs/types.js';
import { measureDataSize, openWalPositionProbe, probeServer, type ProbeResult, type WalPositionProbe } from '../postgres/probe.js';
import { readTimelineSwitch, type TimelineSwitch } from '../postgres/timeline-history.js';
import type { TlsClientOptions } from '../util/http-client.js';
import { monotonicMs, sleep } from '../util/time.js';
import { FAILSAFE_PROBE_TIMEOUT_MS, type FailsafeProbe } from './failsafe.js';
import { memberPostgresAddress } from './member.js';
import { peerAuthHeaders } from './peer-auth.js';
import { fetchMemberStatus, fetchPeers, peerStatusFromJson, probeFailsafe } from './peers.js';
import type { PeerStatus } from './types.js';

export interface Clock {
  /** Monotonic milliseconds: lease arithmetic, deadlines, how long things took. */
  monotonic(): number;
  /** Wall-clock milliseconds since the epoch: only for times other members wrote (scheduled_at). */
  wall(): number;
  /** Resolve after ms of monotonic time (polling waits inside actions). */
  sleep(ms: number): Promise<void>;
}

export const systemClock: Clock = { monotonic: monotonicMs, wall: () => Date.now(), sleep };

/** Other members, over their REST APIs and their PostgreSQL. */
export interface PeerIo {
  /** What every other member's REST API says about itself (a leader race); unreachable ones too. */
  statuses(members: Member[], selfName: string, timeoutMs: number): Promise<PeerStatus[]>;
  /** One member's WAL position as its REST API reports it; throws when it does not answer. */
  walPosition(member: Member, timeoutMs: number): Promise<number | null>;
  /** POST /failsafe to each target: does every one confirm this master (failsafe.ts)? */
  probeFailsafe(targets: Array<{ name: string; api_url: string }>): Promise<Omit<FailsafeProbe, 'sentAt'>>;
  /** Whether a member's PostgreSQL answers and whether it is in recovery. */
  probePostgres(member: Member): Promise<ProbeResult>;
  /** A session on a member's PostgreSQL that reads its WAL position cheaply (the handover check). */
  openWalPositionProbe(member: Member): Promise<WalPositionProbe>;
  /** The size of a member's cluster in bytes (room needed for a clone of it). */
  dataSize(member: Member): Promise<number>;
}

/** Files of the local data directory the HA runtime reads beside the controller. */
export interface DataDirFiles {
  /** Where the given timeline forked from its parent (its .history file), null when unknown. */
  timelineSwitch(timeline: number): Promise<TimelineSwitch | null>;
  /** WAL files PostgreSQL has finished and not archived yet (.ready markers). */
  walAwaitingArchive(): Promise<number>;
}

export interface HaIo {
  clock: Clock;
  peers: PeerIo;
  files: DataDirFiles;
}

/** The real I/O: members' REST APIs (verified with peerTls) and PostgreSQL, the data directory. */
export function realHaIo(config: GovernorConfig, peerTls: TlsClientOptions): HaIo {
  const pgc = config.postgresql;
  return {
    clock: systemClock,
    peers: {
      statuses: (members, selfName, timeoutMs) => fetchPeers(members, selfName, timeoutMs, peerTls),
      walPosition: async (member, timeoutMs) => peerStatusFromJson(member.name, await fetchMemberStatus(member, timeoutMs, peerTls)).walPosition,
      probeFailsafe: (targets) =>
        probeFailsafe(targets, {
          scope: config.scope,
          selfName: config.name,
          secret: config.cluster_secret ?? null,
          timeoutMs: FAILSAFE_PROBE_TIMEOUT_MS,
          auth: (url) => peerAuthHeaders(config, url),
          tls: peerTls,
        }),
      probePostgres: (member) => probeServer(memberPostgresAddress(member), pgc),
      openWalPositionProbe: (member) => openWalPositionProbe(memberPostgresAddress(member), pgc),
      dataSize: (member) => measureDataSize(memberPostgresAddress(member), pgc),
    },
    files: {
      timelineSwitch: (timeline) => readTimelineSwitch(pgc.data_dir, timeline),
      walAwaitingArchive: async () => (await readyWalFiles(path.join(pgc.data_dir, 'pg_wal', 'archive_status')).catch(() => [] as string[])).length,
    },
  };
}
