// The unit-file reader the packaging tests run units' command lines with: what it expands must be
// what systemd would run.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { expandCommandLine, parseEnvironmentFile, parseUnitFile, splitWords, unitEnvironment, unitValues } from '../helpers/systemd-unit.js';

describe('systemd unit reader', () => {
  const cases: Array<{ name: string; line: string; env: Record<string, string>; argv: string[] }> = [
    { name: '${VAR} inside a word', line: '/usr/bin/etcd --endpoints=${HOSTS} --x', env: { HOSTS: 'a:1,b:2' }, argv: ['/usr/bin/etcd', '--endpoints=a:1,b:2', '--x'] },
    { name: 'unset ${VAR} is empty, the word stays', line: '/bin/x --e=${NOPE}', env: {}, argv: ['/bin/x', '--e='] },
    { name: '$VAR alone splits on whitespace', line: '/bin/x $OPTS end', env: { OPTS: '-a  -b' }, argv: ['/bin/x', '-a', '-b', 'end'] },
    { name: 'unset $VAR alone disappears', line: '/bin/x $OPTS end', env: {}, argv: ['/bin/x', 'end'] },
    { name: '${VAR} with spaces stays one word', line: '/bin/x ${V}', env: { V: 'two words' }, argv: ['/bin/x', 'two words'] },
    { name: 'quotes group, prefixes dropped', line: '-/bin/x "a b" \'c d\' e\\ f', env: {}, argv: ['/bin/x', 'a b', 'c d', 'e f'] },
    { name: '%% is a percent sign', line: '/bin/x 100%%', env: {}, argv: ['/bin/x', '100%'] },
  ];
  for (const c of cases) {
    it(`ExecStart: ${c.name}`, () => assert.deepEqual(expandCommandLine(c.line, c.env), c.argv));
  }

  it('sections, continuation lines, repeated keys and the empty reset', () => {
    const unit = parseUnitFile(['# c', '[Service]', 'ExecStart=/bin/a', 'ExecStart=', 'ExecStart=/bin/b \\', '  --flag', 'Environment="A=1" B=two', '[Install]', 'WantedBy=x'].join('\n'));
    const execStart = unitValues(unit, 'Service', 'ExecStart');
    assert.equal(execStart.length, 1);
    assert.deepEqual(expandCommandLine(execStart[0]!, {}), ['/bin/b', '--flag']);
    assert.deepEqual(unitEnvironment(unit), { A: '1', B: 'two' });
    assert.deepEqual(unitValues(unit, 'Install', 'WantedBy'), ['x']);
  });

  it('rejects what systemd would not read', () => {
    assert.throws(() => parseUnitFile('Key=before-any-section'), /line 1: expected \[Section\]/);
    assert.throws(() => splitWords('"open'), /unterminated/);
    assert.throws(() => parseEnvironmentFile('not a pair'), /line 1: expected KEY=value/);
  });

  it('environment files: comments, quotes, values with = and spaces', () => {
    assert.deepEqual(parseEnvironmentFile('# x\nA=1\nB="x y"\nC=a=b\n\nD=0 3 * * *\n'), { A: '1', B: 'x y', C: 'a=b', D: '0 3 * * *' });
  });
});
