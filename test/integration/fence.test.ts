// The write fence as a dead-man's switch, against a real PostgreSQL: it stops the postmaster at the
// last deadline it was armed with unless re-armed in time, never before it, whether the daemon is
// still there (hung, stopped) or gone; disarmed, it leaves PostgreSQL alone.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, test } from 'node:test';
import type { GovernorConfig } from '../../src/config/types.js';
import { WriteFence } from '../../src/ha/fence.js';
import { createLogger } from '../../src/log/logger.js';
import { createPostgresController } from '../../src/postgres/controller.js';
import type { PostgresController } from '../../src/postgres/types.js';
import { monotonicMs, sleep } from '../../src/util/time.js';
import { GOVERNOR_JS } from '../helpers/cluster.js';
import { cleanupPg, makePgTestRoot, pgMemberConfig } from '../helpers/postgres.js';

const logger = createLogger({ level: 'error', write: () => undefined });
let root = '';
let config: GovernorConfig;
let pg: PostgresController;

before(async () => {
  root = await makePgTestRoot('governor-fence-');
  config = await pgMemberConfig(root, 'fenced');
  pg = createPostgresController(config, logger);
  await pg.initdb();
  await pg.writeConfig({ role: 'primary' });
});

after(async () => {
  await pg?.close().catch(() => undefined);
  await cleanupPg(root, config ? [config] : []);
});

async function running(): Promise<void> {
  if (!(await pg.isRunning())) await pg.start(60_000);
}

/** Monotonic ms at which the postmaster was first seen gone, polling every 10 ms, or null. */
async function stoppedAt(withinMs: number): Promise<number | null> {
  const until = monotonicMs() + withinMs;
  while (monotonicMs() < until) {
    if (!(await pg.isRunning())) return monotonicMs();
    await sleep(10);
  }
  return null;
}

function fence(): WriteFence {
  const f = new WriteFence([process.execPath, GOVERNOR_JS], config.postgresql.data_dir, logger);
  f.start();
  return f;
}

test('re-armed in time, the fence leaves the master running; not re-armed, it stops it at the deadline, never before', { timeout: 90_000 }, async () => {
  await running();
  const f = fence();
  try {
    await sleep(300); // the fence process is up
    const until = monotonicMs() + 2000;
    while (monotonicMs() < until) {
      f.arm(monotonicMs() + 600);
      await sleep(200);
    }
    assert.equal(await pg.isRunning(), true, 'a fence re-armed every 200 ms with 600 ms of slack must not fire');
    const deadline = monotonicMs() + 500;
    f.arm(deadline); // ... and then nothing more: the daemon hangs with its pipe open
    const at = await stoppedAt(5000);
    assert.ok(at !== null, 'the fence did not stop PostgreSQL after its deadline');
    assert.ok(at >= deadline, `PostgreSQL stopped ${deadline - at} ms before the deadline`);
    assert.ok(at - deadline < 1000, `PostgreSQL stopped ${at - deadline} ms after the deadline`);
  } finally {
    f.stop();
  }
});

test('disarmed, the fence leaves PostgreSQL alone', { timeout: 90_000 }, async () => {
  await running();
  const f = fence();
  try {
    await sleep(300);
    f.arm(monotonicMs() + 300);
    f.disarm();
    await sleep(800);
    assert.equal(await pg.isRunning(), true, 'a disarmed fence stopped PostgreSQL');
  } finally {
    f.stop();
  }
});

test('the daemon gone while armed: the fence stops PostgreSQL at the deadline and exits', { timeout: 90_000 }, async () => {
  await running();
  // The fence process alone, spoken to over its pipe the way a daemon does, so that closing the
  // pipe is a daemon's death (WriteFence itself would notice and start a new fence).
  const child = spawn(process.execPath, [GOVERNOR_JS, 'fence', '--data-dir', config.postgresql.data_dir], { stdio: ['pipe', 'ignore', 'pipe'] });
  const exited = new Promise<number>((resolve) => child.once('exit', () => resolve(monotonicMs())));
  await sleep(300);
  const deadline = monotonicMs() + 700;
  child.stdin.write('arm nonsense\n'); // ignored
  child.stdin.end(`arm ${deadline}\n`);
  const at = await stoppedAt(5000);
  assert.ok(at !== null && at >= deadline, `stopped at ${at === null ? 'never' : at - deadline} ms relative to the deadline`);
  assert.ok((await exited) >= deadline, 'the fence exits once it has acted');
});

test('an orderly stop (disarm, then close) leaves PostgreSQL running', { timeout: 90_000 }, async () => {
  await running();
  const f = fence();
  await sleep(300);
  f.arm(monotonicMs() + 400);
  f.stop();
  await sleep(900);
  assert.equal(await pg.isRunning(), true);
});
