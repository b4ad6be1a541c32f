#!/usr/bin/env node
// `governor`: the daemon (`governor -c FILE`) and its subcommands.

import { Command, InvalidArgumentError, Option } from 'commander';
import { GOVERNOR_VERSION } from '../version.js';
import { explainRules } from '../ha/decide.js';
import { fail } from './errors.js';
import { buildCtl } from './governorctl-commands.js';
import { registerWalCommands } from './commands/wal.js';
import { registerBackupCommands } from './commands/backup.js';

/** The demo's module, loaded only by the demo commands (see the daemon action). */
const demoModule = () => import('./demo/demo.js');

function integer(name: string) {
  return (value: string) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError(`${name}: expected a positive integer, got ${JSON.stringify(value)}`);
    return n;
  };
}

export function buildGovernor(): Command {
  const program = new Command('governor')
    .description('Highly available PostgreSQL: one daemon per machine, master elected in etcd')
    .version(GOVERNOR_VERSION, '-V, --version')
    .option('-c, --config <file>', 'configuration file (YAML); environment variables override it', process.env.GOVERNOR_CONFIG)
    .action(async (options: { config?: string }) => {
      // Heavy modules (etcd3/gRPC, pg, the AWS SDK) load only for the command that needs them, so
      // wal-push and wal-fetch, which PostgreSQL runs once per segment, start fast.
      const { runDaemon } = await import('./daemon.js');
      await runDaemon(options.config ?? '/etc/governor/governor.yml');
    });

  program
    .command('rules')
    .description('print the HA rule table: each rule with its condition and the sentence it logs, in evaluation order')
    .action(() => console.log(explainRules()));

  program
    .command('config')
    .description('the effective configuration (file, environment, defaults, EC2 metadata) with secrets masked and where each value came from')
    .option('-c, --config <file>', 'configuration file (default: $GOVERNOR_CONFIG or /etc/governor/governor.yml)')
    .option('--print', 'print it (the only action so far)')
    .addOption(new Option('--format <format>', 'output format').choices(['yaml', 'json']).default('yaml'))
    .action(async (options: { print?: boolean; format: 'yaml' | 'json' }, command: Command) => {
      if (!options.print) throw new InvalidArgumentError('config: nothing to do; use "governor config --print"');
      const { config: file } = command.optsWithGlobals<{ config?: string }>();
      const { loadConfigWithImds } = await import('../config/load.js');
      const { printJson, printYaml } = await import('../config/print.js');
      const loaded = await loadConfigWithImds({ file: file ?? process.env.GOVERNOR_CONFIG ?? '/etc/governor/governor.yml' });
      process.stdout.write(options.format === 'json' ? printJson(loaded) : printYaml(loaded));
    });

  program
    .command('fence', { hidden: true })
    .description('internal: the write fence the daemon starts beside itself')
    .requiredOption('--data-dir <dir>')
    .action(async (options: { dataDir: string }) => (await import('../ha/fence.js')).runFence(options.dataDir));

  const demo = program.command('demo').description('a local cluster on 127.0.0.1 for trying governor out');
  demo
    .command('up')
    .description('start etcd and N members; returns once there is one master and N-1 streaming replicas')
    .requiredOption('--dir <dir>', 'directory for data, configs and logs')
    .option('--nodes <n>', 'number of members', integer('--nodes'), 3)
    .option('--port-base <port>', 'first port of a consecutive range (default: free ports)', integer('--port-base'))
    .option('--timeout <seconds>', 'how long to wait for the cluster', integer('--timeout'), 120)
    .option('--archive <url>', 'WAL archive and backups: s3://bucket/prefix (AWS_* variables for endpoint, region, credentials) or file:///path (default DIR/archive)')
    .option('--no-archive', 'run without WAL archiving')
    .option('--tls-dir <dir>', 'etcd (client certificates), REST APIs and PostgreSQL over TLS with ca.crt, server.crt/key (for 127.0.0.1) and client.crt/key from DIR')
    .option('--ttl <seconds>', 'leader key TTL (default 5; at least loop_wait 1 + 2 * retry_timeout 2)', integer('--ttl'))
    .option('--netns', 'each member in its own network namespace (root; etcd on a bridge, clients on a link per member), so "demo partition" can cut one off; the archive must be file:// or reachable from the namespaces')
    .action(async (options: { dir: string; nodes: number; portBase?: number; timeout: number; archive?: string | false; tlsDir?: string; ttl?: number; netns?: boolean }) => {
      if (typeof options.archive === 'string' && !/^(s3:\/\/[^/]+|file:\/\/\/)/.test(options.archive)) {
        throw new InvalidArgumentError(`--archive: expected s3://bucket/prefix or file:///path, got ${JSON.stringify(options.archive)}`);
      }
      const manifest = await (await demoModule()).demoUp({ dir: options.dir, nodes: options.nodes, portBase: options.portBase, timeoutMs: options.timeout * 1000, archive: options.archive, tlsDir: options.tlsDir, ttl: options.ttl, netns: options.netns });
      console.log(JSON.stringify(manifest));
    });
  demo
    .command('stop-node')
    .description("stop one member's governor (SIGTERM; it stops its PostgreSQL), keeping its data")
    .requiredOption('--dir <dir>')
    .argument('<name>')
    .action(async (name: string, options: { dir: string }) => (await demoModule()).demoStopNode(options.dir, name));
  demo
    .command('start-node')
    .description("start one member's governor again")
    .requiredOption('--dir <dir>')
    .argument('<name>')
    .action(async (name: string, options: { dir: string }) => {
      console.log(JSON.stringify(await (await demoModule()).demoStartNode(options.dir, name)));
    });
  demo
    .command('partition')
    .description('cut one member off from etcd and from the other members (needs demo up --netns); clients still reach it')
    .requiredOption('--dir <dir>')
    .argument('<name>')
    .action(async (name: string, options: { dir: string }) => (await demoModule()).demoPartition(options.dir, name));
  demo
    .command('heal')
    .description('undo "demo partition" for one member')
    .requiredOption('--dir <dir>')
    .argument('<name>')
    .action(async (name: string, options: { dir: string }) => (await demoModule()).demoHeal(options.dir, name));
  demo
    .command('status')
    .requiredOption('--dir <dir>')
    .action(async (options: { dir: string }) => {
      console.log(JSON.stringify(await (await demoModule()).demoStatus(options.dir), null, 2));
    });
  demo
    .command('down')
    .description('stop everything the demo started, by PID')
    .requiredOption('--dir <dir>')
    .action(async (options: { dir: string }) => {
      for (const line of await (await demoModule()).demoDown(options.dir)) console.log(`stopped ${line}`);
    });

  registerWalCommands(program);
  registerBackupCommands(program);
  program.addCommand(buildCtl('ctl'));
  return program;
}

const invokedAs = (process.argv[1] ?? '').split('/').pop() ?? '';
const program = invokedAs.startsWith('governorctl') ? buildCtl('governorctl') : buildGovernor();
program.parseAsync(process.argv).catch(fail);
