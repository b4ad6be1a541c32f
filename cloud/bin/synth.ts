// The CDK app: `npx cdk synth` (cdk.json points here) or `npm run synth`, which runs it directly
// and writes cloud/cdk.out/<stack>.template.json. Run directly, it takes the context from
// cdk.json, as the CLI would. Needs no AWS account: nothing is looked up.

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { App } from 'aws-cdk-lib';
import { appInputFromContext, type Context } from '../lib/context.js';
import { GovernorStack } from '../lib/governor-stack.js';

// dist/cloud/bin/synth.js -> cloud/
const packageDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

function cdkJsonContext(): Context {
  const file = path.join(packageDir, 'cdk.json');
  const parsed = JSON.parse(fs.readFileSync(file, 'utf8')) as { context?: Context };
  return parsed.context ?? {};
}

function main(): void {
  // The CLI hands the app its context (cdk.json, cdk.context.json, -c) in CDK_CONTEXT_JSON and
  // an output directory in CDK_OUTDIR; run directly, the app reads cdk.json itself.
  const byCli = process.env.CDK_CONTEXT_JSON !== undefined;
  const app = new App(byCli ? {} : { context: cdkJsonContext(), outdir: path.join(packageDir, 'cdk.out') });
  const context: Context = {};
  for (const key of Object.keys({ ...cdkJsonContext(), ...(byCli ? JSON.parse(process.env.CDK_CONTEXT_JSON!) : {}) })) {
    context[key] = app.node.tryGetContext(key);
  }
  const input = appInputFromContext(context);
  new GovernorStack(app, 'Governor', {
    stackName: input.stackName,
    ...(input.env ? { env: input.env } : {}),
    description: `governor: highly available PostgreSQL cluster ${input.cluster.scope}`,
    cluster: input.cluster,
  });
  const assembly = app.synth();
  if (!byCli) {
    for (const stack of assembly.stacks) console.log(path.relative(process.cwd(), path.join(assembly.directory, stack.templateFile)));
  }
}

try {
  main();
} catch (error) {
  console.error((error as Error).message);
  process.exit(2);
}
