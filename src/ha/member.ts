// How this member describes itself in its DCS member key (Patroni's field names and values).

import type { GovernorConfig } from '../config/types.js';
import type { MemberData } from '../dcs/types.js';
import type { PostgresStatus } from '../postgres/types.js';
import type { HostPort } from '../postgres/types.js';
import { parseHostPort } from '../util/ports.js';
import { GOVERNOR_VERSION } from '../version.js';

export function connUrl(config: GovernorConfig): string {
  const { host, port } = parseHostPort(config.postgresql.connect_address, 'postgresql.connect_address');
  return `postgres://${host.includes(':') ? `[${host}]` : host}:${port}/postgres`;
}

/** https when the REST API serves TLS (restapi.certfile): peers, governorctl and HAProxy's
 *  health checks all take the scheme from here. */
export function apiUrl(config: GovernorConfig): string {
  const scheme = config.restapi.certfile ? 'https' : 'http';
  return `${scheme}://${config.restapi.connect_address}/patroni`;
}

/** Host and port of a member's PostgreSQL, from its conn_url. */
export function memberPostgresAddress(member: { name: string; conn_url: string }): HostPort {
  let url: URL;
  try {
    url = new URL(member.conn_url);
  } catch {
    throw new Error(`member ${member.name}: conn_url ${JSON.stringify(member.conn_url)} is not a URL`);
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  return { host, port: url.port ? Number(url.port) : 5432 };
}

export type MemberState =
  | 'running' | 'streaming' | 'starting' | 'stopped' | 'creating replica' | 'rewinding' | 'bootstrapping'
  | 'data directory refused' | 'waiting for reinit';

/** Moved-aside copies a member key lists at most (the rest are in its REST status). */
export const MEMBER_KEY_COPIES = 16;

export function describeState(pg: PostgresStatus): MemberState {
  if (!pg.running) {
    // Why PostgreSQL stays down, when governor leaves the data directory for the operator.
    if (pg.dataDirectory?.state === 'foreign') return 'data directory refused';
    if (pg.dataDirectory?.hold) return pg.dataDirectory.hold.state;
    return 'stopped';
  }
  if (!pg.accepting) return 'starting';
  if (pg.inRecovery && pg.walReceiver?.status === 'streaming') return 'streaming';
  return 'running';
}

export function memberData(config: GovernorConfig, pg: PostgresStatus, options: { state?: MemberState; paused?: boolean } = {}): MemberData {
  // As Patroni: 'uninitialized' only without a cluster in the data directory. A stopped member with
  // one says 'replica', so a member without data never mistakes it for an empty cluster.
  const hasCluster = pg.running || pg.dataDirectory?.state === 'initialized';
  const role = pg.accepting ? (pg.inRecovery ? 'replica' : 'master') : hasCluster ? 'replica' : 'uninitialized';
  const data: MemberData = {
    conn_url: connUrl(config),
    api_url: apiUrl(config),
    state: options.state ?? describeState(pg),
    role,
    tags: { ...config.tags },
    version: GOVERNOR_VERSION,
  };
  if (pg.walPosition !== null) data.xlog_location = pg.walPosition;
  if (pg.timeline !== null) data.timeline = pg.timeline;
  if (options.paused) data.pause = true;
  if (pg.running && pg.pendingRestart) data.pending_restart = true;
  const copies = pg.dataDirectory?.movedAside ?? [];
  if (copies.length > 0) data.moved_aside = copies.slice(-MEMBER_KEY_COPIES).map((c) => c.path);
  return data;
}
