"""EksApp: the project's Helm chart (`deploy/helm/unamentis/`) installed on the new cluster.

Children:

* a `pulumi_kubernetes.Provider` built from the cluster's kubeconfig, so one `pulumi up` creates
  the cluster and then the application on it;
* the namespace, and a default `gp3` StorageClass (EBS CSI, encrypted, bound when the pod is
  scheduled) for the model servers' volumes — EKS no longer marks any class as the default;
* with `gpu`: the NVIDIA device plugin (its Helm chart, pinned), on the GPU nodes only, tolerating
  their `nvidia.com/gpu` taint, so pods can request `nvidia.com/gpu`;
* the release of the chart (`pulumi_kubernetes.helm.v3.Release`) with the values `chart_values`
  computes: the pinned image, RDS as the external database (owner password in the chart's Secret),
  S3 through Pod Identity, Redis, cloudflared connectors with the tunnel token, the GPU model
  servers, NetworkPolicies that admit exactly these destinations; with the Operations Console, its
  Deployment and the core's console listener on a ClusterIP Service only its pods may reach.

`chart_values` is a plain function of its inputs, so the tests render the chart with exactly the
values the program computes (`tests/infra/test_eks.py`) using the Helm engine the chart tests use.

Cost: nothing of its own (the pods run on the cluster's nodes).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s

from components.base import ArgsError, Component, Transforms
from components.facts import is_pinned
from components.ops_console import CONSOLE_PORT

CHART_PATH = Path(__file__).resolve().parent.parent / "deploy" / "helm" / "unamentis"
# Relative to the project (where `pulumi up` runs), so the state does not name one machine's checkout.
CHART_REF = "./deploy/helm/unamentis"
RELEASE = "unamentis"
NVIDIA_PLUGIN_REPO = "https://nvidia.github.io/k8s-device-plugin"
NVIDIA_PLUGIN_VERSION = "0.17.1"
GPU_NODE_SELECTOR = {"nvidia.com/gpu.present": "true"}
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
STORAGE_CLASS = "gp3"
REGISTRATION = {"open": "open", "invite": "beta_token", "closed": "closed"}


def split_image(image: str) -> dict[str, str]:
    """`repo:tag` or `repo@sha256:…` -> the chart's `image` values."""
    if "@" in image:
        repo, digest = image.split("@", 1)
        return {"repository": repo, "digest": digest}
    repo, _, tag = image.rpartition(":")
    if "/" in tag or not repo:
        raise ArgsError("EksAppArgs", "image", f"{image!r} has no tag", "use registry/name:tag or a digest")
    return {"repository": repo, "tag": tag}


