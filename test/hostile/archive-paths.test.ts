// Hostile input to the archive commands (issue "Trust", item 10): WAL names and paths with tricks
// given to `governor wal-push` / `wal-fetch`, and base backups whose tar entries try to leave the
// target directory, on `governor backup-fetch`. Each is refused with an error that names the
// argument or the entry, and nothing is read or written outside the expected directories: a canary
// directory beside them is compared byte for byte before and after, and storage is checked too.
// File storage, the real CLI (run as root, the most it could do), no cluster needed.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { stringify } from 'yaml';
import { walFetch } from '../../src/archive/wal-fetch.js';
import { walPush } from '../../src/archive/wal-push.js';
import { openStorage } from '../../src/archive/storage/index.js';
import { SENTINEL_FORMAT, serializeSentinel, type BackupSentinel } from '../../src/archive/sentinel.js';
import type { Storage } from '../../src/archive/types.js';
import { defaultArchiveConfig } from '../../src/config/defaults.js';
import type { GovernorConfig } from '../../src/config/types.js';
import { createLogger } from '../../src/log/logger.js';
import { runGovernor } from '../helpers/cluster.js';

const SEG = '000000010000000000000003';
const logger = createLogger({ level: 'error', write: () => undefined });

let root = '';
let dataDir = '';
let restoreDataDir = '';
let canary = '';
let configFile = '';
let config: GovernorConfig;
let storage: Storage;

/** Every file under `dir` with its sha256 (and every directory), to prove nothing changed there. */
async function snapshot(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    const full = path.join(entry.parentPath, entry.name);
    out.push(entry.isFile() ? `${full} ${createHash('sha256').update(await readFile(full)).digest('hex')}` : `${full}/`);
  }
  return out.sort();
}

async function storedKeys(): Promise<string[]> {
  return (await storage.list('')).map((o) => o.key).sort();
}

/** Run governor in `cwd` (PostgreSQL runs archive_command and restore_command in the data directory). */
const governor = (args: string[], cwd = dataDir) => runGovernor([...args.slice(0, 1), '-c', configFile, ...args.slice(1)], { cwd, timeoutMs: 60_000 });

before(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'governor-hostile-archive-'));
  await chmod(root, 0o755); // backup-fetch hands its target to PostgreSQL's OS user
  dataDir = path.join(root, 'data');
  restoreDataDir = path.join(root, 'restore-data');
  for (const dir of [dataDir, restoreDataDir]) {
    await mkdir(path.join(dir, 'pg_wal', 'archive_status'), { recursive: true });
    await writeFile(path.join(dir, 'PG_VERSION'), '15\n');
  }
  // What the tricks aim at: it must come out of every case exactly as it went in.
  canary = path.join(root, 'outside');
  await mkdir(path.join(canary, 'sub'), { recursive: true });
  await writeFile(path.join(canary, 'canary'), 'do not touch\n');
  await writeFile(path.join(canary, SEG), Buffer.alloc(1 << 20, 7));
  config = {
    scope: 'hostile', namespace: 'service', name: 'member1',
    postgresql: { data_dir: dataDir, authentication: { superuser: { password: 'unused' }, replication: { password: 'unused' } } },
    archive: { ...defaultArchiveConfig(dataDir), enabled: true, storage: `file://${path.join(root, 'archive')}`, compression: 'lz4', prefetch: 0, spool_dir: path.join(root, 'spool') },
  } as unknown as GovernorConfig;
  configFile = path.join(root, 'governor.yml');
  await writeFile(configFile, stringify(config));
  storage = openStorage(config.archive!, logger);
  // A real segment in pg_wal, archived: wal-fetch refusals below are not "not in the archive".
  await writeFile(path.join(dataDir, 'pg_wal', SEG), Buffer.alloc(1 << 20, 3));
  const pushed = await governor(['wal-push', `pg_wal/${SEG}`]);
  assert.equal(pushed.code, 0, `the control push must work:\n${pushed.stderr}`);
});

after(() => rm(root, { recursive: true, force: true }));

