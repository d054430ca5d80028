"""The EKS path (`compute.platform: eks`, `Pulumi.scale.yaml`) under the recording mocks: the cluster,
node groups, add-ons and the Helm release are recorded with their security-relevant inputs, priced
and policy-clean; the chart renders, lints and validates with exactly the values the program computed
(the Helm engine of `tests/deploy`); bad settings fail before any resource with the key and the fix."""
from __future__ import annotations

import json

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

from components import plan
from components.config import ConfigError
from components.eks_app import CHART_PATH, split_image
from components.eks_cluster import ADDONS
from components.mocks import unwrap

CLUSTER = "aws:eks/cluster:Cluster"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
RELEASE = "kubernetes:helm.sh/v3:Release"
EKS = "unamentis-cloud:compute"


@pytest.fixture
def scale(stack_run):
    return stack_run("scale")


@pytest.fixture
def report(scale):
    return plan.build_report(scale)


def _one(rec, type_, name=None):
    found = [r for r in rec.of_type(type_) if name is None or r.name == name]
    assert len(found) == 1, [r.name for r in found]
    return found[0]


def _app_release(rec):
    return _one(rec, RELEASE, "unamentis-app-release")


# ------------------------------------------------------------------------------------ the cluster
def test_cluster_endpoint_is_private_and_secrets_are_kms_encrypted(scale):
    rec = scale.recording
    cluster = _one(rec, CLUSTER)
    vpc = cluster.get("vpcConfig")
    assert vpc["endpointPrivateAccess"] is True and vpc["endpointPublicAccess"] is False
    assert "publicAccessCidrs" not in vpc
    # the private subnets of the existing network, one per AZ
    private = {s.id for s in rec.of_type("aws:ec2/subnet:Subnet") if (s.get("tags") or {}).get("Tier") == "private"}
    assert set(vpc["subnetIds"]) == private and len(private) == 2
    key = _one(rec, "aws:kms/key:Key")
    assert key.get("enableKeyRotation") is True
    assert cluster.get("encryptionConfig") == {"provider": {"keyArn": key.out("arn")}, "resources": ["secrets"]}
    assert cluster.get("accessConfig")["authenticationMode"] == "API"
    assert set(cluster.get("enabledClusterLogTypes")) >= {"audit", "authenticator"}


def test_a_cidr_restricted_endpoint_comes_from_config(stack_run):
    run = stack_run("scale", {f"{EKS}": {"platform": "eks", "eks": {"endpoint_public_cidrs": ["203.0.113.0/24"]}}})
    vpc = _one(run.recording, CLUSTER).get("vpcConfig")
    assert vpc["endpointPublicAccess"] is True and vpc["publicAccessCidrs"] == ["203.0.113.0/24"]
    assert vpc["endpointPrivateAccess"] is True
    assert plan.build_report(run)["findings"] == []  # a listed range is allowed; 0.0.0.0/0 never is


def test_every_node_group_has_an_imdsv2_launch_template(scale):
    rec = scale.recording
    groups = {g.name.removeprefix("unamentis-eks-"): g for g in rec.of_type(NODE_GROUP)}
    assert set(groups) == {"app-od", "app-spot", "gpu"}
    for name, g in groups.items():
        lt = rec.find_by_output("id", g.get("launchTemplate")["id"])
        assert lt is not None, name
        md = lt.get("metadataOptions")
        assert md["httpTokens"] == "required" and md["httpPutResponseHopLimit"] == 1, name
        (bd,) = lt.get("blockDeviceMappings")
        assert bd["ebs"]["encrypted"] == "true" and bd["ebs"]["volumeType"] == "gp3", name
        assert set(g.get("subnetIds")) == set(_one(rec, CLUSTER).get("vpcConfig")["subnetIds"])
    od, spot, gpu = groups["app-od"], groups["app-spot"], groups["gpu"]
    assert od.get("capacityType") == "ON_DEMAND" and od.get("amiType") == "AL2023_ARM_64_STANDARD"
    assert od.get("scalingConfig") == {"minSize": 1, "desiredSize": 1, "maxSize": 1}
    assert spot.get("capacityType") == "SPOT" and spot.get("instanceTypes") == ["m7g.large", "m6g.large", "c7g.xlarge"]
    assert spot.get("scalingConfig") == {"minSize": 1, "desiredSize": 3, "maxSize": 4}
    assert gpu.get("capacityType") == "SPOT" and gpu.get("amiType") == "AL2023_x86_64_NVIDIA"
    assert gpu.get("instanceTypes") == ["g4dn.xlarge", "g5.xlarge", "g6.xlarge"]
    assert gpu.get("scalingConfig") == {"minSize": 0, "desiredSize": 0, "maxSize": 7}
    assert gpu.get("taints") == [{"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"}]
    assert gpu.get("labels") == {"nvidia.com/gpu.present": "true"}


