// The REST API's pure defences: routing on the raw path, the failed-login limiter, the constant-time
// credential check, the shared live value, and the session's query queue.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { LoginLimiter, sourceKey } from '../../src/api/login-limiter.js';
import { routeRequest, type Route } from '../../src/api/routes.js';
import { authOutcome, sameSecret } from '../../src/api/auth.js';
import { FreshValue } from '../../src/api/fresh-value.js';
import { SerialQueue } from '../../src/util/serial-queue.js';
import { sleep } from '../../src/util/time.js';

const summary = (route: Route) =>
  route.kind === 'refuse' ? `${route.status}${route.allow ? ` allow ${route.allow}` : ''}` : route.kind === 'read' ? `read ${route.path}` : `change ${route.method} ${route.path}`;

describe('routeRequest: the endpoint is the raw path, never a reinterpretation of it', () => {
  const cases: [method: string, target: string, expected: string][] = [
    ['GET', '/primary', 'read /primary'],
    ['GET', '/primary/', 'read /primary'],
    ['GET', '/', 'read /'],
    ['HEAD', '/replica?lag=10MB', 'read /replica'],
    ['OPTIONS', '/primary', 'read /primary'],
    ['GET', '/primary?x=%zz&&==&lag', 'read /primary'],
    // new URL('//replica', base) would read "replica" as a host and "/" (the primary check) as the path
    ['GET', '//replica', '404'],
    ['GET', '//primary', '404'],
    ['GET', '/%2e%2e/primary', '404'],
    ['GET', '/%70rimary', '404'],
    ['GET', '/../primary', '404'],
    ['GET', '/primary/../replica', '404'],
    ['GET', '/replica;x', '404'],
    ['GET', 'http://evil.example/primary', '400'],
    ['GET', '*', '400'],
    ['GET', '/' + 'a'.repeat(300), '414'],
    ['GET', '/__proto__', '404'],
    ['GET', '/constructor', '404'],
    ['GET', '/toString', '404'],
    ['POST', '/primary', '405 allow GET, HEAD, OPTIONS'],
    ['GET', '/switchover', '405 allow POST, DELETE'],
    ['DELETE', '/config', '405 allow GET, HEAD, OPTIONS, PATCH, PUT'],
    ['BREW', '/patroni', '405 allow GET, HEAD, OPTIONS'],
    ['POST', '/switchover', 'change POST /switchover'],
    ['PUT', '/config', 'change PUT /config'],
    ['PATCH', '/config/', 'change PATCH /config'],
    ['GET', '/config', 'read /config'],
    ['POST', '/nonexistent', '404'],
  ];
  for (const [method, target, expected] of cases) {
    it(`${method} ${target.length > 40 ? target.slice(0, 40) + '...' : target} -> ${expected}`, () => {
      assert.equal(summary(routeRequest(method, target)), expected);
    });
  }

  it('a refusal never echoes what the client sent as a path', () => {
    const route = routeRequest('GET', '/<script>alert(1)</script>');
    assert.equal(route.kind, 'refuse');
    assert.ok(route.kind === 'refuse' && !route.message.includes('script'));
  });
});

describe('sourceKey: what a failed-login limit applies to', () => {
  const cases: [string | undefined, string][] = [
    ['10.1.2.3', '10.1.2.3'],
    ['::ffff:10.1.2.3', '10.1.2.3'],
    ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2::/64'],
    ['2001:db8:1:2::9', '2001:db8:1:2::/64'],
    ['2001:0db8:0001:0002:ffff::1', '2001:db8:1:2::/64'],
    ['::1', '0:0:0:0::/64'],
    [undefined, 'unknown'],
  ];
  for (const [address, expected] of cases) it(`${address} -> ${expected}`, () => assert.equal(sourceKey(address), expected));
});

describe('LoginLimiter', () => {
  const clock = () => {
    let now = 1_000_000;
    return { now: () => now, advance: (ms: number) => (now += ms) };
  };

  it('blocks a source at the 10th failure within a minute, for a minute, and lets it try again after', () => {
    const time = clock();
    const limiter = new LoginLimiter({ now: time.now });
    for (let i = 1; i <= 9; i++) assert.deepEqual(limiter.recordFailure('a'), { blocked: false, failures: i });
    assert.equal(limiter.blockedFor('a'), 0);
    assert.deepEqual(limiter.recordFailure('a'), { blocked: true, retryAfterMs: 60_000 });
    assert.equal(limiter.blockedFor('a'), 60_000);
    assert.equal(limiter.blockedFor('b'), 0, 'another source is not affected');
    time.advance(59_000);
    assert.equal(limiter.blockedFor('a'), 1000);
    time.advance(1000);
    assert.equal(limiter.blockedFor('a'), 0);
    assert.deepEqual(limiter.recordFailure('a'), { blocked: false, failures: 1 }, 'a new window after the block');
  });

  it('failures spread wider than the window never block', () => {
    const time = clock();
    const limiter = new LoginLimiter({ now: time.now });
    for (let i = 0; i < 50; i++) {
      assert.equal(limiter.recordFailure('slow').blocked, false);
      time.advance(7_000); // 9 per window at most
    }
  });

  it('a correct login starts the count over, but does not lift a block', () => {
    const time = clock();
    const limiter = new LoginLimiter({ now: time.now, maxFailures: 3 });
    limiter.recordFailure('a');
    limiter.recordFailure('a');
    limiter.recordSuccess('a');
    assert.deepEqual(limiter.recordFailure('a'), { blocked: false, failures: 1 });
    limiter.recordFailure('a');
    assert.equal(limiter.recordFailure('a').blocked, true);
    limiter.recordSuccess('a');
    assert.ok(limiter.blockedFor('a') > 0);
  });

  it('a flood from many addresses keeps memory bounded', () => {
    const time = clock();
    const limiter = new LoginLimiter({ now: time.now, maxSources: 100 });
    for (let i = 0; i < 10_000; i++) {
      limiter.recordFailure(`10.0.${i >> 8}.${i & 255}`);
      assert.ok(limiter.size <= 100);
    }
    assert.equal(limiter.size, 100);
  });

  it('stale sources are forgotten before recent ones', () => {
    const time = clock();
    const limiter = new LoginLimiter({ now: time.now, maxSources: 3, maxFailures: 2 });
    limiter.recordFailure('old');
    time.advance(61_000);
    limiter.recordFailure('x');
    limiter.recordFailure('x'); // blocked now
    limiter.recordFailure('y');
    limiter.recordFailure('z'); // full: "old" (window over, not blocked) goes first
    assert.ok(limiter.blockedFor('x') > 0, 'the blocked source is still remembered');
  });
});

