// What a governor cluster on AWS is made of, as plain data: the input an operator gives (props of
// the stack, or CDK context through ./context.ts) and the checked, defaulted settings the
// constructs are built from. Pure: no aws-cdk-lib here, so every rule is a table-driven unit test.

/** A VPC that already exists, named completely so that nothing is looked up in an AWS account. */
export interface ExistingVpcInput {
  vpcId: string;
  vpcCidrBlock: string;
  /** One per private subnet, in the same order. */
  availabilityZones: string[];
  privateSubnetIds: string[];
}

export interface NewVpcInput {
  /** Default 10.0.0.0/16. */
  cidr?: string;
  /** Explicit zones (needs a stack with a concrete region). Without them the VPC takes the
   *  region's first zones: up to `maxAzs` (default 3), only 2 in an environment-agnostic stack. */
  availabilityZones?: string[];
  maxAzs?: number;
  /** NAT gateways for the private subnets' way out (Secrets Manager, KMS, etcd outside the VPC,
   *  packages). Default 1; one per zone survives a zone outage. S3 goes through a gateway endpoint. */
  natGateways?: number;
}

export interface DnsInput {
  hostedZoneId: string;
  zoneName: string;
  /** The writers' name, e.g. "db" or "db.example.com". */
  masterRecordName: string;
  /** The readers' name; only with the replica load balancer. */
  replicaRecordName?: string;
}

export type ObjectLockMode = 'governance' | 'compliance';

export interface ObjectLockInput {
  /** governance: a principal with s3:BypassGovernanceRetention may still delete (the instances never
   *  may); compliance: nobody, not even the account root, until the retention ends. */
  mode: ObjectLockMode;
  /** Every new object version is locked this many days. */
  retentionDays: number;
}

export interface ArchiveInput {
  /** Key prefix inside the bucket; default: the scope (what WAL_S3_BUCKET would give). */
  prefix?: string;
  /** The bucket is always versioned; only true (or absent) is accepted. */
  versioned?: boolean;
  /** Overwritten and deleted object versions are removed after this many days (default 30). */
  noncurrentVersionExpirationDays?: number;
  /** S3 Object Lock with a default retention; absent or null: off. Only for a new bucket. */
  objectLock?: ObjectLockInput | null;
  /** Move objects to STANDARD_IA after this many days (>= 30). */
  infrequentAccessAfterDays?: number;
  /** Cron, 5 fields, UTC (BACKUP_SCHEDULE); null: no scheduled backups. Default "0 1 * * *". */
  backupSchedule?: string | null;
  /** BACKUP_NUM_TO_RETAIN; default 5. */
  backupNumToRetain?: number;
}

export interface GovernorClusterInput {
  /** Cluster name (SCOPE). */
  scope: string;
  /** host:port of the etcd cluster members (ETCD_HOSTS). */
  etcdHosts: string[];
  /** etcd members run on the governor instances themselves: opens 2379/2380 among them. */
  etcdOnNodes?: boolean;
  /** Instances in the Auto Scaling group (min = max = desired). Default 3. */
  nodes?: number;
  /** Default m6i.large. */
  instanceType?: string;
  /** Root volume (holds the data directory), GiB, gp3, encrypted. Default 100. */
  rootVolumeGiB?: number;
  /** Default value of the AmiId parameter (the governor AMI). */
  amiId?: string;
  /** Use this VPC instead of creating one. */
  existingVpc?: ExistingVpcInput;
  newVpc?: NewVpcInput;
  /** Who may connect to the load balancers (5000, 5001). Never 0.0.0.0/0. */
  clientCidrs: string[];
  /** Operators: PostgreSQL 5432 and the REST API 8008 (governorctl) on the instances. */
  adminCidrs?: string[];
  /** Metrics scrapers: the REST API 8008 on the instances. */
  monitoringCidrs?: string[];
  /** A second load balancer for reads on 5001 (health check /replica). Default true. */
  replicaLoadBalancer?: boolean;
  dns?: DnsInput;
  archive?: ArchiveInput;
  /** AmazonSSMManagedInstanceCore on the instance role: Session Manager instead of SSH. Default true. */
  ssmAccess?: boolean;
}

