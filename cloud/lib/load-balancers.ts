// The endpoints clients use: an internal Network Load Balancer for writes (5000) whose target
// group is every instance's HAProxy master port, healthy only on the member answering 200 on
// GET /primary; optionally a second one for reads (5001, GET /replica); DNS names in Route 53.
// HAProxy on every instance already routes to the master, so a target group that lags the
// leader change by a health check or two still reaches it.

import { Duration, aws_autoscaling as autoscaling, aws_ec2 as ec2, aws_elasticloadbalancingv2 as elbv2, aws_route53 as route53, aws_route53_targets as targets } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { PORTS, type DnsInput } from './settings.js';

export interface ClusterLoadBalancersProps {
  vpc: ec2.IVpc;
  subnets: ec2.SubnetSelection;
  securityGroup: ec2.ISecurityGroup;
  instances: autoscaling.AutoScalingGroup;
  replicaLoadBalancer: boolean;
  dns: DnsInput | null;
}

export interface Endpoint {
  loadBalancer: elbv2.NetworkLoadBalancer;
  targetGroup: elbv2.NetworkTargetGroup;
  record?: route53.ARecord;
}

export class ClusterLoadBalancers extends Construct {
  readonly master: Endpoint;
  readonly replicas?: Endpoint;

  constructor(scope: Construct, id: string, props: ClusterLoadBalancersProps) {
    super(scope, id);
    this.master = this.endpoint('Master', props, PORTS.master, '/primary');
    if (props.replicaLoadBalancer) this.replicas = this.endpoint('Replicas', props, PORTS.replicas, '/replica');

    if (props.dns !== null) {
      const zone = route53.HostedZone.fromHostedZoneAttributes(this, 'Zone', {
        hostedZoneId: props.dns.hostedZoneId,
        zoneName: props.dns.zoneName,
      });
      this.master.record = new route53.ARecord(this, 'MasterRecord', {
        zone,
        recordName: props.dns.masterRecordName,
        target: route53.RecordTarget.fromAlias(new targets.LoadBalancerTarget(this.master.loadBalancer)),
      });
      if (this.replicas && props.dns.replicaRecordName !== undefined) {
        this.replicas.record = new route53.ARecord(this, 'ReplicasRecord', {
          zone,
          recordName: props.dns.replicaRecordName,
          target: route53.RecordTarget.fromAlias(new targets.LoadBalancerTarget(this.replicas.loadBalancer)),
        });
      }
    }
  }

  private endpoint(id: string, props: ClusterLoadBalancersProps, port: number, healthPath: string): Endpoint {
    const loadBalancer = new elbv2.NetworkLoadBalancer(this, `${id}LoadBalancer`, {
      vpc: props.vpc,
      vpcSubnets: props.subnets,
      internetFacing: false,
      securityGroups: [props.securityGroup],
      // The master is one instance in one zone: without cross-zone balancing the other zones'
      // load balancer nodes would have no healthy target.
      crossZoneEnabled: true,
    });
    const targetGroup = new elbv2.NetworkTargetGroup(this, `${id}Targets`, {
      vpc: props.vpc,
      port,
      protocol: elbv2.Protocol.TCP,
      targetType: elbv2.TargetType.INSTANCE,
      // The source is the load balancer, not the client: an instance connecting to its own
      // cluster's endpoint is not dropped as a loopback, and the members' security group only
      // needs to admit the load balancers' group. PostgreSQL sees HAProxy's address either way.
      preserveClientIp: false,
      // A member that lost the key has its sessions cut by HAProxy at once; a short delay only
      // keeps replaced instances from lingering.
      deregistrationDelay: Duration.seconds(10),
      connectionTermination: true,
      healthCheck: {
        protocol: elbv2.Protocol.HTTP,
        port: String(PORTS.restApi),
        path: healthPath,
        healthyHttpCodes: '200',
        interval: Duration.seconds(5),
        timeout: Duration.seconds(3),
        healthyThresholdCount: 2,
        unhealthyThresholdCount: 2,
      },
    });
    targetGroup.addTarget(props.instances);
    loadBalancer.addListener(`${id}Listener`, { port, protocol: elbv2.Protocol.TCP, defaultTargetGroups: [targetGroup] });
    return { loadBalancer, targetGroup };
  }
}
