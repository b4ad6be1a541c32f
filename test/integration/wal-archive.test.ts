// Real PostgreSQL 15 archiving through `governor wal-push` and restoring through `governor wal-fetch`,
// once per storage backend (file, s3rver): no segment lost, no gap, idempotent, refuses conflicts,
// survives an unavailable storage; on file storage also prefetch, and a base backup replaying the
// archive to the end.
import assert from 'node:assert/strict';
import { chmod, copyFile, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { openStorage } from '../../src/archive/storage/index.js';
import type { Storage } from '../../src/archive/types.js';
import { prefetchDirectory, segmentsAfter } from '../../src/archive/wal-fetch.js';
import { WalUploaderProcess } from '../../src/archive/wal-uploader-process.js';
import { createLogger } from '../../src/log/logger.js';
import { createPostgresController, sidecarPaths } from '../../src/postgres/controller.js';
import { resolvePgUser, runPgBinary } from '../../src/postgres/exec.js';
import { archiveCommands } from '../../src/postgres/render.js';
import type { PostgresController } from '../../src/postgres/types.js';
import { GOVERNOR_JS, runGovernor } from '../helpers/cluster.js';
import { startTestS3, type TestS3 } from '../helpers/s3.js';
import { cleanupPg, makePgTestRoot, pgPort, pgQuery, PG_BIN_DIR, waitFor } from '../helpers/postgres.js';
import { sleep } from '../../src/util/time.js';
import {
  archivedNames, archiverStats, archivingMember, gaps, generateWal, pgOwnedDir, readyFiles, startArchivingPrimary, storedObject,
  waitArchived, writeConfigFile, type ArchivingMember,
} from '../helpers/wal-archive.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'; // the SDK's Node 20 notice

const logger = createLogger({
  level: 'info',
  write: (line) => {
    if (process.env.GOVERNOR_TEST_VERBOSE) process.stderr.write(line + '\n');
  },
});

let root = '';
let archiveDir = '';
let a: ArchivingMember;
let storage: Storage;
let restored: PostgresController | null = null;
const configs: ArchivingMember['config'][] = [];

before(async () => {
  root = await makePgTestRoot('governor-wal-');
  archiveDir = await pgOwnedDir(path.join(root, 'archive'));
  const member = await archivingMember(root, 'a', `file://${archiveDir}`, { upload_concurrency: 4, prefetch: 4 });
  configs.push(member.config);
  a = await startArchivingPrimary(member, logger.child('pg-a'));
  storage = openStorage(a.config.archive!, logger);
});

after(async () => {
  await a?.pg.close().catch(() => undefined);
  await restored?.close().catch(() => undefined);
  await cleanupPg(root, configs);
});

/** A pg_wal beside a PG_VERSION under root/NAME: where wal-fetch may restore to (as during a restore). */
async function restoreDir(name: string): Promise<string> {
  await pgOwnedDir(path.join(root, name));
  await writeFile(path.join(root, name, 'PG_VERSION'), '15\n');
  return pgOwnedDir(path.join(root, name, 'pg_wal'));
}

/** A second data directory root/NAME whose pg_wal wal-push may archive from (wal-push archives only
 *  postgresql.data_dir's own pg_wal), with a configuration file naming it. */
async function scratchMember(name: string): Promise<{ pgWal: string; configFile: string }> {
  const pgWal = await pgOwnedDir(path.join(root, name, 'pg_wal'));
  const configFile = path.join(root, name, 'governor.yml');
  await writeConfigFile(configFile, { ...a.config, postgresql: { ...a.config.postgresql, data_dir: path.join(root, name) } });
  return { pgWal, configFile };
}

const pgWal = (name = '') => path.join(a.config.postgresql.data_dir, 'pg_wal', name);
const inPgWal = async () => (await readdir(pgWal())).filter((n) => /^[0-9A-F]{24}$/.test(n));
const logLine = (stderr: string, msg: string) =>
  stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>).find((r) => r.msg === msg);

/** A storage backend the archiving scenario runs against. `use` points member a (its
 *  configuration file, hence every wal-push and wal-fetch) at it; `outage` makes it unavailable to
 *  wal-push, and the function it returns brings a storage back and points a at it. */
interface WalBackend {
  id: string;
  name: string;
  use: () => Promise<Storage>;
  outage: () => Promise<{ storageReadable: boolean; back: () => Promise<Storage> }>;
  /** Credentials that must never appear in a message (none for file storage). */
  secret: RegExp | null;
  close: () => Promise<void>;
}

async function pointAt(archive: Partial<NonNullable<ArchivingMember['config']['archive']>>): Promise<Storage> {
  Object.assign(a.config.archive!, archive);
  await writeConfigFile(a.configFile, a.config);
  storage = openStorage(a.config.archive!, logger);
  return storage;
}