// Cases of one kind are independent (each its own argument, backup and target): three at a time keep
// the suite's wall time down on two cores; wal-fetch's cases share one pg_wal and run in order.
describe('wal-push: path tricks', { concurrency: 3 }, () => {
  test('control: %p inside pg_wal is archived', async () => {
    assert.ok((await storedKeys()).includes(`wal/${SEG}.lz4`));
  });

  const cases: Array<[string, () => string, RegExp]> = [
    ['a relative escape', () => '../../../../../../etc/passwd', /wal-push: ".*etc\/passwd" is not a WAL file name/],
    ['an absolute path', () => '/etc/passwd', /wal-push: "\/etc\/passwd" is not a WAL file name/],
    ['a name with a slash through pg_wal', () => `pg_wal/${SEG}/../../outside/canary`, /is not a WAL file name/],
    ['a very long name', () => `pg_wal/${'0'.repeat(5000)}`, /wal-push: the path argument is 5007 characters long \(at most 1024\)/],
    ['a valid-looking name outside pg_wal', () => path.join(canary, SEG), new RegExp(`wal-push: ".*outside/${SEG}" is not in .*data/pg_wal \\(postgresql.data_dir's pg_wal\\)`)],
    ['a valid-looking name reached through ..', () => `pg_wal/../../outside/${SEG}`, /is not in .*data\/pg_wal/],
  ];
  for (const [what, file, expected] of cases) {
    test(`${what} is refused, nothing read or stored`, async () => {
      const before = [await snapshot(canary), await storedKeys()];
      const result = await governor(['wal-push', file()]);
      assert.notEqual(result.code, 0, `exit 0 for ${what}`);
      assert.ok(result.code <= 2, `PostgreSQL takes an exit above 125 as fatal: ${result.code}`);
      assert.match(result.stderr, expected);
      assert.deepEqual([await snapshot(canary), await storedKeys()], before);
    });
  }

  test('a segment name in pg_wal that is a symbolic link to a file outside is refused', async () => {
    const name = '000000010000000000000009';
    await symlink(path.join(canary, SEG), path.join(dataDir, 'pg_wal', name));
    const result = await governor(['wal-push', `pg_wal/${name}`]);
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /is not a regular file \(a symbolic link or special file is never archived\)/);
    assert.ok(!(await storedKeys()).some((k) => k.includes(name)));
  });

  test('a NUL byte (which no command line can carry) is refused by wal-push itself', async () => {
    await assert.rejects(walPush({ config, file: `pg_wal/${SEG}\0/etc/passwd`, logger, storage }), /the path argument contains a NUL byte/);
  });
});

