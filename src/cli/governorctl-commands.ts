// governorctl's commands: read the cluster from etcd, act through the members' REST APIs.

import { createInterface } from 'node:readline/promises';
import { Command, Option } from 'commander';
import { stringify } from 'yaml';
import { loadConfigWithImds } from '../config/load.js';
import type { GovernorConfig } from '../config/types.js';
import type { ClusterView, Member } from '../dcs/types.js';
import { restApiTls } from '../ha/peers.js';
import { createLogger } from '../log/logger.js';
import { httpRequest, type TlsClientOptions } from '../util/http-client.js';
import { formatTable, historyRows, listRows } from './ctl-format.js';

interface GlobalOptions {
  config?: string;
  insecure?: boolean;
}

interface Ctl {
  config: GovernorConfig;
  /** How members' REST certificates are verified (ctl.cacert, restapi.cafile, or --insecure). */
  tls: TlsClientOptions;
}

async function load(command: Command): Promise<Ctl> {
  const options = command.optsWithGlobals<GlobalOptions>();
  const { config } = await loadConfigWithImds({ file: options.config ?? process.env.GOVERNOR_CONFIG ?? '/etc/governor/governor.yml' });
  return { config, tls: restApiTls(config, { ctl: true, insecure: options.insecure === true }) };
}

async function readCluster(config: GovernorConfig): Promise<ClusterView> {
  // Loaded here, not at the top: etcd3 and gRPC are most of governor's start-up time.
  const { createEtcdDcs } = await import('../dcs/etcd.js');
  const dcs = createEtcdDcs({ config, logger: createLogger({ level: 'error' }) });
  try {
    return await dcs.readCluster();
  } finally {
    await dcs.close().catch(() => undefined);
  }
}

function apiBase(member: Member): string {
  const url = new URL(member.api_url);
  return url.origin;
}

