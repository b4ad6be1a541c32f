// CDK context (strings from -c, JSON values from cdk.json) to stack input.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { appInputFromContext, isCdkKey } from '../lib/context.js';

const MINIMAL = { scope: 'orders', etcdHosts: '10.0.1.10:2379, 10.0.1.11:2379', clientCidrs: '10.0.0.0/16' };

describe('appInputFromContext', () => {
  it('reads comma lists, and names the stack after the scope', () => {
    const input = appInputFromContext(MINIMAL);
    assert.equal(input.stackName, 'governor-orders');
    assert.equal(input.env, null);
    assert.deepEqual(input.cluster.etcdHosts, ['10.0.1.10:2379', '10.0.1.11:2379']);
    assert.deepEqual(input.cluster.clientCidrs, ['10.0.0.0/16']);
    assert.deepEqual(input.cluster.newVpc, {});
    assert.equal(input.cluster.existingVpc, undefined);
    assert.deepEqual(input.cluster.archive, {});
  });

  it('converts -c strings and takes cdk.json values as they are', () => {
    const fromCli = appInputFromContext({ ...MINIMAL, nodes: '5', replicaLoadBalancer: 'false', backupSchedule: 'none', account: '123456789012', region: 'eu-west-1', availabilityZones: 'eu-west-1a,eu-west-1b' });
    const fromJson = appInputFromContext({ ...MINIMAL, nodes: 5, replicaLoadBalancer: false, backupSchedule: 'none', account: '123456789012', region: 'eu-west-1', availabilityZones: ['eu-west-1a', 'eu-west-1b'] });
    for (const input of [fromCli, fromJson]) {
      assert.equal(input.cluster.nodes, 5);
      assert.equal(input.cluster.replicaLoadBalancer, false);
      assert.equal(input.cluster.archive?.backupSchedule, null);
      assert.deepEqual(input.env, { account: '123456789012', region: 'eu-west-1' });
      assert.deepEqual(input.cluster.newVpc, { availabilityZones: ['eu-west-1a', 'eu-west-1b'] });
    }
  });

  it('reads Object Lock from objectLockMode and objectLockRetentionDays; "none" is off', () => {
    assert.deepEqual(appInputFromContext({ ...MINIMAL, objectLockMode: 'compliance', objectLockRetentionDays: '30' }).cluster.archive?.objectLock, { mode: 'compliance', retentionDays: 30 });
    assert.equal(appInputFromContext({ ...MINIMAL, objectLockMode: 'none' }).cluster.archive?.objectLock, undefined);
    assert.throws(() => appInputFromContext({ ...MINIMAL, objectLockRetentionDays: 30 }), /context objectLockRetentionDays: only used with objectLockMode governance or compliance/);
  });

  it('builds an existing VPC and DNS from their keys', () => {
    const input = appInputFromContext({
      ...MINIMAL,
      vpcId: 'vpc-0123456789abcdef0',
      vpcCidrBlock: '10.0.0.0/16',
      availabilityZones: 'eu-west-1a,eu-west-1b',
      privateSubnetIds: 'subnet-0aaaaaaaaaaaaaaaa,subnet-0bbbbbbbbbbbbbbbb',
      hostedZoneId: 'Z0123456789ABCDEFGHIJ',
      zoneName: 'example.com',
      masterRecordName: 'db',
    });
    assert.deepEqual(input.cluster.existingVpc, {
      vpcId: 'vpc-0123456789abcdef0',
      vpcCidrBlock: '10.0.0.0/16',
      availabilityZones: ['eu-west-1a', 'eu-west-1b'],
      privateSubnetIds: ['subnet-0aaaaaaaaaaaaaaaa', 'subnet-0bbbbbbbbbbbbbbbb'],
    });
    assert.equal(input.cluster.newVpc, undefined);
    assert.deepEqual(input.cluster.dns, { hostedZoneId: 'Z0123456789ABCDEFGHIJ', zoneName: 'example.com', masterRecordName: 'db' });
  });

  const rejected: Array<[string, Record<string, unknown>, RegExp]> = [
    ['a misspelt key', { ...MINIMAL, clientCidr: '10.0.0.0/8' }, /context clientCidr: unknown key/],
    ['account without region', { ...MINIMAL, account: '123456789012' }, /context account, region: give both or neither/],
    ['a word for a number', { ...MINIMAL, nodes: 'three' }, /context nodes: expected an integer, got "three"/],
    ['a word for a boolean', { ...MINIMAL, etcdOnNodes: 'yes' }, /context etcdOnNodes: expected true or false, got "yes"/],
    ['a number for a list', { ...MINIMAL, clientCidrs: 10 }, /context clientCidrs: expected a comma-separated string or a list of strings/],
    ['subnets without a VPC id', { ...MINIMAL, privateSubnetIds: 'subnet-0aaaaaaaaaaaaaaaa' }, /context privateSubnetIds: only used with vpcId/],
    ['a record name without a zone', { ...MINIMAL, masterRecordName: 'db' }, /context masterRecordName: only used with hostedZoneId/],
  ];
  for (const [situation, context, expected] of rejected) {
    it(`refuses ${situation}`, () => assert.throws(() => appInputFromContext(context), expected));
  }

  it('skips the keys CDK itself sets', () => {
    assert.ok(isCdkKey('aws:cdk:enable-path-metadata'));
    assert.ok(isCdkKey('@aws-cdk/core:newStyleStackSynthesis'));
    assert.ok(!isCdkKey('scope'));
    assert.doesNotThrow(() => appInputFromContext({ ...MINIMAL, 'aws:cdk:version-reporting': true }));
  });
});
