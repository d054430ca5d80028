"""Rules of the EKS path (`compute.platform: eks`): the API endpoint, Secrets encryption, IMDSv2 on
every node group, least privilege on the pod roles, the GPU group's Spot scale-to-zero and taint, and
an encrypted Redis. `components.policy` composes them with the others.

Each rule has a `bad()` example that must make it fire (the policy tests run every example).
"""
from __future__ import annotations

import json
from typing import Any, Iterable

from components.facts import GPU_FAMILIES
from components.policy_core import OPEN, PolicyContext, Rule, example, fake, rule_finder

ADMIN_POLICIES = ("arn:aws:iam::aws:policy/AdministratorAccess", "arn:aws:iam::aws:policy/PowerUserAccess")


def _endpoint(ctx: PolicyContext) -> Iterable:
    for c in ctx.of("aws:eks/cluster:Cluster"):
        vpc = c.get("vpcConfig") or {}
        if vpc.get("endpointPublicAccess") is False:
            continue
        cidrs = list(vpc.get("publicAccessCidrs") or [])
        if not cidrs or any(x in OPEN for x in cidrs):
            # Without publicAccessCidrs AWS opens a public endpoint to 0.0.0.0/0.
            yield _rule("eks.endpoint-restricted").finding(
                c, f"the API endpoint is public to {cidrs or ['0.0.0.0/0 (the AWS default)']}: set "
                   "endpoint_public_access=False or public_access_cidrs to specific ranges")
        if vpc.get("endpointPrivateAccess") is not True:
            yield _rule("eks.endpoint-restricted").finding(c, "endpoint_private_access must be True (nodes stay in the VPC)")


def _secrets_kms(ctx: PolicyContext) -> Iterable:
    for c in ctx.of("aws:eks/cluster:Cluster"):
        enc = c.get("encryptionConfig") or {}
        if "secrets" not in (enc.get("resources") or []) or not (enc.get("provider") or {}).get("keyArn"):
            yield _rule("eks.secrets-kms").finding(c, "encryption_config must encrypt `secrets` with a KMS key")


def _node_imdsv2(ctx: PolicyContext) -> Iterable:
    for ng in ctx.of("aws:eks/nodeGroup:NodeGroup"):
        lt = ctx.rec.find_by_output("id", (ng.get("launchTemplate") or {}).get("id"))
        md = (lt.get("metadataOptions") or {}) if lt is not None else {}
        if lt is None:
            yield _rule("eks.node-imdsv2").finding(ng, "no launch template: the node's IMDS settings are not ours to check")
        elif md.get("httpTokens") != "required" or int(md.get("httpPutResponseHopLimit") or 2) != 1:
            yield _rule("eks.node-imdsv2").finding(
                ng, f"launch template {lt.name} must require IMDSv2 (http_tokens=required) with hop limit 1, "
                    "so pods cannot take the node role's credentials")


def _statements(doc: Any) -> list[dict]:
    doc = json.loads(doc) if isinstance(doc, str) else (doc or {})
    st = doc.get("Statement") or []
    return [st] if isinstance(st, dict) else list(st)


def _pod_roles(ctx: PolicyContext) -> list:
    out = []
    for role in ctx.of("aws:iam/role:Role"):
        trust = json.dumps(_statements(role.get("assumeRolePolicy")))
        if "pods.eks.amazonaws.com" in trust:
            out.append(role)
    return out


def _same_role(role, ref: Any) -> bool:
    return ref is not None and ref in (role.out("name"), role.out("id"), role.id)


def _pod_role_least_privilege(ctx: PolicyContext) -> Iterable:
    roles = _pod_roles(ctx)
    for rp in ctx.of("aws:iam/rolePolicy:RolePolicy"):
        if not any(_same_role(role, rp.get("role")) for role in roles):
            continue
        for st in _statements(rp.get("policy")):
            if st.get("Effect") != "Allow":
                continue
            actions = st.get("Action")
            actions = [actions] if isinstance(actions, str) else list(actions or [])
            wild = [a for a in actions if "*" in a]
            if wild or "NotAction" in st:
                yield _rule("eks.pod-role-least-privilege").finding(
                    rp, f"a pod role allows wildcard actions {wild or ['NotAction']}: list the actions it needs")
    for att in ctx.of("aws:iam/rolePolicyAttachment:RolePolicyAttachment"):
        if att.get("policyArn") in ADMIN_POLICIES and any(_same_role(role, att.get("role")) for role in roles):
            yield _rule("eks.pod-role-least-privilege").finding(att, f"a pod role has {att.get('policyArn')}")


