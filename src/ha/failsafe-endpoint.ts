// POST /failsafe on a member: confirm the asking master while etcd does not answer it, and promise
// not to race for the leader key for ttl seconds (kept in the loop's memory: rule failsafe-promised);
// the answer is signed with cluster_secret for this question (failsafe-proof.ts).

import type { DynamicConfig, GovernorConfig } from '../config/types.js';
import type { Logger } from '../log/logger.js';
import { failsafeAnswer } from './failsafe.js';
import { signAnswer, type FailsafeAnswerDocument, type FailsafeQuestion } from './failsafe-proof.js';
import type { LoopMemory } from './types.js';

export interface FailsafeEndpointState {
  config: Pick<GovernorConfig, 'name' | 'scope' | 'cluster_secret'>;
  memory: LoopMemory;
  /** The leader key's holder in this member's last view. */
  knownLeader: string | null;
  /** PostgreSQL runs read-write here. */
  primary: boolean;
  dynamic: Pick<DynamicConfig, 'ttl' | 'failsafe_mode'>;
  /** Monotonic ms. */
  now: number;
  logger: Logger;
}

export function answerFailsafe(question: FailsafeQuestion, state: FailsafeEndpointState): { status: number; body: FailsafeAnswerDocument } {
  const { config, memory, dynamic, now } = state;
  const answer = failsafeAnswer({
    self: config.name,
    scope: config.scope,
    requestScope: question.scope,
    requester: question.name,
    knownLeader: state.knownLeader,
    primary: state.primary,
    failsafeMode: dynamic.failsafe_mode !== false,
  });
  const secret = config.cluster_secret ?? null;
  const promiseMs = dynamic.ttl * 1000;
  // Without a secret nothing this member says can be proven, so it never confirms.
  const confirmed = answer.ok && secret !== null;
  if (confirmed) {
    const first = memory.failsafePromise?.leader !== question.name || now >= memory.failsafePromise.until;
    memory.failsafePromise = { leader: question.name, until: now + promiseMs };
    if (first) state.logger.warn(`confirmed ${question.name} as master over REST (failsafe): not racing for the leader key for ${dynamic.ttl} s`);
  }
  const doc = {
    scope: config.scope,
    member: config.name,
    requester: question.name,
    leader: state.knownLeader,
    confirmed,
    promise_ms: confirmed ? promiseMs : 0,
    deposes: answer.ok ? false : answer.deposes,
    reason: answer.ok ? (confirmed ? null : 'no cluster_secret configured on this member: it cannot prove a confirmation') : answer.reason,
    nonce: question.nonce,
  };
  return { status: confirmed ? 200 : 409, body: secret === null ? { ...doc, proof: '' } : signAnswer(secret, doc) };
}
