"""Facts both the stack config and the components check against, declared once.

Leaf module: no Pulumi, no other module of the library.
"""
from __future__ import annotations

import re
from typing import Optional

# The subnet tiers of the network, in order (one subnet per AZ each).
TIERS: tuple[str, ...] = ("public", "private", "gpu", "data")

# CloudWatch Logs accepts only these retention values (PutRetentionPolicy API).
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731,
                      1096, 1827, 2192, 2557, 2922, 3288, 3653)

# Valid Fargate task sizes: cpu units -> allowed memory MiB.
FARGATE_SIZES: dict[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4097, 1024)),
    1024: tuple(range(2048, 8193, 1024)),
    2048: tuple(range(4096, 16385, 1024)),
    4096: tuple(range(8192, 30721, 1024)),
}


def is_pinned(image: Optional[str]) -> bool:
    """`repo/name:tag` with a tag other than latest, or `…@sha256:<digest>`: a reference that
    always names the same image, so a redeploy never picks up something untested."""
    if not image:
        return False
    if re.search(r"@sha256:[0-9a-f]{64}$", image):
        return True
    last = image.rsplit("/", 1)[-1]
    return ":" in last and not last.endswith(":latest") and not last.endswith(":")


# GPU instance families the fleet accepts: x86_64 NVIDIA, so one AMI fits all.
GPU_FAMILIES: tuple[str, ...] = ("g4dn.", "g5.", "g6.", "g6e.")

# API Gateway HTTP APIs cut an integration at 30 s; a Lambda behind one must finish a second sooner.
HTTP_API_MAX_INTEGRATION_MS = 30_000
HTTP_API_MAX_LAMBDA_TIMEOUT_S = HTTP_API_MAX_INTEGRATION_MS // 1000 - 1

# R2 bucket names: 3-63 lower-case letters, digits and hyphens, starting and ending alphanumeric.
R2_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
