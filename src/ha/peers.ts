// Asks other members' REST APIs where their WAL is, for the leader race (safety rule 2), and
// whether they still confirm this master while etcd does not answer (failsafe, safety rule 1).

import type { GovernorConfig } from '../config/types.js';
import type { Member } from '../dcs/types.js';
import { httpRequest, type TlsClientOptions } from '../util/http-client.js';
import { readPemFile } from '../util/pem.js';
import type { PeerStatus } from './types.js';
import { parseRefusal, type FailsafeProbe } from './failsafe.js';

/** How to verify members' REST certificates: against restapi.cafile (governorctl: ctl.cacert
 *  first), else the system trust store; `insecure` (governorctl --insecure) skips verification. */
export function restApiTls(config: Pick<GovernorConfig, 'restapi' | 'ctl'>, options: { ctl?: boolean; insecure?: boolean } = {}): TlsClientOptions {
  if (options.insecure) return { insecure: true };
  const ctlCa = options.ctl ? config.ctl?.cacert ?? null : null;
  if (ctlCa) return { ca: readPemFile('ctl.cacert', ctlCa) };
  const cafile = config.restapi.cafile ?? null;
  return cafile ? { ca: readPemFile('restapi.cafile', cafile) } : {};
}

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

export async function fetchMemberStatus(member: Pick<Member, 'api_url'>, timeoutMs: number, tls: TlsClientOptions = {}): Promise<unknown> {
  const response = await httpRequest(member.api_url, { timeoutMs, tls });
  return JSON.parse(response.body);
}

export async function fetchPeers(members: Member[], selfName: string, timeoutMs: number, tls: TlsClientOptions = {}): Promise<PeerStatus[]> {
  const others = members.filter((m) => m.name !== selfName);
  return Promise.all(
    others.map(async (m) => {
      try {
        return peerStatusFromJson(m.name, await fetchMemberStatus(m, timeoutMs, tls));
      } catch {
        return { name: m.name, reachable: false, inRecovery: null, timeline: null, walPosition: null, nofailover: false, failoverPriority: 0 };
      }
    }),
  );
}

/** POST /failsafe to every other member at once; a member confirms with 200 and refuses with 409
 *  (failsafe.ts refusalBody). An error or timeout is a member not reached. */
export async function probeFailsafe(
  members: Member[],
  selfName: string,
  timeoutMs: number,
  headers: Record<string, string>,
  tls: TlsClientOptions = {},
): Promise<Omit<FailsafeProbe, 'sentAt'>> {
  const others = members.filter((m) => m.name !== selfName);
  type Answer = { answered: boolean; confirmed: boolean; deposes: boolean; note: string | null };
  const answers = await Promise.all(
    others.map(async (m): Promise<Answer> => {
      try {
        const response = await httpRequest(new URL('/failsafe', m.api_url), {
          method: 'POST',
          timeoutMs,
          tls,
          headers: { ...headers, 'Content-Type': 'application/json' },
          body: JSON.stringify({ name: selfName }),
        });
        if (response.status === 200) return { answered: true, confirmed: true, deposes: false, note: null };
        const refusal = response.status === 409 ? parseRefusal(response.body) : { reason: response.body.slice(0, 200), deposes: true };
        return { answered: true, confirmed: false, deposes: refusal.deposes, note: `${m.name}: ${response.status} ${refusal.reason}` };
      } catch (error) {
        return { answered: false, confirmed: false, deposes: false, note: `${m.name}: ${(error as Error).message}` };
      }
    }),
  );
  return {
    asked: others.length,
    answered: answers.filter((a) => a.answered).length,
    confirmed: answers.filter((a) => a.confirmed).length,
    deposed: answers.filter((a) => a.deposes).length,
    refused: answers.map((a) => a.note).filter((n): n is string => n !== null),
  };
}
