// `governor wal-push` (archive_command), `governor wal-fetch` (restore_command) and the hidden
// `governor wal-prefetch` child that wal-fetch starts. PostgreSQL reads only the exit status:
// 0 = done; wal-fetch exits 1 for "not in the archive"; every error is non-zero and at most 2
// (above 125 PostgreSQL would take it for fatal), with one short line on stderr.

import { spawn } from 'node:child_process';
import path from 'node:path';
import type { Command } from 'commander';
import type { GovernorConfig } from '../../config/types.js';
import { createLogger, registerSecret, type Logger } from '../../log/logger.js';
import { fail } from '../errors.js';
import { governorCommand } from '../self.js';

const DEFAULT_CONFIG = '/etc/governor/governor.yml';

interface ConfigOption {
  config?: string;
}
// `-c` is also the daemon's option on the program itself, and commander hands it to whichever
// command defines it first; optsWithGlobals() sees it either way.

async function setup(options: ConfigOption, component: string): Promise<{ config: GovernorConfig; configFile: string; logger: Logger }> {
  // PostgreSQL logs our stderr on every call: the AWS SDK's multi-line Node 20 notice would drown the one line that matters.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  // PostgreSQL's environment carries no configuration, only the file governor wrote it into.
  const { applyEnvFile } = await import('../../postgres/postmaster-env.js');
  applyEnvFile(process.env);
  const { loadConfigWithImds } = await import('../../config/load.js');
  const configFile = path.resolve(options.config ?? process.env.GOVERNOR_CONFIG ?? DEFAULT_CONFIG);
  const { config } = await loadConfigWithImds({ file: configFile });
  registerSecret(config.archive?.s3.secret_access_key);
  registerSecret(config.archive?.s3.access_key_id);
  const logger = createLogger({ level: config.log.level, cluster: config.scope, member: config.name, component });
  return { config, configFile, logger };
}

/** Start `governor wal-prefetch` detached: it outlives this wal-fetch, and restore never waits for it. */
function spawnPrefetcher(configFile: string, names: string[]): void {
  const [command, ...args] = governorCommand();
  const child = spawn(command!, [...args, 'wal-prefetch', '-c', configFile, ...names], { detached: true, stdio: 'ignore', cwd: '/' });
  child.on('error', () => undefined);
  child.unref();
}

function exit(code: number): never {
  process.exit(code);
}

export function registerWalCommands(program: Command): void {
  program
    .command('wal-push')
    .description('archive_command: store one WAL file (%p) compressed and verified; exit 0 only once it is safely stored')
    .option('-c, --config <file>', `configuration file (default: $GOVERNOR_CONFIG or ${DEFAULT_CONFIG})`)
    .argument('<path>', 'the WAL file, %p (relative to the data directory)')
    .action(async (file: string, _options: ConfigOption, command: Command) => {
      try {
        const { config, logger } = await setup(command.optsWithGlobals<ConfigOption>(), 'wal-push');
        const { walPush } = await import('../../archive/wal-push.js');
        await walPush({ config, file, logger });
      } catch (error) {
        fail(error);
      }
      exit(0);
    });

  program
    .command('wal-fetch')
    .description('restore_command: fetch WAL file %f from the archive into %p (exit 1 when the archive does not hold it)')
    .option('-c, --config <file>', `configuration file (default: $GOVERNOR_CONFIG or ${DEFAULT_CONFIG})`)
    .argument('<name>', 'the WAL file name, %f')
    .argument('<path>', 'where to write it, %p (relative to the data directory)')
    .action(async (name: string, dest: string, _options: ConfigOption, command: Command) => {
      let outcome: 'restored' | 'missing';
      try {
        const { config, configFile, logger } = await setup(command.optsWithGlobals<ConfigOption>(), 'wal-fetch');
        const { walFetch } = await import('../../archive/wal-fetch.js');
        outcome = await walFetch({ config, name, dest, logger, startPrefetch: (names) => spawnPrefetcher(configFile, names) });
      } catch (error) {
        fail(error);
      }
      exit(outcome === 'restored' ? 0 : 1);
    });

  program
    .command('wal-uploader', { hidden: true })
    .description('internal: upload .ready WAL files ahead of archive_command (the daemon starts it as the PostgreSQL user)')
    .option('-c, --config <file>')
    .option('--concurrency <n>', 'uploads at a time in this process (default archive.upload_concurrency)')
    .action(async (_options: ConfigOption, command: Command) => {
      try {
        const options = command.optsWithGlobals<ConfigOption & { concurrency?: string }>();
        const concurrency = options.concurrency === undefined ? undefined : Number(options.concurrency);
        if (concurrency !== undefined && (!Number.isInteger(concurrency) || concurrency < 1)) {
          throw new Error(`wal-uploader: --concurrency must be a positive integer, got ${JSON.stringify(options.concurrency)}`);
        }
        const { config, logger } = await setup(options, 'wal-uploader');
        const { WalUploader } = await import('../../archive/wal-uploader.js');
        const uploader = new WalUploader({ config, logger, concurrency });
        await uploader.start();
        const parent = process.ppid;
        await new Promise<void>((resolve) => {
          process.once('SIGTERM', resolve);
          process.once('SIGINT', resolve);
          // The daemon is gone (killed): a new one starts its own uploader, so this one leaves.
          const watchParent = setInterval(() => process.ppid !== parent && resolve(), 1000);
          process.once('exit', () => clearInterval(watchParent));
        });
        await uploader.stop();
      } catch (error) {
        fail(error);
      }
      exit(0);
    });

  program
    .command('wal-prefetch', { hidden: true })
    .description('internal: fetch these segments into the prefetch spool (started by wal-fetch)')
    .option('-c, --config <file>')
    .argument('<names...>')
    .action(async (names: string[], _options: ConfigOption, command: Command) => {
      try {
        const { config, logger } = await setup(command.optsWithGlobals<ConfigOption>(), 'wal-prefetch');
        const { runPrefetch } = await import('../../archive/wal-fetch.js');
        await runPrefetch({ config, names, logger });
      } catch (error) {
        fail(error);
      }
      exit(0);
    });
}
