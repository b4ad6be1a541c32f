// Optional helper for the caller: the RoutingView of a cluster as read from the DCS. The leader is
// the member named in the leader key (none if the key is free or its member key is missing);
// replicas are the other members with role "replica" and state "streaming" or "running" (a replica
// replaying archived WAL) that are not tagged
// noloadbalance. HAProxy's own /replica check still decides whether a replica streams. Every member
// with valid addresses is listed in `members`, so HAProxy has a server for it before it streams.

import type { ClusterView, Member } from '../dcs/types.js';
import type { RoutingMember, RoutingView } from './render.js';

function hostPortOf(url: string): { host: string; port: number } | null {
  try {
    const parsed = new URL(url);
    const port = Number(parsed.port || (parsed.protocol === 'https:' ? 443 : parsed.protocol === 'http:' ? 80 : 5432));
    const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
    return host !== '' && Number.isInteger(port) ? { host, port } : null;
  } catch {
    return null;
  }
}

/** A member's PostgreSQL and REST API addresses from conn_url and api_url, or null. */
export function routingMember(member: Member): RoutingMember | null {
  const pg = hostPortOf(member.conn_url);
  const api = hostPortOf(member.api_url);
  if (!pg || !api) return null;
  return { name: member.name, host: pg.host, port: pg.port, apiHost: api.host, apiPort: api.port, apiTls: member.api_url.startsWith('https:') };
}

export function routingViewFromCluster(cluster: Pick<ClusterView, 'leader' | 'members'>): RoutingView {
  const leaderName = cluster.leader?.name ?? null;
  const leaderMember = cluster.members.find((m) => m.name === leaderName);
  const replicas: RoutingMember[] = [];
  const members: RoutingMember[] = [];
  for (const m of cluster.members) {
    const r = routingMember(m);
    if (r) members.push(r);
    if (m.name === leaderName || m.role !== 'replica' || (m.state !== 'streaming' && m.state !== 'running') || m.tags?.noloadbalance === true) continue;
    if (r) replicas.push(r);
  }
  return { leader: leaderMember ? routingMember(leaderMember) : null, replicas, members };
}
