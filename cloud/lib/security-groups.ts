// Who may talk to what. Members talk to each other on every port the cluster uses; the load
// balancers reach the HAProxy ports and the REST port (health checks) only; clients reach the
// load balancers; operators and metrics scrapers come from CIDRs named in the settings. Nothing
// is open to 0.0.0.0/0 (settings.ts refuses such CIDRs).

import { aws_ec2 as ec2 } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { PORTS, type ClusterSettings } from './settings.js';

function peer(cidr: string): ec2.IPeer {
  return cidr.includes(':') ? ec2.Peer.ipv6(cidr) : ec2.Peer.ipv4(cidr);
}

export class ClusterSecurityGroups extends Construct {
  /** On every instance. */
  readonly members: ec2.SecurityGroup;
  /** On the load balancers. */
  readonly loadBalancers: ec2.SecurityGroup;

  constructor(scope: Construct, id: string, vpc: ec2.IVpc, settings: ClusterSettings) {
    super(scope, id);
    this.members = new ec2.SecurityGroup(this, 'Members', {
      vpc,
      description: `governor cluster ${settings.scope}: members`,
      // S3, Secrets Manager, KMS, etcd, package mirrors: the instances initiate, nothing comes in.
      allowAllOutbound: true,
    });
    this.loadBalancers = new ec2.SecurityGroup(this, 'LoadBalancers', {
      vpc,
      description: `governor cluster ${settings.scope}: load balancers`,
      allowAllOutbound: false,
    });

    const memberPorts: Array<[number, string]> = [
      [PORTS.postgresql, 'PostgreSQL: replication, pg_rewind, HAProxy to the master'],
      [PORTS.restApi, 'REST API: peers compare WAL positions, HAProxy health checks'],
      [PORTS.master, 'HAProxy master port'],
      [PORTS.replicas, 'HAProxy replicas port'],
    ];
    if (settings.etcdOnNodes) {
      memberPorts.push([PORTS.etcdClient, 'etcd clients'], [PORTS.etcdPeer, 'etcd peers']);
    }
    for (const [port, why] of memberPorts) {
      this.members.addIngressRule(this.members, ec2.Port.tcp(port), `members: ${why}`);
    }

    // allowTo adds the load balancers' egress rule and the members' ingress rule together.
    const balanced: Array<[number, string]> = [
      [PORTS.master, 'master load balancer to HAProxy'],
      [PORTS.restApi, 'load balancer health checks (/primary, /replica)'],
    ];
    if (settings.replicaLoadBalancer) balanced.push([PORTS.replicas, 'replica load balancer to HAProxy']);
    for (const [port, why] of balanced) {
      this.loadBalancers.connections.allowTo(this.members, ec2.Port.tcp(port), why);
    }

    const listenerPorts: number[] = [PORTS.master];
    if (settings.replicaLoadBalancer) listenerPorts.push(PORTS.replicas);
    for (const cidr of settings.clientCidrs) {
      for (const port of listenerPorts) this.loadBalancers.addIngressRule(peer(cidr), ec2.Port.tcp(port), `clients ${cidr}`);
    }
    for (const cidr of settings.adminCidrs) {
      this.members.addIngressRule(peer(cidr), ec2.Port.tcp(PORTS.postgresql), `admin ${cidr}: psql`);
      this.members.addIngressRule(peer(cidr), ec2.Port.tcp(PORTS.restApi), `admin ${cidr}: governorctl`);
    }
    for (const cidr of settings.monitoringCidrs) {
      if (settings.adminCidrs.includes(cidr)) continue;
      this.members.addIngressRule(peer(cidr), ec2.Port.tcp(PORTS.restApi), `monitoring ${cidr}: metrics`);
    }
  }
}
