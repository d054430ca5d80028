"""`python3 -m gpu_nodes.agent.aws_cli`: the few AWS calls the bootstrap makes, with the agent's own
SigV4 client (the GPU AMI has no AWS CLI).

    s3-get BUCKET KEY DEST              download one object
    s3-sync-down BUCKET PREFIX DIR      restore what DIR lacks, keeping only files whose SHA-256 checks
    s3-sync-up DIR BUCKET PREFIX        upload what the bucket lacks, then the digest manifest
    ssm-get NAME                        print a (decrypted) parameter's value
    asg-terminate INSTANCE_ID           remove this node from its ASG, desired capacity - 1

Common options: `--region` (required), `--endpoint-url` (one endpoint for every service: tests
point it at a loopback server), `--imds-url` (instance-profile credentials). Exit status 0 on
success, 1 when AWS refused or could not be reached (the message names the call), 2 on bad usage.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Optional, Sequence

from . import model_cache
from .aws import AutoScalingClient, AwsError, CredentialSource, S3Client, SsmClient
from .imds import Imds


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m gpu_nodes.agent.aws_cli",
                                 description="the AWS calls of a GPU node's bootstrap")
    ap.add_argument("--region", required=True)
    ap.add_argument("--endpoint-url", default=os.environ.get("GPU_AGENT_AWS_ENDPOINT_URL") or None)
    ap.add_argument("--imds-url", default=os.environ.get("GPU_AGENT_IMDS_URL", "http://169.254.169.254"))
    sub = ap.add_subparsers(dest="command", required=True)
    for name, args in (("s3-get", ("bucket", "key", "dest")), ("s3-sync-down", ("bucket", "prefix", "dir")),
                       ("s3-sync-up", ("dir", "bucket", "prefix")), ("ssm-get", ("name",)),
                       ("asg-terminate", ("instance_id",))):
        p = sub.add_parser(name)
        for arg in args:
            p.add_argument(arg)
    a = ap.parse_args(argv)
    creds = CredentialSource(Imds(a.imds_url, timeout=2.0)).get
    try:
        if a.command == "ssm-get":
            print(SsmClient(a.region, creds, endpoint_url=a.endpoint_url).get_parameter(a.name))
        elif a.command == "asg-terminate":
            AutoScalingClient(a.region, creds, endpoint_url=a.endpoint_url).terminate_instance(a.instance_id)
        else:
            s3 = S3Client(a.region, creds, endpoint_url=a.endpoint_url)
            if a.command == "s3-get":
                s3.get_to_file(a.bucket, a.key, a.dest)
            elif a.command == "s3-sync-down":
                print(model_cache.sync_down(s3, a.bucket, a.prefix, a.dir))
            else:
                print(f"{model_cache.sync_up(s3, a.dir, a.bucket, a.prefix)} file(s) uploaded")
    except AwsError as exc:
        print(f"aws_cli {a.command}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
