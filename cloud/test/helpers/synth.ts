// Synthesize a GovernorStack from settings, as the app does, and hand back the template.

import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { GovernorStack } from '../../lib/governor-stack.js';
import type { GovernorClusterInput } from '../../lib/settings.js';
import type { Resources } from './template-checks.js';

export const BASE_INPUT: GovernorClusterInput = {
  scope: 'orders',
  etcdHosts: ['10.20.0.10:2379', '10.20.0.11:2379', '10.20.0.12:2379'],
  clientCidrs: ['10.20.0.0/16'],
};

export interface Synthesized {
  stack: GovernorStack;
  template: Template;
  resources: Resources;
  json: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

export function synth(overrides: Partial<GovernorClusterInput> = {}, env?: { account: string; region: string }): Synthesized {
  const app = new App();
  const stack = new GovernorStack(app, 'Test', { cluster: { ...BASE_INPUT, ...overrides }, ...(env ? { env } : {}) });
  const template = Template.fromStack(stack);
  const json = template.toJSON();
  return { stack, template, resources: json.Resources, json };
}

export function ofType(resources: Resources, type: string): Array<[string, Resources[string]]> {
  return Object.entries(resources).filter(([, r]) => r.Type === type);
}