export type VpcSettings =
  | { kind: 'existing'; vpcId: string; vpcCidrBlock: string; availabilityZones: string[]; privateSubnetIds: string[] }
  | { kind: 'new'; cidr: string; availabilityZones: string[] | null; maxAzs: number; natGateways: number };

export interface ArchiveSettings {
  prefix: string;
  /** Always true: a compromised instance can then only add versions and delete markers. */
  versioned: true;
  noncurrentVersionExpirationDays: number;
  objectLock: ObjectLockInput | null;
  infrequentAccessAfterDays: number | null;
  backupSchedule: string | null;
  backupNumToRetain: number;
}

export interface ClusterSettings {
  scope: string;
  etcdHosts: string[];
  etcdOnNodes: boolean;
  nodes: number;
  instanceType: string;
  rootVolumeGiB: number;
  amiId: string | null;
  vpc: VpcSettings;
  clientCidrs: string[];
  adminCidrs: string[];
  monitoringCidrs: string[];
  replicaLoadBalancer: boolean;
  dns: DnsInput | null;
  archive: ArchiveSettings;
  ssmAccess: boolean;
}

/** Fixed by the AMI's governor configuration; the security groups and load balancers follow them. */
export const PORTS = {
  postgresql: 5432,
  restApi: 8008,
  master: 5000,
  replicas: 5001,
  etcdClient: 2379,
  etcdPeer: 2380,
} as const;

export const DEFAULTS = {
  nodes: 3,
  instanceType: 'm6i.large',
  rootVolumeGiB: 100,
  vpcCidr: '10.0.0.0/16',
  maxAzs: 3,
  natGateways: 1,
  backupSchedule: '0 1 * * *',
  backupNumToRetain: 5,
  noncurrentVersionExpirationDays: 30,
  replicaLoadBalancer: true,
  ssmAccess: true,
} as const;

