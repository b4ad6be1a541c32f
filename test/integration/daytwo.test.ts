// Day-two operations on a real 2-member cluster (PostgreSQL 15, etcd, WAL archiving to a
// directory): /metrics checked by promtool, edit-config with reload and pending restart,
// maintenance mode, and a scheduled switchover.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { sleep } from '../../src/util/time.js';
import { runGovernor, TestCluster } from '../helpers/cluster.js';

const promtool = spawnSync('promtool', ['--version']).status === 0;

interface Status {
  state: string;
  role: string;
  pause?: boolean;
  pending_restart?: boolean;
  postmaster_start_time?: string;
}

describe('day-two operations (2 members, real PostgreSQL and etcd)', () => {
  let cluster: TestCluster;
  const names = () => cluster.manifest.nodes.map((n) => n.name);
  const other = (name: string) => names().find((n) => n !== name)!;
  const status = async (name: string) => JSON.parse((await cluster.api(name, '/patroni')).body) as Status;
  const setting = async (name: string, parameter: string) =>
    (await cluster.query<{ setting: string }>(name, 'SELECT setting FROM pg_settings WHERE name = $1', [parameter]))[0]!.setting;
  const ctl = async (args: string[]) => {
    const result = await cluster.ctl(args);
    assert.equal(result.code, 0, `governorctl ${args.join(' ')}: ${result.stderr}${result.stdout}`);
    return result.stdout;
  };

  /** /cluster straight from etcd's view of a member (cheaper than starting governorctl). */
  const clusterDoc = async () =>
    JSON.parse((await cluster.api(names()[0]!, '/cluster')).body) as { pause?: boolean; scheduled_switchover?: unknown; members: Array<{ pending_restart?: boolean }> };

  before(async () => {
    cluster = await TestCluster.start(2);
  });
  after(async () => {
    await cluster?.stop();
  });

  test('/metrics of a live master and replica passes promtool check metrics', { skip: promtool ? false : 'promtool not installed (apt-get install prometheus)' }, async () => {
    const leader = await cluster.waitHealthy();
    // A base backup before the first scrape (members list backups at most every 5 minutes), and
    // an archived segment, so the backup and archiver metrics have something to say.
    const pushed = await runGovernor(['backup-push', '-c', cluster.node(leader).config_file]);
    assert.equal(pushed.code, 0, `backup-push failed: ${pushed.stderr}`);
    await cluster.query(leader, 'SELECT pg_switch_wal()');
    await cluster.waitFor('a segment archived', async () => Number((await cluster.query<{ n: string }>(leader, 'SELECT archived_count AS n FROM pg_stat_archiver'))[0]!.n) > 0);
    for (const name of names()) {
      const response = await fetch(`${cluster.node(name).api_url}/metrics`);
      assert.equal(response.status, 200);
      assert.match(response.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
      const body = await response.text();
      const check = spawnSync('promtool', ['check', 'metrics'], { input: body, encoding: 'utf8' });
      assert.equal(check.status, 0, `promtool on ${name}: ${check.stdout}${check.stderr}\n${body}`);
      assert.equal((check.stdout + check.stderr).trim(), '', 'no lint findings');
      const value = (metric: string) => Number(new RegExp(`^${metric}\\{[^}]*\\} (\\S+)$`, 'm').exec(body)?.[1]);
      assert.equal(value('governor_master'), name === leader ? 1 : 0, body);
      assert.equal(value('governor_replica'), name === leader ? 0 : 1, body);
      assert.equal(value('governor_paused'), 0);
      assert.ok(value('governor_timeline') >= 1);
      assert.ok(value('governor_ha_loop_iteration_age_seconds') < 10, body);
      assert.ok(value('governor_dcs_last_contact_age_seconds') < 10, body);
      assert.ok(value('governor_last_base_backup_age_seconds') < 120, body);
      if (name === leader) assert.ok(value('governor_archiver_archived_total') >= 1, body);
      else assert.ok(value('governor_replication_lag_bytes') >= 0, body);
    }
  });

  test('PATCH /config: validated like the daemon (the field is named), needs credentials', async () => {
    const leader = await cluster.waitHealthy();
    const unauthenticated = await cluster.api(leader, '/config', { method: 'PATCH', body: '{"pause": true}', auth: false });
    assert.equal(unauthenticated.status, 401);
    const bad = await cluster.api(leader, '/config', { method: 'PATCH', body: JSON.stringify({ ttl: 'long' }) });
    assert.equal(bad.status, 400);
    assert.match(bad.body, /config\.ttl/);
    const unknown = await cluster.api(leader, '/config', { method: 'PATCH', body: JSON.stringify({ loop_wiat: 2 }) });
    assert.equal(unknown.status, 400);
    assert.match(unknown.body, /config\.loop_wiat: unknown field \(did you mean "loop_wait"\?\)/);

    // Concurrent edits through both members: each either lands or is refused (409), none is lost.
    const settings = ['application_name', 'search_path', 'statement_timeout', 'lock_timeout', 'idle_session_timeout', 'temp_file_limit'];
    const answers = await Promise.all(
      settings.map((name, i) =>
        cluster.api(names()[i % 2]!, '/config', { method: 'PATCH', body: JSON.stringify({ postgresql: { parameters: { [name]: name === 'search_path' ? 'public' : name === 'application_name' ? 'x' : 1000 } } }) }),
      ),
    );
    assert.ok(answers.every((a) => a.status === 200 || a.status === 409), answers.map((a) => `${a.status} ${a.body}`).join('\n'));
    const stored = JSON.parse((await cluster.api(leader, '/config', { method: 'PATCH', body: '{}' })).body) as { postgresql: { parameters: Record<string, unknown> } };
    settings.forEach((name, i) => {
      if (answers[i]!.status === 200) assert.ok(name in stored.postgresql.parameters, `${name} was acknowledged but lost`);
    });
    const reset = await cluster.api(leader, '/config', { method: 'PATCH', body: JSON.stringify({ postgresql: { parameters: Object.fromEntries(settings.map((n) => [n, null])) } }) });
    assert.equal(reset.status, 200);
    assert.deepEqual(JSON.parse(reset.body).postgresql.parameters, {});
  });

  test('edit-config: a reload parameter applies everywhere, a restart parameter is flagged until restart --pending', async () => {
    const leader = await cluster.waitHealthy();
    const invalid = await cluster.ctl(['edit-config', '--set', 'ttl=abc', '--force']);
    assert.notEqual(invalid.code, 0);
    assert.match(invalid.stderr, /config\.ttl/);

    const output = await ctl(['edit-config', '--pg', 'work_mem=8MB', '-p', 'shared_buffers=64MB', '--force']);
    assert.match(output, /^\+ +shared_buffers: 64MB$/m);
    assert.match(output, /^\+ +work_mem: 8MB$/m);
    for (const name of names()) {
      await cluster.waitFor(`work_mem reloaded on ${name}`, async () => (await setting(name, 'work_mem')) === '8192');
      await cluster.waitFor(`pending_restart on ${name}`, async () => (await status(name)).pending_restart === true);
      assert.equal(await setting(name, 'shared_buffers'), '16384', 'shared_buffers (8 kB pages) unchanged until a restart');
    }
    await cluster.waitFor('list shows the pending restarts', async () => {
      const rows = JSON.parse(await ctl(['list', '--format', 'json'])) as Array<Record<string, string>>;
      return rows.every((r) => r['Pending restart'] === '*');
    });
    assert.equal(JSON.parse((await cluster.api(leader, '/config')).body).postgresql.parameters.work_mem, '8MB');

    const restarted = await ctl(['restart', '--pending', '--force']);
    assert.match(restarted, /restarted/);
    for (const name of names()) {
      assert.equal(await setting(name, 'shared_buffers'), '8192');
      await cluster.waitFor(`pending_restart cleared on ${name}`, async () => (await status(name)).pending_restart !== true);
    }
    assert.equal(await cluster.waitHealthy(), leader, 'a restart is not a failover');
    await cluster.waitFor('member keys without pending_restart', async () => (await clusterDoc()).members.every((m) => !m.pending_restart));
    assert.match(await ctl(['restart', '--pending', '--force']), /no member has a restart pending/);
  });

  test('pause: a dead master postmaster is neither restarted nor failed over; resume brings it back', async () => {
    const leader = await cluster.waitHealthy();
    const replica = other(leader);
    const paused = await ctl(['pause', '--wait']);
    assert.match(paused, /cluster management is paused/);
    assert.match(await ctl(['list']), /Maintenance mode: on/);
    for (const name of names()) assert.equal((await status(name)).pause, true);
    const refused = await cluster.api(leader, '/switchover', { method: 'POST', body: JSON.stringify({ candidate: replica }) });
    assert.equal(refused.status, 412);
    assert.match(refused.body, /paused/);
    const again = await cluster.ctl(['pause']);
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /already paused/);

    process.kill(cluster.postmasterPid(leader), 'SIGKILL');
    await cluster.waitFor('the master to report PostgreSQL stopped', async () => (await status(leader)).state === 'stopped', 10_000);
    // Longer than ttl (6 s at ttl 5): without pause the master would have restarted in 100 ms, and
    // the leader key would have expired had the paused master stopped renewing it.
    const { ttlMs, loopWaitMs } = await cluster.timing();
    await sleep(ttlMs + loopWaitMs);
    assert.equal((await status(leader)).state, 'stopped', 'nothing restarted the master while paused');
    assert.equal((await status(replica)).role, 'replica', 'the replica was not promoted');
    const doc = await cluster.clusterDoc();
    assert.equal(doc.members.find((m) => m.role === 'leader')?.name, leader, 'the leader key stays');

    assert.match(await ctl(['resume', '--wait']), /cluster management is resumed/);
    assert.equal(await cluster.waitHealthy(30_000), leader, 'the master restarted in place');
    await cluster.waitFor('/cluster without pause', async () => (await clusterDoc()).pause === undefined, 10_000);
    await cluster.query(leader, 'CREATE TABLE IF NOT EXISTS after_resume (x int)');
  });

  test('scheduled switchover: cancelled one never happens; one 3 s ahead happens after its time, not before', async () => {
    const leader = await cluster.waitHealthy();
    const candidate = other(leader);
    await ctl(['switchover', '--candidate', candidate, '--scheduled', new Date(Date.now() + 3600_000).toISOString(), '--force']);
    assert.match(await ctl(['list']), /Switchover scheduled at/);
    assert.match(await ctl(['switchover', '--cancel', '--force']), /cancelled/);
    await cluster.waitFor('/cluster without a scheduled switchover', async () => (await clusterDoc()).scheduled_switchover === undefined, 10_000);
    const none = await cluster.ctl(['flush', 'switchover', '--force']);
    assert.notEqual(none.code, 0);
    assert.match(none.stderr, /no scheduled switchover/);

    // Through the REST API (what governorctl calls): governorctl's own start-up time on a loaded
    // machine would eat into the 3 seconds.
    const at = Date.now() + 3000;
    const scheduled = await cluster.api(leader, '/switchover', { method: 'POST', body: JSON.stringify({ leader, candidate, scheduled_at: new Date(at).toISOString() }) });
    assert.equal(scheduled.status, 202, scheduled.body);
    assert.match(scheduled.body, /scheduled at/);
    let changedAt: number | null = null;
    while (Date.now() < at + 20_000) {
      const current = await cluster.leader();
      if (current === candidate) {
        changedAt = Date.now();
        break;
      }
      assert.ok(Date.now() >= at || current === leader, 'leader unchanged before the scheduled time');
      await sleep(100);
    }
    assert.ok(changedAt !== null, 'the switchover happened');
    assert.ok(changedAt >= at, `switched ${at - changedAt} ms before the scheduled time`);
    assert.ok(changedAt - at < 10_000, `switched ${changedAt - at} ms after the scheduled time`);
    assert.equal(await cluster.waitHealthy(), candidate);
  });
});
