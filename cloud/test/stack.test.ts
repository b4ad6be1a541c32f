// The synthesized template of the governor stack, asked the questions an operator or a security
// review would ask: what is there, who can reach which port, what the instances may do, and
// whether a password could end up in the template.

import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { Match } from 'aws-cdk-lib/assertions';
import { ENV_OVERRIDES } from '../../src/config/env.js';
import { PORTS } from '../lib/settings.js';
import { ofType, synth, type Synthesized } from './helpers/synth.js';
import {
  ingressRules,
  policyStatements,
  secretLeaks,
  unscopedStatements,
  userDataText,
  worldOpenRules,
  type Json,
} from './helpers/template-checks.js';

const DATABASE_PORTS = [PORTS.postgresql, PORTS.restApi, PORTS.master, PORTS.replicas, PORTS.etcdClient, PORTS.etcdPeer];

function onlyId(s: Synthesized, type: string): string {
  const found = ofType(s.resources, type);
  assert.equal(found.length, 1, `expected one ${type}, found ${found.length}`);
  return found[0]![0];
}

function groupId(s: Synthesized, description: RegExp): string {
  const found = ofType(s.resources, 'AWS::EC2::SecurityGroup').filter(([, r]) => description.test(r.Properties.GroupDescription));
  assert.equal(found.length, 1, `expected one security group matching ${description}`);
  return found[0]![0];
}

/** [protocol, fromPort, toPort, cidr or source group] of the rules that let traffic into `group`. */
function rulesInto(s: Synthesized, group: string): string[] {
  return ingressRules(s.resources)
    .filter((r) => r.where === group || JSON.stringify(s.resources[r.where]?.Properties?.GroupId ?? null).includes(`"${group}"`))
    .map((r) => `${r.protocol} ${r.fromPort}-${r.toPort} from ${r.cidrIp ?? r.cidrIpv6 ?? JSON.stringify(r.source)}`)
    .sort();
}

function zonesOfGroup(s: Synthesized): Json[] {
  const asg = s.resources[onlyId(s, 'AWS::AutoScaling::AutoScalingGroup')]!;
  return asg.Properties.VPCZoneIdentifier.map((subnet: Json) => s.resources[subnet.Ref]!.Properties.AvailabilityZone);
}

