"""S3 buckets of the AWS side: TTS cache, curricula, uploads.

Each bucket: all four public-access blocks on, owner-enforced object ownership (no ACLs),
SSE-S3 default encryption (SSE-KMS would bill per request), a policy denying plain-HTTP
access, and a lifecycle configuration (expiry from `StorageArgs.expiry_days`, incomplete multipart
uploads aborted after 7 days). Curricula are versioned; old versions expire after 30 days.

Cost: $0.023/GB-month (Standard) + $0.005 per 1,000 PUT and $0.0004 per 1,000 GET; empty
buckets cost nothing. Estimated from `usage.s3_*` in the plan.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Mapping, Optional, Sequence

import pulumi
import pulumi_aws as aws

from components.base import ArgsError, Component, Transforms

BUCKET_KEYS = ("tts_cache", "curricula", "uploads")


@dataclass(frozen=True)
class StorageArgs:
    """Arguments of `Storage` (buckets `tts_cache`, `curricula`, `uploads`)."""

    expiry_days: Mapping[str, int] = field(default_factory=lambda: {"tts_cache": 30, "curricula": 0, "uploads": 30})
    """Per bucket key, days after which objects expire (0 keeps them). A key left out keeps its
    objects. Default: `tts_cache` 30, `curricula` 0, `uploads` 30."""
    versioned: tuple[str, ...] = ("curricula",)
    """Bucket keys with versioning on (old versions expire after 30 days). Default: `("curricula",)`."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags on every bucket. Default: none."""
    transform: Transforms = field(default_factory=dict)
    """Per child kind (`Storage.CHILDREN`), a change to its arguments (`components.base`).
    Default: none."""

    def __post_init__(self) -> None:
        for key, days in self.expiry_days.items():
            if key not in BUCKET_KEYS:
                raise ArgsError("StorageArgs", f"expiry_days.{key}", "not a bucket", f"use one of {', '.join(BUCKET_KEYS)}")
            if days < 0:
                raise ArgsError("StorageArgs", f"expiry_days.{key}", "negative", "use 0 (keep) or a number of days")
        unknown = [k for k in self.versioned if k not in BUCKET_KEYS]
        if unknown:
            raise ArgsError("StorageArgs", "versioned", f"{unknown} are not buckets", f"use keys of {', '.join(BUCKET_KEYS)}")


class Storage(Component):
    """`buckets[key]` for key in tts_cache, curricula, uploads."""
    CHILDREN = (
        "bucket", "bucketPublicAccessBlock", "bucketOwnershipControls",
        "bucketServerSideEncryptionConfiguration", "bucketPolicy", "bucketVersioning",
        "bucketLifecycleConfiguration",
    )

    def __init__(self, name: str, args: StorageArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(name, args.transform, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.buckets: dict[str, aws.s3.Bucket] = {}
        for key in BUCKET_KEYS:
            label = key.replace("_", "-")
            rn = f"{name}-{label}"
            bucket = self.child("bucket", aws.s3.Bucket, rn, force_destroy=key == "tts_cache",
                                   tags={**args.tags, "Purpose": label}, opts=child)
            block = self.child("bucketPublicAccessBlock", aws.s3.BucketPublicAccessBlock,
                f"{rn}-public-access", bucket=bucket.id, block_public_acls=True,
                block_public_policy=True, ignore_public_acls=True, restrict_public_buckets=True,
                opts=child)
            self.child("bucketOwnershipControls", aws.s3.BucketOwnershipControls,
                f"{rn}-ownership", bucket=bucket.id,
                rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
                opts=child)
            self.child("bucketServerSideEncryptionConfiguration", aws.s3.BucketServerSideEncryptionConfiguration,
                f"{rn}-sse", bucket=bucket.id,
                rules=[aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                        sse_algorithm="AES256"),
                    bucket_key_enabled=True)], opts=child)
            self.child("bucketPolicy", aws.s3.BucketPolicy, f"{rn}-tls-only", bucket=bucket.id,
                                policy=bucket.arn.apply(_tls_only_policy),
                                opts=child.merge(pulumi.ResourceOptions(depends_on=[block])))
            versioned = key in args.versioned
            if versioned:
                self.child("bucketVersioning", aws.s3.BucketVersioning,
                    f"{rn}-versioning", bucket=bucket.id,
                    versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
                    opts=child)
            rule = aws.s3.BucketLifecycleConfigurationRuleArgs(
                id="expire" if args.expiry_days.get(key, 0) else "housekeeping", status="Enabled",
                filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                    days_after_initiation=7),
                expiration=(aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(days=args.expiry_days.get(key, 0))
                            if args.expiry_days.get(key, 0) else None),
                noncurrent_version_expiration=(
                    aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(noncurrent_days=30)
                    if versioned else None))
            self.child("bucketLifecycleConfiguration", aws.s3.BucketLifecycleConfiguration, f"{rn}-lifecycle", bucket=bucket.id, rules=[rule],
                                                opts=child)
            self.buckets[key] = bucket
        self.register_outputs({f"{k}_bucket": b.bucket for k, b in self.buckets.items()})

    def access_policy_statements(self, read_only_prefixes: Sequence[str] = ()) -> pulumi.Output[list[dict]]:
        """IAM statements giving read/write to these buckets only (for the task/Lambda roles).

        `read_only_prefixes` (e.g. the GPU model cache, which only the GPU nodes may write): an
        explicit Deny of writes there, which no Allow in any other policy can override."""
        return pulumi.Output.all(*[b.arn for b in self.buckets.values()]).apply(lambda arns: [
            {"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": list(arns)},
            {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
             "Resource": [f"{a}/*" for a in arns]},
            *([{"Effect": "Deny", "Action": ["s3:PutObject", "s3:DeleteObject"],
                "Resource": [f"{a}/{p.strip('/')}/*" for a in arns for p in read_only_prefixes]}]
              if read_only_prefixes else [])])


def _tls_only_policy(arn: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
        "Resource": [arn, f"{arn}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]})
