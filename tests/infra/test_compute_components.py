"""Compute components under the recording mocks, built directly (no stack config).

These pin the security- and cost-relevant inputs of each component exactly; the stack-level tests
(`test_compute_stacks.py`) check the wiring of whole stacks.
"""
from __future__ import annotations

import base64
import json

import pytest

from components import mocks
from components.base import ArgsError
from components.core_service import CoreService, CoreServiceArgs
from components.functions_api import FunctionsApi, FunctionsApiArgs, http_api_route_keys
from components.gpu_fleet import GpuFleet, GpuFleetArgs
from components.lambda_build import Artifact
from components.load_balancer import (CATCH_ALL_PRIORITY, TLS_POLICY, LoadBalancer, LoadBalancerArgs,
                                      listener_rule_plan)
from runtime.route_table import LAMBDA_SERVICES, ROUTES, route_for

CODE = Artifact("/tmp/code.zip", "ab" * 32, "q83vEjRWeJA=", 10)
LAYER = Artifact("/tmp/layer.zip", "cd" * 32, "ze8SNFZ4kKo=", 10)


def record(build, stack: str = "beta") -> mocks.Recording:
    return mocks.record(build, stack)


def _functions(ingress: str, **kw) -> FunctionsApiArgs:
    base = dict(name_prefix="uma-test", ingress=ingress, code=CODE, layer=LAYER,
                subnet_ids=["subnet-a", "subnet-b"], security_group_ids=["sg-lambda"],
                reserved_concurrency={"auth": 5}, environment={"UNAMENTIS_ENV": "test"},
                api_hostname="fn.example.org")
    base.update(kw)
    return FunctionsApiArgs(**base)


# ------------------------------------------------------------------------------ route table


def test_http_api_routes_cover_exactly_the_lambda_rules():
    keys = http_api_route_keys()
    lambda_rules = [r for r in ROUTES if r.origin == "lambda"]
    assert len(keys) == 2 * len(lambda_rules)
    for rule in lambda_rules:
        assert (f"ANY {rule.pattern}", rule.service) in keys
        assert (f"ANY {rule.pattern}/{{proxy+}}", rule.service) in keys
    assert all(svc in LAMBDA_SERVICES for _, svc in keys)


def test_http_api_route_star_segment_becomes_parameter():
    from runtime.route_table import RouteRule

    keys = http_api_route_keys([RouteRule("/api/x/*/y", "auth", "lambda")], ["auth"])
    assert keys == [("ANY /api/x/{p2}/y", "auth"), ("ANY /api/x/{p2}/y/{proxy+}", "auth")]


def _alb_target(path: str) -> str:
    """Emulate ALB rule evaluation (lowest priority first, `*` matches anything)."""
    import fnmatch

    for step in listener_rule_plan():
        if any(fnmatch.fnmatchcase(path, p) for p in step.patterns):
            return step.target
    raise AssertionError("no rule matched")


@pytest.mark.parametrize("path", [
    "/api/auth/login", "/api/curricula", "/api/curricula/abc", "/api/curricula/abc/full-with-assets",
    "/api/curricula/a/topics/b/stream-audio", "/api/kb/audio", "/api/kb/questions", "/api/admin/gpu", "/api/gpu/nodes/i-0123456789abcdef0/events",
    "/api/admin/users", "/ws/audio", "/api/tts", "/health", "/api/health", "/api/unknown", "/",
])
def test_alb_rules_agree_with_route_table(path):
    rule = route_for(path)
    want = "core" if rule is None or rule.origin == "core" else rule.service
    assert _alb_target(path) == want


def test_alb_rule_priorities_unique_and_catch_all_last():
    plan = listener_rule_plan()
    prios = [s.priority for s in plan]
    assert len(set(prios)) == len(prios) and prios == sorted(prios)
    assert plan[-1].priority == CATCH_ALL_PRIORITY and plan[-1].target == "core"
    assert all(1 <= p <= 50_000 for p in prios)


# ------------------------------------------------------------------------------ functions