@dataclass(frozen=True)
class EksAppArgs:
    """Arguments of `EksApp`."""

    kubeconfig: pulumi.Input[str]
    """The cluster's kubeconfig (`EksCluster.kubeconfig`). Required."""
    image: str
    """The pinned runtime image. Required."""
    env: str
    """`UNAMENTIS_ENV` (the stack name). Required."""
    region: str
    """The AWS region (S3). Required."""
    database_host: pulumi.Input[str]
    """RDS address. Required."""
    database_owner_password: pulumi.Input[str]
    """The RDS master (owner) password: the migration Job runs as the owner. Required."""
    bucket: pulumi.Input[str]
    """The S3 bucket of the runtime's object store. Required."""
    database_cidrs: Sequence[str]
    """The data subnets (NetworkPolicy egress to the database and Redis). Required."""
    tunnel_token: pulumi.Input[str]
    """The Cloudflare Tunnel token for the cloudflared connectors. Required."""
    origin_secret: Optional[pulumi.Input[str]] = None
    """The edge's origin secret. Default: none."""
    database_port: int = 5432
    """Default: `5432`."""
    database_name: str = "unamentis"
    """Default: `"unamentis"`."""
    database_owner_user: str = "unamentis_owner"
    """Default: `"unamentis_owner"`."""
    provider_api_keys: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Hosted AI providers' keys by kind (`llm`, `stt`, `tts`), into the chart's Secret; choose the
    provider with `extra_env` (`UNAMENTIS_LLM_PROVIDER` …). Default: none (GPU model servers / offline)."""
    extra_env: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """More `UNAMENTIS_*` settings (e.g. the SQS queue URLs). Default: none."""
    redis_url: Optional[pulumi.Input[str]] = None
    """`REDIS_URL` (shared rate limits, event bus). Default: none (PostgreSQL)."""
    namespace: str = "unamentis"
    """Default: `"unamentis"`."""
    service_account: str = "unamentis-runtime"
    """The runtime's service account (Pod Identity is associated with it). Default: `"unamentis-runtime"`."""
    registration: str = "invite"
    """`open`, `invite` or `closed`. Default: `"invite"`."""
    cors_origins: Sequence[str] = ()
    """Default: none."""
    core_min_replicas: int = 2
    """Default: `2`."""
    core_max_replicas: int = 4
    """Default: `4`."""
    cloudflared_image: str = "cloudflare/cloudflared:2026.8.2"
    """Default: `"cloudflare/cloudflared:2026.8.2"`."""
    cloudflared_replicas: int = 2
    """Default: `2`."""
    gpu: bool = False
    """Run the model servers (Ollama, Speaches) on the GPU nodes and the NVIDIA device plugin. Default: `False`."""
    model_storage_gb: tuple[int, int] = (50, 20)
    """Volumes of the Ollama and Speaches model caches, GB. Default: `(50, 20)`."""
    console_image: Optional[str] = None
    """The pinned image of the Operations Console (`server/web`): the chart runs it and opens the core's
    console listener to its pods only. Default: none (no console)."""
    console_admin_email: Optional[str] = None
    """The active admin every request on the console listener acts as. Required with `console_image`."""
    console_url: Optional[str] = None
    """`https://admin.<domain>`: the console's `NEXT_PUBLIC_*` API base. Required with `console_image`."""
    wait: bool = True
    """`pulumi up` waits until every workload of the release is ready and rolls back otherwise. Turn it
    off when pods cannot be scheduled yet, e.g. GPU model servers while the GPU group is at 0 nodes.
    Default: `True`."""
    transform: Transforms = field(default_factory=dict)
    """Per child kind (`EksApp.CHILDREN`) (`components.base`). Default: none."""

    def validate(self) -> None:
        for key in ("image", "cloudflared_image"):
            if not is_pinned(getattr(self, key)):
                raise ArgsError("EksAppArgs", key, f"{getattr(self, key)!r} is not pinned", "use a tag or a digest")
        if self.registration not in REGISTRATION:
            raise ArgsError("EksAppArgs", "registration", f"{self.registration!r}", "use open, invite or closed")
        unknown = sorted(set(self.provider_api_keys) - {"llm", "stt", "tts"})
        if unknown:
            raise ArgsError("EksAppArgs", "provider_api_keys", f"{', '.join(unknown)}", "use llm, stt or tts")
        if self.console_image is not None:
            if not is_pinned(self.console_image):
                raise ArgsError("EksAppArgs", "console_image", f"{self.console_image!r} is not pinned", "use a tag or a digest")
            for key in ("console_admin_email", "console_url"):
                if not getattr(self, key):
                    raise ArgsError("EksAppArgs", key, "unset with console_image",
                                    "set it (the admin the console acts as; https://admin.<domain>)")
        if not 1 <= self.core_min_replicas <= self.core_max_replicas:
            raise ArgsError("EksAppArgs", "core_max_replicas", "1 <= min <= max is violated", "fix the replica counts")


def chart_values(a: EksAppArgs) -> dict[str, Any]:
    """The chart's values for this stack (Outputs where the value comes from a resource)."""
    secrets: dict[str, Any] = {"ownerPassword": a.database_owner_password, "tunnelToken": a.tunnel_token}
    if a.origin_secret is not None:
        secrets["originSecret"] = a.origin_secret
    for kind, key in a.provider_api_keys.items():
        secrets[f"{kind}ApiKey"] = key
    autoscale = a.core_max_replicas > a.core_min_replicas
    return {
        "image": split_image(a.image),
        "runtime": {"env": a.env, "registration": REGISTRATION[a.registration], "corsOrigins": list(a.cors_origins),
                    "extraEnv": dict(a.extra_env),
                    **({"redisUrl": a.redis_url} if a.redis_url is not None else {})},
        "secrets": secrets,
        "serviceAccount": {"create": True, "name": a.service_account},
        # Tunnel mode: cloudflared forwards every hostname to the core, which serves every route.
        "core": {"replicas": a.core_min_replicas,
                 "autoscaling": {"enabled": autoscale, "minReplicas": a.core_min_replicas,
                                 "maxReplicas": a.core_max_replicas},
                 "nodeSelector": {"kubernetes.io/arch": "arm64"}},
        "stateless": {"enabled": False},
        "ingress": {"enabled": False},
        "cloudflared": {"enabled": True, "image": a.cloudflared_image, "replicas": a.cloudflared_replicas,
                        "nodeSelector": {"kubernetes.io/arch": "arm64"}},
        "networkPolicy": {"enabled": True, "egress": {
            "databaseCidrs": list(a.database_cidrs),
            "redisCidrs": list(a.database_cidrs) if a.redis_url is not None else [],
            "allowInternetHttps": True}},
        "postgresql": {"bundled": {"enabled": False}, "database": a.database_name, "ownerUser": a.database_owner_user,
                       "external": {"host": a.database_host, "port": a.database_port, "sslmode": "require"}},
        "objectStorage": {"bucket": a.bucket, "endpoint": "", "region": a.region, "forcePathStyle": False,
                          "bundledMinio": {"enabled": False}},
        # The console's proxies reach the core's console listener through a ClusterIP Service that a
        # NetworkPolicy opens to the console's pods only; cloudflared sends admin.<domain> to it by path.
        "console": ({"enabled": True, "image": a.console_image, "adminEmail": a.console_admin_email,
                     "publicUrl": a.console_url, "nodeSelector": {"kubernetes.io/arch": "arm64"}}
                    if a.console_image is not None else {"enabled": False}),
        "gpu": {"nodeSelector": dict(GPU_NODE_SELECTOR), "tolerations": [dict(GPU_TOLERATION)],
                "ollama": {"enabled": a.gpu, "storage": f"{a.model_storage_gb[0]}Gi", "storageClassName": STORAGE_CLASS},
                "speaches": {"enabled": a.gpu, "storage": f"{a.model_storage_gb[1]}Gi",
                             "storageClassName": STORAGE_CLASS}},
    }


