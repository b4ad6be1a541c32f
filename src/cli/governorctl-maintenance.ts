// governorctl's day-two commands: pause/resume (maintenance mode), edit-config (the dynamic
// configuration in etcd) and flush (cancel a scheduled switchover).

import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { execa } from 'execa';
import { ConfigError } from '../config/errors.js';
import { validateDynamicConfig } from '../config/load.js';
import { validateCompleteDynamicConfig } from '../config/dynamic-document.js';
import type { DynamicConfig, GovernorConfig } from '../config/types.js';
import { applyEdits, diffLines, parseConfigDocument, parsePgArgument, parseSetArgument, toYaml, type PathEdit } from '../config/dynamic-edit.js';
import { sleep } from '../util/time.js';
import { callApi, confirm, load, preferredMember, readCluster, withDcs } from './ctl-common.js';

const collect = (value: string, previous: string[] = []) => [...previous, value];

export async function cancelScheduledSwitchover(config: GovernorConfig, force: boolean | undefined): Promise<void> {
  await withDcs(config, async (dcs) => {
    const cluster = await dcs.readCluster();
    const failover = cluster.failover;
    if (!failover?.scheduled_at) throw new Error('no scheduled switchover to cancel');
    await confirm(`Cancel the switchover from ${failover.leader ?? 'the leader'} to ${failover.member ?? 'the best replica'} scheduled at ${failover.scheduled_at}?`, force);
    await dcs.clearFailover();
  });
  console.log('Success: scheduled switchover cancelled');
}

/** Wait until every member's key reports the pause state (members write it on their next loop). */
async function waitForPause(config: GovernorConfig, paused: boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lagging: string[] = [];
  await withDcs(config, async (dcs) => {
    while (Date.now() < deadline) {
      const cluster = await dcs.readCluster();
      lagging = cluster.members.filter((m) => (m.pause === true) !== paused).map((m) => m.name);
      if (lagging.length === 0) return;
      await sleep(250);
    }
    throw new Error(`--wait: ${lagging.join(', ')} did not report ${paused ? 'paused' : 'resumed'} within ${timeoutMs / 1000} s`);
  });
}

async function setPause(command: Command, paused: boolean, options: { wait?: boolean }): Promise<void> {
  const config = (await load(command));
  const cluster = await readCluster(config);
  if ((cluster.config?.pause === true) === paused) throw new Error(`the cluster is already ${paused ? 'paused' : 'resumed'}`);
  // Through a member's REST API (PATCH /config, as patronictl does): it validates and compare-and-swaps.
  await callApi(config, preferredMember(cluster), 'PATCH', '/config', { pause: paused });
  if (options.wait) {
    console.log(`'${paused ? 'pause' : 'resume'}' request sent, waiting until it is recognized by all members`);
    await waitForPause(config, paused, Math.max(30_000, (cluster.config?.loop_wait ?? 10) * 3000));
  }
  console.log(paused ? 'Success: cluster management is paused' : 'Success: cluster management is resumed');
}

interface EditOptions {
  set?: string[];
  pg?: string[];
  apply?: string;
  force?: boolean;
  quiet?: boolean;
}