def test_functions_tunnel_mode_http_api():
    rec = record(lambda: FunctionsApi("fn", _functions("tunnel")))
    fns = rec.of_type("aws:lambda/function:Function")
    assert sorted(f.get("name") for f in fns) == sorted(f"uma-test-{s}" for s in LAMBDA_SERVICES)
    for f in fns:
        svc = f.get("name").removeprefix("uma-test-")
        assert f.get("runtime") == "python3.12"
        assert f.get("architectures") == ["arm64"]
        assert f.get("handler") == f"runtime.handlers.{svc}.handler"
        assert f.get("reservedConcurrentExecutions") == (5 if svc == "auth" else 2)
        assert f.get("vpcConfig") == {"subnetIds": ["subnet-a", "subnet-b"], "securityGroupIds": ["sg-lambda"]}
        assert f.get("sourceCodeHash") == CODE.source_code_hash
        assert f.get("environment")["variables"]["UNAMENTIS_DB_MODE"] == "single"
        assert f.get("loggingConfig")["logGroup"] == f"/aws/lambda/{f.get('name')}"
    for lg in rec.of_type("aws:cloudwatch/logGroup:LogGroup"):
        assert lg.get("retentionInDays") == 14
    [api] = rec.of_type("aws:apigatewayv2/api:Api")
    assert api.get("protocolType") == "HTTP" and api.get("disableExecuteApiEndpoint") is True
    routes = sorted(r.get("routeKey") for r in rec.of_type("aws:apigatewayv2/route:Route"))
    assert routes == sorted(k for k, _ in http_api_route_keys())
    [stage] = rec.of_type("aws:apigatewayv2/stage:Stage")
    assert stage.get("defaultRouteSettings") == {"throttlingRateLimit": 50.0, "throttlingBurstLimit": 100}
    assert stage.get("name") == "$default" and stage.get("autoDeploy") is True
    [dom] = rec.of_type("aws:apigatewayv2/domainName:DomainName")
    assert dom.get("domainName") == "fn.example.org"
    assert dom.get("domainNameConfiguration")["endpointType"] == "REGIONAL"
    assert dom.get("domainNameConfiguration")["securityPolicy"] == "TLS_1_2"
    perms = rec.of_type("aws:lambda/permission:Permission")
    assert len(perms) == len(LAMBDA_SERVICES)
    assert all(p.get("principal") == "apigateway.amazonaws.com" for p in perms)
    assert not rec.of_type("aws:lb/targetGroup:TargetGroup")
    [layer] = rec.of_type("aws:lambda/layerVersion:LayerVersion")
    assert layer.get("compatibleArchitectures") == ["arm64"]
    assert "PLACEHOLDER" not in layer.get("description")


def test_functions_placeholder_layer_is_labelled():
    ph = Artifact("/tmp/ph.zip", "ee" * 32, "7u4=", 1, placeholder=True)
    rec = record(lambda: FunctionsApi("fn", _functions("tunnel", layer=ph)))
    [layer] = rec.of_type("aws:lambda/layerVersion:LayerVersion")
    assert layer.get("description").startswith("PLACEHOLDER")


def test_functions_layer_goes_through_s3_when_given_a_bucket():
    rec = record(lambda: FunctionsApi("fn", _functions("tunnel", artifact_bucket="uma-artifacts")))
    [obj] = rec.of_type("aws:s3/bucketObjectv2:BucketObjectv2")
    assert obj.get("bucket") == "uma-artifacts"
    assert obj.get("key") == f"lambda/layers/uma-test-runtime-deps-{LAYER.sha256[:16]}.zip"
    [layer] = rec.of_type("aws:lambda/layerVersion:LayerVersion")
    assert (layer.get("s3Bucket"), layer.get("s3Key")) == ("uma-artifacts", obj.get("key"))
    assert layer.get("sourceCodeHash") == LAYER.source_code_hash


def test_functions_refuse_a_large_layer_without_a_bucket():
    big = Artifact("/tmp/big.zip", "ff" * 32, "/w==", 52_000_000)
    with pytest.raises(ArgsError, match=r"^FunctionsApiArgs\.artifact_bucket: .*50 MB"):
        _functions("tunnel", layer=big).validate()


@pytest.mark.parametrize("bad, message", [
    (dict(reserved_concurrency={"nosuch": 1}), r"FunctionsApiArgs\.reserved_concurrency: unknown services"),
    (dict(reserved_concurrency={"auth": 0}), r"FunctionsApiArgs\.reserved_concurrency\.auth: 0\. Fix: reserve at least 1"),
    (dict(timeout_s=30), r"FunctionsApiArgs\.timeout_s: 30 s\. Fix: at most 29 s"),
    (dict(api_hostname=None), r"FunctionsApiArgs\.api_hostname: "),
    (dict(ingress="nlb"), r"FunctionsApiArgs\.ingress: 'nlb'"),
])
def test_functions_bad_args_fail_in_their_own_terms(bad, message):
    with pytest.raises(ArgsError, match="^" + message):
        _functions(**{"ingress": "tunnel", **bad}).validate()