describe('wal-fetch: name and path tricks', () => {
  test('control: pg_wal/RECOVERYXLOG of a data directory gets the segment', async () => {
    const result = await governor(['wal-fetch', SEG, 'pg_wal/RECOVERYXLOG'], restoreDataDir);
    assert.equal(result.code, 0, result.stderr);
    assert.equal((await stat(path.join(restoreDataDir, 'pg_wal', 'RECOVERYXLOG'))).size, 1 << 20);
    await rm(path.join(restoreDataDir, 'pg_wal', 'RECOVERYXLOG'));
  });

  const names: Array<[string, string]> = [
    ['a relative escape as %f', '../../etc/passwd'],
    ['an absolute %f', '/etc/passwd'],
    ['a %f with a slash', `pg_wal/${SEG}`],
    ['a very long %f', SEG.repeat(200)],
  ];
  for (const [what, name] of names) {
    test(`${what} is refused`, async () => {
      const before = await snapshot(canary);
      const result = await governor(['wal-fetch', name, 'pg_wal/RECOVERYXLOG'], restoreDataDir);
      // Any error exits non-zero (PostgreSQL reads every non-zero as "not restored"); the message tells it from "missing".
      assert.notEqual(result.code, 0);
      assert.match(result.stderr, /wal-fetch: ".*" is not a WAL file name/);
      assert.doesNotMatch(result.stderr, /WAL not in archive/);
      assert.deepEqual(await snapshot(canary), before);
      assert.deepEqual(await readdir(path.join(restoreDataDir, 'pg_wal')), ['archive_status']);
    });
  }

  const targets: Array<[string, () => string, RegExp]> = [
    ['a %p outside any pg_wal', () => path.join(canary, 'RECOVERYXLOG'), /is not in the pg_wal directory of a PostgreSQL data directory/],
    ['a %p that climbs out of pg_wal', () => 'pg_wal/../../outside/RECOVERYXLOG', /is not in the pg_wal directory of a PostgreSQL data directory/],
    ['a %p naming another file in pg_wal', () => 'pg_wal/postgresql.conf', /is not where PostgreSQL restores/],
    ['an absolute %p to a system file', () => '/etc/passwd', /is not where PostgreSQL restores/],
    ['a %p in a directory called pg_wal without PG_VERSION beside it', () => path.join(canary, 'sub', 'pg_wal', 'RECOVERYXLOG'), /no .*outside\/sub\/PG_VERSION/],
    ['a very long %p', () => `pg_wal/${'x'.repeat(3000)}`, /the path argument is 3007 characters long/],
  ];
  for (const [what, dest, expected] of targets) {
    test(`${what} is refused, nothing written`, async () => {
      await mkdir(path.join(canary, 'sub', 'pg_wal'), { recursive: true });
      const before = await snapshot(canary);
      const result = await governor(['wal-fetch', SEG, dest()], restoreDataDir);
      assert.notEqual(result.code, 0, `refused: ${result.stderr}`);
      assert.match(result.stderr, expected);
      assert.deepEqual(await snapshot(canary), before);
    });
  }

  test('a RECOVERYXLOG that is a symbolic link to a file outside is not followed', async () => {
    const link = path.join(restoreDataDir, 'pg_wal', 'RECOVERYXLOG');
    await symlink(path.join(canary, 'canary'), link);
    const before = await snapshot(canary);
    const result = await governor(['wal-fetch', SEG, 'pg_wal/RECOVERYXLOG'], restoreDataDir);
    await rm(link);
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /exists and is not a regular file: refusing to replace it/);
    assert.deepEqual(await snapshot(canary), before);
  });

  test('a NUL byte in %p is refused by wal-fetch itself', async () => {
    await assert.rejects(walFetch({ config, name: SEG, dest: 'pg_wal/RECOVERYXLOG\0x', logger, storage }), /the path argument contains a NUL byte/);
  });
});

// ---- backup tars built here, entry by entry (ustar, as pg_basebackup writes them) ----

interface Entry {
  name: string;
  /** tar typeflag: '0' file, '1' hard link, '2' symlink, '3' char device, '5' directory, '6' FIFO */
  type?: string;
  content?: Buffer;
  linkname?: string;
  /** A size header that differs from the content (huge sizes); raw 12-byte field. */
  sizeField?: Buffer;
}

function octal(value: number, length: number): Buffer {
  return Buffer.from(`${value.toString(8).padStart(length - 1, '0')}\0`, 'latin1');
}

function tarHeader(entry: Entry): Buffer {
  const block = Buffer.alloc(512);
  block.write(entry.name, 0, 100, 'utf8');
  octal(entry.type === '5' ? 0o700 : 0o600, 8).copy(block, 100);
  octal(0, 8).copy(block, 108);
  octal(0, 8).copy(block, 116);
  (entry.sizeField ?? octal(entry.content?.length ?? 0, 12)).copy(block, 124);
  octal(1767225600, 12).copy(block, 136);
  block.write(entry.type ?? '0', 156, 1, 'latin1');
  if (entry.linkname) block.write(entry.linkname, 157, 100, 'utf8');
  block.write('ustar\0', 257, 'latin1');
  block.write('00', 263, 'latin1');
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of block) sum += byte;
  Buffer.from(`${sum.toString(8).padStart(6, '0')}\0 `, 'latin1').copy(block, 148);
  return block;
}