class EksApp(Component):
    CHILDREN = ("provider", "namespace", "storageClass", "release")

    def __init__(self, name: str, args: EksAppArgs, opts: Optional[pulumi.ResourceOptions] = None,
                 depends_on: Sequence[pulumi.Resource] = ()):
        super().__init__(name, args.transform, opts, args_name="EksAppArgs")
        args.validate()
        a = args
        self.provider = self.child("provider", k8s.Provider, f"{name}-k8s", kubeconfig=a.kubeconfig,
                                   opts=pulumi.ResourceOptions(depends_on=list(depends_on)))
        on_cluster = pulumi.ResourceOptions(provider=self.provider)
        self.namespace = self.child("namespace", k8s.core.v1.Namespace, f"{name}-ns",
                                    metadata={"name": a.namespace, "labels": {
                                        "pod-security.kubernetes.io/enforce": "baseline"}}, opts=on_cluster)
        self.storage_class = self.child("storageClass", k8s.storage.v1.StorageClass, f"{name}-gp3",
            metadata={"name": STORAGE_CLASS, "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
            provisioner="ebs.csi.aws.com", parameters={"type": "gp3", "encrypted": "true"},
            volume_binding_mode="WaitForFirstConsumer", allow_volume_expansion=True, reclaim_policy="Delete",
            opts=on_cluster)
        self.device_plugin: Optional[k8s.helm.v3.Release] = None
        if a.gpu:
            self.device_plugin = self.child("release", k8s.helm.v3.Release, f"{name}-nvidia-device-plugin",
                name="nvidia-device-plugin", chart="nvidia-device-plugin", version=NVIDIA_PLUGIN_VERSION,
                repository_opts={"repo": NVIDIA_PLUGIN_REPO}, namespace="kube-system",
                values={"nodeSelector": dict(GPU_NODE_SELECTOR), "tolerations": [dict(GPU_TOLERATION)]},
                opts=on_cluster)
        self.values = chart_values(a)
        self.release = self.child("release", k8s.helm.v3.Release, f"{name}-release",
            name=RELEASE, chart=CHART_REF, namespace=a.namespace, values=self.values,
            atomic=a.wait, skip_await=not a.wait, timeout=900, cleanup_on_fail=a.wait,
            opts=pulumi.ResourceOptions(provider=self.provider,
                                        depends_on=[self.namespace, self.storage_class]
                                        + ([self.device_plugin] if self.device_plugin else [])))
        self.register_outputs({"release": self.release.name, "namespace": a.namespace})


def core_service_url(namespace: str) -> str:
    """Where cloudflared reaches the core inside the cluster (the chart's `<release>-core` Service)."""
    return f"http://{RELEASE}-core.{namespace}.svc.cluster.local:80"


def console_service_url(namespace: str) -> str:
    """Where cloudflared reaches the Operations Console inside the cluster (the chart's `<release>-console`)."""
    return f"http://{RELEASE}-console.{namespace}.svc.cluster.local:3000"


def console_backend_url(namespace: str) -> str:
    """The console's `BACKEND_URL`: the core's console listener (the chart's `<release>-core-console`)."""
    return f"http://{RELEASE}-core-console.{namespace}.svc.cluster.local:{CONSOLE_PORT}"
