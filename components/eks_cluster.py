"""EksCluster: the Kubernetes scaling path's cluster, built from plain `pulumi-aws` resources.

Why not `pulumi-eks`: its `eks.Cluster` is a multi-language component whose children are created
by a Node.js provider plugin. Under Pulumi's mock engine (tests, `python -m components.plan`) only
the component itself is recorded — none of the node groups, launch templates, KMS key or add-ons
inside it (checked with pulumi-eks 4.4.0, 2026-12) — so `plan` could neither price nor police
them, and `pulumi up` would need Node.js on the operator's machine. Plain resources keep every
security-relevant input visible to the tests and the policy rules.

Children:

* a KMS key (rotation on) that envelope-encrypts the cluster's Kubernetes Secrets;
* the cluster (`aws.eks.Cluster`) in the private subnets, API authentication by access entries;
  its endpoint is private, or public only for `endpoint_public_cidrs` (never 0.0.0.0/0);
  control-plane audit and authenticator logs kept for `log_retention_days`;
* the node role and one launch template per node group: IMDSv2 **required**, hop limit 1 (pods
  cannot reach the node's credentials; Pod Identity serves theirs), encrypted gp3 root volume;
* managed node groups: `app-od` (ARM, on-demand, the always-on base), `app-spot` (ARM Spot, several
  types) and, with `gpu`, `gpu` (g4dn/g5/g6 Spot, **min 0**, taint `nvidia.com/gpu=true:NoSchedule`,
  label `nvidia.com/gpu.present=true`, the EKS NVIDIA AMI);
* add-ons: vpc-cni (NetworkPolicy enforcement on), coredns, kube-proxy, eks-pod-identity-agent, aws-ebs-csi-driver (its role
  through Pod Identity);
* the runtime's pod role (Pod Identity): exactly `pod_policy_statements` (S3 buckets, SQS queues,
  SSM parameters the caller names), associated with `namespace`/`service_account`.

`kubeconfig` (a secret Output) lets a `pulumi_kubernetes.Provider` talk to the new cluster in the
same `pulumi up`.

Cost: the control plane $0.10/h ($73/month); nodes at their on-demand or Spot hourly price plus
their root volumes (gp3 $0.08 per GB-month); the GPU group nothing while at 0 nodes; the KMS key
$1/month; add-ons, roles and the Pod Identity agent are free. See `components.eks_pricing`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence

import pulumi
import pulumi_aws as aws

from components.base import ArgsError, Component, Transforms

# Add-ons, in install order; versions unpinned = EKS picks the default for the cluster version.
ADDONS = ("vpc-cni", "kube-proxy", "coredns", "eks-pod-identity-agent", "aws-ebs-csi-driver")
# Add-ons whose pods need nodes (created after the node groups).
ADDONS_ON_NODES = ("coredns", "aws-ebs-csi-driver")
GPU_TAINT = {"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"}
GPU_LABEL = {"nvidia.com/gpu.present": "true"}
CLUSTER_LOGS = ("api", "audit", "authenticator")
NODE_POLICIES = ("AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy", "AmazonEC2ContainerRegistryReadOnly")
EBS_CSI_POLICY = "arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"


def _policy_arn(name: str) -> str:
    return f"arn:aws:iam::aws:policy/{name}"


POD_TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "pods.eks.amazonaws.com"},
    "Action": ["sts:AssumeRole", "sts:TagSession"]}]})


def _trust(service: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]})


@dataclass(frozen=True)
class EksClusterArgs:
    """Arguments of `EksCluster`."""

    name_prefix: str
    """Physical-name prefix, e.g. `uma-scale`. Required."""
    subnet_ids: pulumi.Input[Sequence[str]]
    """The private subnets of the cluster and its nodes (one per AZ, at least two). Required."""
    region: str
    """The AWS region (for the kubeconfig's token command). Required."""
    version: str = "1.33"
    """Kubernetes version. Default: `"1.33"`."""
    endpoint_public_cidrs: Sequence[str] = ()
    """CIDRs that may reach the API endpoint from the internet; empty = private endpoint only.
    Default: `()` (private)."""
    app_instance_types: Sequence[str] = ("m7g.large", "m6g.large", "c7g.xlarge")
    """ARM app node types, preferred first (the on-demand group uses the first). Default: m7g.large,
    m6g.large, c7g.xlarge."""
    app_on_demand_base: int = 1
    """Nodes of the on-demand group. Default: `1`."""
    app_spot_min: int = 1
    """Default: `1`."""
    app_spot_desired: int = 1
    """Default: `1`."""
    app_spot_max: int = 4
    """Default: `4`."""
    node_volume_gb: int = 40
    """Root volume of an app node. Default: `40`."""
    gpu: bool = False
    """Create the GPU node group. Default: `False`."""
    gpu_instance_types: Sequence[str] = ("g4dn.xlarge", "g5.xlarge", "g6.xlarge")
    """Default: g4dn.xlarge, g5.xlarge, g6.xlarge."""
    gpu_max_size: int = 1
    """Default: `1`."""
    gpu_desired_size: int = 0
    """Nodes at deploy time (min is always 0). Default: `0`."""
    gpu_volume_gb: int = 100
    """Default: `100`."""
    namespace: str = "unamentis"
    """The namespace of the runtime's service account. Default: `"unamentis"`."""
    service_account: str = "unamentis-runtime"
    """The runtime's service account (the chart's `serviceAccount.name`). Default: `"unamentis-runtime"`."""
    pod_policy_statements: Sequence[Any] = ()
    """IAM statements of the runtime's pod role (each may be an Output of a list). Default: none."""
    log_retention_days: int = 14
    """Control-plane log retention. Default: `14`."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Default: none."""
    transform: Transforms = field(default_factory=dict)
    """Per child kind (`EksCluster.CHILDREN`), a change to its arguments (`components.base`). Default: none."""

    def validate(self) -> None:
        for cidr in self.endpoint_public_cidrs:
            if cidr in ("0.0.0.0/0", "::/0"):
                raise ArgsError("EksClusterArgs", "endpoint_public_cidrs", f"{cidr} opens the API to everyone",
                                "list specific ranges or none (private endpoint)")
        if self.app_on_demand_base < 1:
            raise ArgsError("EksClusterArgs", "app_on_demand_base", f"{self.app_on_demand_base}", "use at least 1")
        if not 0 <= self.app_spot_min <= self.app_spot_desired <= self.app_spot_max:
            raise ArgsError("EksClusterArgs", "app_spot_max", "min <= desired <= max is violated", "fix the sizes")
        if self.gpu and not 0 <= self.gpu_desired_size <= self.gpu_max_size:
            raise ArgsError("EksClusterArgs", "gpu_desired_size", f"{self.gpu_desired_size}",
                            "0 <= gpu_desired_size <= gpu_max_size")


class EksCluster(Component):
    CHILDREN = ("key", "role", "rolePolicyAttachment", "rolePolicy", "logGroup", "cluster", "launchTemplate",
                "nodeGroup", "addon", "podIdentityAssociation")

    def __init__(self, name: str, args: EksClusterArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(name, args.transform, opts, args_name="EksClusterArgs")
        args.validate()
        a, prefix = args, args.name_prefix
        child = pulumi.ResourceOptions(parent=self)
        tags = dict(a.tags)

        self.key = self.child("key", aws.kms.Key, f"{name}-secrets-key",
                              description=f"{prefix} EKS secrets envelope encryption",
                              enable_key_rotation=True, deletion_window_in_days=30, tags=tags, opts=child)

        self.cluster_role = self.child("role", aws.iam.Role, f"{name}-cluster-role",
                                       assume_role_policy=_trust("eks.amazonaws.com"), tags=tags, opts=child)
        cluster_policy = self.child("rolePolicyAttachment", aws.iam.RolePolicyAttachment, f"{name}-cluster-policy",
                                    role=self.cluster_role.name, policy_arn=_policy_arn("AmazonEKSClusterPolicy"),
                                    opts=child)
        # EKS writes control-plane logs to this fixed name; creating it first sets the retention.
        cluster_name = f"{prefix}-eks"
        self.log_group = self.child("logGroup", aws.cloudwatch.LogGroup, f"{name}-logs",
                                    name=f"/aws/eks/{cluster_name}/cluster", retention_in_days=a.log_retention_days,
                                    tags=tags, opts=child)
        public = list(a.endpoint_public_cidrs)
        self.cluster = self.child("cluster", aws.eks.Cluster, f"{name}-cluster",
            name=cluster_name, version=a.version, role_arn=self.cluster_role.arn,
            vpc_config={"subnet_ids": a.subnet_ids, "endpoint_private_access": True,
                        "endpoint_public_access": bool(public),
                        **({"public_access_cidrs": public} if public else {})},
            encryption_config={"provider": {"key_arn": self.key.arn}, "resources": ["secrets"]},
            access_config={"authentication_mode": "API", "bootstrap_cluster_creator_admin_permissions": True},
            enabled_cluster_log_types=list(CLUSTER_LOGS), tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[cluster_policy, self.log_group]))

        self.node_role = self.child("role", aws.iam.Role, f"{name}-node-role",
                                    assume_role_policy=_trust("ec2.amazonaws.com"), tags=tags, opts=child)
        node_policies = [self.child("rolePolicyAttachment", aws.iam.RolePolicyAttachment, f"{name}-node-{i}",
                                    role=self.node_role.name, policy_arn=_policy_arn(p), opts=child)
                         for i, p in enumerate(NODE_POLICIES)]

        # Add-ons that nodes need to join and get pod networking come first.
        self.addons: dict[str, aws.eks.Addon] = {}
        for addon in ("vpc-cni", "kube-proxy", "eks-pod-identity-agent"):
            # The VPC CNI enforces NetworkPolicies only when asked: the chart's policies (the console
            # listener's among them, whose only credential is the network) would otherwise be inert.
            extra = {"configuration_values": json.dumps({"enableNetworkPolicy": "true"})} if addon == "vpc-cni" else {}
            self.addons[addon] = self._addon(name, addon, [], **extra)

        groups: list[tuple[str, dict]] = [
            ("app-od", {"capacity_type": "ON_DEMAND", "instance_types": [a.app_instance_types[0]],
                        "ami_type": "AL2023_ARM_64_STANDARD",
                        "scaling": (a.app_on_demand_base, a.app_on_demand_base, a.app_on_demand_base),
                        "volume": a.node_volume_gb, "labels": {"unamentis/capacity": "on-demand"}}),
            ("app-spot", {"capacity_type": "SPOT", "instance_types": list(a.app_instance_types),
                          "ami_type": "AL2023_ARM_64_STANDARD",
                          "scaling": (a.app_spot_min, a.app_spot_desired, a.app_spot_max),
                          "volume": a.node_volume_gb, "labels": {"unamentis/capacity": "spot"}}),
        ]
        if a.gpu:
            groups.append(("gpu", {"capacity_type": "SPOT", "instance_types": list(a.gpu_instance_types),
                                   "ami_type": "AL2023_x86_64_NVIDIA",
                                   "scaling": (0, a.gpu_desired_size, a.gpu_max_size),
                                   "volume": a.gpu_volume_gb, "labels": dict(GPU_LABEL), "taints": [GPU_TAINT]}))
        self.launch_templates: dict[str, aws.ec2.LaunchTemplate] = {}
        self.node_groups: dict[str, aws.eks.NodeGroup] = {}
        for group, g in groups:
            lt = self.child("launchTemplate", aws.ec2.LaunchTemplate, f"{name}-{group}-lt",
                name_prefix=f"{prefix}-{group}-", description=f"UnaMentis EKS {group} nodes",
                metadata_options={"http_endpoint": "enabled", "http_tokens": "required",
                                  "http_put_response_hop_limit": 1, "instance_metadata_tags": "disabled"},
                block_device_mappings=[{"device_name": "/dev/xvda", "ebs": {
                    "volume_size": g["volume"], "volume_type": "gp3", "encrypted": "true",
                    "delete_on_termination": "true"}}],
                tag_specifications=[{"resource_type": "instance", "tags": {**tags, "Name": f"{prefix}-{group}"}}],
                tags=tags, opts=child)
            self.launch_templates[group] = lt
            lo, desired, hi = g["scaling"]
            self.node_groups[group] = self.child("nodeGroup", aws.eks.NodeGroup, f"{name}-{group}",
                cluster_name=self.cluster.name, node_group_name_prefix=f"{group}-", node_role_arn=self.node_role.arn,
                subnet_ids=a.subnet_ids, capacity_type=g["capacity_type"], instance_types=g["instance_types"],
                ami_type=g["ami_type"], scaling_config={"min_size": lo, "desired_size": desired, "max_size": hi},
                update_config={"max_unavailable": 1}, labels=g["labels"], taints=g.get("taints", []),
                launch_template={"id": lt.id, "version": lt.latest_version.apply(str)}, tags=tags,
                # The cluster autoscaler (or an operator) owns the size after the first deploy.
                opts=pulumi.ResourceOptions(parent=self, depends_on=node_policies + list(self.addons.values()),
                                            ignore_changes=["scalingConfig.desiredSize"]))

        ebs_role = self.child("role", aws.iam.Role, f"{name}-ebs-csi-role", assume_role_policy=POD_TRUST,
                              tags=tags, opts=child)
        ebs_policy = self.child("rolePolicyAttachment", aws.iam.RolePolicyAttachment, f"{name}-ebs-csi-policy",
                                role=ebs_role.name, policy_arn=EBS_CSI_POLICY, opts=child)
        on_nodes = list(self.node_groups.values())
        self.addons["coredns"] = self._addon(name, "coredns", on_nodes)
        self.addons["aws-ebs-csi-driver"] = self._addon(
            name, "aws-ebs-csi-driver", on_nodes + [ebs_policy],
            pod_identity_associations=[{"role_arn": ebs_role.arn, "service_account": "ebs-csi-controller-sa"}])

        # The runtime's pod role: only what the caller lists (no managed policies, no wildcards).
        self.pod_role = self.child("role", aws.iam.Role, f"{name}-runtime-pod-role", assume_role_policy=POD_TRUST,
                                   description="UnaMentis runtime pods (EKS Pod Identity)", tags=tags, opts=child)
        statements = pulumi.Output.all(*a.pod_policy_statements).apply(
            lambda parts: [s for part in parts for s in (part if isinstance(part, list) else [part])])
        self.pod_policy = self.child("rolePolicy", aws.iam.RolePolicy, f"{name}-runtime-pod-policy",
                                     role=self.pod_role.name,
                                     policy=statements.apply(lambda s: json.dumps({"Version": "2012-10-17",
                                                                                   "Statement": s})),
                                     opts=child)
        self.pod_identity = self.child("podIdentityAssociation", aws.eks.PodIdentityAssociation,
                                       f"{name}-runtime-pod-identity", cluster_name=self.cluster.name,
                                       namespace=a.namespace, service_account=a.service_account,
                                       role_arn=self.pod_role.arn, tags=tags,
                                       opts=pulumi.ResourceOptions(parent=self,
                                                                   depends_on=[self.addons["eks-pod-identity-agent"]]))

        self.kubeconfig: pulumi.Output[str] = pulumi.Output.secret(pulumi.Output.all(
            self.cluster.name, self.cluster.endpoint, self.cluster.certificate_authority.data,
        ).apply(lambda v: kubeconfig(v[0], v[1], v[2], a.region)))
        self.register_outputs({"cluster_name": self.cluster.name, "endpoint": self.cluster.endpoint,
                               "node_groups": {k: g.id for k, g in self.node_groups.items()},
                               "pod_role_arn": self.pod_role.arn})

    def _addon(self, name: str, addon: str, after: list, **extra: Any) -> aws.eks.Addon:
        return self.child("addon", aws.eks.Addon, f"{name}-addon-{addon}", cluster_name=self.cluster.name,
                          addon_name=addon, resolve_conflicts_on_create="OVERWRITE",
                          resolve_conflicts_on_update="OVERWRITE", **extra,
                          opts=pulumi.ResourceOptions(parent=self, depends_on=after))


def kubeconfig(cluster_name: str, endpoint: str, ca_data: str, region: str) -> str:
    """A kubeconfig for the cluster whose token comes from `aws eks get-token` (the operator's AWS
    credentials; nothing long-lived is stored)."""
    return json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": cluster_name,
        "clusters": [{"name": cluster_name, "cluster": {"server": endpoint, "certificate-authority-data": ca_data}}],
        "contexts": [{"name": cluster_name, "context": {"cluster": cluster_name, "user": cluster_name}}],
        "users": [{"name": cluster_name, "user": {"exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1", "command": "aws",
            "args": ["eks", "get-token", "--cluster-name", cluster_name, "--region", region]}}}],
    })
