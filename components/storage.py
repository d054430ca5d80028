"""S3 buckets of the AWS side: TTS cache, curricula, uploads.

Each bucket: all four public-access blocks on, owner-enforced object ownership (no ACLs),
SSE-S3 default encryption (SSE-KMS would bill per request), a policy denying plain-HTTP
access, and a lifecycle configuration (expiry from `buckets.*_days`, incomplete multipart
uploads aborted after 7 days). Curricula are versioned; old versions expire after 30 days.

Cost: $0.023/GB-month (Standard) + $0.005 per 1,000 PUT and $0.0004 per 1,000 GET; empty
buckets cost nothing. Estimated from `usage.s3_*` in the plan.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_aws as aws

from components.config import StackConfig

BUCKET_KEYS = ("tts_cache", "curricula", "uploads")


@dataclass(frozen=True)
class StorageArgs:
    expiry_days: dict[str, int]  # key -> days (0 = keep)
    versioned: tuple[str, ...]
    tags: dict[str, str]

    @classmethod
    def from_config(cls, c: StackConfig) -> "StorageArgs":
        b = c.buckets
        return cls(expiry_days={"tts_cache": b.tts_cache_days, "curricula": b.curricula_days,
                                "uploads": b.uploads_days},
                   versioned=("curricula",), tags=c.tags)


class Storage(pulumi.ComponentResource):
    """`buckets[key]` for key in tts_cache, curricula, uploads."""

    def __init__(self, name: str, args: StorageArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("unamentis:aws:Storage", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.buckets: dict[str, aws.s3.Bucket] = {}
        for key in BUCKET_KEYS:
            label = key.replace("_", "-")
            rn = f"{name}-{label}"
            bucket = aws.s3.Bucket(rn, force_destroy=key == "tts_cache",
                                   tags={**args.tags, "Purpose": label}, opts=child)
            block = aws.s3.BucketPublicAccessBlock(
                f"{rn}-public-access", bucket=bucket.id, block_public_acls=True,
                block_public_policy=True, ignore_public_acls=True, restrict_public_buckets=True,
                opts=child)
            aws.s3.BucketOwnershipControls(
                f"{rn}-ownership", bucket=bucket.id,
                rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
                opts=child)
            aws.s3.BucketServerSideEncryptionConfiguration(
                f"{rn}-sse", bucket=bucket.id,
                rules=[aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                        sse_algorithm="AES256"),
                    bucket_key_enabled=True)], opts=child)
            aws.s3.BucketPolicy(f"{rn}-tls-only", bucket=bucket.id,
                                policy=bucket.arn.apply(_tls_only_policy),
                                opts=child.merge(pulumi.ResourceOptions(depends_on=[block])))
            versioned = key in args.versioned
            if versioned:
                aws.s3.BucketVersioning(
                    f"{rn}-versioning", bucket=bucket.id,
                    versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
                    opts=child)
            rule = aws.s3.BucketLifecycleConfigurationRuleArgs(
                id="expire" if args.expiry_days[key] else "housekeeping", status="Enabled",
                filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                    days_after_initiation=7),
                expiration=(aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(days=args.expiry_days[key])
                            if args.expiry_days[key] else None),
                noncurrent_version_expiration=(
                    aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(noncurrent_days=30)
                    if versioned else None))
            aws.s3.BucketLifecycleConfiguration(f"{rn}-lifecycle", bucket=bucket.id, rules=[rule],
                                                opts=child)
            self.buckets[key] = bucket
        self.register_outputs({f"{k}_bucket": b.bucket for k, b in self.buckets.items()})

    def access_policy_statements(self) -> pulumi.Output[list[dict]]:
        """IAM statements giving read/write to these buckets only (for the task/Lambda roles)."""
        return pulumi.Output.all(*[b.arn for b in self.buckets.values()]).apply(lambda arns: [
            {"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": list(arns)},
            {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
             "Resource": [f"{a}/*" for a in arns]}])


def _tls_only_policy(arn: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
        "Resource": [arn, f"{arn}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]})
