// The rules for the stack's input, one row per situation: what is accepted and what the error
// names when it is not.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULTS, SettingsError, cidrProblem, isOpenToWorld, resolveSettings, type GovernorClusterInput } from '../lib/settings.js';

const BASE: GovernorClusterInput = { scope: 'orders', etcdHosts: ['10.0.1.10:2379'], clientCidrs: ['10.0.0.0/16'] };

function problems(overrides: Partial<GovernorClusterInput>): string[] {
  try {
    resolveSettings({ ...BASE, ...overrides });
    return [];
  } catch (error) {
    assert.ok(error instanceof SettingsError, String(error));
    return error.problems;
  }
}

describe('resolveSettings', () => {
  it('fills in the defaults', () => {
    const s = resolveSettings(BASE);
    assert.equal(s.nodes, DEFAULTS.nodes);
    assert.equal(s.instanceType, 'm6i.large');
    assert.deepEqual(s.vpc, { kind: 'new', cidr: '10.0.0.0/16', availabilityZones: null, maxAzs: 3, natGateways: 1 });
    assert.equal(s.replicaLoadBalancer, true);
    assert.equal(s.etcdOnNodes, false);
    assert.equal(s.ssmAccess, true);
    assert.equal(s.dns, null);
    assert.equal(s.amiId, null);
    assert.deepEqual(s.archive, {
      prefix: 'orders',
      versioned: true,
      noncurrentVersionExpirationDays: 30,
      objectLock: null,
      infrequentAccessAfterDays: null,
      backupSchedule: '0 1 * * *',
      backupNumToRetain: 5,
    });
  });

  it('normalizes a cron schedule and turns it off with null', () => {
    assert.equal(resolveSettings({ ...BASE, archive: { backupSchedule: ' 30  2 * * SUN ' } }).archive.backupSchedule, '30 2 * * SUN');
    assert.equal(resolveSettings({ ...BASE, archive: { backupSchedule: null } }).archive.backupSchedule, null);
  });

  const rejected: Array<[string, Partial<GovernorClusterInput>, RegExp]> = [
    ['empty scope', { scope: '' }, /^scope: expected a cluster name/],
    ['scope with a slash', { scope: 'a/b' }, /^scope: /],
    ['no etcd hosts', { etcdHosts: [] }, /^etcdHosts: must not be empty/],
    ['etcd host without port', { etcdHosts: ['10.0.1.10'] }, /^etcdHosts\[0\]: expected host:port/],
    ['etcd port out of range', { etcdHosts: ['etcd.internal:99999'] }, /^etcdHosts\[0\]: /],
    ['no client CIDRs', { clientCidrs: [] }, /^clientCidrs: must not be empty/],
    ['client CIDR 0.0.0.0/0', { clientCidrs: ['0.0.0.0/0'] }, /^clientCidrs\[0\]: "0\.0\.0\.0\/0" opens the cluster to the whole internet/],
    ['client CIDR ::/0', { clientCidrs: ['10.0.0.0/8', '::/0'] }, /^clientCidrs\[1\]: "::\/0" opens/],
    ['any /0 is everything', { adminCidrs: ['10.0.0.0/0'] }, /^adminCidrs\[0\]: .* opens/],
    ['monitoring CIDR 0.0.0.0/0', { monitoringCidrs: ['0.0.0.0/0'] }, /^monitoringCidrs\[0\]: .* opens/],
    ['not a CIDR', { adminCidrs: ['10.0.0.1'] }, /^adminCidrs\[0\]: expected a CIDR/],
    ['octet out of range', { adminCidrs: ['10.0.0.256/32'] }, /^adminCidrs\[0\]: "10\.0\.0\.256\/32" is not a valid IPv4 CIDR/],
    ['duplicate CIDR', { clientCidrs: ['10.0.0.0/16', '10.0.0.0/16'] }, /^clientCidrs\[1\]: "10\.0\.0\.0\/16" is listed twice/],
    ['one node', { nodes: 1 }, /^nodes: expected an integer from 2 to 9, got 1/],
    ['fractional nodes', { nodes: 2.5 }, /^nodes: /],
    ['bad instance type', { instanceType: 'large' }, /^instanceType: expected an instance type/],
    ['bad AMI id', { amiId: 'ami-xyz' }, /^amiId: expected an AMI id/],
    ['tiny root volume', { rootVolumeGiB: 8 }, /^rootVolumeGiB: expected an integer from 20/],
    ['both VPC kinds', { existingVpc: { vpcId: 'vpc-0123456789abcdef0', vpcCidrBlock: '10.0.0.0/16', availabilityZones: ['eu-west-1a', 'eu-west-1b'], privateSubnetIds: ['subnet-0aaaaaaaaaaaaaaaa', 'subnet-0bbbbbbbbbbbbbbbb'] }, newVpc: {} }, /^existingVpc: give either existingVpc or newVpc/],
    ['existing VPC in one zone', { existingVpc: { vpcId: 'vpc-0123456789abcdef0', vpcCidrBlock: '10.0.0.0/16', availabilityZones: ['eu-west-1a'], privateSubnetIds: ['subnet-0aaaaaaaaaaaaaaaa'] } }, /^existingVpc\.availabilityZones: the cluster must span at least 2/],
    ['existing VPC subnets and zones differ', { existingVpc: { vpcId: 'vpc-0123456789abcdef0', vpcCidrBlock: '10.0.0.0/16', availabilityZones: ['eu-west-1a', 'eu-west-1b'], privateSubnetIds: ['subnet-0aaaaaaaaaaaaaaaa'] } }, /^existingVpc\.privateSubnetIds: expected one subnet per zone/],
    ['existing VPC bad id', { existingVpc: { vpcId: 'my-vpc', vpcCidrBlock: '10.0.0.0/16', availabilityZones: ['eu-west-1a', 'eu-west-1b'], privateSubnetIds: ['subnet-0aaaaaaaaaaaaaaaa', 'subnet-0bbbbbbbbbbbbbbbb'] } }, /^existingVpc\.vpcId: expected a VPC id/],
    ['new VPC in one named zone', { newVpc: { availabilityZones: ['eu-west-1a'] } }, /^newVpc\.availabilityZones: the cluster must span at least 2/],
    ['new VPC zone twice', { newVpc: { availabilityZones: ['eu-west-1a', 'eu-west-1a'] } }, /^newVpc\.availabilityZones: lists a zone twice/],
    ['new VPC zones and maxAzs', { newVpc: { availabilityZones: ['eu-west-1a', 'eu-west-1b'], maxAzs: 2 } }, /^newVpc\.maxAzs: give either/],
    ['new VPC maxAzs 1', { newVpc: { maxAzs: 1 } }, /^newVpc\.maxAzs: expected an integer from 2 to 6/],
    ['new VPC IPv6 CIDR', { newVpc: { cidr: '2001:db8::/56' } }, /^newVpc\.cidr: expected an IPv4 CIDR/],
    ['replica record without replica load balancer', { replicaLoadBalancer: false, dns: { hostedZoneId: 'Z0123456789ABCDEFGHIJ', zoneName: 'example.com', masterRecordName: 'db', replicaRecordName: 'db-ro' } }, /^dns\.replicaRecordName: needs the replica load balancer/],
    ['bad hosted zone id', { dns: { hostedZoneId: 'zone', zoneName: 'example.com', masterRecordName: 'db' } }, /^dns\.hostedZoneId: expected a hosted zone id/],
    ['an unversioned bucket', { archive: { versioned: false } }, /^archive\.versioned: the archive bucket is always versioned, so that one compromised instance cannot erase the backups/],
    ['old versions kept 0 days', { archive: { noncurrentVersionExpirationDays: 0 } }, /^archive\.noncurrentVersionExpirationDays: expected an integer from 1 to 3650/],
    ['an unknown Object Lock mode', { archive: { objectLock: { mode: 'legal-hold' as 'governance', retentionDays: 7 } } }, /^archive\.objectLock\.mode: expected "governance" or "compliance", got "legal-hold"/],
    ['Object Lock without a retention', { archive: { objectLock: { mode: 'compliance' } as { mode: 'compliance'; retentionDays: number } } }, /^archive\.objectLock\.retentionDays: required with archive\.objectLock/],
    ['Object Lock of 0 days', { archive: { objectLock: { mode: 'governance', retentionDays: 0 } } }, /^archive\.objectLock\.retentionDays: expected an integer from 1 to 36500/],
    ['STANDARD_IA before 30 days', { archive: { infrequentAccessAfterDays: 7 } }, /^archive\.infrequentAccessAfterDays: expected an integer from 30/],
    ['cron with 6 fields', { archive: { backupSchedule: '0 0 1 * * *' } }, /^archive\.backupSchedule: expected a cron expression of 5 fields/],
    ['cron with a quote', { archive: { backupSchedule: "0 1 * * '" } }, /^archive\.backupSchedule: /],
    ['prefix with leading slash', { archive: { prefix: '/orders' } }, /^archive\.prefix: expected a key prefix/],
    ['prefix with ..', { archive: { prefix: 'a/../b' } }, /^archive\.prefix: /],
    ['retain 0 backups', { archive: { backupNumToRetain: 0 } }, /^archive\.backupNumToRetain: expected an integer from 1/],
    ['string for a boolean', { replicaLoadBalancer: 'yes' as unknown as boolean }, /^replicaLoadBalancer: expected true or false, got "yes"/],
  ];
  for (const [situation, overrides, expected] of rejected) {
    it(`refuses ${situation}`, () => {
      const found = problems(overrides);
      assert.ok(found.some((p) => expected.test(p)), `expected ${expected} in:\n${found.join('\n')}`);
    });
  }

  it('reports every problem at once, one line each', () => {
    const found = problems({ scope: '', clientCidrs: ['0.0.0.0/0'], nodes: 0 });
    assert.equal(found.length, 3, found.join('\n'));
    assert.throws(() => resolveSettings({ ...BASE, nodes: 0 }), /^SettingsError: invalid governor cluster settings:\n {2}nodes: /);
  });
});

describe('CIDR helpers', () => {
  const rows: Array<[string, boolean, boolean]> = [
    // cidr, well formed, open to the world
    ['10.0.0.0/8', true, false],
    ['0.0.0.0/0', true, true],
    ['192.168.1.7/32', true, false],
    ['2001:db8::/32', true, false],
    ['::/0', true, true],
    ['0:0:0:0:0:0:0:0/0', true, true],
    ['10.0.0.0', false, false],
    ['10.0.0.0/33', false, false],
    ['1::2::3/64', false, false],
  ];
  for (const [cidr, valid, open] of rows) {
    it(`${cidr}: ${valid ? 'valid' : 'invalid'}${open ? ', everything' : ''}`, () => {
      assert.equal(cidrProblem(cidr) === null, valid);
      if (valid) assert.equal(isOpenToWorld(cidr), open);
    });
  }
});