export class SettingsError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid governor cluster settings:\n  ${problems.join('\n  ')}`);
    this.name = 'SettingsError';
  }
}

// governor's own rule for scope (src/config/validate.ts), which also makes it a safe S3 key segment.
const NAME_RE = /^[A-Za-z0-9._-]{1,63}$/;
const HOST_PORT_RE = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\]):(\d{1,5})$/;
const PREFIX_SEGMENT_RE = /^[A-Za-z0-9._=-]+$/;
const INSTANCE_TYPE_RE = /^[a-z][a-z0-9-]*\.[a-z0-9]+$/;
const AMI_RE = /^ami-[0-9a-f]{8,17}$/;
const VPC_RE = /^vpc-[0-9a-f]{8,17}$/;
const SUBNET_RE = /^subnet-[0-9a-f]{8,17}$/;
const ZONE_ID_RE = /^Z[A-Z0-9]{1,31}$/;
const AZ_RE = /^[a-z]{2}(?:-[a-z]+)+-\d[a-z]$/;
const DNS_NAME_RE = /^(?:\*\.)?[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62}))*\.?$/;
const CRON_FIELD_RE = /^[A-Za-z0-9*,/-]+$/;

function describe(value: unknown): string {
  return value === undefined ? 'nothing' : JSON.stringify(value);
}

/** An IPv4 or IPv6 CIDR; null when well formed, else the problem. */
export function cidrProblem(cidr: unknown): string | null {
  if (typeof cidr !== 'string') return `expected a CIDR such as "10.1.0.0/16", got ${describe(cidr)}`;
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(cidr);
  if (v4) {
    const octets = v4.slice(1, 5).map(Number);
    if (octets.some((o) => o > 255) || Number(v4[5]) > 32) return `${describe(cidr)} is not a valid IPv4 CIDR`;
    return null;
  }
  const v6 = /^([0-9A-Fa-f:]+)\/(\d{1,3})$/.exec(cidr);
  if (v6 && v6[1]!.includes(':') && Number(v6[2]) <= 128 && (v6[1]!.match(/::/g) ?? []).length <= 1) return null;
  return `expected a CIDR such as "10.1.0.0/16" or "2001:db8::/48", got ${describe(cidr)}`;
}

/** A CIDR that covers every address (prefix length 0, whatever the address: 10.0.0.0/0 is
 *  0.0.0.0/0 too): never an ingress source for a database port. */
export function isOpenToWorld(cidr: string): boolean {
  return /\/0+$/.test(cidr.trim());
}

class Checker {
  readonly problems: string[] = [];

  fail(field: string, message: string): void {
    this.problems.push(`${field}: ${message}`);
  }

  string(field: string, value: unknown, re: RegExp, example: string): string {
    if (typeof value !== 'string' || !re.test(value)) {
      this.fail(field, `expected ${example}, got ${describe(value)}`);
      return '';
    }
    return value;
  }

  integer(field: string, value: unknown, fallback: number, min: number, max: number): number {
    if (value === undefined) return fallback;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      this.fail(field, `expected an integer from ${min} to ${max}, got ${describe(value)}`);
      return fallback;
    }
    return value;
  }

  optionalInteger(field: string, value: unknown, min: number, max: number): number | null {
    if (value === undefined || value === null) return null;
    return this.integer(field, value, min, min, max);
  }

  boolean(field: string, value: unknown, fallback: boolean): boolean {
    if (value === undefined) return fallback;
    if (typeof value !== 'boolean') {
      this.fail(field, `expected true or false, got ${describe(value)}`);
      return fallback;
    }
    return value;
  }

  list(field: string, value: unknown, required: boolean): unknown[] {
    if (value === undefined && !required) return [];
    if (!Array.isArray(value)) {
      this.fail(field, `expected a list, got ${describe(value)}`);
      return [];
    }
    if (required && value.length === 0) this.fail(field, 'must not be empty');
    return value;
  }

  cidrs(field: string, value: unknown, required: boolean): string[] {
    const cidrs: string[] = [];
    this.list(field, value, required).forEach((cidr, i) => {
      const problem = cidrProblem(cidr);
      if (problem) this.fail(`${field}[${i}]`, problem);
      else if (isOpenToWorld(cidr as string)) {
        this.fail(`${field}[${i}]`, `${describe(cidr)} opens the cluster to the whole internet: name the networks that need access`);
      } else if (cidrs.includes(cidr as string)) {
        // Two identical rules in one security group are refused by EC2 at deploy time.
        this.fail(`${field}[${i}]`, `${describe(cidr)} is listed twice`);
      } else cidrs.push(cidr as string);
    });
    return cidrs;
  }
}

function checkCron(ch: Checker, field: string, value: unknown): string | null {
  if (value === null) return null;
  if (value === undefined) return DEFAULTS.backupSchedule;
  const fields = typeof value === 'string' ? value.trim().split(/\s+/) : [];
  if (fields.length !== 5 || fields.some((f) => !CRON_FIELD_RE.test(f))) {
    ch.fail(field, `expected a cron expression of 5 fields (minute hour day-of-month month day-of-week, UTC) such as "0 1 * * *", or null, got ${describe(value)}`);
    return null;
  }
  return fields.join(' ');
}

function checkPrefix(ch: Checker, field: string, value: unknown, scope: string): string {
  if (value === undefined) return scope;
  const segments = typeof value === 'string' ? value.split('/') : [];
  if (segments.length === 0 || segments.some((s) => s === '.' || s === '..' || !PREFIX_SEGMENT_RE.test(s))) {
    ch.fail(field, `expected a key prefix of segments of A-Z a-z 0-9 . _ = - separated by "/", without leading or trailing "/", got ${describe(value)}`);
    return scope;
  }
  return value as string;
}

function checkVpc(ch: Checker, input: GovernorClusterInput): VpcSettings {
  if (input.existingVpc !== undefined && input.newVpc !== undefined) {
    ch.fail('existingVpc', 'give either existingVpc or newVpc, not both');
  }
  const existing = input.existingVpc;
  if (existing !== undefined) {
    const vpcId = ch.string('existingVpc.vpcId', existing.vpcId, VPC_RE, 'a VPC id such as "vpc-0123456789abcdef0"');
    const problem = cidrProblem(existing.vpcCidrBlock);
    if (problem) ch.fail('existingVpc.vpcCidrBlock', problem);
    const zones = ch.list('existingVpc.availabilityZones', existing.availabilityZones, true)
      .map((z, i) => ch.string(`existingVpc.availabilityZones[${i}]`, z, AZ_RE, 'a zone name such as "eu-west-1a"'));
    const subnets = ch.list('existingVpc.privateSubnetIds', existing.privateSubnetIds, true)
      .map((s, i) => ch.string(`existingVpc.privateSubnetIds[${i}]`, s, SUBNET_RE, 'a subnet id such as "subnet-0123456789abcdef0"'));
    if (subnets.length !== zones.length) {
      ch.fail('existingVpc.privateSubnetIds', `expected one subnet per zone in existingVpc.availabilityZones (${zones.length}), got ${subnets.length}`);
    }
    if (new Set(zones).size < 2) ch.fail('existingVpc.availabilityZones', 'the cluster must span at least 2 availability zones');
    return { kind: 'existing', vpcId, vpcCidrBlock: existing.vpcCidrBlock, availabilityZones: zones, privateSubnetIds: subnets };
  }
  const fresh = input.newVpc ?? {};
  const cidr = fresh.cidr ?? DEFAULTS.vpcCidr;
  const problem = cidrProblem(cidr);
  if (problem || cidr.includes(':')) ch.fail('newVpc.cidr', problem ?? `expected an IPv4 CIDR, got ${describe(cidr)}`);
  let zones: string[] | null = null;
  if (fresh.availabilityZones !== undefined) {
    zones = ch.list('newVpc.availabilityZones', fresh.availabilityZones, true)
      .map((z, i) => ch.string(`newVpc.availabilityZones[${i}]`, z, AZ_RE, 'a zone name such as "eu-west-1a"'));
    if (new Set(zones).size !== zones.length) ch.fail('newVpc.availabilityZones', 'lists a zone twice');
    if (zones.length < 2) ch.fail('newVpc.availabilityZones', 'the cluster must span at least 2 availability zones');
    if (fresh.maxAzs !== undefined) ch.fail('newVpc.maxAzs', 'give either newVpc.availabilityZones or newVpc.maxAzs, not both');
  }
  const maxAzs = ch.integer('newVpc.maxAzs', fresh.maxAzs, DEFAULTS.maxAzs, 2, 6);
  const natGateways = ch.integer('newVpc.natGateways', fresh.natGateways, DEFAULTS.natGateways, 1, 6);
  return { kind: 'new', cidr, availabilityZones: zones, maxAzs, natGateways };
}

function checkDns(ch: Checker, dns: DnsInput | undefined, replicaLoadBalancer: boolean): DnsInput | null {
  if (dns === undefined) return null;
  const hostedZoneId = ch.string('dns.hostedZoneId', dns.hostedZoneId, ZONE_ID_RE, 'a hosted zone id such as "Z0123456789ABCDEFGHIJ"');
  const zoneName = ch.string('dns.zoneName', dns.zoneName, DNS_NAME_RE, 'a domain such as "example.com"');
  const masterRecordName = ch.string('dns.masterRecordName', dns.masterRecordName, DNS_NAME_RE, 'a record name such as "db"');
  const checked: DnsInput = { hostedZoneId, zoneName, masterRecordName };
  if (dns.replicaRecordName !== undefined) {
    checked.replicaRecordName = ch.string('dns.replicaRecordName', dns.replicaRecordName, DNS_NAME_RE, 'a record name such as "db-ro"');
    if (!replicaLoadBalancer) ch.fail('dns.replicaRecordName', 'needs the replica load balancer (replicaLoadBalancer: true)');
  }
  return checked;
}

const OBJECT_LOCK_MODES: readonly ObjectLockMode[] = ['governance', 'compliance'];

function checkObjectLock(ch: Checker, lock: ObjectLockInput | null | undefined): ObjectLockInput | null {
  if (lock === undefined || lock === null) return null;
  const mode = OBJECT_LOCK_MODES.find((m) => m === lock.mode);
  if (mode === undefined) ch.fail('archive.objectLock.mode', `expected "governance" or "compliance", got ${describe(lock.mode)}`);
  if (lock.retentionDays === undefined) ch.fail('archive.objectLock.retentionDays', 'required with archive.objectLock (days every new object version stays locked)');
  const retentionDays = ch.integer('archive.objectLock.retentionDays', lock.retentionDays, 1, 1, 36500);
  return { mode: mode ?? 'governance', retentionDays };
}

function checkArchive(ch: Checker, archive: ArchiveInput | undefined, scope: string): ArchiveSettings {
  const a = archive ?? {};
  // Versioning is what keeps one compromised instance from erasing the backups: its role may only
  // add versions and delete markers. It is not a choice.
  if (ch.boolean('archive.versioned', a.versioned, true) !== true) {
    ch.fail('archive.versioned', 'the archive bucket is always versioned, so that one compromised instance cannot erase the backups; remove archive.versioned or set it to true');
  }
  const noncurrentVersionExpirationDays = ch.integer(
    'archive.noncurrentVersionExpirationDays', a.noncurrentVersionExpirationDays, DEFAULTS.noncurrentVersionExpirationDays, 1, 3650,
  );
  return {
    prefix: checkPrefix(ch, 'archive.prefix', a.prefix, scope),
    versioned: true,
    noncurrentVersionExpirationDays,
    objectLock: checkObjectLock(ch, a.objectLock),
    // S3 refuses transitions to STANDARD_IA before 30 days.
    infrequentAccessAfterDays: ch.optionalInteger('archive.infrequentAccessAfterDays', a.infrequentAccessAfterDays, 30, 3650),
    backupSchedule: checkCron(ch, 'archive.backupSchedule', a.backupSchedule),
    backupNumToRetain: ch.integer('archive.backupNumToRetain', a.backupNumToRetain, DEFAULTS.backupNumToRetain, 1, 1000),
  };
}

/** Check the input and fill in defaults; throws a SettingsError listing every bad field. */
export function resolveSettings(input: GovernorClusterInput): ClusterSettings {
  const ch = new Checker();
  const scope = ch.string('scope', input.scope, NAME_RE, 'a cluster name of 1-63 characters A-Z a-z 0-9 . _ -');
  if (scope === '.' || scope === '..') ch.fail('scope', `must not be ${describe(scope)}`);
  const etcdHosts = ch.list('etcdHosts', input.etcdHosts, true).map((host, i) => {
    const port = typeof host === 'string' ? HOST_PORT_RE.exec(host)?.[1] : undefined;
    if (port === undefined || Number(port) < 1 || Number(port) > 65535) {
      ch.fail(`etcdHosts[${i}]`, `expected host:port such as "10.0.1.10:2379", got ${describe(host)}`);
      return '';
    }
    return host as string;
  });
  const replicaLoadBalancer = ch.boolean('replicaLoadBalancer', input.replicaLoadBalancer, DEFAULTS.replicaLoadBalancer);
  const amiId = input.amiId === undefined ? null : ch.string('amiId', input.amiId, AMI_RE, 'an AMI id such as "ami-0123456789abcdef0"');
  const settings: ClusterSettings = {
    scope,
    etcdHosts,
    etcdOnNodes: ch.boolean('etcdOnNodes', input.etcdOnNodes, false),
    // Fewer than 2 instances is no high availability; an even count buys nothing over one less.
    nodes: ch.integer('nodes', input.nodes, DEFAULTS.nodes, 2, 9),
    instanceType: input.instanceType === undefined
      ? DEFAULTS.instanceType
      : ch.string('instanceType', input.instanceType, INSTANCE_TYPE_RE, 'an instance type such as "m6i.large"'),
    rootVolumeGiB: ch.integer('rootVolumeGiB', input.rootVolumeGiB, DEFAULTS.rootVolumeGiB, 20, 16384),
    amiId,
    vpc: checkVpc(ch, input),
    clientCidrs: ch.cidrs('clientCidrs', input.clientCidrs, true),
    adminCidrs: ch.cidrs('adminCidrs', input.adminCidrs, false),
    monitoringCidrs: ch.cidrs('monitoringCidrs', input.monitoringCidrs, false),
    replicaLoadBalancer,
    dns: checkDns(ch, input.dns, replicaLoadBalancer),
    archive: checkArchive(ch, input.archive, scope),
    ssmAccess: ch.boolean('ssmAccess', input.ssmAccess, DEFAULTS.ssmAccess),
  };
  if (ch.problems.length > 0) throw new SettingsError(ch.problems);
  return settings;
}