describe('default stack (new VPC, environment-agnostic, replica load balancer)', () => {
  let s: Synthesized;
  before(() => {
    s = synth();
  });

  it('has the cluster resources, once each (two load balancers)', () => {
    const counts: Record<string, number> = {
      'AWS::EC2::VPC': 1,
      'AWS::AutoScaling::AutoScalingGroup': 1,
      'AWS::EC2::LaunchTemplate': 1,
      'AWS::ElasticLoadBalancingV2::LoadBalancer': 2,
      'AWS::ElasticLoadBalancingV2::TargetGroup': 2,
      'AWS::ElasticLoadBalancingV2::Listener': 2,
      'AWS::S3::Bucket': 1,
      'AWS::KMS::Key': 1,
      'AWS::SecretsManager::Secret': 4,
      'AWS::IAM::Role': 1,
      'AWS::IAM::InstanceProfile': 1,
      'AWS::EC2::SecurityGroup': 2,
      'AWS::Route53::RecordSet': 0,
      // Nothing that would need an asset (a Lambda) or a lookup.
      'AWS::Lambda::Function': 0,
      'Custom::VpcRestrictDefaultSG': 0,
    };
    for (const [type, count] of Object.entries(counts)) s.template.resourceCountIs(type, count);
  });

  it('takes the AMI as a parameter and needs no CDK bootstrap', () => {
    s.template.hasParameter('AmiId', { Type: 'AWS::EC2::Image::Id' });
    assert.deepEqual(Object.keys(s.json.Parameters), ['AmiId']);
    assert.equal(s.json.Rules?.CheckBootstrapVersion, undefined);
    s.template.hasResourceProperties('AWS::EC2::LaunchTemplate', { LaunchTemplateData: { ImageId: { Ref: 'AmiId' } } });
  });

  it('requires IMDSv2 (session tokens, one hop)', () => {
    s.template.hasResourceProperties('AWS::EC2::LaunchTemplate', {
      LaunchTemplateData: { MetadataOptions: { HttpTokens: 'required', HttpPutResponseHopLimit: 1 } },
    });
  });

  it('spreads the instances over at least 2 availability zones, with EC2 health only', () => {
    const zones = zonesOfGroup(s).map((z) => JSON.stringify(z));
    assert.ok(new Set(zones).size >= 2, `zones: ${zones.join(', ')}`);
    s.template.hasResourceProperties('AWS::AutoScaling::AutoScalingGroup', { MinSize: '3', MaxSize: '3', HealthCheckType: 'EC2' });
  });

  it('checks the master targets with GET /primary and the replica targets with GET /replica on the REST port', () => {
    const expect = [
      [PORTS.master, '/primary'],
      [PORTS.replicas, '/replica'],
    ] as const;
    for (const [port, path] of expect) {
      s.template.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', {
        Port: port,
        Protocol: 'TCP',
        TargetType: 'instance',
        HealthCheckProtocol: 'HTTP',
        HealthCheckPort: String(PORTS.restApi),
        HealthCheckPath: path,
        Matcher: { HttpCode: '200' },
      });
    }
    const groups = ofType(s.resources, 'AWS::ElasticLoadBalancingV2::TargetGroup');
    const asg = s.resources[onlyId(s, 'AWS::AutoScaling::AutoScalingGroup')]!;
    assert.deepEqual(asg.Properties.TargetGroupARNs.map((r: Json) => r.Ref).sort(), groups.map(([id]) => id).sort());
  });

  it('listens on 5000 and 5001, each forwarding to the target group of the same port', () => {
    for (const [, listener] of ofType(s.resources, 'AWS::ElasticLoadBalancingV2::Listener')) {
      const group = s.resources[listener.Properties.DefaultActions[0].TargetGroupArn.Ref]!;
      assert.equal(listener.Properties.Protocol, 'TCP');
      assert.equal(group.Properties.Port, listener.Properties.Port);
    }
    const ports = ofType(s.resources, 'AWS::ElasticLoadBalancingV2::Listener').map(([, l]) => l.Properties.Port).sort();
    assert.deepEqual(ports, [PORTS.master, PORTS.replicas]);
  });

  it('keeps the load balancers internal, cross-zone, behind their own security group', () => {
    const lbGroup = groupId(s, /load balancers/);
    for (const [, lb] of ofType(s.resources, 'AWS::ElasticLoadBalancingV2::LoadBalancer')) {
      assert.equal(lb.Properties.Type, 'network');
      assert.equal(lb.Properties.Scheme, 'internal');
      assert.deepEqual(lb.Properties.SecurityGroups, [{ 'Fn::GetAtt': [lbGroup, 'GroupId'] }]);
      assert.ok(
        lb.Properties.LoadBalancerAttributes.some((a: Json) => a.Key === 'load_balancing.cross_zone.enabled' && a.Value === 'true'),
      );
    }
  });

  it('opens no database, REST, HAProxy or etcd port to 0.0.0.0/0 or ::/0', () => {
    assert.deepEqual(worldOpenRules(s.resources, DATABASE_PORTS), []);
  });

  it('lets clients reach only the load balancers, and the load balancers only HAProxy and the REST port', () => {
    const lbGroup = groupId(s, /load balancers/);
    const members = groupId(s, /members/);
    assert.deepEqual(rulesInto(s, lbGroup), ['tcp 5000-5000 from 10.20.0.0/16', 'tcp 5001-5001 from 10.20.0.0/16']);
    const fromLb = JSON.stringify({ 'Fn::GetAtt': [lbGroup, 'GroupId'] });
    const fromMembers = JSON.stringify({ 'Fn::GetAtt': [members, 'GroupId'] });
    assert.deepEqual(rulesInto(s, members), [
      `tcp 5000-5000 from ${fromLb}`,
      `tcp 5000-5000 from ${fromMembers}`,
      `tcp 5001-5001 from ${fromLb}`,
      `tcp 5001-5001 from ${fromMembers}`,
      `tcp 5432-5432 from ${fromMembers}`,
      `tcp 8008-8008 from ${fromLb}`,
      `tcp 8008-8008 from ${fromMembers}`,
    ]);
    // The load balancers' group sends only to the members, on those ports.
    const egress = ofType(s.resources, 'AWS::EC2::SecurityGroupEgress').map(([, r]) => `${r.Properties.FromPort} ${JSON.stringify(r.Properties.DestinationSecurityGroupId)}`);
    assert.deepEqual(egress.sort(), [`5000 ${fromMembers}`, `5001 ${fromMembers}`, `8008 ${fromMembers}`]);
  });

  it('encrypts the archive bucket with the stack\'s rotating KMS key, blocks public access and requires TLS', () => {
    const key = onlyId(s, 'AWS::KMS::Key');
    s.template.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
    s.template.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [
          { ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: { 'Fn::GetAtt': [key, 'Arn'] } }, BucketKeyEnabled: true },
        ],
      },
      PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
    });
    s.template.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Action: 's3:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
    // Backups outlive the stack.
    s.template.hasResource('AWS::S3::Bucket', { DeletionPolicy: 'Retain' });
    s.template.hasResource('AWS::KMS::Key', { DeletionPolicy: 'Retain' });
  });

  it('versions the bucket and lets history go only through the lifecycle rule; no Object Lock unless asked', () => {
    const bucket = s.resources[onlyId(s, 'AWS::S3::Bucket')]!;
    assert.deepEqual(bucket.Properties.VersioningConfiguration, { Status: 'Enabled' });
    assert.equal(bucket.Properties.ObjectLockEnabled, undefined);
    assert.equal(bucket.Properties.ObjectLockConfiguration, undefined);
    const rules = bucket.Properties.LifecycleConfiguration.Rules as Json[];
    assert.deepEqual(rules.find((r) => r.Id === 'expire-old-versions'), {
      Id: 'expire-old-versions', Status: 'Enabled', NoncurrentVersionExpiration: { NoncurrentDays: 30 }, ExpiredObjectDeleteMarker: true,
    });
    assert.deepEqual(rules.find((r) => r.Id === 'abort-incomplete-uploads')?.AbortIncompleteMultipartUpload, { DaysAfterInitiation: 7 });
    // Nothing current ever expires: backup-delete decides which backups go (with delete markers).
    assert.ok(rules.every((r) => r.ExpirationInDays === undefined && r.ExpirationDate === undefined));
  });

  it('denies the instance role, in the bucket and key policies, every way to rewrite or destroy the archive\'s history', () => {
    const bucket = onlyId(s, 'AWS::S3::Bucket');
    const role = onlyId(s, 'AWS::IAM::Role');
    const roleArn = { 'Fn::GetAtt': [role, 'Arn'] };
    const bucketArn = { 'Fn::GetAtt': [bucket, 'Arn'] };
    const [[, bucketPolicy]] = ofType(s.resources, 'AWS::S3::BucketPolicy') as [[string, Json]];
    const deny = (bucketPolicy.Properties.PolicyDocument.Statement as Json[]).find((st) => st.Sid === 'InstancesNeverRewriteArchiveHistory');
    assert.ok(deny, 'a deny statement for the instances');
    assert.equal(deny.Effect, 'Deny');
    assert.deepEqual(deny.Principal, { AWS: roleArn });
    for (const action of ['s3:DeleteObjectVersion', 's3:BypassGovernanceRetention', 's3:PutObjectRetention', 's3:PutObjectLegalHold',
      's3:PutBucketVersioning', 's3:PutLifecycleConfiguration', 's3:PutBucketPolicy', 's3:DeleteBucketPolicy', 's3:PutBucketObjectLockConfiguration']) {
      assert.ok(deny.Action.includes(action), `${action} denied`);
    }
    assert.deepEqual(deny.Resource, [bucketArn, { 'Fn::Join': ['', [bucketArn, '/*']] }]);
    const key = s.resources[onlyId(s, 'AWS::KMS::Key')]!;
    const keyDeny = (key.Properties.KeyPolicy.Statement as Json[]).find((st) => st.Sid === 'InstancesNeverDisableArchiveKey');
    assert.equal(keyDeny?.Effect, 'Deny');
    assert.deepEqual(keyDeny?.Principal, { AWS: roleArn });
    for (const action of ['kms:ScheduleKeyDeletion', 'kms:DisableKey', 'kms:PutKeyPolicy']) assert.ok(keyDeny!.Action.includes(action), `${action} denied`);
    // And no policy of the role allows any of it (nor a wildcard that would).
    const allowed = policyStatements(s.resources).filter((st) => st.Effect === 'Allow').flatMap((st) => st.Action);
    assert.deepEqual(allowed.filter((a) => deny.Action.includes(a) || keyDeny!.Action.includes(a) || a.endsWith('*')), []);
  });

  it('lets the instances use only their archive prefix, the archive key and the cluster passwords', () => {
    const bucket = onlyId(s, 'AWS::S3::Bucket');
    const key = onlyId(s, 'AWS::KMS::Key');
    const secrets = ofType(s.resources, 'AWS::SecretsManager::Secret').map(([id]) => ({ Ref: id }));
    const bucketArn = { 'Fn::GetAtt': [bucket, 'Arn'] };
    const statements = policyStatements(s.resources);

    const isBucket = (r: Json) => JSON.stringify(r) === JSON.stringify(bucketArn) || JSON.stringify(r) === JSON.stringify({ 'Fn::Join': ['', [bucketArn, '/orders/*']] });
    assert.deepEqual(unscopedStatements(statements, 's3', isBucket), []);
    assert.deepEqual(unscopedStatements(statements, 'kms', (r) => JSON.stringify(r) === JSON.stringify({ 'Fn::GetAtt': [key, 'Arn'] })), []);
    assert.deepEqual(unscopedStatements(statements, 'secretsmanager', (r) => secrets.some((x) => JSON.stringify(x) === JSON.stringify(r))), []);

    const list = statements.find((st) => st.Action.includes('s3:ListBucket'))!;
    assert.deepEqual(list.Resource, [bucketArn]);
    assert.deepEqual(list.Condition, { StringLike: { 's3:prefix': ['orders', 'orders/*'] } });
    const objects = statements.find((st) => st.Action.includes('s3:PutObject'))!;
    assert.deepEqual(objects.Action.sort(), ['s3:AbortMultipartUpload', 's3:DeleteObject', 's3:GetObject', 's3:PutObject']);
    assert.deepEqual(objects.Resource, [{ 'Fn::Join': ['', [bucketArn, '/orders/*']] }]);
    const kms = statements.find((st) => st.Action.some((a) => a.startsWith('kms:')))!;
    assert.deepEqual(kms.Action.sort(), ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey']);
    const read = statements.find((st) => st.Action.includes('secretsmanager:GetSecretValue'))!;
    assert.deepEqual(read.Resource, secrets);

    // Every action granted is one of those, and nothing is on "*".
    const granted = statements.flatMap((st) => st.Action).sort();
    assert.deepEqual(granted, [
      'kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey',
      's3:AbortMultipartUpload', 's3:DeleteObject', 's3:GetObject', 's3:ListBucket', 's3:PutObject',
      'secretsmanager:GetSecretValue',
    ]);
    assert.ok(statements.every((st) => st.Effect === 'Allow' && !st.Resource.includes('*')));
    const role = s.resources[onlyId(s, 'AWS::IAM::Role')]!;
    assert.equal(JSON.stringify(role.Properties.ManagedPolicyArns).match(/AmazonSSMManagedInstanceCore/g)?.length, 1);
    assert.equal(role.Properties.ManagedPolicyArns.length, 1);
  });

  it('generates the passwords in Secrets Manager and keeps them out of the user data', () => {
    for (const [, secret] of ofType(s.resources, 'AWS::SecretsManager::Secret')) {
      assert.equal(secret.Properties.SecretString, undefined);
      assert.equal(secret.Properties.GenerateSecretString.ExcludePunctuation, true);
    }
    const text = userDataText(s.resources[onlyId(s, 'AWS::EC2::LaunchTemplate')]);
    assert.deepEqual(secretLeaks(text), []);
    assert.doesNotMatch(JSON.stringify(s.json), /resolve:secretsmanager|resolve:ssm-secure/);
    // Each secret is read at boot, by ARN.
    for (const [id] of ofType(s.resources, 'AWS::SecretsManager::Secret')) {
      assert.match(text, new RegExp(`read_secret '[^']+' '\\{"Ref":"${id}"\\}'`));
    }
  });

  it('writes only variables governor reads (src/config/env.ts) to /etc/governor/environment', () => {
    const text = userDataText(s.resources[onlyId(s, 'AWS::EC2::LaunchTemplate')]);
    const heredoc = text.split("<<'ENVIRONMENT'\n")[1]!.split('\nENVIRONMENT\n')[0]!;
    const printed = [...text.matchAll(/^ {2}([A-Z][A-Z0-9_]*) "/gm)].map((m) => m[1]!);
    const written = [...heredoc.split('\n').map((l) => l.split('=')[0]!), ...printed];
    const known = new Set(ENV_OVERRIDES.flatMap((o) => o.vars).concat('AWS_REGION'));
    assert.deepEqual(written.filter((name) => !known.has(name)), []);
    assert.ok(written.includes('SCOPE') && written.includes('WALG_S3_PREFIX') && written.includes('PGPASSWORD_SUPERUSER'));
    assert.match(heredoc, /^WALG_S3_PREFIX=s3:\/\/\{"Ref":"ArchiveBucket[0-9A-F]+"\}\/orders$/m);
    assert.match(heredoc, /^WALG_S3_SSE_KMS_ID=\{"Fn::GetAtt":\["ArchiveKey[0-9A-F]+","Arn"\]\}$/m);
    assert.match(heredoc, /^AWS_REGION=\{"Ref":"AWS::Region"\}$/m);
    assert.match(heredoc, /^BACKUP_SCHEDULE=0 1 \* \* \*$/m);
  });

  it('outputs the load balancers\' DNS names and the bucket name', () => {
    const outputs = s.json.Outputs;
    const [master] = ofType(s.resources, 'AWS::ElasticLoadBalancingV2::LoadBalancer').filter(([id]) => id.includes('Master'));
    assert.deepEqual(outputs.MasterEndpoint.Value, { 'Fn::GetAtt': [master![0], 'DNSName'] });
    assert.ok(outputs.ReplicasEndpoint);
    assert.deepEqual(outputs.ArchiveBucket.Value, { Ref: onlyId(s, 'AWS::S3::Bucket') });
  });
});

describe('stack variants', () => {
  it('spans three named zones in a stack with a concrete region', () => {
    const s = synth({ newVpc: { availabilityZones: ['eu-west-1a', 'eu-west-1b', 'eu-west-1c'] } }, { account: '123456789012', region: 'eu-west-1' });
    assert.deepEqual(zonesOfGroup(s), ['eu-west-1a', 'eu-west-1b', 'eu-west-1c']);
  });

  it('refuses a concrete region without named zones (CDK would look them up in the account)', () => {
    assert.throws(() => synth({}, { account: '123456789012', region: 'eu-west-1' }), /newVpc\.availabilityZones: required when the stack's region is concrete/);
  });

  it('uses an existing VPC by id without creating one', () => {
    const s = synth({
      existingVpc: {
        vpcId: 'vpc-0123456789abcdef0',
        vpcCidrBlock: '10.20.0.0/16',
        availabilityZones: ['eu-west-1a', 'eu-west-1b'],
        privateSubnetIds: ['subnet-0aaaaaaaaaaaaaaaa', 'subnet-0bbbbbbbbbbbbbbbb'],
      },
    });
    s.template.resourceCountIs('AWS::EC2::VPC', 0);
    s.template.resourceCountIs('AWS::EC2::NatGateway', 0);
    s.template.hasResourceProperties('AWS::AutoScaling::AutoScalingGroup', { VPCZoneIdentifier: ['subnet-0aaaaaaaaaaaaaaaa', 'subnet-0bbbbbbbbbbbbbbbb'] });
    s.template.hasResourceProperties('AWS::EC2::SecurityGroup', { VpcId: 'vpc-0123456789abcdef0' });
    s.template.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', { Subnets: ['subnet-0aaaaaaaaaaaaaaaa', 'subnet-0bbbbbbbbbbbbbbbb'] });
  });

  it('without the replica load balancer: one load balancer, 5001 closed to it, a Route 53 alias to the master', () => {
    const s = synth({
      replicaLoadBalancer: false,
      ssmAccess: false,
      dns: { hostedZoneId: 'Z0123456789ABCDEFGHIJ', zoneName: 'example.com', masterRecordName: 'orders-db' },
    });
    s.template.resourceCountIs('AWS::ElasticLoadBalancingV2::LoadBalancer', 1);
    s.template.resourceCountIs('AWS::ElasticLoadBalancingV2::TargetGroup', 1);
    s.template.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', { Port: 5000, HealthCheckPath: '/primary' });
    const lbGroup = groupId(s, /load balancers/);
    assert.deepEqual(rulesInto(s, lbGroup), ['tcp 5000-5000 from 10.20.0.0/16']);
    assert.ok(!rulesInto(s, groupId(s, /members/)).some((r) => r.startsWith('tcp 5001') && r.includes(lbGroup)));
    const lb = onlyId(s, 'AWS::ElasticLoadBalancingV2::LoadBalancer');
    s.template.hasResourceProperties('AWS::Route53::RecordSet', {
      HostedZoneId: 'Z0123456789ABCDEFGHIJ',
      Name: 'orders-db.example.com.',
      Type: 'A',
      AliasTarget: { DNSName: Match.objectLike({ 'Fn::Join': Match.arrayWith([Match.arrayWith([{ 'Fn::GetAtt': [lb, 'DNSName'] }])]) }) },
    });
    assert.equal(s.json.Outputs.ReplicasEndpoint, undefined);
    assert.ok(s.json.Outputs.MasterRecord);
    s.template.hasResourceProperties('AWS::IAM::Role', { ManagedPolicyArns: Match.absent() });
  });

  it('opens etcd among members when etcd runs on them, and the admin and monitoring ports to their CIDRs only', () => {
    const s = synth({ etcdOnNodes: true, adminCidrs: ['192.168.10.0/24', '2001:db8::/48'], monitoringCidrs: ['192.168.20.5/32'] });
    const members = groupId(s, /members/);
    const rules = rulesInto(s, members);
    const self = JSON.stringify({ 'Fn::GetAtt': [members, 'GroupId'] });
    for (const port of [2379, 2380]) assert.ok(rules.includes(`tcp ${port}-${port} from ${self}`), rules.join('\n'));
    for (const rule of [
      'tcp 5432-5432 from 192.168.10.0/24',
      'tcp 8008-8008 from 192.168.10.0/24',
      'tcp 5432-5432 from 2001:db8::/48',
      'tcp 8008-8008 from 2001:db8::/48',
      'tcp 8008-8008 from 192.168.20.5/32',
    ]) assert.ok(rules.includes(rule), `${rule} missing from\n${rules.join('\n')}`);
    assert.ok(!rules.includes('tcp 5432-5432 from 192.168.20.5/32'));
    assert.deepEqual(worldOpenRules(s.resources, DATABASE_PORTS), []);
  });

  it('keeps old versions as long as asked, moves objects to STANDARD_IA, uses another prefix', () => {
    const s = synth({ archive: { versioned: true, noncurrentVersionExpirationDays: 90, infrequentAccessAfterDays: 60, prefix: 'pg/orders' } });
    s.template.hasResourceProperties('AWS::S3::Bucket', {
      VersioningConfiguration: { Status: 'Enabled' },
      LifecycleConfiguration: {
        Rules: Match.arrayWith([
          Match.objectLike({ NoncurrentVersionExpiration: { NoncurrentDays: 90 }, ExpiredObjectDeleteMarker: true }),
          Match.objectLike({ Transitions: [{ StorageClass: 'STANDARD_IA', TransitionInDays: 60 }] }),
        ]),
      },
    });
    const list = policyStatements(s.resources).find((st) => st.Action.includes('s3:ListBucket'))!;
    assert.deepEqual(list.Condition, { StringLike: { 's3:prefix': ['pg/orders', 'pg/orders/*'] } });
  });

  for (const mode of ['governance', 'compliance'] as const) {
    it(`locks every new object version (${mode} mode) when asked`, () => {
      const s = synth({ archive: { objectLock: { mode, retentionDays: 14 } } });
      s.template.hasResourceProperties('AWS::S3::Bucket', {
        VersioningConfiguration: { Status: 'Enabled' },
        ObjectLockEnabled: true,
        ObjectLockConfiguration: { ObjectLockEnabled: 'Enabled', Rule: { DefaultRetention: { Mode: mode.toUpperCase(), Days: 14 } } },
      });
    });
  }

  it('refuses an unversioned bucket before anything is built', () => {
    assert.throws(() => synth({ archive: { versioned: false } }), /archive\.versioned: the archive bucket is always versioned/);
  });

  it('refuses 0.0.0.0/0 for clients before anything is built', () => {
    assert.throws(() => synth({ clientCidrs: ['0.0.0.0/0'] }), /clientCidrs\[0\]: "0\.0\.0\.0\/0" opens the cluster to the whole internet/);
  });
});

describe('the template checks themselves', () => {
  const group = (rules: Json[]) => ({ G: { Type: 'AWS::EC2::SecurityGroup', Properties: { SecurityGroupIngress: rules } } });

  it('flag world-open rules on the listed ports, inline or standalone, IPv4 or IPv6, whatever the protocol spelling', () => {
    assert.equal(worldOpenRules(group([{ IpProtocol: 'tcp', FromPort: 5432, ToPort: 5432, CidrIp: '0.0.0.0/0' }]), [5432]).length, 1);
    assert.equal(worldOpenRules(group([{ IpProtocol: 'tcp', FromPort: 5000, ToPort: 5001, CidrIpv6: '::/0' }]), [5001]).length, 1);
    assert.equal(worldOpenRules(group([{ IpProtocol: '-1', CidrIp: '0.0.0.0/0' }]), [2380]).length, 1);
    assert.equal(
      worldOpenRules({ R: { Type: 'AWS::EC2::SecurityGroupIngress', Properties: { IpProtocol: 'tcp', FromPort: 8000, ToPort: 9000, CidrIp: '0.0.0.0/0' } } }, [8008]).length,
      1,
    );
    assert.equal(worldOpenRules(group([{ IpProtocol: 'tcp', FromPort: 443, ToPort: 443, CidrIp: '0.0.0.0/0' }]), [5432]).length, 0);
    assert.equal(worldOpenRules(group([{ IpProtocol: 'tcp', FromPort: 5432, ToPort: 5432, CidrIp: '10.0.0.0/8' }]), [5432]).length, 0);
  });

  it('flag secrets placed in user data', () => {
    assert.deepEqual(secretLeaks('x={{resolve:secretsmanager:arn:aws:secretsmanager:eu-west-1:1:secret:pw}}'), ['{{resolve:secretsmanager']);
    assert.deepEqual(secretLeaks('SCOPE=a\nPGPASSWORD_SUPERUSER=hunter2\n'), ['PGPASSWORD_SUPERUSER']);
    assert.deepEqual(secretLeaks('  PGPASSWORD_SUPERUSER "$pgpassword_superuser" \\'), []);
  });

  it('flag statements on "*" or on another resource', () => {
    const statements = [{ policy: 'P', Effect: 'Allow', Action: ['s3:GetObject'], Resource: ['*'] }];
    assert.equal(unscopedStatements(statements, 's3', () => true).length, 1);
    assert.equal(unscopedStatements([{ ...statements[0]!, Resource: ['arn:aws:s3:::other/*'] }], 's3', (r) => r === 'mine').length, 1);
    assert.equal(unscopedStatements([{ ...statements[0]!, Resource: ['mine'] }], 's3', (r) => r === 'mine').length, 0);
  });
});
