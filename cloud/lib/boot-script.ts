// The instance's user data: a bash script that writes /etc/governor/environment (the Spilo-style
// variables governor reads, see src/config/env.ts) and starts governor. Values known at deploy
// time are written as they are (CloudFormation fills in bucket, key and region); the member name
// and addresses come from the instance metadata service (IMDSv2) at boot; passwords come from
// Secrets Manager at boot, so they are never in the user data, the launch template or the
// template. Pure: strings in, script lines out (CDK tokens pass through as strings).

import { PORTS, type ClusterSettings } from './settings.js';

export const ENVIRONMENT_FILE = '/etc/governor/environment';
export const IMDS_URL = 'http://169.254.169.254/latest';

/** Role names; not secret, so they are plain lines of the environment file. */
export const USERS = { superuser: 'postgres', replication: 'replicator', restApi: 'governor' } as const;

export interface BootSecret {
  /** The variable governor reads, e.g. PGPASSWORD_SUPERUSER. */
  variable: string;
  /** What the error message calls it. */
  label: string;
  /** Secrets Manager secret whose SecretString is the password. */
  secretArn: string;
}

export interface BootScriptInputs {
  region: string;
  /** Variables known before boot, in file order. */
  environment: ReadonlyArray<readonly [string, string]>;
  secrets: readonly BootSecret[];
}

/** Filled in at boot from the instance metadata: `GOVERNOR_NAME` and the connect addresses. */
export const INSTANCE_VARIABLES: ReadonlyArray<readonly [string, string]> = [
  ['GOVERNOR_NAME', '$instance_id'],
  ['GOVERNOR_RESTAPI_CONNECT_ADDRESS', `$local_ipv4:${PORTS.restApi}`],
  ['GOVERNOR_POSTGRESQL_CONNECT_ADDRESS', `$local_ipv4:${PORTS.postgresql}`],
];

// What read_secret lets through: a password must stay one literal token in an environment file
// (systemd strips quotes and backslashes) and in the printf that writes it. The generated ones
// are letters and digits.
const SECRET_CHARS = 'A-Za-z0-9._~+=@%^,:/-';

/** The variables governor gets whose values are known before boot. */
export function clusterEnvironment(
  settings: ClusterSettings,
  archive: { bucketName: string; kmsKeyArn: string; region: string },
): Array<[string, string]> {
  const env: Array<[string, string]> = [
    ['SCOPE', settings.scope],
    ['ETCD_HOSTS', settings.etcdHosts.join(',')],
    ['GOVERNOR_RESTAPI_LISTEN', `0.0.0.0:${PORTS.restApi}`],
    ['GOVERNOR_RESTAPI_USERNAME', USERS.restApi],
    ['GOVERNOR_POSTGRESQL_LISTEN', `0.0.0.0:${PORTS.postgresql}`],
    ['PGUSER_SUPERUSER', USERS.superuser],
    ['PGUSER_STANDBY', USERS.replication],
    // systemd runs HAProxy (haproxy.manage false); governor renders its file and reloads it.
    ['GOVERNOR_HAPROXY_ENABLED', 'true'],
    ['GOVERNOR_HAPROXY_LISTEN_ADDRESS', '0.0.0.0'],
    ['GOVERNOR_HAPROXY_RW_PORT', String(PORTS.master)],
    ['GOVERNOR_HAPROXY_RO_PORT', String(PORTS.replicas)],
    ['WALG_S3_PREFIX', `s3://${archive.bucketName}/${settings.archive.prefix}`],
    ['AWS_REGION', archive.region],
    // The bucket encrypts with this key by default too; naming it makes every PUT say so, which
    // the bucket policy could then require.
    ['WALG_S3_SSE', 'aws:kms'],
    ['WALG_S3_SSE_KMS_ID', archive.kmsKeyArn],
    ['BACKUP_NUM_TO_RETAIN', String(settings.archive.backupNumToRetain)],
  ];
  if (settings.archive.backupSchedule !== null) env.push(['BACKUP_SCHEDULE', settings.archive.backupSchedule]);
  return env;
}

