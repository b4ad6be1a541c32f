// `packer validate` on the AMI template, offline and without AWS credentials (what
// `make ami-validate` runs), and proof that the check can fail.

import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { governorBinary, removeDir, repoPath, run, tempDir } from '../helpers/packaging.js';

const PACKER = process.env.PACKER_BIN ?? 'packer';
// No update check (no network in CI), no AWS credentials from this machine.
const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root', CHECKPOINT_DISABLE: '1' };

describe('Packer template', () => {
  const cleanup: string[] = [];
  after(() => cleanup.forEach(removeDir));

  it('packer validate passes', async () => {
    const result = await run(PACKER, ['validate', '-var', `governor_binary=${governorBinary()}`, 'governor.pkr.hcl'], { cwd: repoPath('ami'), env }).catch((error: Error) => {
      throw new Error(`${error.message} (install it: apt-get install -y packer)`);
    });
    assert.equal(result.code, 0, result.stdout + result.stderr);
  });

  it('packer validate fails on a broken template and names the problem', async () => {
    const dir = tempDir('gov-packer-');
    cleanup.push(dir);
    const text = fs.readFileSync(repoPath('ami', 'governor.pkr.hcl'), 'utf8');
    assert.ok(text.includes('instance_type = var.instance_type'));
    fs.writeFileSync(path.join(dir, 'governor.pkr.hcl'), text.replace('instance_type = var.instance_type', 'instance_type = var.instance_typo'));
    const result = await run(PACKER, ['validate', '-var', `governor_binary=${governorBinary()}`, 'governor.pkr.hcl'], { cwd: dir, env });
    assert.notEqual(result.code, 0);
    assert.match(result.stdout + result.stderr, /instance_typo/);
  });
});
