// What one compromised instance must never do to the archive, whatever policy is attached to its
// role later: explicit denies in the bucket policy and the key policy (resource policies, which the
// role cannot change, and an explicit deny beats any allow). With them, the instances can only add
// object versions and delete markers: every version stays restorable until the lifecycle rule
// (noncurrentVersionExpiration) or, with Object Lock, the retention period lets it go.

import { aws_iam as iam, type aws_kms as kms, type aws_s3 as s3 } from 'aws-cdk-lib';

/** Rewriting history: deleting versions, unlocking them, or changing the rules that keep them. */
export const ARCHIVE_HISTORY_ACTIONS = [
  's3:DeleteObjectVersion',
  's3:DeleteObjectVersionTagging',
  's3:PutObjectRetention',
  's3:PutObjectLegalHold',
  's3:BypassGovernanceRetention',
  's3:PutBucketVersioning',
  's3:PutLifecycleConfiguration',
  's3:PutBucketObjectLockConfiguration',
  's3:PutBucketPolicy',
  's3:DeleteBucketPolicy',
  's3:DeleteBucket',
  's3:PutEncryptionConfiguration',
  's3:PutReplicationConfiguration',
  's3:PutBucketAcl',
  's3:PutBucketOwnershipControls',
  's3:PutBucketPublicAccessBlock',
] as const;

/** Making every backup unreadable at once: disabling or deleting the archive key, or handing it out. */
export const ARCHIVE_KEY_ACTIONS = [
  'kms:ScheduleKeyDeletion',
  'kms:DisableKey',
  'kms:DisableKeyRotation',
  'kms:PutKeyPolicy',
  'kms:CreateGrant',
  'kms:DeleteImportedKeyMaterial',
] as const;

export function protectArchive(role: iam.IRole, bucket: s3.Bucket, key: kms.Key): void {
  bucket.addToResourcePolicy(new iam.PolicyStatement({
    sid: 'InstancesNeverRewriteArchiveHistory',
    effect: iam.Effect.DENY,
    principals: [new iam.ArnPrincipal(role.roleArn)],
    actions: [...ARCHIVE_HISTORY_ACTIONS],
    resources: [bucket.bucketArn, bucket.arnForObjects('*')],
  }));
  key.addToResourcePolicy(new iam.PolicyStatement({
    sid: 'InstancesNeverDisableArchiveKey',
    effect: iam.Effect.DENY,
    principals: [new iam.ArnPrincipal(role.roleArn)],
    actions: [...ARCHIVE_KEY_ACTIONS],
    resources: ['*'],
  }));
}