def test_functions_alb_mode_target_groups_and_rules():
    def build():
        FunctionsApi("fn", _functions("alb", https_listener_arn="arn:listener", vpc_id="vpc-1",
                                      origin_secret="s3cr3t-value-0123456789"))

    rec = record(build, stack="prod")
    tgs = rec.of_type("aws:lb/targetGroup:TargetGroup")
    assert sorted(t.get("name") for t in tgs) == sorted(f"uma-test-{s}" for s in LAMBDA_SERVICES)
    assert all(t.get("targetType") == "lambda" for t in tgs)
    assert len(rec.of_type("aws:lb/targetGroupAttachment:TargetGroupAttachment")) == len(LAMBDA_SERVICES)
    perms = rec.of_type("aws:lambda/permission:Permission")
    assert all(p.get("principal") == "elasticloadbalancing.amazonaws.com" for p in perms)
    rules = rec.of_type("aws:lb/listenerRule:ListenerRule")
    lambda_steps = [s for s in listener_rule_plan() if s.target != "core"]
    assert sorted(r.get("priority") for r in rules) == sorted(s.priority for s in lambda_steps)
    for r in rules:
        conds = r.get("conditions")
        assert {"httpHeader": {"httpHeaderName": "X-Origin-Secret",
                               "values": ["s3cr3t-value-0123456789"]}} in conds
    assert not rec.of_type("aws:apigatewayv2/api:Api")


# ------------------------------------------------------------------------------ load balancer


def _lb(**kw):
    base = dict(name_prefix="uma-prod", vpc_id="vpc-1", subnet_ids=["subnet-a", "subnet-b"],
                security_group_id="sg-alb", domain="example.org")
    base.update(kw)
    return LoadBalancerArgs(**base)


def test_load_balancer_with_origin_secret():
    rec = record(lambda: LoadBalancer("lb", _lb(origin_secret="s3cr3t-value-0123456789")), stack="prod")
    [alb] = rec.of_type("aws:lb/loadBalancer:LoadBalancer")
    assert alb.get("dropInvalidHeaderFields") is True
    assert alb.get("idleTimeout") >= 300
    assert alb.get("desyncMitigationMode") == "defensive"
    assert alb.get("internal") is False
    listeners = {l.get("port"): l for l in rec.of_type("aws:lb/listener:Listener")}
    https, http = listeners[443], listeners[80]
    assert https.get("sslPolicy") == TLS_POLICY and https.get("protocol") == "HTTPS"
    assert https.get("defaultActions")[0]["type"] == "fixed-response"
    assert https.get("defaultActions")[0]["fixedResponse"]["statusCode"] == "403"
    assert http.get("defaultActions")[0]["redirect"] == {"protocol": "HTTPS", "port": "443",
                                                         "statusCode": "HTTP_301"}
    [tg] = rec.of_type("aws:lb/targetGroup:TargetGroup")
    assert tg.get("deregistrationDelay") < 120 and tg.get("targetType") == "ip"
    assert tg.get("healthCheck")["path"] == "/health"
    rules = rec.of_type("aws:lb/listenerRule:ListenerRule")
    core_steps = [s for s in listener_rule_plan() if s.target == "core"]
    assert sorted(r.get("priority") for r in rules) == sorted(s.priority for s in core_steps)
    assert all(any("httpHeader" in c for c in r.get("conditions")) for r in rules)
    [cert] = rec.of_type("aws:acm/certificate:Certificate")
    assert cert.get("domainName") == "api.example.org"
    assert cert.get("validationMethod") == "DNS"


def test_load_balancer_without_edge_forwards_by_default_and_uses_given_cert():
    rec = record(lambda: LoadBalancer("lb", _lb(certificate_arn="arn:aws:acm:us-east-1:1:certificate/x")),
                 stack="customer")
    https = [l for l in rec.of_type("aws:lb/listener:Listener") if l.get("port") == 443][0]
    assert https.get("certificateArn") == "arn:aws:acm:us-east-1:1:certificate/x"
    assert https.get("defaultActions")[0]["type"] == "forward"
    assert not rec.of_type("aws:acm/certificate:Certificate")
    assert all(r.get("priority") != CATCH_ALL_PRIORITY for r in rec.of_type("aws:lb/listenerRule:ListenerRule"))