def _gpu_group(ctx: PolicyContext) -> Iterable:
    for ng in ctx.of("aws:eks/nodeGroup:NodeGroup"):
        if not any(str(t).startswith(GPU_FAMILIES) for t in ng.get("instanceTypes") or []):
            continue
        if int((ng.get("scalingConfig") or {}).get("minSize") or 0) != 0:
            yield _rule("eks.gpu-scale-to-zero").finding(ng, "the GPU node group's min_size must be 0: idle GPUs cost money")
        if ng.get("capacityType") != "SPOT":
            yield _rule("eks.gpu-scale-to-zero").finding(ng, "the GPU node group must be Spot")
        taints = ng.get("taints") or []
        if not any(t.get("key") == "nvidia.com/gpu" and t.get("effect") == "NO_SCHEDULE" for t in taints):
            yield _rule("eks.gpu-scale-to-zero").finding(
                ng, "the GPU nodes need the taint nvidia.com/gpu=true:NoSchedule (only GPU pods land there)")


def _redis_encrypted(ctx: PolicyContext) -> Iterable:
    for g in ctx.of("aws:elasticache/replicationGroup:ReplicationGroup"):
        if g.get("atRestEncryptionEnabled") is not True or g.get("transitEncryptionEnabled") is not True:
            yield _rule("cache.encrypted").finding(g, "at_rest_encryption_enabled and transit_encryption_enabled must be True")


_POD_TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "pods.eks.amazonaws.com"}, "Action": ["sts:AssumeRole", "sts:TagSession"]}]})


def _bad_pod_role():
    role = fake("aws:iam/role:Role", "pod-role", {"assumeRolePolicy": _POD_TRUST}, outputs={"name": "pod-role"})
    rp = fake("aws:iam/rolePolicy:RolePolicy", "pod-policy", {"role": "pod-role", "policy": json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]})})
    return example(role, rp)


def _bad_node_imds():
    lt = fake("aws:ec2/launchTemplate:LaunchTemplate", "lt", {"metadataOptions": {"httpTokens": "optional"}})
    ng = fake("aws:eks/nodeGroup:NodeGroup", "ng", {"launchTemplate": {"id": "lt-id"}, "instanceTypes": ["m7g.large"]})
    return example(lt, ng)


RULES: list[Rule] = [
    Rule("eks.endpoint-restricted", "error", "the EKS API endpoint is private or restricted to listed CIDRs",
         ("CKV_AWS_38", "CKV_AWS_39"), _endpoint,
         lambda: example(fake("aws:eks/cluster:Cluster", "cluster", {"vpcConfig": {
             "endpointPublicAccess": True, "endpointPrivateAccess": True}}))),
    Rule("eks.secrets-kms", "error", "Kubernetes Secrets are envelope-encrypted with a KMS key", ("CKV_AWS_58",),
         _secrets_kms, lambda: example(fake("aws:eks/cluster:Cluster", "cluster", {"vpcConfig": {
             "endpointPublicAccess": False, "endpointPrivateAccess": True}}))),
    Rule("eks.node-imdsv2", "error", "every node group's launch template requires IMDSv2 with hop limit 1", (),
         _node_imdsv2, _bad_node_imds),
    Rule("eks.pod-role-least-privilege", "error", "Pod Identity roles list their actions (no wildcards, no admin)",
         ("CKV_AWS_290",), _pod_role_least_privilege, _bad_pod_role),
    Rule("eks.gpu-scale-to-zero", "error", "the GPU node group is Spot, min 0 and tainted nvidia.com/gpu", (),
         _gpu_group, lambda: example(fake("aws:eks/nodeGroup:NodeGroup", "gpu", {
             "instanceTypes": ["g4dn.xlarge"], "capacityType": "ON_DEMAND",
             "scalingConfig": {"minSize": 1, "desiredSize": 1, "maxSize": 2}}))),
    Rule("cache.encrypted", "error", "ElastiCache encrypts at rest and in transit", ("CKV_AWS_29", "CKV_AWS_30"),
         _redis_encrypted, lambda: example(fake("aws:elasticache/replicationGroup:ReplicationGroup", "redis", {
             "atRestEncryptionEnabled": False, "transitEncryptionEnabled": True}))),
]

_rule = rule_finder(lambda: RULES)
