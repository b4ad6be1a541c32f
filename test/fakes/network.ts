// Who can reach whom among the members of a fake cluster (their REST APIs and their PostgreSQL),
// and where each member's PostgreSQL is found by host:port (a base backup, a rewind and streaming
// look their source up here). The DCS has its own partition switch (FakeDcs.partitioned).

import type { HostPort } from '../../src/postgres/types.js';
import type { FakePostgres } from './postgres.js';

export class FakeNetwork {
  private readonly cut = new Set<string>();
  private readonly isolated = new Set<string>();
  private readonly postgres = new Map<string, FakePostgres>();

  private static pair(a: string, b: string): string {
    return a < b ? `${a}\u0000${b}` : `${b}\u0000${a}`;
  }

  /** No traffic between members a and b, either way. */
  cutLink(a: string, b: string): void {
    this.cut.add(FakeNetwork.pair(a, b));
  }

  /** Member `name` reaches no other member, and none reaches it. */
  isolate(name: string): void {
    this.isolated.add(name);
  }

  /** Every link works again. */
  heal(name?: string): void {
    if (name === undefined) {
      this.cut.clear();
      this.isolated.clear();
      return;
    }
    this.isolated.delete(name);
    for (const link of [...this.cut]) if (link.split('\u0000').includes(name)) this.cut.delete(link);
  }

  reachable(from: string, to: string): boolean {
    if (from === to) return true;
    if (this.isolated.has(from) || this.isolated.has(to)) return false;
    return !this.cut.has(FakeNetwork.pair(from, to));
  }

  register(pg: FakePostgres): void {
    this.postgres.set(`${pg.address.host}:${pg.address.port}`, pg);
  }

  /** The PostgreSQL at `address`, as seen from member `from` (null: none there, or unreachable). */
  postgresAt(address: HostPort, from: string): FakePostgres | null {
    const pg = this.postgres.get(`${address.host}:${address.port}`) ?? null;
    return pg && this.reachable(from, pg.member) ? pg : null;
  }

  /** Every registered PostgreSQL (unreachable ones too). */
  allPostgres(): FakePostgres[] {
    return [...this.postgres.values()];
  }
}