const fileBackend: WalBackend = {
  id: 'file',
  name: 'file storage',
  use: async () => storage,
  outage: async () => {
    await chmod(path.join(archiveDir, 'wal'), 0o555);
    await chmod(archiveDir, 0o555);
    return {
      storageReadable: true,
      back: async () => {
        await chmod(archiveDir, 0o755);
        await chmod(path.join(archiveDir, 'wal'), 0o755);
        return storage;
      },
    };
  },
  secret: null,
  close: async () => undefined,
};

/** s3rver; its outage is the server gone, and what comes back is a new server with an empty bucket. */
function s3Backend(): WalBackend {
  const servers: TestS3[] = [];
  const useServer = async () => {
    const server = await startTestS3();
    servers.push(server);
    return pointAt({ storage: `${server.url}/cluster-a`, s3: server.archiveS3 });
  };
  return {
    id: 's3',
    name: 's3 storage (s3rver)',
    use: useServer,
    outage: async () => {
      await servers.pop()!.stop();
      return { storageReadable: false, back: useServer };
    },
    secret: /S3RVER/,
    close: async () => {
      for (const server of servers) await server.stop().catch(() => undefined);
    },
  };
}

/** Archived with no gap, idempotent, refuses conflicts, fetched byte-identical; an outage leaves
 *  .ready and nothing is lost. */
function archivingScenario(backend: WalBackend): void {
  describe(backend.name, () => {
    before(async () => {
      await backend.use();
    });
    after(async () => {
      await backend.close();
    });

    test('every segment PostgreSQL completes is in storage, verified, with no gap', async () => {
      const from = await generateWal(a.config, 0.1);
      let last = await generateWal(a.config, 24);
      for (let i = 0; i < 2; i++) last = await generateWal(a.config, 0.1);
      await waitArchived(a.config, last);
      const names = await archivedNames(storage);
      assert.ok(names.includes(from) && names.includes(last), `${from} and ${last} archived: ${names.join(' ')}`);
      assert.deepEqual(gaps(names), [], `no gap in ${names.join(' ')}`);
      assert.ok(names.filter((n) => /^[0-9A-F]{24}$/.test(n)).length >= 4);
      for (const name of (await inPgWal()).filter((n) => names.includes(n))) {
        const { object } = await storedObject(storage, name);
        assert.equal(object.metadata['raw-size'], String(16 << 20));
        assert.match(object.metadata.sha256 ?? '', /^[0-9a-f]{64}$/);
      }
    });

    test('pushing the same segment again succeeds; other content under that name is refused, under any codec', async () => {
      const { pgWal: scratch, configFile: scratchConfig } = await scratchMember(`scratch-${backend.id}`);
      const archived = new Set(await archivedNames(storage));
      const name = (await inPgWal()).find((n) => archived.has(n))!;
      assert.ok(name, 'an archived segment is still in pg_wal');
      const copy = path.join(scratch, name);
      await copyFile(pgWal(name), copy);
      for (let i = 0; i < 2; i++) {
        const again = await runGovernor(['wal-push', '-c', scratchConfig, copy]);
        assert.equal(again.code, 0, again.stderr);
      }
      const before = await storedObject(storage, name);

      const content = await readFile(copy);
      content[1000] ^= 0xff;
      await writeFile(copy, content);
      const conflict = await runGovernor(['wal-push', '-c', scratchConfig, copy]);
      assert.notEqual(conflict.code, 0);
      assert.match(conflict.stderr, new RegExp(`archive already holds a different ${name}.*refusing to overwrite; check whether two clusters write to the same storage`));
      if (backend.secret) assert.doesNotMatch(conflict.stderr, backend.secret, 'no credentials in messages');
      assert.deepEqual(await storedObject(storage, name), before, 'the stored object is untouched');

      // An object stored under another codec's extension counts as well.
      const foreign = '0000000100000000000000F0';
      await storage.put(`wal/${foreign}.br`, Buffer.from('not this segment'), { metadata: { sha256: 'f'.repeat(64), 'raw-size': '16' } });
      await writeFile(path.join(scratch, foreign), content);
      const otherCodec = await runGovernor(['wal-push', '-c', scratchConfig, path.join(scratch, foreign)]);
      assert.notEqual(otherCodec.code, 0);
      assert.match(otherCodec.stderr, new RegExp(`archive already holds a different ${foreign}`));
      await storage.delete([`wal/${foreign}.br`]);
    });

    test('wal-fetch brings an archived segment back byte-identical', async () => {
      const archived = new Set(await archivedNames(storage));
      const name = (await inPgWal()).find((n) => archived.has(n))!;
      assert.ok(name, 'an archived segment is still in pg_wal');
      const fetched = path.join(await restoreDir(`fetched-one-${backend.id}`), 'RECOVERYXLOG');
      const fetch = await runGovernor(['wal-fetch', '-c', a.configFile, name, fetched]);
      assert.equal(fetch.code, 0, fetch.stderr);
      assert.ok((await readFile(fetched)).equals(await readFile(pgWal(name))), `${name} byte-identical from ${backend.name}`);
    });

    test('storage unavailable: wal-push fails and the segment stays .ready; once back, all is archived with no gap', async () => {
      const failedBefore = (await archiverStats(a.config)).failed_count;
      const outage = await backend.outage();
      let stuck: string;
      let back: Storage | null = null;
      try {
        stuck = await generateWal(a.config, 0.1);
        await waitFor('wal-push to fail', async () => (await archiverStats(a.config)).failed_count > failedBefore, 60_000, 100);
        assert.equal((await archiverStats(a.config)).last_failed_wal, stuck);
        assert.ok((await readyFiles(a.config)).includes(stuck), `${stuck}.ready stays`);
        await readFile(pgWal(stuck)); // and the segment itself
        if (outage.storageReadable) assert.ok(!(await archivedNames(storage)).includes(stuck));
      } finally {
        back = await outage.back();
      }
      const next = await generateWal(a.config, 0.1); // the new .ready wakes the archiver at once
      await waitArchived(a.config, next, 90_000);
      const names = await archivedNames(back);
      assert.ok(names.includes(stuck) && names.includes(next));
      assert.deepEqual(gaps(names), []);
    });
  });
}

