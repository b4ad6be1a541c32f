// `governor backup-push | backup-list | backup-fetch | backup-delete | restore`.
// -c/--config is also the program's own option, which commander hands the value to wherever it
// appears: read it with optsWithGlobals().

import path from 'node:path';
import { type Command, InvalidArgumentError, Option } from 'commander';
import type { GovernorConfig } from '../../config/types.js';
import { createLogger, registerSecret, type Logger } from '../../log/logger.js';
import { fail } from '../errors.js';
import { governorCommand } from '../self.js';

const DEFAULT_CONFIG = '/etc/governor/governor.yml';

interface ConfigOption {
  config?: string;
}

async function setup(options: ConfigOption, component: string): Promise<{ config: GovernorConfig; configFile: string; logger: Logger }> {
  const { loadConfigWithImds } = await import('../../config/load.js');
  const configFile = path.resolve(options.config || process.env.GOVERNOR_CONFIG || DEFAULT_CONFIG);
  const { config } = await loadConfigWithImds({ file: configFile });
  registerSecret(config.archive?.s3.secret_access_key);
  registerSecret(config.archive?.s3.access_key_id);
  const logger = createLogger({ level: config.log.level, cluster: config.scope, member: config.name, component });
  return { config, configFile, logger };
}

async function storageFor(config: GovernorConfig, logger: Logger) {
  const { archiveSettings } = await import('../../archive/backup-push.js');
  const { openStorage } = await import('../../archive/storage/index.js');
  return openStorage(archiveSettings(config), logger);
}

function positiveInteger(name: string) {
  return (value: string) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError(`${name}: expected a positive integer, got ${JSON.stringify(value)}`);
    return n;
  };
}

const configOption = () => new Option('-c, --config <file>', `configuration file (default: $GOVERNOR_CONFIG or ${DEFAULT_CONFIG})`);

/** Run an action; any error is one clear line on stderr and a non-zero exit. */
function action<A extends unknown[]>(fn: (...args: A) => Promise<void>) {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (error) {
      fail(error);
    }
    process.exit(0);
  };
}

export function registerBackupCommands(program: Command): void {
  program
    .command('backup-push')
    .description('take a base backup of the local PostgreSQL (master or replica) into the archive storage, without stopping it')
    .addOption(configOption())
    .action(action(async (_options: ConfigOption, command: Command) => {
      const { config, logger } = await setup(command.optsWithGlobals<ConfigOption>(), 'backup-push');
      const { backupPush } = await import('../../archive/backup-push.js');
      const sentinel = await backupPush({ config, logger });
      console.log(sentinel.name);
    }));

  program
    .command('backup-list')
    .description('list the complete base backups in the archive storage, oldest first')
    .addOption(configOption())
    .addOption(new Option('--format <format>', 'output format').choices(['table', 'json']).default('table'))
    .action(action(async (_options: unknown, command: Command) => {
      const options = command.optsWithGlobals<ConfigOption & { format: 'table' | 'json' }>();
      const { config, logger } = await setup(options, 'backup-list');
      const { formatBackupTable, listBackups } = await import('../../archive/backup-list.js');
      const backups = await listBackups(await storageFor(config, logger));
      process.stdout.write(options.format === 'json' ? JSON.stringify(backups, null, 2) + '\n' : formatBackupTable(backups));
    }));

  program
    .command('backup-fetch')
    .description('download a base backup, verify it and unpack it into DIR (empty or absent; owned by the PostgreSQL user)')
    .addOption(configOption())
    .argument('<dir>', 'target directory')
    .argument('<name>', 'backup name, or LATEST')
    .action(action(async (dir: string, name: string, _options: unknown, command: Command) => {
      const { config, logger } = await setup(command.optsWithGlobals<ConfigOption>(), 'backup-fetch');
      const { chooseBackup, loadCatalogue } = await import('../../archive/sentinel.js');
      const { fetchBackup } = await import('../../archive/backup-fetch.js');
      const { resolvePgUser } = await import('../../postgres/exec.js');
      const storage = await storageFor(config, logger);
      const sentinel = chooseBackup((await loadCatalogue(storage)).complete, name);
      const user = await resolvePgUser(config.postgresql.run_as_user);
      const result = await fetchBackup({ storage, sentinel, dir, user, logger });
      console.log(`fetched ${sentinel.name} into ${path.resolve(dir)}: ${result.files} files, ${result.bytes} bytes in ${(result.ms / 1000).toFixed(1)} s`);
    }));

  program
    .command('backup-delete')
    .description('retention: keep the newest N complete base backups, delete older ones and the WAL they alone needed')
    .addOption(configOption())
    .requiredOption('--retain <n>', 'complete base backups to keep', positiveInteger('--retain'))
    .option('--confirm', 'really delete (without it, only print what would be deleted)', false)
    .action(action(async (_options: unknown, command: Command) => {
      const options = command.optsWithGlobals<ConfigOption & { retain: number; confirm: boolean }>();
      const { config, logger } = await setup(options, 'backup-delete');
      const { deleteOldBackups, describePlan } = await import('../../archive/backup-delete.js');
      const plan = await deleteOldBackups({ storage: await storageFor(config, logger), retain: options.retain, confirm: options.confirm, logger });
      const prefix = options.confirm ? '' : 'would ';
      for (const line of describePlan(plan)) console.log(line.startsWith('delete') ? prefix + line : line);
      if (!options.confirm && (plan.deleteBackups.length || plan.deleteIncomplete.length || plan.deleteWal.length)) {
        console.log('(dry run: add --confirm to delete)');
      }
    }));

  program
    .command('restore')
    .description('restore a base backup into DIR and replay archived WAL up to a target (point-in-time recovery)')
    .addOption(configOption())
    .requiredOption('--dir <dir>', 'target directory (empty or absent)')
    .option('--backup <name>', 'base backup name or LATEST (default: the newest that finished before the target)')
    .option('--target-time <timestamp>', 'recover up to this time (ISO 8601; UTC when no zone is given)')
    .option('--target-lsn <lsn>', 'recover up to this WAL position (e.g. 0/3000060)')
    .addOption(new Option('--target-action <action>', 'what PostgreSQL does at the target').choices(['promote', 'pause', 'shutdown']).default('promote'))
    .option('--target-exclusive', 'stop just before the target instead of just after it (recovery_target_inclusive = off)', false)
    .option('--no-start', 'only prepare DIR; do not start PostgreSQL to replay WAL')
    .option('--timeout <seconds>', 'how long to wait for recovery to reach the target', positiveInteger('--timeout'), 86_400)
    .action(action(async (_options: unknown, command: Command) => {
      const options = command.optsWithGlobals<ConfigOption & {
        dir: string; backup?: string; targetTime?: string; targetLsn?: string; targetAction: 'promote' | 'pause' | 'shutdown';
        targetExclusive: boolean; start: boolean; timeout: number;
      }>();
      const { config, configFile, logger } = await setup(options, 'restore');
      const { describeRestore, parseTargetTime, restore } = await import('../../archive/restore.js');
      if (options.targetTime && options.targetLsn) throw new Error('give --target-time or --target-lsn, not both');
      const time = options.targetTime ? parseTargetTime(options.targetTime) : null;
      const result = await restore({
        config, configFile, governorArgv: governorCommand(), logger, dir: options.dir, backup: options.backup, start: options.start,
        timeoutMs: options.timeout * 1000,
        target: {
          time: time?.pg, timeDate: time?.date, lsn: options.targetLsn, inclusive: !options.targetExclusive, action: options.targetAction,
        },
      });
      console.log(describeRestore(result));
    }));
}
