// What an instance may do in AWS, and nothing more: its own archive prefix in the bucket, the
// archive key, and the cluster's password secrets. No ec2:Describe*: governor finds its peers
// in etcd and itself in the instance metadata.

import { aws_iam as iam, type aws_kms as kms, type aws_s3 as s3, type aws_secretsmanager as secretsmanager } from 'aws-cdk-lib';
import { Construct } from 'constructs';

export interface InstanceRoleProps {
  bucket: s3.IBucket;
  /** Key prefix of this cluster's WAL and backups (no slashes at either end). */
  prefix: string;
  key: kms.IKey;
  secrets: secretsmanager.ISecret[];
  ssmAccess: boolean;
}

export class InstanceRole extends Construct {
  readonly role: iam.Role;

  constructor(scope: Construct, id: string, props: InstanceRoleProps) {
    super(scope, id);
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com'),
      description: 'governor instances: archive prefix, archive key, cluster passwords',
    });
    if (props.ssmAccess) {
      // Session Manager for operators, so no SSH port is opened.
      this.role.addManagedPolicy(iam.ManagedPolicy.fromAwsManagedPolicyName('AmazonSSMManagedInstanceCore'));
    }
    const policy = new iam.Policy(this, 'Policy', {
      statements: [
        new iam.PolicyStatement({
          sid: 'ListArchivePrefix',
          actions: ['s3:ListBucket'],
          resources: [props.bucket.bucketArn],
          // backup-list, backup-delete and restore list under the prefix; nothing else is listed.
          conditions: { StringLike: { 's3:prefix': [props.prefix, `${props.prefix}/*`] } },
        }),
        new iam.PolicyStatement({
          sid: 'ReadWriteArchiveObjects',
          // HEAD is GetObject; multipart upload parts are PutObject; a failed backup-push aborts.
          // DeleteObject (backup-delete, WAL cleanup) on the versioned bucket only adds a delete
          // marker: the version behind it stays until the lifecycle rule expires it, and deleting
          // versions is denied outright (archive-protection.ts).
          actions: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject', 's3:AbortMultipartUpload'],
          resources: [props.bucket.arnForObjects(`${props.prefix}/*`)],
        }),
        new iam.PolicyStatement({
          sid: 'UseArchiveKey',
          actions: ['kms:Encrypt', 'kms:Decrypt', 'kms:GenerateDataKey'],
          resources: [props.key.keyArn],
        }),
        new iam.PolicyStatement({
          sid: 'ReadClusterPasswords',
          actions: ['secretsmanager:GetSecretValue'],
          resources: props.secrets.map((s) => s.secretArn),
        }),
      ],
    });
    policy.attachToRole(this.role);
  }
}