function buildTar(entries: Entry[]): Buffer {
  const parts: Buffer[] = [];
  for (const entry of entries) {
    parts.push(tarHeader(entry));
    const content = entry.content ?? Buffer.alloc(0);
    parts.push(content, Buffer.alloc((512 - (content.length % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

let backups = 0;

/** Store `tar` as a complete backup (its sentinel records the tar's true sha256 and size, so only
 *  the entry checks can refuse it); resolves its name. */
async function storeBackup(tar: Buffer): Promise<string> {
  const name = `base_000000010000000000000002_20260101T0000${String(++backups).padStart(2, '0')}Z`;
  const key = `basebackups/${name}/base.tar`;
  const sha256 = createHash('sha256').update(tar).digest('hex');
  await storage.put(key, tar, { metadata: { sha256, 'raw-size': String(tar.length) } });
  const at = new Date(Date.UTC(2026, 0, 1, 0, 0, backups)).toISOString();
  const sentinel: BackupSentinel = {
    format: SENTINEL_FORMAT, name, start_lsn: '0/2000028', stop_lsn: '0/2000100', timeline: 1, start_wal_file: '000000010000000000000002',
    stop_wal_file: '000000010000000000000002', system_identifier: '7000000000000000001', pg_version: 150000, wal_segment_size: 16 << 20,
    compressed_size: tar.length, raw_size: tar.length, sha256, compression: 'none', started_at: at, finished_at: at, host: 'hostile',
    member: 'member1', is_replica: false, parts: [{ name: 'base', key, compressed_size: tar.length, raw_size: tar.length, sha256 }],
  };
  const json = Buffer.from(serializeSentinel(sentinel));
  await storage.put(`basebackups/${name}.json`, json, { metadata: { sha256: createHash('sha256').update(json).digest('hex'), 'raw-size': String(json.length) } });
  return name;
}

const file = (name: string, text = 'x') => ({ name, content: Buffer.from(text) });
const pgVersion = file('PG_VERSION', '15\n');

describe('backup-fetch: tar entries with path tricks', { concurrency: 3 }, () => {
  test('control: a well-formed backup unpacks', async () => {
    const name = await storeBackup(buildTar([pgVersion, { name: 'base', type: '5' }, file('base/1', 'data'), file('global/pg_control', 'c')]));
    const target = path.join(root, 'fetch-control');
    const result = await governor(['backup-fetch', target, name]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(await readFile(path.join(target, 'base', '1'), 'utf8'), 'data');
  });

  const huge = Buffer.alloc(12);
  huge[0] = 0x80;
  huge.writeUIntBE(2 ** 40, 6, 6); // base-256: one TiB
  const beyond = Buffer.alloc(12, 0xff);
  const cases: Array<[string, () => Entry[], RegExp]> = [
    ['a relative escape', () => [pgVersion, file('../outside/evil')], /entry "\.\.\/outside\/evil" is absolute or has "\.\."/],
    ['a deeper escape', () => [pgVersion, file('base/../../outside/evil')], /entry "base\/\.\.\/\.\.\/outside\/evil"/],
    ['an absolute path', () => [pgVersion, file(path.join(canary, 'evil'))], /entry "\/.*\/outside\/evil" is absolute/],
    ['a symbolic link out, then an entry through it', () => [pgVersion, { name: 'pg_link', type: '2', linkname: canary }, file('pg_link/evil')],
      /"pg_link": a symbolic link to "\/.*\/outside"/],
    ['a hard link to a file outside', () => [pgVersion, { name: 'pg_hard', type: '1', linkname: path.join(canary, 'canary') }],
      /"pg_hard": a hard link to "\/.*\/outside\/canary"/],
    ['a character device', () => [pgVersion, { name: 'dev_null', type: '3' }], /"dev_null": a character device; a base backup holds only files and directories/],
    ['a FIFO', () => [pgVersion, { name: 'fifo', type: '6' }], /"fifo": a FIFO/],
    ['a one-TiB size in a header', () => [pgVersion, { name: 'base/huge', content: Buffer.from('tiny'), sizeField: huge }],
      /tar entry "base\/huge" claims 1099511627776 bytes, more than its whole backup part/],
    ['a size beyond any integer', () => [pgVersion, { name: 'base/beyond', sizeField: beyond }], /tar numeric field too large/],
  ];
  for (const [what, entries, expected] of cases) {
    test(`${what} is refused, nothing written outside, nothing left inside`, async () => {
      const name = await storeBackup(buildTar(entries()));
      const before = await snapshot(canary);
      const target = path.join(root, `fetch-${name}`);
      const result = await governor(['backup-fetch', target, name]);
      assert.notEqual(result.code, 0, `exit 0 for ${what}`);
      assert.match(result.stderr, expected);
      assert.deepEqual(await snapshot(canary), before, 'the directory the trick aims at is untouched');
      assert.deepEqual(await readdir(target).catch(() => []), [], 'nothing half-unpacked stays behind');
    });
  }
});
