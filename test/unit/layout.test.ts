// The layout shows the architecture (shared/DESIGN.md): no import cycle in src/, and no import
// pointing up a layer. The rules are .dependency-cruiser.cjs at the repository root (also run by
// `make lint-deps`); this runs them over src/ and names every violation. A second test runs the
// same rules over a small tree with one violation of each kind, so a rule that stopped matching
// (a renamed directory, a broken pattern) fails here instead of passing everything.

import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { cruise, type ICruiseResult, type IViolation } from 'dependency-cruiser';
import extractDepcruiseOptions from 'dependency-cruiser/config-utl/extract-depcruise-options';

/** dist/test/unit/ → the repository root. */
const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const CONFIG = path.join(REPO, '.dependency-cruiser.cjs');

async function cruiseSrc(baseDir: string): Promise<ICruiseResult> {
  const options = await extractDepcruiseOptions(CONFIG);
  const { output } = await cruise(['src'], { ...options, baseDir, tsConfig: { fileName: path.join(baseDir, 'tsconfig.json') } });
  assert.equal(typeof output, 'object', 'dependency-cruiser returned no result');
  return output as ICruiseResult;
}

function describeViolation(v: IViolation): string {
  if (v.cycle) return `${v.rule.name}: ${[v.from, ...v.cycle.map((step) => step.name)].join(' → ')}`;
  return `${v.rule.name}: ${v.from} → ${v.to}`;
}

const errors = (result: ICruiseResult) => result.summary.violations;

test('src/ has no import cycle and no import pointing up a layer', async () => {
  const result = await cruiseSrc(REPO);
  assert.ok(result.summary.totalCruised > 100, `only ${result.summary.totalCruised} modules cruised: is src/ there?`);
  const found = errors(result).map(describeViolation);
  assert.deepEqual(found, [], `dependency rules of .dependency-cruiser.cjs broken:\n  ${found.join('\n  ')}`);
});

test('the rules catch a cycle and each import against the layers', async () => {
  const root = await mkdtemp(path.join(os.tmpdir(), 'governor-layout-'));
  try {
    const files: Record<string, string> = {
      'src/util/a.ts': "import { c } from '../config/c.js';\nexport const a = c;\n",
      'src/config/c.ts': "import { p } from '../postgres/p.js';\nexport const c = p;\n",
      'src/postgres/p.ts': "import { h } from '../ha/h.js';\nexport const p = h;\n",
      'src/ha/h.ts': "import { s } from '../api/s.js';\nexport const h = s;\n",
      'src/ha/loop.ts': "export const loop = 1;\n",
      'src/ha/candidate.ts': "export const candidate = 1;\n",
      'src/api/s.ts': "import { loop } from '../ha/loop.js';\nimport { candidate } from '../ha/candidate.js';\nimport { g } from '../cli/g.js';\nexport const s = loop + candidate + g;\n",
      'src/cli/g.ts': "export const g = 1;\n",
      'src/dcs/x.ts': "import { y } from './y.js';\nexport const x = y;\n",
      'src/dcs/y.ts': "import type { x } from './x.js';\nexport const y: typeof x = 1;\n",
      'tsconfig.json': JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', strict: true } }),
    };
    for (const [name, text] of Object.entries(files)) {
      await mkdir(path.dirname(path.join(root, name)), { recursive: true });
      await writeFile(path.join(root, name), text);
    }
    const found = new Set(errors(await cruiseSrc(root)).map(describeViolation));
    const expected = [
      'bottom-imports-nothing-above: src/util/a.ts → src/config/c.ts',
      'config-imports-no-component: src/config/c.ts → src/postgres/p.ts',
      'components-import-no-ha-api-cli: src/postgres/p.ts → src/ha/h.ts',
      'ha-imports-no-api-cli: src/ha/h.ts → src/api/s.ts',
      'api-imports-only-pure-ha: src/api/s.ts → src/ha/loop.ts',
      'api-imports-no-cli: src/api/s.ts → src/cli/g.ts',
    ];
    for (const line of expected) assert.ok(found.has(line), `not caught: ${line}\nfound:\n  ${[...found].join('\n  ')}`);
    assert.ok([...found].some((line) => line.startsWith('no-cycle: src/dcs/')), `the type-only cycle in src/dcs was not caught:\n  ${[...found].join('\n  ')}`);
    assert.ok(![...found].some((line) => line.includes('src/ha/candidate.ts')), 'api may import the pure ha/candidate');
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
