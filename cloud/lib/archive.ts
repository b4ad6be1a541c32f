// Where WAL and base backups go: an S3 bucket encrypted with a KMS key of this stack. Both are
// kept when the stack is deleted: they are the cluster's backups.

import { Duration, RemovalPolicy, aws_kms as kms, aws_s3 as s3 } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import type { ArchiveSettings } from './settings.js';

export class ArchiveStorage extends Construct {
  readonly key: kms.Key;
  readonly bucket: s3.Bucket;

  constructor(scope: Construct, id: string, settings: ArchiveSettings & { scope: string }) {
    super(scope, id);
    this.key = new kms.Key(this, 'Key', {
      description: `governor cluster ${settings.scope}: WAL and base backups`,
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    const rules: s3.LifecycleRule[] = [
      // A backup-push killed mid-upload leaves parts that cost money and that nothing lists.
      { id: 'abort-incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(7) },
    ];
    // Retention of history: a version overwritten or deleted (governor's backup-delete and WAL
    // cleanup only ever add delete markers, which is all the instances may do) stays restorable
    // this many days, then goes; a delete marker with no versions left behind it goes too.
    rules.push({
      id: 'expire-old-versions',
      noncurrentVersionExpiration: Duration.days(settings.noncurrentVersionExpirationDays),
      expiredObjectDeleteMarker: true,
    });
    if (settings.infrequentAccessAfterDays !== null) {
      rules.push({
        id: 'infrequent-access',
        transitions: [{ storageClass: s3.StorageClass.INFREQUENT_ACCESS, transitionAfter: Duration.days(settings.infrequentAccessAfterDays) }],
      });
    }
    // No expiration of current objects: backup-delete --retain decides what goes, and it also
    // knows which WAL the kept backups still need.
    this.bucket = new s3.Bucket(this, 'Bucket', {
      encryption: s3.BucketEncryption.KMS,
      encryptionKey: this.key,
      // One data key per bucket for a while instead of a KMS call per WAL segment.
      bucketKeyEnabled: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      versioned: true,
      // Object Lock (only on a new bucket): every new version is locked for the retention period;
      // the lifecycle rule above removes it only once the lock has ended.
      ...(settings.objectLock
        ? {
            objectLockEnabled: true,
            objectLockDefaultRetention: settings.objectLock.mode === 'compliance'
              ? s3.ObjectLockRetention.compliance(Duration.days(settings.objectLock.retentionDays))
              : s3.ObjectLockRetention.governance(Duration.days(settings.objectLock.retentionDays)),
          }
        : {}),
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      lifecycleRules: rules,
      removalPolicy: RemovalPolicy.RETAIN,
    });
  }
}
