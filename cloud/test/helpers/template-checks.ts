// Questions asked of a synthesized CloudFormation template (plain JSON), shared by the stack tests.
// Plain functions over the JSON so that each can be shown to fail on a template that is wrong.

export type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any
export type Resources = Record<string, { Type: string; Properties?: Json }>;

export interface IngressRule {
  /** Resource id of the rule (or of the group for inline rules). */
  where: string;
  protocol: string;
  fromPort: number;
  toPort: number;
  cidrIp?: string;
  cidrIpv6?: string;
  source?: Json;
}

/** Every ingress rule: inline in AWS::EC2::SecurityGroup and standalone AWS::EC2::SecurityGroupIngress. */
export function ingressRules(resources: Resources): IngressRule[] {
  const rules: IngressRule[] = [];
  const add = (where: string, r: Json) => {
    const protocol = String(r.IpProtocol);
    const all = protocol === '-1' || protocol === 'all';
    rules.push({
      where,
      protocol,
      fromPort: all || r.FromPort === undefined || r.FromPort === -1 ? 0 : Number(r.FromPort),
      toPort: all || r.ToPort === undefined || r.ToPort === -1 ? 65535 : Number(r.ToPort),
      ...(r.CidrIp !== undefined ? { cidrIp: r.CidrIp } : {}),
      ...(r.CidrIpv6 !== undefined ? { cidrIpv6: r.CidrIpv6 } : {}),
      ...(r.SourceSecurityGroupId !== undefined ? { source: r.SourceSecurityGroupId } : {}),
    });
  };
  for (const [id, resource] of Object.entries(resources)) {
    if (resource.Type === 'AWS::EC2::SecurityGroup') for (const r of resource.Properties?.SecurityGroupIngress ?? []) add(id, r);
    if (resource.Type === 'AWS::EC2::SecurityGroupIngress') add(id, resource.Properties);
  }
  return rules;
}

function everyAddress(cidr: unknown): boolean {
  return typeof cidr !== 'string' || /\/0+$/.test(cidr); // a token could be anything
}

/** Rules that admit the whole internet (IPv4 or IPv6) on any of `ports`. */
export function worldOpenRules(resources: Resources, ports: readonly number[]): IngressRule[] {
  return ingressRules(resources).filter(
    (r) =>
      ports.some((p) => r.fromPort <= p && p <= r.toPort) &&
      ((r.cidrIp !== undefined && everyAddress(r.cidrIp)) || (r.cidrIpv6 !== undefined && everyAddress(r.cidrIpv6))),
  );
}

/** The user data of a launch template as text, CloudFormation expressions shown as JSON. */
export function userDataText(launchTemplate: Json): string {
  const data = launchTemplate.Properties.LaunchTemplateData.UserData;
  const inner = data['Fn::Base64'];
  if (typeof inner === 'string') return inner;
  const [separator, parts] = inner['Fn::Join'] as [string, Json[]];
  return parts.map((p) => (typeof p === 'string' ? p : JSON.stringify(p))).join(separator);
}

/** What in a text would put a secret's value into the template at deploy time. */
export function secretLeaks(text: string): string[] {
  const found: string[] = [];
  for (const marker of ['{{resolve:secretsmanager', '{{resolve:ssm-secure']) {
    if (text.includes(marker)) found.push(marker);
  }
  // A password variable assigned anything but the boot-time shell variable.
  for (const line of text.split('\n')) {
    if (/^(PGPASSWORD_\w+|GOVERNOR_RESTAPI_PASSWORD|ETCD_PASSWORD)=/.test(line)) found.push(line.split('=')[0]!);
  }
  return found;
}

export interface PolicyStatement {
  policy: string;
  Effect: string;
  Action: string[];
  Resource: Json[];
  Condition?: Json;
}

export function policyStatements(resources: Resources): PolicyStatement[] {
  const statements: PolicyStatement[] = [];
  for (const [id, resource] of Object.entries(resources)) {
    if (resource.Type !== 'AWS::IAM::Policy') continue;
    for (const s of resource.Properties.PolicyDocument.Statement) {
      statements.push({
        policy: id,
        Effect: s.Effect,
        Action: [s.Action].flat(),
        Resource: [s.Resource].flat(),
        ...(s.Condition ? { Condition: s.Condition } : {}),
      });
    }
  }
  return statements;
}

/** Statements granting `service:` actions on a resource that is not (an ARN under) `allowed`. */
export function unscopedStatements(statements: PolicyStatement[], service: string, allowed: (resource: Json) => boolean): PolicyStatement[] {
  return statements.filter(
    (s) => s.Action.some((a) => a === '*' || a.startsWith(`${service}:`)) && s.Resource.some((r) => r === '*' || !allowed(r)),
  );
}