@pytest.mark.parametrize("kw, message", [(dict(idle_timeout=60), r"LoadBalancerArgs\.idle_timeout: 60 s"),
                                         (dict(deregistration_delay=300), r"LoadBalancerArgs\.deregistration_delay: 300 s")])
def test_load_balancer_rejects_unsafe_timeouts(kw, message):
    with pytest.raises(ArgsError, match="^" + message):
        _lb(**kw).validate()


# ------------------------------------------------------------------------------ core service


def _core(**kw):
    base = dict(name_prefix="uma-beta", region="us-east-1", ingress="tunnel",
                image="123.dkr.ecr.us-east-1.amazonaws.com/uma/runtime@sha256:" + "0" * 64,
                subnet_ids=["subnet-pub-a"], security_group_ids=["sg-core"],
                environment={"UNAMENTIS_ENV": "beta"},
                secret_values={"DATABASE_URL": "postgresql://app:pw@db:5432/uma"},
                cloudflared_image="cloudflare/cloudflared:2026.8.2", tunnel_token="eyJtoken")
    base.update(kw)
    return CoreServiceArgs(**base)


def test_core_service_tunnel_mode():
    rec = record(lambda: CoreService("core", _core()))
    [cps] = rec.of_type("aws:ecs/clusterCapacityProviders:ClusterCapacityProviders")
    assert cps.get("capacityProviders") == ["FARGATE", "FARGATE_SPOT"]
    [svc] = rec.of_type("aws:ecs/service:Service")
    assert svc.get("capacityProviderStrategies") == [{"capacityProvider": "FARGATE_SPOT", "weight": 1}]
    assert svc.get("networkConfiguration")["assignPublicIp"] is True
    assert not svc.get("loadBalancers")
    tds = {t.get("family"): t for t in rec.of_type("aws:ecs/taskDefinition:TaskDefinition")}
    td, migrate = tds["uma-beta-core"], tds["uma-beta-migrate"]
    assert td.get("runtimePlatform") == {"cpuArchitecture": "ARM64", "operatingSystemFamily": "LINUX"}
    [one_off] = json.loads(migrate.get("containerDefinitions"))
    assert one_off["command"] == ["migrate"] and "portMappings" not in one_off
    assert [s["name"] for s in one_off["secrets"]] == ["DATABASE_URL"]  # no tunnel token, no sidecar
    assert td.get("requiresCompatibilities") == ["FARGATE"]
    containers = {c["name"]: c for c in json.loads(td.get("containerDefinitions"))}
    core, cfd = containers["core"], containers["cloudflared"]
    assert core["stopTimeout"] == 120 and cfd["stopTimeout"] == 120
    # Migrations before serving, on every start (under migrate's advisory lock); both are real CLI calls.
    assert core["entryPoint"] == ["/bin/sh", "-c"]
    assert core["command"] == ["python -m runtime migrate && exec python -m runtime serve --host 0.0.0.0 --port 8766"]
    from runtime.cli import build_parser
    for part in core["command"][0].split(" && "):
        argv = part.removeprefix("exec ").split()[3:]
        assert build_parser().parse_args(argv).func.__name__ in ("cmd_migrate", "cmd_serve")
    assert "/health" in core["healthCheck"]["command"][-1]
    assert cfd["image"] == "cloudflare/cloudflared:2026.8.2"
    assert cfd["command"][0] == "tunnel" and cfd["command"][-1] == "run"
    assert cfd["healthCheck"]["command"][-1] == "ready"
    assert "dependsOn" not in cfd
    # secrets only by reference, never values in the task definition
    assert [s["name"] for s in cfd["secrets"]] == ["TUNNEL_TOKEN"]
    assert [s["name"] for s in core["secrets"]] == ["DATABASE_URL"]
    assert "postgresql://" not in td.get("containerDefinitions")
    assert "eyJtoken" not in td.get("containerDefinitions")
    params = {p.get("name"): p for p in rec.of_type("aws:ssm/parameter:Parameter")}
    assert set(params) == {"/uma-beta/core/DATABASE_URL", "/uma-beta/core/TUNNEL_TOKEN"}
    assert all(p.get("type") == "SecureString" and p.secret_inputs == ["value"] for p in params.values())
    assert not rec.of_type("aws:appautoscaling/target:Target")
    [lg] = rec.of_type("aws:cloudwatch/logGroup:LogGroup")
    assert lg.get("retentionInDays") == 14


