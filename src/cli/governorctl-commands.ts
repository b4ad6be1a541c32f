// governorctl's commands: read the cluster from etcd, act through the members' REST APIs.

import { Command } from 'commander';
import { stringify } from 'yaml';
import type { GovernorConfig } from '../config/types.js';
import type { ClusterView } from '../dcs/types.js';
import { archiveFooter, archiveStateFromMetrics, type MemberArchiveState } from './ctl-archive.js';
import { callApi, confirm, formatOption, load, memberNamed, readCluster, readMemberPublic, restartAndWait } from './ctl-common.js';
import { formatTable, historyRows, listFooter, listRows, parseScheduledTime } from './ctl-format.js';
import { addMaintenanceCommands, cancelScheduledSwitchover } from './governorctl-maintenance.js';

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
      const config = (await load(command));
      const cluster = await readCluster(config);
      const archive = await archiveStates(config, cluster);
      const rows = listRows(config.scope, cluster, archive);
      if (options.format === 'json') console.log(JSON.stringify(rows));
      else console.log([formatTable(rows, `Cluster: ${config.scope}`), ...listFooter(cluster), ...archiveFooter(archive)].join('\n'));
    });

  ctl
    .command('switchover')
    .description('planned handover of the master role to a replica, now or at a scheduled time')
    .option('--leader <name>', 'the current leader (checked)')
    .option('--candidate <name>', 'the replica to promote (default: the most advanced one)')
    .option('--scheduled <time>', "ISO 8601 time at which to switch over, or 'now'")
    .option('--cancel', 'cancel the scheduled switchover (same as "flush switchover")')
    .option('--force', 'do not ask for confirmation')
    .action(async (options: { leader?: string; candidate?: string; scheduled?: string; cancel?: boolean; force?: boolean }, command: Command) => {
      const config = (await load(command));
      if (options.cancel) {
        if (options.candidate || options.scheduled || options.leader) throw new Error('--cancel: takes no --leader, --candidate or --scheduled');
        return cancelScheduledSwitchover(config, options.force);
      }
      const cluster = await readCluster(config);
      if (!cluster.leader) throw new Error('the cluster has no leader: use "failover --candidate NAME"');
      if (options.leader && options.leader !== cluster.leader.name) throw new Error(`--leader: ${options.leader} is not the current leader (${cluster.leader.name})`);
      if (options.candidate) memberNamed(cluster, options.candidate, '--candidate');
      const scheduledAt = parseScheduledTime(options.scheduled, new Date());
      const leader = memberNamed(cluster, cluster.leader.name, 'leader');
      await confirm(`Switch over from ${leader.name} to ${options.candidate ?? 'the best replica'}${scheduledAt ? ` at ${scheduledAt}` : ''}?`, options.force);
      const body: Record<string, string> = { leader: leader.name };
      if (options.candidate) body.candidate = options.candidate;
      if (scheduledAt) body.scheduled_at = scheduledAt;
      console.log(await callApi(config, leader, 'POST', '/switchover', body));
    });

  ctl
    .command('failover')
    .description('make a replica the master (also when the master is down)')
    .requiredOption('--candidate <name>', 'the replica to promote')
    .option('--force', 'do not ask for confirmation')
    .action(async (options: { candidate: string; force?: boolean }, command: Command) => {
      const config = (await load(command));
      const cluster = await readCluster(config);
      const candidate = memberNamed(cluster, options.candidate, '--candidate');
      await confirm(`Fail over to ${candidate.name}?`, options.force);
      console.log(await callApi(config, candidate, 'POST', '/failover', { candidate: candidate.name }));
    });

  ctl
    .command('restart')
    .description('restart PostgreSQL on the named members (default: all)')
    .argument('[members...]')
    .option('--pending', 'only members whose PostgreSQL has a parameter change pending a restart')
    .option('--force', 'do not ask for confirmation')
    .action(async (names: string[], options: { pending?: boolean; force?: boolean }, command: Command) => {
      const config = (await load(command));
      const cluster = await readCluster(config);
      let targets = names.length ? names.map((n) => memberNamed(cluster, n, 'members')) : cluster.members;
      if (options.pending) targets = targets.filter((m) => m.pending_restart);
      // Replicas first: a replica must never run with a smaller max_connections (or similar) than its master.
      targets = [...targets].sort((a, b) => Number(a.name === cluster.leader?.name) - Number(b.name === cluster.leader?.name));
      if (targets.length === 0) {
        console.log(options.pending ? 'no member has a restart pending' : 'no members');
        return;
      }
      await confirm(`Restart PostgreSQL on ${targets.map((m) => m.name).join(', ')}?`, options.force);
      for (const member of targets) console.log(`${member.name}: ${await restartAndWait(config, member, 120_000)}`);
    });

  ctl
    .command('reinit')
    .description("clone a replica again from the master: its data directory is moved aside (renamed beside it), or removed if there is no room")
    .argument('<member>')
    .option('--force', 'do not ask for confirmation')
    .action(async (name: string, options: { force?: boolean }, command: Command) => {
      const config = (await load(command));
      const cluster = await readCluster(config);
      const member = memberNamed(cluster, name, 'member');
      if (cluster.leader?.name === name) throw new Error(`member: ${name} is the leader; switch over first`);
      await confirm(`Move the data directory of ${name} aside (remove it if there is no room) and clone it again?`, options.force);
      console.log(await callApi(config, member, 'POST', '/reinitialize', {}));
    });

  ctl
    .command('history')
    .description('timeline switches: when and to whom the master role moved')
    .addOption(formatOption())
    .action(async (options: { format: string }, command: Command) => {
      const cluster = await readCluster((await load(command)));
      const rows = historyRows(cluster.history);
      if (options.format === 'json') console.log(JSON.stringify(rows));
      else console.log(formatTable(rows));
    });

  ctl
    .command('show-config')
    .description('the dynamic configuration stored in etcd')
    .action(async (_options: unknown, command: Command) => {
      const config = (await load(command));
      const cluster = await readCluster(config);
      process.stdout.write(stringify(cluster.config ?? config.bootstrap.dcs));
    });

  addMaintenanceCommands(ctl);
  return ctl;
}

/** How long `list` waits for a member's /metrics: a member that is down must not hold the table long. */
const METRICS_TIMEOUT_MS = 1500;

/** Each member's WAL archiving state, from the members' /metrics in parallel (members that do not answer are left out). */
async function archiveStates(config: GovernorConfig, cluster: ClusterView): Promise<Map<string, MemberArchiveState>> {
  const states = await Promise.all(cluster.members.map(async (member) => {
    const text = await readMemberPublic(config, member, '/metrics', METRICS_TIMEOUT_MS);
    const state = text === null ? null : archiveStateFromMetrics(text);
    return state ? ([member.name, state] as const) : null;
  }));
  return new Map(states.filter((s): s is readonly [string, MemberArchiveState] => s !== null));
}