function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** The user data, as lines. Throws if a value could break out of its line of the file. */
export function bootScript(inputs: BootScriptInputs): string[] {
  for (const [name, value] of [...inputs.environment, ...INSTANCE_VARIABLES]) {
    if (!/^[A-Z][A-Z0-9_]*$/.test(name)) throw new Error(`boot script: ${JSON.stringify(name)} is not an environment variable name`);
    if (/[\n\r\0]/.test(value)) throw new Error(`boot script: the value of ${name} contains a line break`);
  }
  const secretVariable = (s: BootSecret) => s.variable.toLowerCase();
  return [
    '#!/bin/bash',
    '# governor boot: writes the environment governor reads, then starts it. Passwords are read from',
    '# Secrets Manager here, with the instance role; they are not in this script.',
    'set -euo pipefail',
    'umask 077',
    `imds=${IMDS_URL}`,
    `environment_file=${ENVIRONMENT_FILE}`,
    `region=${shellQuote(inputs.region)}`,
    'fail() { echo "governor boot: $*" >&2; exit 1; }',
    '',
    '# IMDSv2: the launch template refuses requests without a session token.',
    'token=$(curl -fsS --retry 5 --retry-connrefused --max-time 5 -X PUT -H "X-aws-ec2-metadata-token-ttl-seconds: 300" "$imds/api/token") ||',
    '  fail "no IMDSv2 token from $imds"',
    'metadata() { curl -fsS --retry 5 --retry-connrefused --max-time 5 -H "X-aws-ec2-metadata-token: $token" "$imds/meta-data/$1"; }',
    'instance_id=$(metadata instance-id) || fail "cannot read instance-id from the instance metadata"',
    'local_ipv4=$(metadata local-ipv4) || fail "cannot read local-ipv4 from the instance metadata"',
    '',
    'command -v aws >/dev/null || fail "the aws CLI is not installed (Debian package awscli): it reads the passwords from Secrets Manager"',
    '# $1 what it is, $2 the secret ARN. The value goes to stdout only, never to a log.',
    'read_secret() {',
    '  local value',
    '  value=$(aws secretsmanager get-secret-value --region "$region" --secret-id "$2" --query SecretString --output text) ||',
    '    fail "cannot read the $1 from Secrets Manager ($2)"',
    '  case $value in',
    `    '' | *[!${SECRET_CHARS}]*) fail "the $1 in $2 is empty or has characters other than ${SECRET_CHARS}" ;;`,
    '  esac',
    '  printf %s "$value"',
    '}',
    ...inputs.secrets.map((s) => `${secretVariable(s)}=$(read_secret ${shellQuote(s.label)} ${shellQuote(s.secretArn)})`),
    '',
    'install -d -m 0755 "$(dirname "$environment_file")"',
    'tmp=$(mktemp "$environment_file.XXXXXX")',
    "cat >\"$tmp\" <<'ENVIRONMENT'",
    ...inputs.environment.map(([name, value]) => `${name}=${value}`),
    'ENVIRONMENT',
    "printf '%s=%s\\n' \\",
    ...INSTANCE_VARIABLES.map(([name, value]) => `  ${name} "${value}" \\`),
    ...inputs.secrets.map((s) => `  ${s.variable} "$${secretVariable(s)}" \\`),
    '  >>"$tmp"',
    '# Root only: systemd reads it before starting governor as the postgres user.',
    'chmod 0600 "$tmp"',
    'mv -f "$tmp" "$environment_file"',
    '',
    '# The etcd proxy reads ETCD_HOSTS from the same file; governor talks to etcd through it.',
    'systemctl enable etcd-proxy.service governor.service',
    'systemctl restart etcd-proxy.service governor.service',
    '',
  ];
}
