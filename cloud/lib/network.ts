// The VPC the cluster lives in: an existing one named by id (no lookup in an AWS account, so
// synthesis needs no credentials), or a new one with private subnets in every zone it spans.

import { aws_ec2 as ec2 } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import type { VpcSettings } from './settings.js';

export interface ClusterNetwork {
  vpc: ec2.IVpc;
  /** Where the instances and the (internal) load balancers go: private subnets, one per zone. */
  subnets: ec2.SubnetSelection;
}

export function clusterNetwork(scope: Construct, settings: VpcSettings): ClusterNetwork {
  if (settings.kind === 'existing') {
    const vpc = ec2.Vpc.fromVpcAttributes(scope, 'Vpc', {
      vpcId: settings.vpcId,
      vpcCidrBlock: settings.vpcCidrBlock,
      availabilityZones: settings.availabilityZones,
      privateSubnetIds: settings.privateSubnetIds,
    });
    return { vpc, subnets: { subnets: vpc.privateSubnets } };
  }
  const vpc = new ec2.Vpc(scope, 'Vpc', {
    ipAddresses: ec2.IpAddresses.cidr(settings.cidr),
    ...(settings.availabilityZones ? { availabilityZones: settings.availabilityZones } : { maxAzs: settings.maxAzs }),
    natGateways: settings.natGateways,
    subnetConfiguration: [
      // Public subnets hold only the NAT gateways; nothing of the cluster is reachable from outside.
      { name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 },
      { name: 'private', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 20 },
    ],
    // WAL and backups to S3 without crossing the NAT gateway (free, and no NAT bandwidth limit).
    gatewayEndpoints: { S3: { service: ec2.GatewayVpcEndpointAwsService.S3 } },
    // Restricting the default group needs a Lambda-backed custom resource (an asset to upload);
    // nothing of the cluster uses the default group.
    restrictDefaultSecurityGroup: false,
  });
  return { vpc, subnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS } };
}