describe('credential check', () => {
  const auth = { username: 'admin', password: 's3cret' };
  const basic = (text: string) => `Basic ${Buffer.from(text).toString('base64')}`;
  const cases: [string, string | undefined, string][] = [
    ['right', basic('admin:s3cret'), 'ok'],
    ['case-insensitive scheme', `basic ${Buffer.from('admin:s3cret').toString('base64')}`, 'ok'],
    ['absent', undefined, 'missing'],
    ['empty', '', 'missing'],
    ['wrong password', basic('admin:s3cre'), 'invalid'],
    ['password prefix longer', basic('admin:s3cret!'), 'invalid'],
    ['wrong user', basic('root:s3cret'), 'invalid'],
    ['swapped', basic('s3cret:admin'), 'invalid'],
    ['no colon', basic('admins3cret'), 'malformed'],
    ['bearer', 'Bearer abc', 'malformed'],
    ['not base64', 'Basic ***', 'malformed'],
    ['header injection', 'Basic YWRtaW46czNjcmV0\r\nX: y', 'malformed'],
    ['huge', `Basic ${'A'.repeat(10_000)}`, 'malformed'],
  ];
  for (const [label, header, expected] of cases) it(`${label} -> ${expected}`, () => assert.equal(authOutcome(auth, header), expected));

  it('sameSecret compares digests: any lengths, equal only when equal', () => {
    assert.equal(sameSecret('a', 'a'), true);
    assert.equal(sameSecret('', ''), true);
    assert.equal(sameSecret('a', 'ab'), false);
    assert.equal(sameSecret('x'.repeat(100_000), 'x'), false);
  });
});

describe('FreshValue: one fetch at a time, reused for maxAgeMs', () => {
  it('callers during a fetch share it; a later caller past maxAge gets a new one', async () => {
    let now = 0;
    let fetches = 0;
    const value = new FreshValue(async () => {
      fetches += 1;
      await sleep(20);
      return fetches;
    }, 20, () => now);
    const answers = await Promise.all(Array.from({ length: 100 }, () => value.get()));
    assert.deepEqual(new Set(answers), new Set([1]));
    assert.equal(fetches, 1);
    now = 10;
    assert.equal(await value.get(), 1, 'within maxAge of when the fetch started');
    now = 21;
    assert.equal(await value.get(), 2);
  });

  it('a failed fetch is not kept: the next caller tries again', async () => {
    let calls = 0;
    const value = new FreshValue(async () => {
      calls += 1;
      if (calls === 1) throw new Error('down');
      return 'up';
    }, 1000, () => 0);
    await assert.rejects(value.get(), /down/);
    assert.equal(await value.get(), 'up');
  });
});

describe('SerialQueue', () => {
  it('never runs two tasks at once, keeps order, and lets urgent tasks pass queued ones', async () => {
    const queue = new SerialQueue();
    let running = 0;
    let most = 0;
    const order: string[] = [];
    const task = (name: string, ms: number) => async () => {
      running += 1;
      most = Math.max(most, running);
      await sleep(ms);
      order.push(name);
      running -= 1;
      return name;
    };
    const results = [queue.run(task('first', 20)), queue.run(task('a', 1)), queue.run(task('b', 1)), queue.run(task('promote', 1), { urgent: true })];
    assert.equal(queue.waiting, 3);
    assert.deepEqual(await Promise.all(results), ['first', 'a', 'b', 'promote']);
    assert.deepEqual(order, ['first', 'promote', 'a', 'b']);
    assert.equal(most, 1);
    assert.equal(queue.waiting, 0);
  });

  it('a failing or throwing task does not stall the queue', async () => {
    const queue = new SerialQueue();
    const failing = queue.run(async () => {
      throw new Error('boom');
    });
    const throwing = queue.run(() => {
      throw new Error('sync boom');
    });
    const after = queue.run(async () => 'ok');
    await assert.rejects(failing, /boom/);
    await assert.rejects(throwing, /sync boom/);
    assert.equal(await after, 'ok');
  });
});