def test_add_ons_and_the_nvidia_device_plugin(scale):
    rec = scale.recording
    addons = {a.get("addonName"): a for a in rec.of_type("aws:eks/addon:Addon")}
    assert set(addons) == set(ADDONS)
    (assoc,) = addons["aws-ebs-csi-driver"].get("podIdentityAssociations")
    assert assoc["serviceAccount"] == "ebs-csi-controller-sa"
    # NetworkPolicies are enforced (the VPC CNI's policy agent is off unless configured)
    assert json.loads(addons["vpc-cni"].get("configurationValues")) == {"enableNetworkPolicy": "true"}
    plugin = _one(rec, RELEASE, "unamentis-app-nvidia-device-plugin")
    assert plugin.get("chart") == "nvidia-device-plugin" and plugin.get("version")
    values = plugin.get("values")
    assert values["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in values["tolerations"]


def test_the_pod_role_gets_the_buckets_and_queues_and_nothing_else(scale):
    rec = scale.recording
    role = _one(rec, "aws:iam/role:Role", "unamentis-eks-runtime-pod-role")
    trust = json.loads(role.get("assumeRolePolicy"))["Statement"][0]
    assert trust["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    assert sorted(trust["Action"]) == ["sts:AssumeRole", "sts:TagSession"]
    policy = json.loads(_one(rec, "aws:iam/rolePolicy:RolePolicy", "unamentis-eks-runtime-pod-policy").get("policy"))
    actions = {a for st in policy["Statement"] for a in st["Action"]}
    assert actions == {"s3:ListBucket", "s3:GetObject", "s3:PutObject", "s3:DeleteObject", "sqs:SendMessage",
                       "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility",
                       "sqs:GetQueueAttributes"}
    resources = {res for st in policy["Statement"] for res in st["Resource"]}
    assert "*" not in resources and all(res.startswith(("arn:aws:s3:::", "arn:aws:sqs:")) for res in resources)
    attached = [a for a in rec.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
                if a.get("role") == role.out("name")]
    assert attached == []
    assoc = _one(rec, "aws:eks/podIdentityAssociation:PodIdentityAssociation")
    values = unwrap(_app_release(rec).inputs["values"])
    assert (assoc.get("namespace"), assoc.get("serviceAccount")) == ("unamentis", values["serviceAccount"]["name"])
    assert assoc.get("roleArn") == role.out("arn")


def test_redis_is_encrypted_in_the_data_subnets_and_admits_only_the_cluster(scale):
    rec = scale.recording
    redis = _one(rec, "aws:elasticache/replicationGroup:ReplicationGroup")
    assert redis.get("atRestEncryptionEnabled") is True and redis.get("transitEncryptionEnabled") is True
    assert redis.get("numCacheClusters") == 2 and redis.get("automaticFailoverEnabled") is True
    subnets = _one(rec, "aws:elasticache/subnetGroup:SubnetGroup").get("subnetIds")
    data = {s.id for s in rec.of_type("aws:ec2/subnet:Subnet") if (s.get("tags") or {}).get("Tier") == "data"}
    assert set(subnets) == data
    sg = _one(rec, "aws:ec2/securityGroup:SecurityGroup", "unamentis-cache-sg")
    (rule,) = sg.get("ingress")
    assert rule["securityGroups"] == [_one(rec, CLUSTER).out("vpcConfig")["clusterSecurityGroupId"]]
    assert (rule["fromPort"], rule["toPort"]) == (6379, 6379) and not rule.get("cidrBlocks")


def test_no_ecs_or_lambda_on_the_eks_path_and_no_eks_on_the_ecs_stacks(scale, stack_run):
    assert not scale.recording.of_type("aws:ecs/service:Service")
    assert not scale.recording.of_type("aws:lambda/function:Function")
    for stack in ("beta", "prod", "customer"):
        rec = stack_run(stack).recording
        assert not rec.of_type(CLUSTER) and not rec.of_type(RELEASE), stack


# -------------------------------------------------------------------------------- the release
def test_the_tunnel_reaches_the_core_service_in_the_cluster(scale):
    rec = scale.recording
    [tunnel] = rec.of_type("cloudflare:index/zeroTrustTunnelCloudflaredConfig:ZeroTrustTunnelCloudflaredConfig")
    services = {i.get("hostname"): i.get("service") for i in tunnel.get("config")["ingresses"]}
    assert services[f"core.{scale.config.domain}"] == "http://unamentis-core.unamentis.svc.cluster.local:80"
    [script] = rec.of_type("cloudflare:index/workersScript:WorkersScript")
    bindings = {b["name"]: b.get("text") for b in script.get("bindings")}
    assert bindings["LAMBDA_ORIGIN"] == bindings["CORE_ORIGIN"] == f"https://core.{scale.config.domain}"


def test_release_values_come_from_the_stack(scale):
    rec = scale.recording
    release = _app_release(rec)
    assert release.get("chart") == "./deploy/helm/unamentis" and release.get("namespace") == "unamentis"
    # the GPU group is at 0 nodes at deploy time: the model servers cannot be ready, so no waiting
    assert release.get("skipAwait") is True and release.get("atomic") is False
    [storage_class] = rec.of_type("kubernetes:storage.k8s.io/v1:StorageClass")
    assert storage_class.get("parameters") == {"type": "gp3", "encrypted": "true"}
    assert storage_class.get("provisioner") == "ebs.csi.aws.com"
    # the values hold the owner password, the tunnel token and the origin secret: the engine keeps
    # them secret as a whole (state and plan output show no part of them)
    assert release.secret_inputs == ["values"]
    values = unwrap(release.inputs["values"])
    assert values["image"] == split_image(scale.config.core.image) == {
        "repository": "ghcr.io/unamentis/unamentis-runtime", "tag": "0.1.0"}
    db = _one(rec, "aws:rds/instance:Instance")
    assert values["postgresql"]["external"]["host"] == db.out("address")
    assert values["postgresql"]["bundled"]["enabled"] is False
    assert values["objectStorage"]["bucket"] in {b.out("bucket") for b in rec.of_type("aws:s3/bucket:Bucket")}
    assert values["runtime"]["redisUrl"].startswith("rediss://master.")
    env = values["runtime"]["extraEnv"]
    assert env["UNAMENTIS_SQS_QUEUE_URL"].startswith("https://sqs.")
    assert env["UNAMENTIS_JWT_ISSUER"] == f"https://api.{scale.config.domain}"
    assert env["UNAMENTIS_CF_ACCESS_TEAM_DOMAIN"] == "unamentis.cloudflareaccess.com" and env["UNAMENTIS_CF_ACCESS_AUD"]
    assert env["UNAMENTIS_RATE_LIMIT_TOKEN"] == "120/60"
    assert values["cloudflared"]["enabled"] is True and values["ingress"]["enabled"] is False
    assert values["core"]["autoscaling"] == {"enabled": True, "minReplicas": 4, "maxReplicas": 8}
    assert values["gpu"]["ollama"]["enabled"] and values["gpu"]["speaches"]["enabled"]
    assert values["networkPolicy"]["egress"]["databaseCidrs"] == list(scale.config.network.cidrs.data)
    assert values["console"] == {"enabled": False}  # ops_console is off in Pulumi.scale.yaml


def test_provider_keys_go_to_the_chart_secret_and_choose_the_providers(stack_run):
    run = stack_run("scale", {"unamentis-cloud:groqApiKey": "gsk-test-key", "unamentis-cloud:deepgramApiKey": "dg-key"})
    values = unwrap(_app_release(run.recording).inputs["values"])
    assert {k: values["secrets"].get(k) for k in ("llmApiKey", "sttApiKey", "ttsApiKey")} == {
        "llmApiKey": "gsk-test-key", "sttApiKey": "gsk-test-key", "ttsApiKey": "dg-key"}
    env = values["runtime"]["extraEnv"]
    assert (env["UNAMENTIS_LLM_PROVIDER"], env["UNAMENTIS_STT_PROVIDER"], env["UNAMENTIS_TTS_PROVIDER"]) == (
        "groq", "groq", "deepgram")
    assert "UNAMENTIS_LLM_API_KEY" not in env  # keys only in the Secret, never as plain values
    assert _render(values)


def _render(values: dict) -> list[dict]:
    with helm.Chart.load(CHART_PATH) as chart:
        out = chart.render(values=values, name="unamentis", namespace="unamentis", is_install=True)
    return [doc for path, text in sorted(out.items()) if not path.endswith("NOTES.txt")
            for doc in yaml.safe_load_all(text) if doc]


def test_the_chart_renders_lints_and_validates_with_the_computed_values(scale):
    values = unwrap(_app_release(scale.recording).inputs["values"])
    report = helm.lint(CHART_PATH, values, strict=True, namespace="unamentis", kube_version="v1.33.0")
    assert report["errors"] == [], report
    assert [m for m in report["messages"] if m["severity"] >= 2] == [], report
    docs = _render(values)
    for doc in docs:
        kubernetes_validate.validate(doc, "1.33.0", strict=True)
    kinds = {(d["kind"], d["metadata"]["name"]) for d in docs}
    assert {("Deployment", "unamentis-core"), ("Deployment", "unamentis-cloudflared"),
            ("Deployment", "unamentis-ollama"), ("Job", "unamentis-migrate"),
            ("ServiceAccount", "unamentis-runtime")} <= kinds
    assert not any(kind in ("Ingress", "StatefulSet") for kind, _ in kinds)  # tunnel, RDS: no Ingress, no bundled DB
    core = next(d for d in docs if d["metadata"]["name"] == "unamentis-core" and d["kind"] == "Deployment")
    env = {e["name"]: e for e in core["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert values["postgresql"]["external"]["host"] in env["DATABASE_URL"]["value"]
    assert env["REDIS_URL"]["value"] == values["runtime"]["redisUrl"]


def test_the_values_schema_would_refuse_a_mistake_in_computed_values(scale):
    values = unwrap(_app_release(scale.recording).inputs["values"])
    values["image"] = {"repository": "ghcr.io/unamentis/unamentis-runtime", "tag": "latest"}
    with pytest.raises(helm.HelmValuesError, match="tag"):
        _render(values)


# ------------------------------------------------------------------------------ plan: cost, policy
def test_plan_records_prices_and_passes_policy(report):
    assert report["findings"] == []
    assert report["cost"]["unpriced"] == []
    items = {(l["resource"], l["item"]) for l in report["cost"]["lines"]}
    assert ("unamentis-eks-cluster", "EKS control plane") in items
    by_resource = {l["resource"]: l for l in report["cost"]["lines"]}
    assert by_resource["unamentis-eks-cluster"]["monthly_usd"] == 73.0
    assert "on-demand" in by_resource["unamentis-eks-app-od"]["item"]
    assert "Spot" in by_resource["unamentis-eks-app-spot"]["item"]
    assert by_resource["unamentis-eks-gpu"]["kind"] == "usage"
    assert by_resource["unamentis-app-release"]["monthly_usd"] == pytest.approx(70 * 0.08)  # 50 + 20 GB caches
    assert by_resource["unamentis-cache-redis"]["monthly_usd"] == pytest.approx(2 * 0.032 * 730, abs=0.01)
    assert any(l["resource"].startswith("unamentis-nat-gw") for l in report["cost"]["lines"])
    for line in report["cost"]["lines"]:
        if line["resource"].startswith(("unamentis-eks", "unamentis-cache")):
            assert line["sources"], line  # every EKS price names its page and date
    assert report["cost"]["monthly_usd"] <= report["cost"]["budget_usd"]


def test_plan_cli_exits_zero_for_scale(capsys):
    assert plan.main(["scale"]) == 0
    out = capsys.readouterr().out
    assert "unamentis-eks-cluster" in out and "Policy findings: 0" in out


# ---------------------------------------------------------------------------------- config errors
@pytest.mark.parametrize("overrides, key, fix", [
    ({EKS: {"platform": "k8s"}}, "compute.platform", "use one of 'ecs', 'eks'"),
    ({EKS: {"platform": "eks", "eks": {"endpoint_public_cidrs": ["0.0.0.0/0"]}}},
     "compute.eks.endpoint_public_cidrs[0]", "office/VPN ranges"),
    ({EKS: {"platform": "eks", "eks": {"app_instance_types": ["m7i.large"]}}},
     "compute.eks.app_instance_types", "ARM types"),
    ({EKS: {"platform": "eks", "eks": {"app_on_demand_base": 0}}}, "compute.eks.app_on_demand_base", "at least 1"),
    ({"unamentis-cloud:network": {"cidr": "10.30.0.0/16", "nat": "none", "cidrs": {
        "public": ["10.30.0.0/22", "10.30.4.0/22"], "private": ["10.30.16.0/20", "10.30.32.0/20"],
        "gpu": ["10.30.48.0/22", "10.30.52.0/22"], "data": ["10.30.56.0/24", "10.30.57.0/24"]}}},
     "network.nat", "instance or gateway"),
    ({"unamentis-cloud:ingress": "alb"}, "ingress", "ingress: tunnel"),
    ({"unamentis-cloud:core": {"desired_count": 4, "max_count": 8}}, "core.image", "published, pinned"),
])
def test_bad_eks_settings_fail_before_any_resource(overrides, key, fix):
    with pytest.raises(ConfigError) as e:
        plan.run_program("scale", overrides=overrides)
    assert e.value.key == f"unamentis-cloud:{key}"
    assert fix in e.value.fix


def test_an_unknown_platform_exits_2_naming_the_key(tmp_path, capsys):
    text = (plan.ROOT / "Pulumi.beta.yaml").read_text() + "  unamentis-cloud:compute:\n    platform: nomad\n"
    path = tmp_path / "Pulumi.x.yaml"
    path.write_text(text)
    assert plan.main(["beta", "--stack-file", str(path)]) == 2
    assert "unamentis-cloud:compute.platform: 'nomad' is not allowed" in capsys.readouterr().err
