// archive_command / restore_command: shell quoting, PostgreSQL's %-expansion, postgresql.conf syntax.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { formatIdentity } from '../../src/archive/wal-identity.js';
import type { PostgresqlConfig } from '../../src/config/types.js';
import {
  archiveCommands, buildParameters, DEFAULT_ARCHIVE_TIMEOUT, quoteConfString, renderPostgresqlConf, shellQuote,
} from '../../src/postgres/render.js';

/** What PostgreSQL does to archive_command/restore_command before /bin/sh runs it. */
function expandPercent(command: string, values: { p: string; f: string }): string {
  return command.replace(/%(.)/g, (all, c: string) => (c === 'p' ? values.p : c === 'f' ? values.f : c === '%' ? '%' : all));
}

/** A postgresql.conf string value read back the way PostgreSQL's GUC lexer does ('' and \\ escapes). */
function parseConfString(literal: string): string {
  assert.ok(literal.startsWith("'") && literal.endsWith("'"));
  return literal.slice(1, -1).replace(/''|\\(.)/g, (all, c: string | undefined) => (all === "''" ? "'" : c!));
}

const root = mkdtempSync(path.join(tmpdir(), 'governor-quote-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** A fake `governor` that prints its argv as JSON. */
function fakeGovernor(dir: string, name: string): string {
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, name);
  writeFileSync(file, '#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done\n');
  chmodSync(file, 0o755);
  return file;
}

const awkward = [
  'plain',
  'with space',
  "it's",
  'double"quote',
  'back\\slash',
  '$HOME `id` $(id) ; | & > < * ? [a] ~ # !',
  '100% sure %p %f %%',
  "'''",
];

describe('shell quoting', () => {
  for (const word of awkward) {
    test(`round-trips through %-expansion and /bin/sh: ${JSON.stringify(word)}`, () => {
      const quoted = expandPercent(shellQuote(word), { p: 'X', f: 'Y' });
      const out = execFileSync('/bin/sh', ['-c', `printf '%s' ${quoted}`], { encoding: 'utf8' });
      assert.equal(out, word);
    });
  }

  test('newlines cannot be quoted into a one-line setting', () => {
    assert.throws(() => shellQuote('a\nb'), /newline/);
  });
});

describe('archive and restore commands', () => {
  const governor = fakeGovernor(path.join(root, "gov dir 'x' 50% $(id)"), 'gov "x"');
  const configFile = path.join(root, 'my "conf" it\'s 100%.yml');

  test('run the governor with -c CONFIG and the expanded %p / %f, whatever the paths hold', () => {
    const { push, fetch } = archiveCommands(['/usr/bin/env', governor], configFile);
    const values = { p: 'pg_wal/000000010000000000000001', f: '000000010000000000000001' };
    const run = (command: string) => execFileSync('/bin/sh', ['-c', expandPercent(command, values)], { encoding: 'utf8' }).split('\n').slice(0, -1);
    assert.deepEqual(run(push), ['wal-push', '-c', configFile, values.p]);
    assert.deepEqual(run(fetch), ['wal-fetch', '-c', configFile, values.f, values.p]);
  });

  test('survive postgresql.conf string syntax', () => {
    const { push } = archiveCommands(['/opt/my node/node', "/opt/gov's/governor.js"], configFile);
    const rendered = renderPostgresqlConf(new Map([['archive_command', push]]));
    const line = rendered.split('\n').find((l) => l.startsWith('archive_command = '))!;
    assert.equal(parseConfString(line.slice('archive_command = '.length)), push);
    assert.equal(quoteConfString(push), line.slice('archive_command = '.length));
  });

  test('the config file path must be absolute (PostgreSQL runs commands in the data directory)', () => {
    assert.throws(() => archiveCommands(['/usr/bin/governor'], 'governor.yml'), /absolute/);
  });

  test('carry no credentials: only the governor command and the config path', () => {
    const { push, fetch } = archiveCommands(['/usr/bin/governor'], '/etc/governor/governor.yml');
    assert.equal(push, `'/usr/bin/governor' wal-push -c '/etc/governor/governor.yml' "%p"`);
    assert.equal(fetch, `'/usr/bin/governor' wal-fetch -c '/etc/governor/governor.yml' "%f" "%p"`);
  });
});

describe('archive parameters', () => {
  const pgConfig = (parameters: PostgresqlConfig['parameters'] = {}): PostgresqlConfig => ({
    bin_dir: '/usr/lib/postgresql/15/bin', data_dir: '/var/lib/pg/data', listen: '127.0.0.1:5433', connect_address: '10.0.0.1:5433',
    socket_dir: '/run/pg', authentication: { superuser: { username: 'postgres', password: 'su' }, replication: { username: 'r', password: 'rp' } },
    parameters, pg_hba: [], run_as_user: null,
  });
  const commands = archiveCommands(['/usr/bin/governor'], '/etc/governor/governor.yml');

  test('without archiving nothing is added and user archive settings pass through', () => {
    const { params, ignored } = buildParameters(pgConfig({ archive_mode: 'on', archive_command: 'cp %p /x/%f' }), { role: 'primary' }, '/p');
    assert.equal(params.get('archive_command'), 'cp %p /x/%f');
    assert.equal(params.has('restore_command'), false);
    assert.deepEqual(ignored, []);
  });

  test('primary: archive_mode on, archive_command = wal-push, archive_timeout 60s, no restore_command', () => {
    const { params } = buildParameters(pgConfig(), { role: 'primary' }, '/p', commands);
    assert.equal(params.get('archive_mode'), true);
    assert.equal(params.get('archive_command'), commands.push);
    assert.equal(params.get('archive_timeout'), DEFAULT_ARCHIVE_TIMEOUT);
    assert.equal(params.has('restore_command'), false);
    assert.match(renderPostgresqlConf(params), /^archive_mode = on$/m);
  });

  test('replica: archive_mode on too (a promotion archives without a restart); restore_command = wal-fetch only when restoring from the archive', () => {
    const streaming = buildParameters(pgConfig(), { role: 'replica', primary: { host: 'h', port: 1, applicationName: 'a' } }, '/p', commands).params;
    assert.equal(streaming.get('archive_mode'), true);
    assert.equal(streaming.get('archive_command'), commands.push);
    assert.equal(streaming.has('restore_command'), false);
    const restoring = buildParameters(pgConfig(), { role: 'replica', restoreFromArchive: true }, '/p', commands).params;
    assert.equal(restoring.get('restore_command'), commands.fetch);
    const primary = buildParameters(pgConfig(), { role: 'primary', restoreFromArchive: true }, '/p', commands).params;
    assert.equal(primary.has('restore_command'), false);
  });

  test("the user's archive_timeout wins; their archive_mode/command/library and restore_command are ignored", () => {
    const { params, ignored } = buildParameters(pgConfig({
      archive_timeout: '5min', archive_command: '/bin/true', archive_mode: 'always', archive_library: 'basic_archive', restore_command: 'cp',
    }), { role: 'replica', restoreFromArchive: true, clusterParameters: { ARCHIVE_COMMAND: 'x' } }, '/p', commands);
    assert.equal(params.get('archive_timeout'), '5min');
    assert.equal(params.get('archive_command'), commands.push);
    assert.equal(params.get('restore_command'), commands.fetch);
    assert.equal(params.has('archive_library'), false);
    assert.deepEqual(ignored.sort(), ['ARCHIVE_COMMAND', 'archive_command', 'archive_library', 'archive_mode', 'restore_command']);
  });
});

describe('archive_command fast path: the uploader marker', () => {
  const dir = path.join(root, "fast path's dir");
  const spool = path.join(dir, 'spool 100%');
  const storage = "s3://bucket/it's";
  const segment = '000000010000000000000007';
  const governor = fakeGovernor(path.join(dir, 'bin'), 'governor');
  const commands = archiveCommands([governor], '/etc/governor.yml', { spoolDir: spool, storage });

  function runPush(): { code: number; stdout: string } {
    const shell = expandPercent(parseConfString(quoteConfString(commands.push)), { p: `pg_wal/${segment}`, f: segment });
    try {
      return { code: 0, stdout: execFileSync('/bin/sh', ['-c', shell], { cwd: dir, encoding: 'utf8' }) };
    } catch (error) {
      const e = error as { status: number; stdout: string };
      return { code: e.status, stdout: e.stdout };
    }
  }

  mkdirSync(path.join(dir, 'pg_wal'), { recursive: true });
  mkdirSync(spool, { recursive: true });
  const content = Buffer.alloc(1024 * 1024, 7);
  writeFileSync(path.join(dir, 'pg_wal', segment), content);
  const sha = execFileSync('sha256sum', [path.join(dir, 'pg_wal', segment)], { encoding: 'utf8' }).slice(0, 64);

  const walFile = path.join(dir, 'pg_wal', segment);
  const identity = () => formatIdentity(statSync(walFile, { bigint: true }));
  const otherIdentity = () => identity().replace(/^\d+/, (dev) => String(Number(dev) + 1));
  const table: Array<{ name: string; marker: (() => string) | null; skipsGovernor: boolean; rewrite?: boolean }> = [
    { name: 'matching marker: exit 0 without governor', marker: () => `${sha}\n${storage}\n`, skipsGovernor: true },
    { name: 'no marker: governor wal-push runs', marker: null, skipsGovernor: false },
    { name: 'other content: governor wal-push runs', marker: () => `${'0'.repeat(64)}\n${storage}\n`, skipsGovernor: false },
    { name: 'other storage: governor wal-push runs', marker: () => `${sha}\ns3://elsewhere\n`, skipsGovernor: false },
    // The identity alone confirms the file: a wrong sha256 beside a matching identity still exits 0,
    // which shows the fast path did not hash the file.
    { name: 'matching identity: exit 0 without hashing', marker: () => `${'0'.repeat(64)}\n${storage}\n${identity()}\n`, skipsGovernor: true },
    { name: 'other identity, matching sha256: exit 0 by hashing', marker: () => `${sha}\n${storage}\n${otherIdentity()}\n`, skipsGovernor: true },
    { name: 'other identity, other sha256: governor wal-push runs', marker: () => `${'0'.repeat(64)}\n${storage}\n${otherIdentity()}\n`, skipsGovernor: false },
    { name: 'matching identity, other storage: governor wal-push runs', marker: () => `${sha}\ns3://elsewhere\n${identity()}\n`, skipsGovernor: false },
    { name: 'file rewritten after the marker: identity and sha256 differ, governor wal-push runs', marker: () => `${sha}\n${storage}\n${identity()}\n`, skipsGovernor: false, rewrite: true },
  ];
  for (const row of table) {
    test(row.name, async () => {
      const file = path.join(spool, `${segment}.done`);
      rmSync(file, { force: true });
      writeFileSync(walFile, content);
      if (row.marker !== null) writeFileSync(file, row.marker());
      if (row.rewrite) {
        await new Promise((resolve) => setTimeout(resolve, 30)); // past a timestamp tick
        writeFileSync(walFile, Buffer.alloc(content.length, 8));
      }
      const { code, stdout } = runPush();
      assert.equal(code, 0);
      if (row.skipsGovernor) assert.equal(stdout, '');
      else assert.deepEqual(stdout.trimEnd().split('\n'), ['wal-push', '-c', '/etc/governor.yml', `pg_wal/${segment}`]);
    });
  }
});
