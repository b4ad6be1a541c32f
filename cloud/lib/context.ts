// The stack's input from CDK context (`cdk synth -c key=value`, or cdk.json's "context"): flat
// keys, values as strings (from -c) or JSON values (from cdk.json). Conversion only; the rules
// are in settings.ts. Pure.

import type { GovernorClusterInput, ObjectLockInput } from './settings.js';

export type Context = Record<string, unknown>;

export interface AppInput {
  stackName: string;
  /** Both or neither; without them the stack is environment-agnostic. */
  env: { account: string; region: string } | null;
  cluster: GovernorClusterInput;
}

/** Every key the app reads, so that a misspelt one is an error rather than silently ignored. */
export const CONTEXT_KEYS = [
  'stackName', 'account', 'region',
  'scope', 'etcdHosts', 'etcdOnNodes', 'nodes', 'instanceType', 'rootVolumeGiB', 'amiId',
  'vpcId', 'vpcCidrBlock', 'privateSubnetIds', 'availabilityZones', 'vpcCidr', 'maxAzs', 'natGateways',
  'clientCidrs', 'adminCidrs', 'monitoringCidrs', 'replicaLoadBalancer',
  'hostedZoneId', 'zoneName', 'masterRecordName', 'replicaRecordName',
  'archivePrefix', 'archiveVersioned', 'noncurrentVersionExpirationDays', 'infrequentAccessAfterDays', 'objectLockMode', 'objectLockRetentionDays',
  'backupSchedule', 'backupNumToRetain', 'ssmAccess',
] as const;

class Reader {
  readonly problems: string[] = [];

  constructor(private readonly context: Context) {}

  private fail(key: string, message: string): undefined {
    this.problems.push(`context ${key}: ${message}`);
    return undefined;
  }

  raw(key: string): unknown {
    const value = this.context[key];
    return value === '' || value === null ? undefined : value;
  }

  string(key: string): string | undefined {
    const value = this.raw(key);
    if (value === undefined || typeof value === 'string') return value;
    return this.fail(key, `expected a string, got ${JSON.stringify(value)}`);
  }

  list(key: string): string[] | undefined {
    const value = this.raw(key);
    if (value === undefined) return undefined;
    if (typeof value === 'string') return value.split(',').map((s) => s.trim()).filter((s) => s !== '');
    if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value as string[];
    return this.fail(key, `expected a comma-separated string or a list of strings, got ${JSON.stringify(value)}`);
  }

  integer(key: string): number | undefined {
    const value = this.raw(key);
    if (value === undefined || typeof value === 'number') return value;
    if (typeof value === 'string' && /^\d+$/.test(value.trim())) return Number(value.trim());
    return this.fail(key, `expected an integer, got ${JSON.stringify(value)}`);
  }

  boolean(key: string): boolean | undefined {
    const value = this.raw(key);
    if (value === undefined || typeof value === 'boolean') return value;
    if (value === 'true') return true;
    if (value === 'false') return false;
    return this.fail(key, `expected true or false, got ${JSON.stringify(value)}`);
  }
}

function objectLockFromContext(r: Reader): ObjectLockInput | undefined {
  const mode = r.string('objectLockMode');
  const days = r.integer('objectLockRetentionDays');
  if (mode === undefined || mode === 'none') {
    if (days !== undefined) r.problems.push('context objectLockRetentionDays: only used with objectLockMode governance or compliance');
    return undefined;
  }
  return { mode: mode as ObjectLockInput['mode'], retentionDays: days as number };
}

function defined<T extends object>(object: T): T {
  return Object.fromEntries(Object.entries(object).filter(([, v]) => v !== undefined)) as T;
}

/** Keys CDK itself puts in the context (feature flags, aws:cdk:*, cdk.context.json's own). */
export function isCdkKey(key: string): boolean {
  return key.includes(':') || key.includes('/') || key === 'acknowledged-issue-numbers';
}

/** Context in, stack input out; throws naming every bad or unknown key. */
export function appInputFromContext(context: Context): AppInput {
  const r = new Reader(context);
  const known = new Set<string>(CONTEXT_KEYS);
  for (const key of Object.keys(context)) {
    if (!known.has(key) && !isCdkKey(key)) r.problems.push(`context ${key}: unknown key (known: ${CONTEXT_KEYS.join(', ')})`);
  }

  const account = r.string('account');
  const region = r.string('region');
  if ((account === undefined) !== (region === undefined)) r.problems.push('context account, region: give both or neither');

  const vpcId = r.string('vpcId');
  const availabilityZones = r.list('availabilityZones');
  const cluster: GovernorClusterInput = defined({
    scope: r.string('scope') ?? '',
    etcdHosts: r.list('etcdHosts') ?? [],
    etcdOnNodes: r.boolean('etcdOnNodes'),
    nodes: r.integer('nodes'),
    instanceType: r.string('instanceType'),
    rootVolumeGiB: r.integer('rootVolumeGiB'),
    amiId: r.string('amiId'),
    existingVpc: vpcId === undefined ? undefined : {
      vpcId,
      vpcCidrBlock: r.string('vpcCidrBlock') ?? '',
      availabilityZones: availabilityZones ?? [],
      privateSubnetIds: r.list('privateSubnetIds') ?? [],
    },
    newVpc: vpcId !== undefined ? undefined : defined({
      cidr: r.string('vpcCidr'),
      availabilityZones,
      maxAzs: r.integer('maxAzs'),
      natGateways: r.integer('natGateways'),
    }),
    clientCidrs: r.list('clientCidrs') ?? [],
    adminCidrs: r.list('adminCidrs'),
    monitoringCidrs: r.list('monitoringCidrs'),
    replicaLoadBalancer: r.boolean('replicaLoadBalancer'),
    dns: r.string('hostedZoneId') === undefined ? undefined : defined({
      hostedZoneId: r.string('hostedZoneId')!,
      zoneName: r.string('zoneName') ?? '',
      masterRecordName: r.string('masterRecordName') ?? '',
      replicaRecordName: r.string('replicaRecordName'),
    }),
    archive: defined({
      prefix: r.string('archivePrefix'),
      versioned: r.boolean('archiveVersioned'),
      noncurrentVersionExpirationDays: r.integer('noncurrentVersionExpirationDays'),
      // "none" (or absent) leaves Object Lock off.
      objectLock: objectLockFromContext(r),
      infrequentAccessAfterDays: r.integer('infrequentAccessAfterDays'),
      // "none" turns scheduled backups off (an empty -c value cannot be told from unset).
      backupSchedule: r.string('backupSchedule') === 'none' ? null : r.string('backupSchedule'),
      backupNumToRetain: r.integer('backupNumToRetain'),
    }),
    ssmAccess: r.boolean('ssmAccess'),
  });
  if (vpcId === undefined) {
    for (const key of ['vpcCidrBlock', 'privateSubnetIds']) {
      if (r.raw(key) !== undefined) r.problems.push(`context ${key}: only used with vpcId (an existing VPC)`);
    }
  }
  if (r.raw('hostedZoneId') === undefined) {
    for (const key of ['zoneName', 'masterRecordName', 'replicaRecordName']) {
      if (r.raw(key) !== undefined) r.problems.push(`context ${key}: only used with hostedZoneId`);
    }
  }
  if (r.problems.length > 0) throw new Error(`invalid CDK context:\n  ${r.problems.join('\n  ')}`);
  return {
    stackName: r.string('stackName') ?? `governor-${cluster.scope.replace(/[^A-Za-z0-9-]/g, '-')}`,
    env: account !== undefined && region !== undefined ? { account, region } : null,
    cluster,
  };
}