def test_core_service_alb_mode_with_on_demand_base_and_autoscaling():
    rec = record(lambda: CoreService("core", _core(
        ingress="alb", target_group_arn="arn:tg", cpu=512, memory=1024, desired_count=2, max_count=6,
        on_demand_base=1, on_demand_weight=1, spot_weight=3, assign_public_ip=False,
        cloudflared_image=None, tunnel_token=None)), stack="prod")
    [svc] = rec.of_type("aws:ecs/service:Service")
    assert svc.get("capacityProviderStrategies") == [
        {"capacityProvider": "FARGATE", "base": 1, "weight": 1},
        {"capacityProvider": "FARGATE_SPOT", "weight": 3}]
    assert svc.get("loadBalancers") == [{"targetGroupArn": "arn:tg", "containerName": "core",
                                         "containerPort": 8766}]
    td = next(t for t in rec.of_type("aws:ecs/taskDefinition:TaskDefinition") if t.get("family") == "uma-beta-core")
    assert [c["name"] for c in json.loads(td.get("containerDefinitions"))] == ["core"]
    [target] = rec.of_type("aws:appautoscaling/target:Target")
    assert (target.get("minCapacity"), target.get("maxCapacity")) == (2, 6)
    [pol] = rec.of_type("aws:appautoscaling/policy:Policy")
    spec = pol.get("targetTrackingScalingPolicyConfiguration")
    assert spec["predefinedMetricSpecification"]["predefinedMetricType"] == "ECSServiceAverageCPUUtilization"


@pytest.mark.parametrize("kw, message", [
    (dict(cpu=300), r"CoreServiceArgs\.cpu: 300 is not a Fargate size"),
    (dict(memory=4096), r"CoreServiceArgs\.memory: 4096 MiB does not fit cpu 256"),
    (dict(cloudflared_image="cloudflare/cloudflared:latest"), r"CoreServiceArgs\.cloudflared_image: .* is not pinned"),
    (dict(cloudflared_image="cloudflare/cloudflared"), r"CoreServiceArgs\.cloudflared_image: .* is not pinned"),
    (dict(tunnel_token=None), r"CoreServiceArgs\.cloudflared_image: tunnel ingress needs the sidecar image and tunnel_token"),
    (dict(spot_weight=0, on_demand_weight=0), r"CoreServiceArgs\.spot_weight: spot_weight and on_demand_weight are both 0"),
    (dict(environment={"DATABASE_URL": "x"}), r"CoreServiceArgs\.environment: names given twice"),
])
def test_core_service_bad_args(kw, message):
    with pytest.raises(ArgsError, match="^" + message):
        _core(**kw).validate()


# ------------------------------------------------------------------------------ GPU fleet


def test_gpu_fleet():
    user_data = "#cloud-config\nruncmd: [echo hi]\n"

    fleets = []

    def build():
        fleets.append(GpuFleet("gpu", GpuFleetArgs(name_prefix="uma-beta", subnet_ids=["subnet-g1", "subnet-g2"],
                                                   security_group_id="sg-gpu", user_data=user_data, max_size=2,
                                                   associate_public_ip=True, model_bucket_arn="arn:aws:s3:::models")))

    rec = record(build)
    # the core scales the group (wake, sleep) and replaces its nodes (the console's restart), on this group only
    assert fleets[0].core_policy_statements[0]["Action"] == [
        "autoscaling:SetDesiredCapacity", "autoscaling:UpdateAutoScalingGroup", "autoscaling:TerminateInstanceInAutoScalingGroup"]
    [lt] = rec.of_type("aws:ec2/launchTemplate:LaunchTemplate")
    assert lt.get("instanceInitiatedShutdownBehavior") == "terminate"
    assert lt.get("metadataOptions") == {"httpEndpoint": "enabled", "httpTokens": "required",
                                         "httpPutResponseHopLimit": 1, "instanceMetadataTags": "disabled"}
    assert lt.get("imageId").startswith("resolve:ssm:/aws/service/")
    assert lt.get("blockDeviceMappings")[0]["ebs"]["encrypted"] == "true"
    assert base64.b64decode(lt.get("userData")).decode() == user_data
    assert lt.get("networkInterfaces")[0]["securityGroups"] == ["sg-gpu"]
    assert lt.get("iamInstanceProfile")["arn"].startswith("arn:aws:iam::")
    [asg] = rec.of_type("aws:autoscaling/group:Group")
    assert (asg.get("minSize"), asg.get("maxSize"), asg.get("desiredCapacity")) == (0, 2, 0)
    assert asg.get("capacityRebalance") is True
    mip = asg.get("mixedInstancesPolicy")
    assert mip["instancesDistribution"] == {"onDemandBaseCapacity": 0,
                                            "onDemandPercentageAboveBaseCapacity": 0,
                                            "spotAllocationStrategy": "price-capacity-optimized"}
    assert [o["instanceType"] for o in mip["launchTemplate"]["overrides"]] == [
        "g4dn.xlarge", "g4dn.2xlarge", "g5.xlarge", "g6.xlarge"]
    assert asg.get("vpcZoneIdentifiers") == ["subnet-g1", "subnet-g2"]
    [rule] = rec.of_type("aws:cloudwatch/eventRule:EventRule")
    pattern = json.loads(rule.get("eventPattern"))
    assert pattern == {"source": ["aws.ec2"], "detail-type": [
        "EC2 Spot Instance Interruption Warning", "EC2 Instance Rebalance Recommendation"]}
    assert rec.of_type("aws:cloudwatch/eventTarget:EventTarget")