const BACKENDS: WalBackend[] = [fileBackend, s3Backend()];

for (const backend of BACKENDS) {
  archivingScenario(backend);
  // Prefetch, restore from a base backup and the daemon's uploader, on the file storage the
  // scenario left behind (no S3 counterpart yet).
  if (backend === fileBackend) fileStorageTests();
}

function fileStorageTests(): void {
  test('wal-fetch: missing exits 1, archived comes back byte-identical, prefetch turns the next call into a rename', async () => {
    const out = await restoreDir('fetched');
    const missing = await runGovernor(['wal-fetch', '-c', a.configFile, '0000000100000000000000FE', path.join(out, 'RECOVERYXLOG')]);
    assert.equal(missing.code, 1, missing.stderr);
    await assert.rejects(readFile(path.join(out, 'RECOVERYXLOG')));

    const archived = new Set(await archivedNames(storage));
    const local = (await inPgWal()).filter((n) => archived.has(n));
    const first = local.find((n) => segmentsAfter(n, 3).every((m) => archived.has(m)))!;
    assert.ok(first, `three archived segments in a row among ${local.join(' ')}`);
    const [second, third, fourth] = segmentsAfter(first, 3) as [string, string, string];

    const timed = async (name: string) => {
      const started = Date.now();
      const result = await runGovernor(['wal-fetch', '-c', a.configFile, name, path.join(out, 'RECOVERYXLOG')]);
      const wallMs = Date.now() - started;
      assert.equal(result.code, 0, result.stderr);
      const line = logLine(result.stderr, 'WAL restored')!;
      const expected = await readFile(pgWal(name)).catch(() => null);
      if (expected) assert.ok(expected.equals(await readFile(path.join(out, 'RECOVERYXLOG'))), `${name} byte-identical`);
      return { wallMs, ms: line.ms as number, source: line.source as string };
    };
    const fromStorage = await timed(first);
    assert.equal(fromStorage.source, 'storage');

    const prefetchDir = prefetchDirectory(a.config.archive!.spool_dir, a.config.archive!.storage);
    await waitFor(`${second} prefetched`, async () => (await readdir(prefetchDir)).includes(second), 20_000, 50);
    const fromPrefetch = await timed(second);
    assert.equal(fromPrefetch.source, 'prefetch');
    console.log(`wal-fetch ${first} from storage: ${fromStorage.ms} ms inside, ${fromStorage.wallMs} ms wall-clock; ` +
      `${second} from the prefetch spool: ${fromPrefetch.ms} ms inside, ${fromPrefetch.wallMs} ms wall-clock (node start-up included)`);

    // Asking past a prefetched segment drops it (replay never goes back).
    await waitFor(`${third} prefetched`, async () => (await readdir(prefetchDir)).includes(third), 20_000, 50);
    await timed(fourth);
    assert.ok(!(await readdir(prefetchDir)).includes(third), `${third} removed once ${fourth} was asked for`);
  });

  test('restore: a base backup (-X none) replays the archived WAL to the end', async () => {
    const user = await resolvePgUser(null);
    const bDir = await pgOwnedDir(path.join(root, 'b'));
    const bData = path.join(bDir, 'data');
    const { replication } = a.config.postgresql.authentication;
    const backup = await runPgBinary(PG_BIN_DIR, 'pg_basebackup', [
      '-D', bData, '-X', 'none', '-c', 'fast', '-h', '127.0.0.1', '-p', String(pgPort(a.config)), '-U', replication.username, '--no-password',
    ], user, { env: { PGPASSFILE: sidecarPaths(a.config.postgresql.data_dir).passFile }, timeoutMs: 60_000 });
    assert.equal(backup.code, 0, backup.stderr);

    let last = await generateWal(a.config, 5);
    last = await generateWal(a.config, 0.1);
    const [{ count }] = (await pgQuery<{ count: string }>(a.config, 'SELECT count(*) FROM t')) as [{ count: string }];
    await waitArchived(a.config, last);

    const b = await archivingMember(root, 'b', a.config.archive!.storage, { upload_concurrency: 4, prefetch: 4 });
    b.config.postgresql.data_dir = bData;
    await writeConfigFile(b.configFile, b.config);
    configs.push(b.config);
    restored = createPostgresController(b.config, logger.child('pg-b'), { archiveCommands: archiveCommands([process.execPath, GOVERNOR_JS], b.configFile) });
    await restored.writeConfig({ role: 'replica', restoreFromArchive: true });
    await rm(path.join(bData, 'standby.signal'));
    await writeFile(path.join(bData, 'recovery.signal'), '');
    const started = Date.now();
    await restored.start(60_000);
    await waitFor('the restored copy to finish recovery', async () => (await restored!.status()).inRecovery === false, 60_000, 100);
    const [{ count: restoredCount }] = (await pgQuery<{ count: string }>(b.config, 'SELECT count(*) FROM t')) as [{ count: string }];
    assert.equal(restoredCount, count);
    const log = await readFile(sidecarPaths(bData).logFile, 'utf8');
    assert.match(log, /restored log file "[0-9A-F]{24}" from archive/);
    if (process.env.GOVERNOR_TEST_VERBOSE) console.log(log);
    console.log(`restore replayed ${log.match(/restored log file/g)?.length ?? 0} archived segments in ${Date.now() - started} ms`);
    await restored.stop('fast', 30_000);
  });

  test('with the daemon\'s uploader running (child process as the postgres user), archive_command returns from its marker', async () => {
    const uploaderLog: string[] = [];
    const uploader = new WalUploaderProcess({
      config: a.config, command: [process.execPath, GOVERNOR_JS], configFile: a.configFile, logger, onLog: (line) => uploaderLog.push(line),
    });
    await uploader.start();
    try {
      const logFile = sidecarPaths(a.config.postgresql.data_dir).logFile;
      const markerHitsBefore = ((await readFile(logFile, 'utf8')).match(/"outcome":"marker"/g) ?? []).length;
      // archive_command paused (an empty command with archive_mode on keeps the segments .ready), so
      // the uploader gets ahead of it for certain instead of racing a fast wal-push; then resumed.
      await pgQuery(a.config, "ALTER SYSTEM SET archive_command = ''");
      await pgQuery(a.config, 'SELECT pg_reload_conf()');
      let last: string;
      try {
        last = await generateWal(a.config, 32);
        const deadline = Date.now() + 30_000;
        while (!uploaderLog.some((l) => l.includes('"msg":"WAL uploaded ahead of archive_command"')) && Date.now() < deadline) await sleep(100);
      } finally {
        await pgQuery(a.config, 'ALTER SYSTEM RESET archive_command');
        await pgQuery(a.config, 'SELECT pg_reload_conf()');
      }
      await waitArchived(a.config, last);
      const markerHits = ((await readFile(logFile, 'utf8')).match(/"outcome":"marker"/g) ?? []).length - markerHitsBefore;
      const uploadedAhead = uploaderLog.filter((l) => l.includes('"msg":"WAL uploaded ahead of archive_command"')).length;
      assert.ok(uploadedAhead > 0, `the uploader uploaded segments:\n${uploaderLog.join('\n')}`);
      assert.ok(markerHits > 0, 'some wal-push calls found the marker');
      assert.deepEqual(gaps(await archivedNames(storage)), []);
      console.log(`uploader: ${uploadedAhead} segments uploaded ahead, ${markerHits} archive_command calls answered from markers`);
    } finally {
      await uploader.stop();
    }
    assert.deepEqual(uploader.pids, [], 'stopped');
  });
}
