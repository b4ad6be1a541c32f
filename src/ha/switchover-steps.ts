// The steps of a planned switchover on the master, one action each (rules-leader.ts chains them):
// prepare while writes are still served, stop at the shutdown checkpoint, confirm the candidate has
// WAL past it, hand over the key. A candidate that does not confirm leaves memory.handover marked
// unconfirmed, and rule switchover-abort starts PostgreSQL again as master.

import type { Member } from '../dcs/types.js';
import type { WalPositionProbe } from '../postgres/probe.js';
import type { StopMode } from '../postgres/types.js';
import type { ExecutorContext } from './executor-context.js';
import { waitForWalPast } from './handover.js';
import { STOP_TIMEOUT_MS } from './types.js';

/** How long a switchover waits for the candidate to confirm it received the shutdown checkpoint. */
const HANDOVER_CONFIRM_MS = 10_000;
/** How long a switchover lets the archiver catch up before it stops the master. */
const ARCHIVE_IDLE_WAIT_MS = 10_000;

export class SwitchoverSteps {
  /** The session on the candidate opened by prepare for confirm: a connection, not protocol state
   *  (memory.handover is that); closed by confirm. */
  private handoverProbe: Promise<WalPositionProbe | null> | null = null;

  constructor(
    private readonly ctx: ExecutorContext,
    /** The executor's stop, which tells the loop the stop is planned. */
    private readonly stopPostgres: (mode: StopMode) => Promise<void>,
  ) {}

  /** Wait (at most maxMs) until PostgreSQL has no WAL file waiting to be archived. */
  async waitForArchiveIdle(maxMs: number): Promise<void> {
    const { clock, files } = this.ctx.io;
    const deadline = clock.monotonic() + maxMs;
    for (;;) {
      const ready = await files.walAwaitingArchive();
      if (ready === 0) return;
      if (clock.monotonic() > deadline) {
        this.ctx.logger.warn('switchover: WAL is still waiting to be archived; the shutdown will archive it', { ready });
        return;
      }
      await clock.sleep(50);
    }
  }

  /** Switchover step 1, while writes are still served: PostgreSQL's shutdown waits for its
   *  archiver, so let finished segments be stored now; open the session the handover check polls;
   *  flush dirty buffers so the shutdown checkpoint (inside the write outage) has little to do. */
  async prepareHandover(candidate: Member): Promise<boolean> {
    const { pg, logger, memory } = this.ctx;
    memory.handover = { candidate: candidate.name, shutdownLsn: null };
    if (this.ctx.config.archive?.enabled) await this.waitForArchiveIdle(ARCHIVE_IDLE_WAIT_MS);
    void this.closeProbe();
    this.handoverProbe = (async () => this.ctx.io.peers.openWalPositionProbe(candidate))().catch((error: Error) => {
      logger.info(`cannot query ${candidate.name}'s PostgreSQL directly (${error.message}): the handover check asks its REST API`);
      return null;
    });
    await pg.checkpoint().catch((error) => logger.warn(`checkpoint before switchover failed: ${(error as Error).message}`));
    return true;
  }

  /** Switchover step 2: the key is handed over once the shutdown checkpoint is written and the
   *  candidate has it, not once the postmaster has exited: after that checkpoint nothing can be
   *  written here, and what the postmaster still does (walsenders finishing, the archiver storing
   *  the segment the shutdown switched out) took 0.1-0.5 s of write outage. */
  async stopForHandover(candidate: Member): Promise<boolean> {
    const { pg, logger, memory } = this.ctx;
    this.ctx.setPrimary(false);
    let shutdownLsn: number | null = null;
    try {
      shutdownLsn = (await pg.stopAtShutdownCheckpoint(STOP_TIMEOUT_MS))?.checkpointLsn ?? null;
      if (shutdownLsn === null) {
        const control = await pg.controlData(); // it had stopped before we asked
        if (control?.cleanShutdown) shutdownLsn = control.checkpointLsn;
      }
    } catch (error) {
      logger.warn(`fast shutdown did not finish: ${(error as Error).message}; stopping immediately`);
      await this.stopPostgres('immediate');
    }
    memory.handover = { candidate: candidate.name, shutdownLsn };
    return true;
  }

  /** Switchover step 3: the candidate must have WAL past the shutdown checkpoint; when it does not
   *  confirm in time the handover is marked unconfirmed and rule switchover-abort restarts here. */
  async confirmHandover(candidate: Member): Promise<boolean> {
    const { logger, memory, io } = this.ctx;
    const shutdownLsn = memory.handover?.candidate === candidate.name ? memory.handover.shutdownLsn : null;
    let result = { confirmed: false, lastSeen: null as number | null };
    try {
      if (shutdownLsn !== null) {
        const probe = await (this.handoverProbe ?? Promise.resolve(null));
        result = await waitForWalPast(shutdownLsn, probe, { position: () => io.peers.walPosition(candidate, 1000) }, {
          timeoutMs: HANDOVER_CONFIRM_MS,
          clock: io.clock,
          onDirectFailure: (error) => logger.info(`querying ${candidate.name}'s PostgreSQL failed (${error.message}): asking its REST API`),
        });
      }
    } finally {
      // Not awaited: ending the session waits for the candidate's backend to exit (80-110 ms
      // measured under switchover load), which would delay the release that follows.
      void this.closeProbe();
    }
    if (result.confirmed) return true;
    // waitedMs: the time the check was given (none without a shutdown checkpoint to confirm).
    memory.handover = { candidate: candidate.name, shutdownLsn, unconfirmed: { lastSeen: result.lastSeen, waitedMs: shutdownLsn === null ? 0 : HANDOVER_CONFIRM_MS } };
    return false;
  }

  /** Switchover step 4: the candidate has every byte, so it may follow without a rewind. */
  async handOverKey(candidate: Member): Promise<boolean> {
    const { dcs, memory, logger } = this.ctx;
    memory.cleanHandoffTo = candidate.name;
    this.ctx.leaderKey(false);
    const released = await dcs.releaseLeader();
    if (released) logger.info(`handed the leader key to ${candidate.name} after it confirmed WAL past ${memory.handover?.shutdownLsn}`);
    else logger.warn(`the leader key was no longer this member's to hand to ${candidate.name}`);
    memory.handover = null;
    // The postmaster is still finishing its shutdown either way: finishStop waits for it.
    return true;
  }

  async closeProbe(): Promise<void> {
    const opening = this.handoverProbe;
    this.handoverProbe = null;
    await (await opening?.catch(() => null))?.close().catch(() => undefined);
  }
}
