"""Prices of the EKS path (`compute.platform: eks`); `components.pricing` composes them with the others.

Fixed lines: the control plane (per cluster-hour), each node group at its desired size (the
on-demand base at the on-demand rate, the Spot groups at the Spot estimate of their first instance
type, plus the root volume), the KMS key, each ElastiCache node. A node group of GPU instances that
scales from zero is a usage line: `usage.gpu_hours` node-hours at its Spot estimate. Add-ons, Pod
Identity associations, the Redis subnet group and everything inside the cluster (namespace, Helm
releases) cost nothing by themselves: their pods run on the priced nodes; the EBS volumes the
chart's claims provision (model caches) are priced on the release.

There is no load balancer on this path: Cloudflare Tunnel connectors dial out from the cluster.
"""
from __future__ import annotations

from components.facts import GPU_FAMILIES
from components.pricing_core import HOURS, PRICES, CostLine, PricingContext, p, unpriced

_FREE_TYPES = (
    "aws:eks/addon:Addon", "aws:eks/podIdentityAssociation:PodIdentityAssociation",
    "aws:elasticache/subnetGroup:SubnetGroup", "aws:iam/rolePolicy:RolePolicy",
    "kubernetes:core/v1:Namespace", "kubernetes:storage.k8s.io/v1:StorageClass",
)


def _cluster(r, ctx: PricingContext) -> list[CostLine]:
    return [ctx.line(r, "EKS control plane", p("eks_cluster_h") * HOURS, "fixed",
                     f"{HOURS} h × ${p('eks_cluster_h')}/h (standard Kubernetes version support)", "eks_cluster_h")]


def _node_group(r, ctx: PricingContext) -> list[CostLine]:
    types = list(r.get("instanceTypes") or [])
    itype = types[0] if types else None
    spot = r.get("capacityType") == "SPOT"
    rate_key = f"ec2_spot:{itype}" if spot else f"ec2:{itype}"
    if itype is None or rate_key not in PRICES:
        return unpriced(ctx, r, f"instance type {itype!r} ({'Spot' if spot else 'on-demand'}) has no price")
    lt = ctx.rec.find_by_output("id", (r.get("launchTemplate") or {}).get("id"))
    gb = 20  # the EKS AMI's own root volume when no launch template says otherwise
    for bd in (lt.get("blockDeviceMappings") or []) if lt is not None else []:
        gb = int((bd.get("ebs") or {}).get("volumeSize") or gb)
    per_hour = p(rate_key) + gb * p("ebs_gp3_gb_month") / HOURS
    scaling = r.get("scalingConfig") or {}
    desired, lo, hi = (int(scaling.get(k) or 0) for k in ("desiredSize", "minSize", "maxSize"))
    market = "Spot estimate" if spot else "on-demand"
    what = f"{itype} {market} ${p(rate_key)}/h + {gb} GB gp3"
    prices = (rate_key, "ebs_gp3_gb_month")
    out: list[CostLine] = []
    if desired:
        out.append(ctx.line(r, f"{desired} × {itype} node ({market})", desired * per_hour * HOURS, "fixed",
                            f"{desired} × {HOURS} h × ${per_hour:.4f}/h ({what}); up to {hi} when scaled", *prices))
    if lo == 0 and hi > desired and itype.startswith(GPU_FAMILIES):
        hours = ctx.usage.gpu_hours
        out.append(ctx.line(r, f"{itype} GPU nodes (scale from zero)", hours * per_hour, "usage",
                            f"usage.gpu_hours {hours:g} node-hours × ${per_hour:.4f}/h ({what})", *prices))
    return out


def _kms_key(r, ctx: PricingContext) -> list[CostLine]:
    return [ctx.line(r, "KMS customer managed key", p("kms_key_month"), "fixed",
                     "1 key-month (EKS decrypts Secrets rarely: requests stay in the free 20,000)", "kms_key_month")]


def _redis(r, ctx: PricingContext) -> list[CostLine]:
    node_type = r.get("nodeType")
    key = f"elasticache:{node_type}"
    if key not in PRICES:
        return unpriced(ctx, r, f"node type {node_type!r} has no price")
    n = int(r.get("numCacheClusters") or 1)
    return [ctx.line(r, f"{n} × ElastiCache {node_type}", n * p(key) * HOURS, "fixed",
                     f"{n} node(s) × {HOURS} h × ${p(key)}/h (one day of backups within the node size: free)", key)]


def _gib(size: object) -> float:
    text = str(size)
    for suffix, factor in (("Gi", 1.0), ("Ti", 1024.0), ("G", 1.0), ("Mi", 1 / 1024)):
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * factor
    return float(text) / 2**30


def _release(r, ctx: PricingContext) -> list[CostLine]:
    """A Helm release costs nothing by itself, except the EBS volumes its claims provision outside
    Pulumi (the model servers' caches): priced here so they are not missed."""
    gpu = (r.get("values") or {}).get("gpu") or {}
    gb = sum(_gib(s.get("storage") or 0) for s in (gpu.get("ollama") or {}, gpu.get("speaches") or {})
             if s.get("enabled"))
    if not gb:
        return []
    return [ctx.line(r, "model cache volumes (EBS gp3, via the chart's claims)", gb * p("ebs_gp3_gb_month"), "fixed",
                     f"{gb:g} GB × ${p('ebs_gp3_gb_month')}/GB-month (kept while the GPU nodes are at 0)",
                     "ebs_gp3_gb_month")]


PRICERS = {
    "kubernetes:helm.sh/v3:Release": _release,
    "aws:eks/cluster:Cluster": _cluster,
    "aws:eks/nodeGroup:NodeGroup": _node_group,
    "aws:kms/key:Key": _kms_key,
    "aws:elasticache/replicationGroup:ReplicationGroup": _redis,
}

FREE = {t: "no charge by itself (its pods run on the priced nodes)" for t in _FREE_TYPES}