/** The configuration as the operator wants it, from the options or an editor session. */
async function wantedConfig(current: DynamicConfig, options: EditOptions): Promise<unknown> {
  const edits: PathEdit[] = [...(options.set ?? []).map((s) => parseSetArgument(s)), ...(options.pg ?? []).map(parsePgArgument)];
  let base: unknown = current;
  if (options.apply !== undefined) {
    const text = options.apply === '-' ? await readStdin() : await readFile(options.apply, 'utf8').catch((error: Error) => {
      throw new Error(`--apply ${options.apply}: ${error.message}`);
    });
    base = parseConfigDocument(text, `--apply ${options.apply}`);
  } else if (edits.length === 0) {
    if (!process.stdin.isTTY) throw new Error('nothing to change: pass --set key=value, --pg name=value or --apply FILE (or run on a terminal to edit in $EDITOR)');
    base = await editInEditor(current);
  }
  return applyEdits(base, edits);
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** $VISUAL or $EDITOR (default vi) on a temporary YAML copy; its words are split, never given to a shell. */
async function editInEditor(current: DynamicConfig): Promise<unknown> {
  const words = (process.env.VISUAL || process.env.EDITOR || 'vi').trim().split(/\s+/);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'governorctl-'));
  const file = path.join(dir, 'config.yml');
  try {
    await writeFile(file, toYaml(current), { mode: 0o600 });
    const result = await execa(words[0]!, [...words.slice(1), file], { stdio: 'inherit', reject: false });
    if (result.exitCode !== 0) throw new Error(`editor ${words[0]} exited with code ${result.exitCode ?? result.signal}: nothing changed`);
    return parseConfigDocument(await readFile(file, 'utf8'), 'edited configuration');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function editConfig(command: Command, options: EditOptions): Promise<void> {
  const config = (await load(command));
  await withDcs(config, async (dcs) => {
    const cluster = await dcs.readCluster();
    if (cluster.configError !== undefined && options.apply === undefined) {
      throw new Error(`the config key in etcd is invalid (${cluster.configError}); the members keep the last valid one. Replace it whole: governorctl edit-config --apply FILE`);
    }
    const current = cluster.config ?? config.bootstrap.dcs;
    let next: DynamicConfig;
    try {
      // --apply replaces the whole configuration: like PUT /config, every field must be there (an
      // empty file would otherwise reset the cluster to defaults).
      const wanted = await wantedConfig(current, options);
      next = options.apply !== undefined ? validateCompleteDynamicConfig(wanted, 'config') : validateDynamicConfig(wanted, 'config');
    } catch (error) {
      // The same checks as the daemon's, naming the field; nothing was written.
      if (error instanceof ConfigError) throw new Error(`invalid configuration, nothing changed:\n${error.message}`);
      throw error;
    }
    const diff = diffLines(toYaml(current), toYaml(next));
    if (diff === '') {
      console.log('Not changed');
      return;
    }
    if (!options.quiet) process.stdout.write(diff);
    await confirm('Apply these changes?', options.force);
    // Compare-and-swap on the revision read above: an edit made meanwhile is never overwritten.
    if (!(await dcs.setConfig(next, cluster.configRevision ?? '0'))) {
      throw new Error('the configuration was changed by someone else since it was read: nothing written; run edit-config again');
    }
    console.log('Configuration changed');
  });
}

export function addMaintenanceCommands(ctl: Command): void {
  ctl
    .command('pause')
    .description('maintenance mode: no automatic failover, PostgreSQL left alone')
    .option('--wait', 'wait until every member reports it')
    .action((options: { wait?: boolean }, command: Command) => setPause(command, true, options));

  ctl
    .command('resume')
    .description('leave maintenance mode')
    .option('--wait', 'wait until every member reports it')
    .action((options: { wait?: boolean }, command: Command) => setPause(command, false, options));

  ctl
    .command('edit-config')
    .description('change the dynamic configuration in etcd (interactive $EDITOR without options)')
    .option('-s, --set <key.path=value>', 'set a value (YAML-typed; null deletes); repeatable', collect)
    .option('-p, --pg <name=value>', 'set postgresql.parameters.<name>; repeatable', collect)
    .option('--apply <file>', "replace the configuration with a YAML file ('-' reads stdin); --set/--pg then apply on top")
    .option('-q, --quiet', 'do not show the diff')
    .option('--force', 'do not ask for confirmation')
    .action((options: EditOptions, command: Command) => editConfig(command, options));

  ctl
    .command('flush')
    .description("remove a pending request: 'switchover' cancels a scheduled switchover")
    .argument('<what>', 'switchover')
    .option('--force', 'do not ask for confirmation')
    .action(async (what: string, options: { force?: boolean }, command: Command) => {
      if (what !== 'switchover') throw new Error(`flush: expected "switchover", got ${JSON.stringify(what)}`);
      await cancelScheduledSwitchover((await load(command)), options.force);
    });
}
