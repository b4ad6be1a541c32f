// Asks other members' REST APIs where their WAL is, for the leader race (safety rule 2), and
// whether they still confirm this master while etcd does not answer (failsafe, safety rule 1).

import type { Member } from '../dcs/types.js';
import type { PeerStatus } from './types.js';

/** The Patroni-style status JSON, reduced to what the race compares. */
export function peerStatusFromJson(name: string, body: unknown): PeerStatus {
  const doc = (body ?? {}) as Record<string, any>;
  const xlog = (doc.xlog ?? {}) as Record<string, unknown>;
  const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : null);
  const received = num(xlog.received_location);
  const replayed = num(xlog.replayed_location);
  const location = num(xlog.location);
  const positions = [received, replayed, location].filter((v): v is number => v !== null);
  const tags = (doc.tags ?? {}) as Record<string, unknown>;
  const role = doc.role;
  return {
    name,
    reachable: true,
    inRecovery: role === 'replica' ? true : role === 'master' || role === 'primary' ? false : null,
    timeline: num(doc.timeline),
    walPosition: positions.length ? Math.max(...positions) : null,
    nofailover: tags.nofailover === true,
    failoverPriority: typeof tags.failover_priority === 'number' ? tags.failover_priority : 1,
  };
}

export async function fetchMemberStatus(member: Pick<Member, 'api_url'>, timeoutMs: number, headers: Record<string, string> = {}): Promise<unknown> {
  const response = await fetch(member.api_url, { signal: AbortSignal.timeout(timeoutMs), headers });
  return response.json();
}

export async function fetchPeers(members: Member[], selfName: string, timeoutMs: number): Promise<PeerStatus[]> {
  const others = members.filter((m) => m.name !== selfName);
  return Promise.all(
    others.map(async (m) => {
      try {
        return peerStatusFromJson(m.name, await fetchMemberStatus(m, timeoutMs));
      } catch {
        return { name: m.name, reachable: false, inRecovery: null, timeline: null, walPosition: null, nofailover: false, failoverPriority: 0 };
      }
    }),
  );
}

/** POST /failsafe to every other member at once; a member confirms with 200. */
export async function probeFailsafe(
  members: Member[],
  selfName: string,
  timeoutMs: number,
  headers: Record<string, string>,
): Promise<{ asked: number; confirmed: number; refused: string[] }> {
  const others = members.filter((m) => m.name !== selfName);
  const answers = await Promise.all(
    others.map(async (m): Promise<string | null> => {
      try {
        const url = new URL('/failsafe', m.api_url);
        const response = await fetch(url, {
          method: 'POST',
          signal: AbortSignal.timeout(timeoutMs),
          headers: { ...headers, 'Content-Type': 'application/json' },
          body: JSON.stringify({ name: selfName }),
        });
        const text = (await response.text()).slice(0, 200);
        return response.status === 200 ? null : `${m.name}: ${response.status} ${text}`;
      } catch (error) {
        return `${m.name}: ${(error as Error).name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : (error as Error).message}`;
      }
    }),
  );
  const refused = answers.filter((a): a is string => a !== null);
  return { asked: others.length, confirmed: others.length - refused.length, refused };
}
