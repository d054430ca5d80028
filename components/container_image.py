"""ContainerImage: the runtime image the core runs — a published image, or built and pushed to ECR.

* ``image`` set (e.g. a self-hosting organisation points at our published image): nothing is
  created; :attr:`image_ref` is that reference. It must be pinned (a tag other than ``latest`` or a
  digest) so a deploy is repeatable.
* otherwise: a private ECR repository (scan on push, immutable tags, AES256 encryption, a lifecycle
  rule that expires untagged images after a day and keeps the newest 10 tagged ones) and a
  ``docker-build:index:Image`` (pulumi-docker-build, BuildKit) that builds ``runtime/Dockerfile`` for
  linux/arm64 and linux/amd64 from the repository root and pushes it, tagged with a hash of the build
  context so an unchanged tree neither rebuilds nor redeploys. ``pulumi up`` then needs a Docker
  engine with buildx (and QEMU binfmt for the foreign architecture). Without one, build and push by
  hand (README, compute section) and pass it as ``image`` (the stack config's ``core.image``).

Cost: ECR private storage $0.10 per GB-month (the runtime image is ≈ 0.2 GB per architecture, the
lifecycle rule bounds how many are kept); basic scan on push is free.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import pulumi
import pulumi_aws as aws

from components.base import ArgsError, Component, Transforms
from components.facts import is_pinned
from components.lambda_build import REPO_ROOT, code_entries

DOCKERFILE = REPO_ROOT / "runtime" / "Dockerfile"
DEFAULT_PLATFORMS = ("linux/arm64", "linux/amd64")
KEEP_TAGGED = 10


def context_tag(runtime_dir: Path = REPO_ROOT / "runtime") -> str:
    """A tag derived from everything that goes into the image (code, requirements, Dockerfile)."""
    h = hashlib.sha256()
    entries = code_entries(runtime_dir)
    for extra in ("Dockerfile", "Dockerfile.dockerignore"):
        p = runtime_dir / extra
        if p.is_file():
            entries[f"runtime/{extra}"] = p
    for name in sorted(entries):
        h.update(name.encode() + b"\0" + entries[name].read_bytes() + b"\0")
    return "src-" + h.hexdigest()[:20]


def lifecycle_policy() -> str:
    return json.dumps({"rules": [
        {"rulePriority": 1, "description": "expire untagged images after a day",
         "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed",
                       "countUnit": "days", "countNumber": 1},
         "action": {"type": "expire"}},
        {"rulePriority": 2, "description": f"keep the newest {KEEP_TAGGED} tagged images",
         "selection": {"tagStatus": "any", "countType": "imageCountMoreThan",
                       "countNumber": KEEP_TAGGED},
         "action": {"type": "expire"}},
    ]})




@dataclass
class ContainerImageArgs:
    """Arguments of `ContainerImage`."""

    name_prefix: str
    """Physical-name prefix, e.g. `uma-beta` (repository `<prefix>-runtime`). Required."""
    image: Optional[str] = None
    """A published, pinned image: no repository and no build. Default: none."""
    platforms: Sequence[str] = DEFAULT_PLATFORMS
    """The platforms built and pushed. Default: `DEFAULT_PLATFORMS` (linux/arm64 and linux/amd64)."""
    force_delete: bool = False
    """Destroying the stack may delete the repository with its images. Default: `False`."""
    transform: Transforms = field(default_factory=dict)
    """Per child kind (`ContainerImage.CHILDREN`), a change to its arguments (`components.base`).
    Default: none."""


class ContainerImage(Component):
    """ECR repository + multi-arch build and push, or a reference to a published image."""
    CHILDREN = ("repository", "lifecyclePolicy", "image")

    def __init__(self, name: str, args: ContainerImageArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(name, args.transform, opts)
        self.repository = None
        self.image = None
        if args.image:
            if not is_pinned(args.image):
                raise ArgsError("ContainerImageArgs", "image", f"{args.image!r} is not pinned",
                                "use a version tag or @sha256 digest (e.g. ghcr.io/acme/unamentis-runtime:1.4.2)")
            self.image_ref: pulumi.Output[str] = pulumi.Output.from_input(args.image)
            self.register_outputs({"image_ref": self.image_ref})
            return

        import pulumi_docker_build as docker_build  # only needed when the program builds the image

        child = pulumi.ResourceOptions(parent=self)
        self.repository = self.child("repository", aws.ecr.Repository,
            f"{name}-repo",
            name=f"{args.name_prefix}/runtime",
            image_tag_mutability="IMMUTABLE",
            image_scanning_configuration={"scan_on_push": True},
            encryption_configurations=[{"encryption_type": "AES256"}],
            force_delete=args.force_delete,
            opts=child)
        self.lifecycle = self.child("lifecyclePolicy", aws.ecr.LifecyclePolicy,
            f"{name}-lifecycle", repository=self.repository.name, policy=lifecycle_policy(), opts=child)
        auth = aws.ecr.get_authorization_token_output(registry_id=self.repository.registry_id)
        tag = context_tag()
        self.image = self.child("image", docker_build.Image,
            f"{name}-image",
            context={"location": str(REPO_ROOT)},
            dockerfile={"location": str(DOCKERFILE)},
            platforms=list(args.platforms),
            push=True,
            tags=[pulumi.Output.concat(self.repository.repository_url, ":", tag)],
            registries=[{"address": self.repository.repository_url,
                         "username": auth.user_name, "password": auth.password}],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.lifecycle]))
        # `ref` is the pushed tag plus the build's digest: the task is pinned to exactly this build.
        self.image_ref = self.image.ref
        self.register_outputs({"image_ref": self.image_ref, "repository_url": self.repository.repository_url})