@pytest.mark.parametrize("kw, message", [
    (dict(instance_types=("g5g.xlarge",)), r"GpuFleetArgs\.instance_types: \['g5g.xlarge'\] are not x86_64 NVIDIA"),
    (dict(instance_types=()), r"GpuFleetArgs\.instance_types: empty\. Fix: list at least one"),
    (dict(warm_min=3, max_size=2), r"GpuFleetArgs\.warm_min: 3 with max_size 2"),
    (dict(max_size=0, warm_min=0), r"GpuFleetArgs\.max_size: 0"),
])
def test_gpu_fleet_bad_args(kw, message):
    base = dict(name_prefix="p", subnet_ids=[], security_group_id="sg", user_data="")
    with pytest.raises(ArgsError, match="^" + message):
        GpuFleetArgs(**{**base, **kw}).validate()


# ------------------------------------------------------------------------------ container image


def test_container_image_builds_and_pushes_to_a_scanned_ecr_repository():
    from components.container_image import ContainerImage, ContainerImageArgs, context_tag

    rec = record(lambda: ContainerImage("img", ContainerImageArgs(name_prefix="uma-beta", force_delete=True)))
    [repo] = rec.of_type("aws:ecr/repository:Repository")
    assert repo.get("name") == "uma-beta/runtime"
    assert repo.get("imageScanningConfiguration") == {"scanOnPush": True}
    assert repo.get("imageTagMutability") == "IMMUTABLE"
    [lc] = rec.of_type("aws:ecr/lifecyclePolicy:LifecyclePolicy")
    rules = json.loads(lc.get("policy"))["rules"]
    assert [r["selection"]["tagStatus"] for r in rules] == ["untagged", "any"]
    [img] = rec.of_type("docker-build:index:Image")
    assert img.get("platforms") == ["linux/arm64", "linux/amd64"]
    assert img.get("push") is True
    assert img.get("dockerfile")["location"].endswith("runtime/Dockerfile")
    assert img.get("tags") == [f"{repo.out('repositoryUrl')}:{context_tag()}"]
    assert img.get("registries")[0]["address"] == repo.out("repositoryUrl")


def test_container_image_tag_follows_the_sources(tmp_path):
    from components.container_image import context_tag

    (tmp_path / "__init__.py").write_text("")
    (tmp_path / "Dockerfile").write_text("FROM python:3.12-slim\n")
    first = context_tag(tmp_path)
    assert context_tag(tmp_path) == first
    (tmp_path / "Dockerfile").write_text("FROM python:3.13-slim\n")
    assert context_tag(tmp_path) != first


@pytest.mark.parametrize("image, ok", [
    ("ghcr.io/acme/unamentis-runtime:1.4.2", True),
    ("ghcr.io/acme/unamentis-runtime@sha256:" + "a" * 64, True),
    ("ghcr.io/acme/unamentis-runtime:latest", False),
    ("ghcr.io/acme/unamentis-runtime", False),
    ("localhost:5000/runtime", False),
])
def test_published_image_must_be_pinned(image, ok):
    from components.container_image import ContainerImage, ContainerImageArgs

    if ok:
        rec = record(lambda: ContainerImage("img", ContainerImageArgs(name_prefix="p", image=image)))
        assert rec.custom == []  # nothing to build or store
    else:
        with pytest.raises(ArgsError, match=r"^ContainerImageArgs\.image: .* is not pinned"):
            record(lambda: ContainerImage("img", ContainerImageArgs(name_prefix="p", image=image)))
