// Proof that a failsafe answer came from a member of this cluster, for this request (pure; safety
// rule 1). While etcd does not answer, a master keeps writing past its lease only on the word of
// every other member; anything that answers on a member's address (a stand-in returning 200 to
// everything, a replayed answer, a member of another cluster, an api_url written into etcd) must
// not count. Each answer carries an HMAC-SHA256, keyed with the cluster secret (cluster_secret: the
// same on every member, neither the REST password nor stored in etcd), over every field the master
// acts on, including the nonce the master chose for this one request.

import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

const PROOF_LABEL = 'governor-failsafe-v1';
/** Nonces are 128 random bits, hex. */
const NONCE_RE = /^[0-9a-f]{32}$/;
const NAME_MAX = 256;

/** The body a master sends: who asks, for which cluster, and a fresh nonce. */
export interface FailsafeQuestion {
  name: string;
  scope: string;
  nonce: string;
}

/** A member's answer, signed. `confirmed` answers carry a promise not to race for the leader key
 *  for promise_ms; refusals say why, and whether another master may exist (`deposes`). */
export interface FailsafeAnswerDocument {
  scope: string;
  /** The answering member. */
  member: string;
  /** The master that asked. */
  requester: string;
  /** The leader the answering member's last cluster view names (null: none). */
  leader: string | null;
  confirmed: boolean;
  promise_ms: number;
  deposes: boolean;
  reason: string | null;
  nonce: string;
  proof: string;
}

export function newNonce(): string {
  return randomBytes(16).toString('hex');
}

function mac(secret: string, doc: Omit<FailsafeAnswerDocument, 'proof'>): string {
  const fields = [PROOF_LABEL, doc.scope, doc.member, doc.requester, doc.leader, doc.confirmed, doc.promise_ms, doc.deposes, doc.reason, doc.nonce];
  return createHmac('sha256', secret).update(JSON.stringify(fields)).digest('hex');
}

export function signAnswer(secret: string, doc: Omit<FailsafeAnswerDocument, 'proof'>): FailsafeAnswerDocument {
  return { ...doc, proof: mac(secret, doc) };
}

const isName = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length <= NAME_MAX && !/[\x00-\x1f\x7f]/.test(v);

/** Reads a POST /failsafe body; null with the field at fault when it is not a question. */
export function parseQuestion(body: Record<string, unknown>): { ok: true; value: FailsafeQuestion } | { ok: false; reason: string } {
  if (!isName(body.name)) return { ok: false, reason: 'name: expected the name of the member asking to be confirmed as master' };
  if (!isName(body.scope)) return { ok: false, reason: 'scope: expected the cluster scope of the asking master' };
  if (typeof body.nonce !== 'string' || !NONCE_RE.test(body.nonce)) return { ok: false, reason: 'nonce: expected 32 lower-case hex digits' };
  return { ok: true, value: { name: body.name, scope: body.scope, nonce: body.nonce } };
}

export type Verdict =
  | { proven: true; confirmed: true; promiseMs: number }
  | { proven: true; confirmed: false; deposes: boolean; reason: string }
  | { proven: false; why: string };

/**
 * Checks an answer to the question `asked` sent to member `member`: HTTP status and document must
 * agree, every field must be the one this request expects, and the proof must verify. Anything
 * else is `proven: false` (the caller counts it as no answer at all).
 */
export function verifyAnswer(secret: string, asked: FailsafeQuestion & { member: string }, status: number, body: string): Verdict {
  let doc: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(body);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return { proven: false, why: 'not a JSON object' };
    doc = parsed as Record<string, unknown>;
  } catch {
    return { proven: false, why: 'not JSON' };
  }
  if (status !== 200 && status !== 409) return { proven: false, why: `HTTP ${status}` };
  if (typeof doc.proof !== 'string' || !/^[0-9a-f]{64}$/.test(doc.proof)) return { proven: false, why: 'no proof' };
  if (doc.scope !== asked.scope) return { proven: false, why: `answer for scope ${JSON.stringify(String(doc.scope).slice(0, 64))}, not ${asked.scope}` };
  if (doc.member !== asked.member) return { proven: false, why: `answer from ${JSON.stringify(String(doc.member).slice(0, 64))}, not ${asked.member}` };
  if (doc.requester !== asked.name) return { proven: false, why: 'answer to another master' };
  if (doc.nonce !== asked.nonce) return { proven: false, why: 'answer to another request (nonce differs: replayed?)' };
  if (doc.leader !== null && !isName(doc.leader)) return { proven: false, why: 'leader is not a member name' };
  if (typeof doc.confirmed !== 'boolean' || typeof doc.deposes !== 'boolean') return { proven: false, why: 'confirmed/deposes missing' };
  if (typeof doc.promise_ms !== 'number' || !Number.isSafeInteger(doc.promise_ms) || doc.promise_ms < 0) return { proven: false, why: 'promise_ms missing' };
  if (doc.reason !== null && (typeof doc.reason !== 'string' || doc.reason.length > 1000)) return { proven: false, why: 'reason is not a string' };
  const claimed = Buffer.from(doc.proof, 'hex');
  const expected = Buffer.from(mac(secret, doc as unknown as Omit<FailsafeAnswerDocument, 'proof'>), 'hex');
  if (!timingSafeEqual(claimed, expected)) return { proven: false, why: 'proof does not verify (a different cluster_secret?)' };
  if ((status === 200) !== doc.confirmed) return { proven: false, why: 'HTTP status and answer disagree' };
  if (doc.confirmed) {
    if (doc.leader !== asked.name || doc.promise_ms === 0) return { proven: false, why: 'a confirmation must name the asking master as leader and promise time' };
    return { proven: true, confirmed: true, promiseMs: doc.promise_ms };
  }
  return { proven: true, confirmed: false, deposes: doc.deposes, reason: (doc.reason as string | null) ?? 'refused' };
}
