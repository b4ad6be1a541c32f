// The governor cluster on AWS, Spilo's layout: an Auto Scaling group of governor instances across
// availability zones, each running PostgreSQL, governor and HAProxy; load balancers in front;
// WAL and backups in an encrypted bucket. Synthesizes without an AWS account: nothing is looked
// up, the AMI is a parameter, and the stack may be environment-agnostic.

import { CfnOutput, CfnParameter, DefaultStackSynthesizer, Duration, Stack, Token, aws_autoscaling as autoscaling, aws_ec2 as ec2, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { ArchiveStorage } from './archive.js';
import { protectArchive } from './archive-protection.js';
import { bootScript, clusterEnvironment } from './boot-script.js';
import { InstanceRole } from './instance-role.js';
import { ClusterLoadBalancers } from './load-balancers.js';
import { clusterNetwork } from './network.js';
import { ClusterSecrets } from './secrets.js';
import { ClusterSecurityGroups } from './security-groups.js';
import { resolveSettings, type ClusterSettings, type GovernorClusterInput } from './settings.js';

export interface GovernorStackProps extends StackProps {
  cluster: GovernorClusterInput;
}

/** The AMI from a template parameter: chosen at deploy time, so synthesis needs no lookup. */
class ParameterImage implements ec2.IMachineImage {
  constructor(private readonly imageId: string) {}

  getImage(): ec2.MachineImageConfig {
    return { imageId: this.imageId, osType: ec2.OperatingSystemType.LINUX, userData: ec2.UserData.forLinux() };
  }
}

export class GovernorStack extends Stack {
  readonly settings: ClusterSettings;
  readonly instances: autoscaling.AutoScalingGroup;

  constructor(scope: Construct, id: string, props: GovernorStackProps) {
    super(scope, id, {
      // No bootstrap version check: the template has no assets, so it also deploys with plain
      // CloudFormation (aws cloudformation deploy) in an account never bootstrapped for CDK.
      synthesizer: new DefaultStackSynthesizer({ generateBootstrapVersionRule: false }),
      ...props,
    });
    const settings = resolveSettings(props.cluster);
    this.settings = settings;
    if (settings.vpc.kind === 'new' && settings.vpc.availabilityZones !== null && Token.isUnresolved(this.region)) {
      throw new Error('newVpc.availabilityZones: naming zones needs a stack with a concrete region (env.region)');
    }
    if (settings.vpc.kind === 'new' && settings.vpc.availabilityZones === null && !Token.isUnresolved(this.region)) {
      // With a concrete region CDK would look the zones up in the account, or use dummy names.
      throw new Error(`newVpc.availabilityZones: required when the stack's region is concrete (${this.region}); or leave env.region unset`);
    }

    const ami = new CfnParameter(this, 'AmiId', {
      type: 'AWS::EC2::Image::Id',
      description: 'The governor AMI (built from ami/ with Packer)',
      ...(settings.amiId !== null ? { default: settings.amiId } : {}),
    });

    const network = clusterNetwork(this, settings.vpc);
    const archive = new ArchiveStorage(this, 'Archive', { ...settings.archive, scope: settings.scope });
    const secrets = new ClusterSecrets(this, 'Secrets', settings.scope);
    const securityGroups = new ClusterSecurityGroups(this, 'SecurityGroups', network.vpc, settings);
    const { role } = new InstanceRole(this, 'InstanceRole', {
      bucket: archive.bucket,
      prefix: settings.archive.prefix,
      key: archive.key,
      secrets: secrets.secrets,
      ssmAccess: settings.ssmAccess,
    });
    protectArchive(role, archive.bucket, archive.key);

    const script = bootScript({
      region: this.region,
      environment: clusterEnvironment(settings, {
        bucketName: archive.bucket.bucketName,
        kmsKeyArn: archive.key.keyArn,
        region: this.region,
      }),
      secrets: secrets.boot,
    });

    const launchTemplate = new ec2.LaunchTemplate(this, 'LaunchTemplate', {
      machineImage: new ParameterImage(ami.valueAsString),
      instanceType: new ec2.InstanceType(settings.instanceType),
      userData: ec2.UserData.custom(script.join('\n')),
      role,
      securityGroup: securityGroups.members,
      // Metadata only with a session token, and one hop: a container on the instance cannot
      // reach the role's credentials.
      requireImdsv2: true,
      httpPutResponseHopLimit: 1,
      blockDevices: [
        {
          // The root device of Debian's AMIs, which the governor AMI is built from.
          deviceName: '/dev/xvda',
          volume: ec2.BlockDeviceVolume.ebs(settings.rootVolumeGiB, {
            volumeType: ec2.EbsDeviceVolumeType.GP3,
            encrypted: true,
            deleteOnTermination: true,
          }),
        },
      ],
    });

    this.instances = new autoscaling.AutoScalingGroup(this, 'Instances', {
      vpc: network.vpc,
      vpcSubnets: network.subnets,
      launchTemplate,
      minCapacity: settings.nodes,
      maxCapacity: settings.nodes,
      // EC2 status only. The load balancers' checks fail on every member but one by design
      // (/primary), so ELB health would have the group terminate the replicas.
      healthChecks: autoscaling.HealthChecks.ec2({ gracePeriod: Duration.minutes(10) }),
    });

    const loadBalancers = new ClusterLoadBalancers(this, 'LoadBalancers', {
      vpc: network.vpc,
      subnets: network.subnets,
      securityGroup: securityGroups.loadBalancers,
      instances: this.instances,
      replicaLoadBalancer: settings.replicaLoadBalancer,
      dns: settings.dns,
    });

    new CfnOutput(this, 'MasterEndpoint', {
      description: `Writes: PostgreSQL on port 5000 of this name`,
      value: loadBalancers.master.loadBalancer.loadBalancerDnsName,
    });
    if (loadBalancers.replicas) {
      new CfnOutput(this, 'ReplicasEndpoint', {
        description: 'Reads: PostgreSQL on port 5001 of this name',
        value: loadBalancers.replicas.loadBalancer.loadBalancerDnsName,
      });
    }
    if (loadBalancers.master.record) {
      new CfnOutput(this, 'MasterRecord', { description: 'Route 53 name of the master endpoint', value: loadBalancers.master.record.domainName });
    }
    if (loadBalancers.replicas?.record) {
      new CfnOutput(this, 'ReplicasRecord', { description: 'Route 53 name of the replicas endpoint', value: loadBalancers.replicas.record.domainName });
    }
    new CfnOutput(this, 'ArchiveBucket', { description: 'WAL and base backups', value: archive.bucket.bucketName });
    new CfnOutput(this, 'ArchivePrefix', { description: 'WALG_S3_PREFIX of the cluster', value: `s3://${archive.bucket.bucketName}/${settings.archive.prefix}` });
    new CfnOutput(this, 'ArchiveKey', { description: 'KMS key of the archive', value: archive.key.keyArn });
    secrets.boot.forEach((secret, i) => {
      new CfnOutput(this, `${secrets.secrets[i]!.node.id}Secret`, {
        description: `Secrets Manager ARN of the ${secret.label} (${secret.variable})`,
        value: secrets.secrets[i]!.secretArn,
      });
    });
  }
}
