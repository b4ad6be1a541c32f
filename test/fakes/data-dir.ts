// The data directory of a FakePostgres: what it holds (nothing, a cluster, foreign content, a
// creation under way), creation that undoes only what it made, moving aside (the copy keeps its
// cluster: nothing is ever lost), removal, and the operator hold. It outlives the governor process
// that drives it, as a disk does. Mirrors src/postgres/data-dir.ts.

import { movedAsideName, type MoveAsideReason, type MovedAsideCopy } from '../../src/postgres/data-dir-policy.js';
import type { TimelineSwitch } from '../../src/postgres/timeline-history.js';
import type { DataDirCreation, DataDirHold, DataDirReport, DataDirState, StartRole } from '../../src/postgres/types.js';

export type ControlState = 'shut down' | 'shut down in recovery' | 'in production' | 'in archive recovery';

/** What a data directory holding a cluster contains, as far as governor can tell. */
export interface ClusterFiles {
  systemIdentifier: string;
  timeline: number;
  /** End of WAL on disk (a primary's write position; what a replica received), bytes. */
  walPosition: number;
  /** The switches that led to `timeline`, oldest first (the .history file). */
  history: TimelineSwitch[];
  controlState: ControlState;
  checkpointLsn: number;
  /** postgresql.conf as governor last wrote it (null: never). */
  config: StartRole | null;
  standbySignal: boolean;
  synchronousStandbyNames: string;
  slots: string[];
  /** WAL files finished and not archived yet (.ready markers). */
  walAwaitingArchive: number;
}

export type MovedAsideCluster = MovedAsideCopy & { cluster: ClusterFiles | null };

export class FakeDataDirectory {
  private dir: 'missing' | 'present' = 'missing';
  private foreignContent = false;
  cluster: ClusterFiles | null = null;
  private creating: { kind: DataDirCreation; createdDir: boolean } | null = null;
  readonly movedAside: MovedAsideCluster[] = [];
  hold: DataDirHold | null = null;
  /** Free bytes on its file system. */
  freeBytes = 100 * 2 ** 30;

  constructor(readonly path: string) {}

  inspect(): DataDirState {
    if (this.dir === 'missing') return 'missing';
    if (this.creating) return 'incomplete';
    if (this.cluster) return 'initialized';
    return this.foreignContent ? 'foreign' : 'empty';
  }

  /** The state the HA loop reads; a hold ends once the directory no longer holds a cluster. */
  state(): DataDirState {
    const state = this.inspect();
    if (this.hold && state !== 'initialized') this.hold = null;
    return state;
  }

  /** Something that is not a PostgreSQL cluster is put there. */
  putForeignContent(): void {
    this.dir = 'present';
    this.foreignContent = true;
  }

  /** initdb or a copy writes a cluster into it (it must hold nothing). */
  fill(what: string, cluster: ClusterFiles): void {
    if (this.dir === 'present' && (this.cluster || this.foreignContent)) throw new Error(`${what}: data directory ${this.path} is not empty`);
    this.dir = 'present';
    this.cluster = cluster;
  }

  /** Fill a missing or empty directory with `fill`; a failure removes what it made (unless a
   *  postmaster runs there: `running`), leftovers of an interrupted creation are cleared first. */
  async create(kind: DataDirCreation, fill: () => Promise<void>, running: () => boolean): Promise<void> {
    let createdDir = this.dir === 'missing';
    const before = this.inspect();
    if (before === 'incomplete') {
      createdDir = this.creating!.createdDir;
      this.clearCreation(createdDir);
    } else if (before !== 'missing' && before !== 'empty') {
      throw new Error(`${kind} into ${this.path} refused: ${before === 'foreign' ? 'it holds something else' : 'it already holds a PostgreSQL cluster'}`);
    }
    this.dir = 'present';
    this.creating = { kind, createdDir };
    try {
      await fill();
    } catch (error) {
      if (!running()) this.clearCreation(createdDir);
      throw error;
    }
    this.creating = null;
  }

  private clearCreation(removeDir: boolean): void {
    this.cluster = null;
    this.creating = null;
    if (removeDir) this.dir = 'missing';
  }

  copies(): MovedAsideCopy[] {
    return this.movedAside.map(({ path, reason, at }) => ({ path, reason, at }));
  }

  /** Rename it beside itself; the copy keeps the cluster, the directory is left empty. */
  moveAside(reason: MoveAsideReason, at: Date): string {
    if (this.dir === 'missing') throw new Error(`cannot move ${this.path} aside: it does not exist`);
    let attempt = 0;
    while (this.movedAside.some((c) => c.path === movedAsideName(this.path, reason, at, attempt))) attempt += 1;
    const copy = { path: movedAsideName(this.path, reason, at, attempt), reason, at: at.toISOString(), cluster: this.cluster };
    this.movedAside.push(copy);
    this.cluster = null;
    this.foreignContent = false;
    return copy.path;
  }

  remove(): void {
    this.cluster = null;
    this.foreignContent = false;
  }

  report(running: boolean): DataDirReport {
    const state = running ? 'initialized' : this.inspect();
    return {
      path: this.path,
      state,
      problem: state === 'foreign' ? `data directory ${this.path} is not empty and holds no PostgreSQL cluster` : (this.hold?.reason ?? null),
      hold: this.hold,
      movedAside: this.copies(),
    };
  }
}