async function callApi({ config, tls }: Ctl, member: Member, method: string, path: string, body?: unknown): Promise<string> {
  const headers: Record<string, string> = { 'Content-Type': 'application/json' };
  const auth = config.restapi.authentication;
  if (auth) headers.Authorization = `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}`;
  let response;
  try {
    response = await httpRequest(`${apiBase(member)}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      timeoutMs: 60_000,
      tls,
    });
  } catch (error) {
    const hint = /certificate|self.signed/i.test((error as Error).message) ? ' (set ctl.cacert or restapi.cafile to the CA that signed it, or pass --insecure)' : '';
    throw new Error(`${member.name}'s REST API at ${apiBase(member)} did not answer: ${(error as Error).message}${hint}`);
  }
  const text = response.body.trim();
  if ((response.status < 200 || response.status >= 300) && response.status !== 202) throw new Error(`${member.name} refused ${method} ${path} (HTTP ${response.status}): ${text}`);
  return text;
}

function memberNamed(cluster: ClusterView, name: string, field: string): Member {
  const member = cluster.members.find((m) => m.name === name);
  if (!member) throw new Error(`${field}: no member ${JSON.stringify(name)} (members: ${cluster.members.map((m) => m.name).join(', ') || 'none'})`);
  return member;
}

async function confirm(question: string, force: boolean | undefined): Promise<void> {
  if (force) return;
  if (!process.stdin.isTTY) throw new Error(`${question}: not asked because stdin is not a terminal; pass --force to confirm`);
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  const answer = await rl.question(`${question} [y/N] `);
  rl.close();
  if (!/^y(es)?$/i.test(answer.trim())) throw new Error('aborted');
}

const formatOption = () => new Option('-f, --format <format>', 'output format').choices(['table', 'json']).default('table');

export function buildCtl(name: string): Command {
  const ctl = new Command(name)
    .description('operate a governor cluster')
    .option('-c, --config <file>', 'a member configuration file (for etcd and REST API credentials)')
    .option('--insecure', "do not verify the members' REST API certificates");

  ctl
    .command('list')
    .description('members, roles, states, timelines and lag')
    .addOption(formatOption())
    .action(async (options: { format: string }, command: Command) => {
      const ctl = await load(command);
      const { config } = ctl;
      const cluster = await readCluster(config);
      const rows = listRows(config.scope, cluster);
      if (options.format === 'json') console.log(JSON.stringify(rows));
      else console.log(formatTable(rows, `Cluster: ${config.scope}${cluster.config?.pause ? ' (paused)' : ''}`));
    });

  ctl
    .command('switchover')
    .description('planned handover of the master role to a replica')
    .option('--leader <name>', 'the current leader (checked)')
    .option('--candidate <name>', 'the replica to promote (default: the most advanced one)')
    .option('--scheduled <time>', 'ISO 8601 time at which to switch over')
    .option('--force', 'do not ask for confirmation')
    .action(async (options: { leader?: string; candidate?: string; scheduled?: string; force?: boolean }, command: Command) => {
      const ctl = await load(command);
      const { config } = ctl;
      const cluster = await readCluster(config);
      if (!cluster.leader) throw new Error('the cluster has no leader: use "failover --candidate NAME"');
      if (options.leader && options.leader !== cluster.leader.name) throw new Error(`--leader: ${options.leader} is not the current leader (${cluster.leader.name})`);
      if (options.candidate) memberNamed(cluster, options.candidate, '--candidate');
      if (options.scheduled && !Number.isFinite(Date.parse(options.scheduled))) throw new Error(`--scheduled: expected an ISO 8601 time, got ${JSON.stringify(options.scheduled)}`);
      const leader = memberNamed(cluster, cluster.leader.name, 'leader');
      await confirm(`Switch over from ${leader.name} to ${options.candidate ?? 'the best replica'}${options.scheduled ? ` at ${options.scheduled}` : ''}?`, options.force);
      const body: Record<string, string> = { leader: leader.name };
      if (options.candidate) body.candidate = options.candidate;
      if (options.scheduled) body.scheduled_at = options.scheduled;
      console.log(await callApi(ctl, leader, 'POST', '/switchover', body));
    });

  ctl
    .command('failover')
    .description('make a replica the master (also when the master is down)')
    .requiredOption('--candidate <name>', 'the replica to promote')
    .option('--force', 'do not ask for confirmation')
    .action(async (options: { candidate: string; force?: boolean }, command: Command) => {
      const ctl = await load(command);
      const { config } = ctl;
      const cluster = await readCluster(config);
      const candidate = memberNamed(cluster, options.candidate, '--candidate');
      await confirm(`Fail over to ${candidate.name}?`, options.force);
      console.log(await callApi(ctl, candidate, 'POST', '/failover', { candidate: candidate.name }));
    });

  ctl
    .command('restart')
    .description('restart PostgreSQL on the named members (default: all)')
    .argument('[members...]')
    .option('--force', 'do not ask for confirmation')
    .action(async (names: string[], options: { force?: boolean }, command: Command) => {
      const ctl = await load(command);
      const { config } = ctl;
      const cluster = await readCluster(config);
      const targets = names.length ? names.map((n) => memberNamed(cluster, n, 'members')) : cluster.members;
      await confirm(`Restart PostgreSQL on ${targets.map((m) => m.name).join(', ')}?`, options.force);
      for (const member of targets) console.log(`${member.name}: ${await callApi(ctl, member, 'POST', '/restart', {})}`);
    });

  ctl
    .command('reinit')
    .description('wipe a replica and clone it again from the master')
    .argument('<member>')
    .option('--force', 'do not ask for confirmation')
    .action(async (name: string, options: { force?: boolean }, command: Command) => {
      const ctl = await load(command);
      const { config } = ctl;
      const cluster = await readCluster(config);
      const member = memberNamed(cluster, name, 'member');
      if (cluster.leader?.name === name) throw new Error(`member: ${name} is the leader; switch over first`);
      await confirm(`Wipe the data of ${name} and clone it again?`, options.force);
      console.log(await callApi(ctl, member, 'POST', '/reinitialize', {}));
    });

  ctl
    .command('history')
    .description('timeline switches: when and to whom the master role moved')
    .addOption(formatOption())
    .action(async (options: { format: string }, command: Command) => {
      const cluster = await readCluster((await load(command)).config);
      const rows = historyRows(cluster.history);
      if (options.format === 'json') console.log(JSON.stringify(rows));
      else console.log(formatTable(rows));
    });

  ctl
    .command('show-config')
    .description('the dynamic configuration stored in etcd')
    .action(async (_options: unknown, command: Command) => {
      const ctl = await load(command);
      const { config } = ctl;
      const cluster = await readCluster(config);
      process.stdout.write(stringify(cluster.config ?? config.bootstrap.dcs));
    });

  return ctl;
}
