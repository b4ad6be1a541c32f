// Failsafe answers count only when proven (safety rule 1): signed with the cluster secret, for this
// cluster, by the member asked, for this master and this request.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { newNonce, parseQuestion, signAnswer, verifyAnswer, type FailsafeAnswerDocument } from '../../src/ha/failsafe-proof.js';

const SECRET = 'cluster-secret-0123456789abcdef';
const question = { name: 'node1', scope: 'main', nonce: newNonce() };
const asked = { ...question, member: 'node2' };

function confirmation(over: Partial<Omit<FailsafeAnswerDocument, 'proof'>> = {}, secret = SECRET): FailsafeAnswerDocument {
  return signAnswer(secret, {
    scope: 'main', member: 'node2', requester: 'node1', leader: 'node1', confirmed: true, promise_ms: 5000, deposes: false, reason: null, nonce: question.nonce, ...over,
  });
}

describe('verifyAnswer', () => {
  it('a signed confirmation for this request is proven, with its promise', () => {
    assert.deepEqual(verifyAnswer(SECRET, asked, 200, JSON.stringify(confirmation())), { proven: true, confirmed: true, promiseMs: 5000 });
  });
  it('a signed refusal is proven, with its reason and whether it deposes', () => {
    const refusal = confirmation({ confirmed: false, promise_ms: 0, deposes: true, leader: 'node3', reason: 'node2 sees leader node3, not node1' });
    assert.deepEqual(verifyAnswer(SECRET, asked, 409, JSON.stringify(refusal)), { proven: true, confirmed: false, deposes: true, reason: 'node2 sees leader node3, not node1' });
  });
  // [case, status, body, why]
  const fresh = newNonce();
  const cases: Array<[string, number, string, RegExp]> = [
    ['anything answering 200 "OK"', 200, 'OK', /not JSON/],
    ['an empty JSON object', 200, '{}', /no proof/],
    ['Patroni\'s plain "Accepted"', 200, 'Accepted', /not JSON/],
    ['a replayed answer (another request\'s nonce)', 200, JSON.stringify(confirmation({ nonce: fresh })), /nonce differs/],
    ['an answer signed with another secret', 200, JSON.stringify(confirmation({}, 'another-secret-0123456789')), /does not verify/],
    ['a member of another scope (same secret)', 200, JSON.stringify(confirmation({ scope: 'other' })), /scope "other"/],
    ['an answer from another member than the one asked', 200, JSON.stringify(confirmation({ member: 'node3' })), /from "node3", not node2/],
    ['an answer to another master', 200, JSON.stringify(confirmation({ requester: 'node9' })), /another master/],
    ['a confirmation naming another leader', 200, JSON.stringify(confirmation({ leader: 'node3' })), /must name the asking master/],
    ['a confirmation without a promise', 200, JSON.stringify(confirmation({ promise_ms: 0 })), /must name the asking master/],
    ['a confirmation sent with 409', 409, JSON.stringify(confirmation()), /disagree/],
    ['a refusal sent with 200', 200, JSON.stringify(confirmation({ confirmed: false, promise_ms: 0, reason: 'x' })), /disagree/],
    ['a tampered field after signing', 200, JSON.stringify({ ...confirmation(), promise_ms: 60_000 }), /does not verify/],
    ['a server error', 500, JSON.stringify(confirmation()), /HTTP 500/],
    ['a JSON array', 200, '[1,2]', /not a JSON object/],
    ['a proof that is not hex', 200, JSON.stringify({ ...confirmation(), proof: 'zz' }), /no proof/],
  ];
  for (const [name, status, body, why] of cases) {
    it(`unproven: ${name}`, () => {
      const verdict = verifyAnswer(SECRET, asked, status, body);
      assert.equal(verdict.proven, false);
      if (!verdict.proven) assert.match(verdict.why, why);
    });
  }
});

describe('parseQuestion', () => {
  it('reads a well-formed question', () => assert.deepEqual(parseQuestion({ ...question }), { ok: true, value: question }));
  const cases: Array<[string, Record<string, unknown>, RegExp]> = [
    ['no name', { scope: 'main', nonce: question.nonce }, /^name:/],
    ['a name with a newline', { ...question, name: 'a\nb' }, /^name:/],
    ['a 10 kB name', { ...question, name: 'x'.repeat(10_000) }, /^name:/],
    ['no scope', { name: 'node1', nonce: question.nonce }, /^scope:/],
    ['no nonce (an older governor)', { name: 'node1', scope: 'main' }, /^nonce:/],
    ['a short nonce', { ...question, nonce: 'abcd' }, /^nonce:/],
    ['a nonce that is not a string', { ...question, nonce: 12 }, /^nonce:/],
  ];
  for (const [name, body, reason] of cases) {
    it(`refuses ${name}`, () => {
      const parsed = parseQuestion(body);
      assert.equal(parsed.ok, false);
      if (!parsed.ok) assert.match(parsed.reason, reason);
    });
  }
});
