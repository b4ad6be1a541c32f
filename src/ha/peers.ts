// Asks other members' REST APIs where their WAL is, for the leader race (safety rule 2), and
// whether they still confirm this master while etcd does not answer (failsafe, safety rule 1).

import type { GovernorConfig } from '../config/types.js';
import type { Member } from '../dcs/types.js';
import { httpRequest, type TlsClientOptions } from '../util/http-client.js';
import { readPemFile } from '../util/pem.js';
import type { PeerStatus } from './types.js';
import { parseRefusal, type FailsafeProbe } from './failsafe.js';
import { newNonce, verifyAnswer } from './failsafe-proof.js';
import type { PeerAuth } from './peer-auth.js';

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

/** Who a master asks to confirm it while etcd does not answer: every other member of its last
 *  view and every member the failsafe key names (each of those may race for the key afterwards,
 *  so each must have promised not to). */
export function failsafeTargets(members: Member[], recorded: Record<string, string> | null, selfName: string): Array<{ name: string; api_url: string }> {
  const targets = new Map<string, string>();
  for (const [name, url] of Object.entries(recorded ?? {})) targets.set(name, url);
  for (const m of members) targets.set(m.name, m.api_url);
  targets.delete(selfName);
  return [...targets].map(([name, api_url]) => ({ name, api_url })).sort((a, b) => (a.name < b.name ? -1 : 1));
}

export interface FailsafeProbeOptions {
  scope: string;
  selfName: string;
  /** cluster_secret: answers count only with a proof keyed with it. Without one nothing can be
   *  confirmed; any answer then only tells that the member is reachable. */
  secret: string | null;
  timeoutMs: number;
  /** The REST credential's headers for a URL, or why it must not go there (peer-auth.ts). */
  auth: (url: URL) => PeerAuth;
  tls?: TlsClientOptions;
}

export type ProbeAnswer = { answered: boolean; confirmed: boolean; deposes: boolean; promiseMs: number | null; note: string | null };

/** POST /failsafe to every target at once, each with its own nonce; a member confirms with 200 and
 *  refuses with 409, both signed (failsafe-proof.ts). An error, a timeout or an answer without a
 *  valid proof is a member not reached. */
export async function probeFailsafe(targets: Array<{ name: string; api_url: string }>, options: FailsafeProbeOptions): Promise<Omit<FailsafeProbe, 'sentAt'>> {
  return summarizeProbe(targets.length, await Promise.all(targets.map((m) => askOne(m, options))));
}

/** The probe's result from each target's answer. */
export function summarizeProbe(asked: number, answers: ProbeAnswer[]): Omit<FailsafeProbe, 'sentAt'> {
  const promises = answers.map((a) => a.promiseMs).filter((p): p is number => p !== null);
  return {
    asked,
    answered: answers.filter((a) => a.answered).length,
    confirmed: answers.filter((a) => a.confirmed).length,
    deposed: answers.filter((a) => a.deposes).length,
    refused: answers.map((a) => a.note).filter((n): n is string => n !== null),
    promiseMs: promises.length > 0 ? Math.min(...promises) : null,
  };
}

async function askOne(member: { name: string; api_url: string }, options: FailsafeProbeOptions): Promise<ProbeAnswer> {
  const question = { name: options.selfName, scope: options.scope, nonce: newNonce() };
  let response: { status: number; body: string };
  try {
    const url = new URL('/failsafe', member.api_url);
    const auth = options.auth(url);
    // No credential for this address (plain http in an https cluster): not asked, not reached.
    if (auth.headers === null) return { answered: false, confirmed: false, deposes: false, promiseMs: null, note: `${member.name}: ${auth.refused}` };
    response = await httpRequest(url, {
      method: 'POST',
      timeoutMs: options.timeoutMs,
      tls: options.tls ?? {},
      headers: { ...auth.headers, 'Content-Type': 'application/json' },
      body: JSON.stringify(question),
    });
  } catch (error) {
    return { answered: false, confirmed: false, deposes: false, promiseMs: null, note: `${member.name}: ${(error as Error).message}` };
  }
  if (options.secret === null) {
    // Nothing can be proven: reachable, never confirmed; a refusal's word on deposing is taken.
    const refusal = response.status === 409 ? parseRefusal(response.body) : { reason: `HTTP ${response.status}`, deposes: true };
    return { answered: true, confirmed: false, deposes: refusal.deposes, promiseMs: null, note: `${member.name}: ${response.status} ${refusal.reason} (no cluster_secret: answers cannot be proven)` };
  }
  const verdict = verifyAnswer(options.secret, { ...question, member: member.name }, response.status, response.body);
  if (!verdict.proven) return { answered: false, confirmed: false, deposes: false, promiseMs: null, note: `${member.name}: answer not proven (${verdict.why}), counted as no answer` };
  if (verdict.confirmed) return { answered: true, confirmed: true, deposes: false, promiseMs: verdict.promiseMs, note: null };
  return { answered: true, confirmed: false, deposes: verdict.deposes, promiseMs: null, note: `${member.name}: ${verdict.reason}` };
}
