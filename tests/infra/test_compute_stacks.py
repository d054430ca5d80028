"""Compute in whole stacks (beta = tunnel, prod = ALB behind Cloudflare, customer = ALB without a CDN),
run through `__main__.py` under the recording mocks exactly as `python -m components.plan` does."""
from __future__ import annotations

import json

import pytest

from components import plan
from components.functions_api import http_api_route_keys
from components.load_balancer import CATCH_ALL_PRIORITY, TLS_POLICY, listener_rule_plan
from runtime.route_table import LAMBDA_SERVICES

LAMBDA = "aws:lambda/function:Function"
_reports: dict = {}


@pytest.fixture
def runs(stack_run):
    """The three stacks, run once per session (`stack_run` caches, see conftest)."""
    return {s: stack_run(s) for s in ("beta", "prod", "customer")}


@pytest.fixture
def reports(runs):
    for s, r in runs.items():
        if s not in _reports:
            _reports[s] = plan.build_report(r)
    return _reports


def _core_td(rec):
    [td] = [t for t in rec.of_type("aws:ecs/taskDefinition:TaskDefinition") if t.get("family").endswith("-core")]
    return td


def _containers(rec):
    return {c["name"]: c for c in json.loads(_core_td(rec).get("containerDefinitions"))}


def _sg_id(rec, role):
    for sg in rec.of_type("aws:ec2/securityGroup:SecurityGroup"):
        if (sg.get("tags") or {}).get("unamentis:role") == role:
            return sg.out("id") or sg.id
    raise KeyError(role)


# ------------------------------------------------------------------------------ beta (tunnel)


def test_beta_core_is_one_arm_fargate_spot_task_with_cloudflared_and_no_ingress(runs):
    rec = runs["beta"].recording
    [svc] = rec.of_type("aws:ecs/service:Service")
    assert svc.get("desiredCount") == 1
    assert svc.get("capacityProviderStrategies") == [{"capacityProvider": "FARGATE_SPOT", "weight": 1}]
    assert svc.get("networkConfiguration")["assignPublicIp"] is True
    td = _core_td(rec)
    assert td.get("runtimePlatform")["cpuArchitecture"] == "ARM64"
    assert (td.get("cpu"), td.get("memory")) == ("256", "512")
    containers = _containers(rec)
    assert set(containers) == {"core", "cloudflared"}
    assert containers["core"]["stopTimeout"] == 120
    assert {s["name"] for s in containers["cloudflared"]["secrets"]} == {"TUNNEL_TOKEN"}
    core_secret_names = {s["name"] for s in containers["core"]["secrets"]}
    assert {"DATABASE_URL", "UNAMENTIS_JWT_SECRET", "UNAMENTIS_ORIGIN_SECRET",
            "UNAMENTIS_DATABASE_ADMIN_URL", "UNAMENTIS_APP_ROLE_PASSWORD"} <= core_secret_names
    env = {e["name"]: e["value"] for e in containers["core"]["environment"]}
    # no NAT: the Lambdas cannot reach SQS, so everyone uses the PostgreSQL job queue
    assert "UNAMENTIS_SQS_QUEUE_URL" not in env
    assert env["UNAMENTIS_STORAGE_URL"].startswith("s3://")
    assert env["UNAMENTIS_GPU_ASG_NAME"] == "uma-beta-gpu"
    # the core's security group admits nothing at all
    core_sg = _sg_id(rec, "core")
    assert svc.get("networkConfiguration")["securityGroups"] == [core_sg]
    ingress = [r for r in rec.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
               if r.get("securityGroupId") == core_sg]
    ingress += [r for r in rec.of_type("aws:ec2/securityGroupRule:SecurityGroupRule")
                if r.get("securityGroupId") == core_sg and r.get("type") == "ingress"]
    assert ingress == []
    assert not rec.of_type("aws:lb/loadBalancer:LoadBalancer")


def test_beta_lambdas_and_http_api(runs):
    rec = runs["beta"].recording
    fns = rec.of_type(LAMBDA)
    assert len(fns) >= 5 and len(fns) == len(LAMBDA_SERVICES)
    cfg = runs["beta"].config
    for f in fns:
        assert f.get("handler").split(".")[2] in cfg.functions.reserved_concurrency
        # Off in beta: a new account (quota 10, 100 kept unreserved) cannot reserve any.
        assert cfg.functions.reserve_concurrency is False and f.get("reservedConcurrentExecutions") is None
        assert f.get("architectures") == ["arm64"] and f.get("runtime") == "python3.12"
        env = f.get("environment")["variables"]
        # Lambdas get the runtime role only, never the owner's DSN or the role password
        assert "DATABASE_URL" in env and "UNAMENTIS_DATABASE_ADMIN_URL" not in env
        assert "UNAMENTIS_APP_ROLE_PASSWORD" not in env
    [layer] = rec.of_type("aws:lambda/layerVersion:LayerVersion")
    [layer_obj] = [o for o in rec.of_type("aws:s3/bucketObjectv2:BucketObjectv2") if "/layers/" in o.get("key")]
    assert layer.get("s3Key") == layer_obj.get("key") and "code" not in layer.plain
    [api] = rec.of_type("aws:apigatewayv2/api:Api")
    assert api.get("disableExecuteApiEndpoint") is True
    assert sorted(r.get("routeKey") for r in rec.of_type("aws:apigatewayv2/route:Route")) == \
        sorted(k for k, _ in http_api_route_keys())
    [dom] = rec.of_type("aws:apigatewayv2/domainName:DomainName")
    assert dom.get("domainName") == f"fn.{cfg.domain}"


def test_beta_secrets_never_plain_in_lambda_env(runs):
    for f in runs["beta"].recording.of_type(LAMBDA):
        secret_paths = set(f.secret_inputs)
        for name in ("DATABASE_URL", "UNAMENTIS_JWT_SECRET", "UNAMENTIS_ORIGIN_SECRET"):
            assert any(p.endswith(f"variables.{name}") or p == "environment.variables"
                       or p == "environment" for p in secret_paths), (f.name, name, secret_paths)


def test_beta_gpu_fleet(runs):
    rec = runs["beta"].recording
    [asg] = rec.of_type("aws:autoscaling/group:Group")
    assert asg.get("minSize") == 0 and asg.get("name") == "uma-beta-gpu"
    mip = asg.get("mixedInstancesPolicy")
    assert mip["instancesDistribution"]["onDemandPercentageAboveBaseCapacity"] == 0
    assert mip["instancesDistribution"]["spotAllocationStrategy"] == "price-capacity-optimized"
    assert [o["instanceType"] for o in mip["launchTemplate"]["overrides"]][0] == "g4dn.xlarge"
    [lt] = rec.of_type("aws:ec2/launchTemplate:LaunchTemplate")
    assert lt.get("metadataOptions")["httpTokens"] == "required"
    assert lt.get("metadataOptions")["httpPutResponseHopLimit"] == 1
    import base64

    user_data = base64.b64decode(lt.get("userData")).decode()
    assert user_data.startswith("#cloud-config")
    assert "uma-beta-gpu" in user_data
    # An idle node removes itself through the Auto Scaling API: scale-to-zero never waits on the core.
    assert "GPU_AGENT_DORMANT_ACTION=asg" in user_data
    [obj] = [o for o in rec.of_type("aws:s3/bucketObjectv2:BucketObjectv2") if o.get("key").startswith("gpu-agent/")]
    assert obj.get("key") in user_data  # the node fetches exactly the uploaded agent archive


def test_beta_gpu_nodes_share_a_token_with_the_core(runs):
    """The nodes' events reach the core's /api/gpu route with a generated token: stored once for the
    nodes (readable by their role only), once as the core's UNAMENTIS_GPU_NODE_TOKEN secret."""
    import base64
    import json

    rec = runs["beta"].recording
    params = {p.get("name"): p for p in rec.of_type("aws:ssm/parameter:Parameter")}
    node_param = params["/uma-beta/gpu/node-token"]
    core_param = params["/uma-beta/core/UNAMENTIS_GPU_NODE_TOKEN"]
    assert node_param.get("type") == core_param.get("type") == "SecureString"
    assert node_param.secret_inputs and core_param.secret_inputs  # never in the plan in clear
    token = node_param.get("value")
    assert token and token == core_param.get("value") and len(token) >= 24
    [lt] = rec.of_type("aws:ec2/launchTemplate:LaunchTemplate")
    user_data = base64.b64decode(lt.get("userData")).decode()
    assert "CORE_TOKEN_PARAMETER=/uma-beta/gpu/node-token" in user_data
    assert "GPU_AGENT_CORE_URL=https://api." in user_data and "/api/gpu" in user_data
    assert token not in user_data  # the node reads it from SSM at boot; user data is not secret
    [node_policy] = [r for r in rec.of_type("aws:iam/rolePolicy:RolePolicy") if r.name.endswith("-node-policy")]
    statements = json.loads(node_policy.get("policy"))["Statement"]
    reads = [st for st in statements if st["Action"] == ["ssm:GetParameter"] and st["Effect"] == "Allow"]
    assert len(reads) == 1 and reads[0]["Resource"] == node_param.out("arn")
    # Session Manager's managed policy would let a node read every parameter (the core's DATABASE_URL,
    # the JWT secret): the role denies parameter reads except its own token and AWS's public ones.
    [fence] = [st for st in statements if st["Effect"] == "Deny"]
    assert {"ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath"} <= set(fence["Action"])
    assert fence["NotResource"] == [node_param.out("arn"), "arn:aws:ssm:*::parameter/aws/service/*"]


def test_beta_cost_fits_twenty_dollars_fixed_and_states_gpu_per_hour(reports):
    cost = reports["beta"]["cost"]
    assert cost["fixed_usd"] <= 20.0, [l for l in cost["lines"] if l["kind"] == "fixed"]
    gpu = [l for l in cost["lines"] if "g4dn.xlarge" in l["item"]]
    assert gpu and all(l["kind"] == "usage" for l in gpu)
    assert "per hour of use" in gpu[0]["assumption"]
    core = [l for l in cost["lines"] if "Fargate Spot ARM64" in l["item"]]
    assert core and core[0]["kind"] == "fixed"


# ------------------------------------------------------------------------------ prod / customer (ALB)


@pytest.mark.parametrize("stack", ["prod", "customer"])
def test_alb_stacks(runs, stack):
    rec = runs[stack].recording
    cfg = runs[stack].config
    [alb] = rec.of_type("aws:lb/loadBalancer:LoadBalancer")
    assert alb.get("dropInvalidHeaderFields") is True and alb.get("idleTimeout") >= 300
    listeners = {l.get("port"): l for l in rec.of_type("aws:lb/listener:Listener")}
    assert listeners[443].get("sslPolicy") == TLS_POLICY
    assert listeners[80].get("defaultActions")[0]["type"] == "redirect"
    tgs = rec.of_type("aws:lb/targetGroup:TargetGroup")
    lambda_tgs = [t for t in tgs if t.get("targetType") == "lambda"]
    core_tgs = [t for t in tgs if t.get("targetType") == "ip"]
    assert len(lambda_tgs) == len(LAMBDA_SERVICES) and len(core_tgs) == 1
    assert core_tgs[0].get("deregistrationDelay") < 120
    assert core_tgs[0].get("port") == cfg.core.port
    [svc] = rec.of_type("aws:ecs/service:Service")
    assert svc.get("loadBalancers")[0]["containerPort"] == cfg.core.port
    assert set(_containers(rec)) == {"core"}
    env = {e["name"]: e["value"] for e in _containers(rec)["core"]["environment"]}
    assert env["UNAMENTIS_SQS_QUEUE_URL"].startswith("https://sqs.")  # NAT: SQS for jobs
    for fn in rec.of_type(LAMBDA):
        assert fn.get("environment")["variables"]["UNAMENTIS_SQS_QUEUE_URL"] == env["UNAMENTIS_SQS_QUEUE_URL"]
    assert not rec.of_type("aws:apigatewayv2/api:Api")
    rules = rec.of_type("aws:lb/listenerRule:ListenerRule")
    with_secret = cfg.edge == "cloudflare"
    expected = [s for s in listener_rule_plan() if with_secret or s.priority != CATCH_ALL_PRIORITY]
    assert sorted(r.get("priority") for r in rules) == sorted(s.priority for s in expected)
    has_header = [any("httpHeader" in c for c in r.get("conditions")) for r in rules]
    assert all(has_header) if with_secret else not any(has_header)
    default = listeners[443].get("defaultActions")[0]
    if with_secret:
        assert default["type"] == "fixed-response" and default["fixedResponse"]["statusCode"] == "403"
    else:
        assert default["type"] == "forward"


def test_prod_autoscaling_and_on_demand_base(runs):
    rec = runs["prod"].recording
    [svc] = rec.of_type("aws:ecs/service:Service")
    strategy = {s["capacityProvider"]: s for s in svc.get("capacityProviderStrategies")}
    assert strategy["FARGATE"]["base"] >= 1 and strategy["FARGATE_SPOT"]["weight"] >= 1
    [target] = rec.of_type("aws:appautoscaling/target:Target")
    assert target.get("maxCapacity") == runs["prod"].config.core.max_count


@pytest.mark.parametrize("stack", ["beta", "prod", "customer"])
def test_stack_plans_clean(reports, stack):
    report = reports[stack]
    errors = [f for f in report["findings"] if f["severity"] == "error"]
    assert errors == []
    assert report["cost"]["unpriced"] == []
    assert plan.exit_code(report) == 0


def test_policy_catches_an_ingress_rule_on_the_beta_core(runs):
    """Inject one ingress rule onto the core's SG in the recorded beta graph: the rule fires."""
    from components import policy
    from components.mocks import Recording
    from components.policy_core import fake

    rec = runs["beta"].recording
    bad = Recording(resources=list(rec.resources))
    bad.add(fake("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", "sneaky",
                 {"securityGroupId": _sg_id(rec, "core"), "ipProtocol": "tcp", "fromPort": 8080,
                  "toPort": 8080, "cidrIpv4": "0.0.0.0/0"}))
    ids = {f.rule for f in policy.evaluate(bad, runs["beta"].config)}
    assert "compute.core-no-ingress" in ids


# ------------------------------------------------------------------------------ web apps


CONSOLE_ADMIN = "ops@unamentis.net"


def _with_apps(stack, **apps):
    overrides = {f"unamentis-cloud:{k}": {"enabled": True, "image": v,
                                          **({"admin_email": CONSOLE_ADMIN} if k == "ops_console" else {})}
                 for k, v in apps.items()}
    run = plan.run_program(stack, overrides=overrides)
    return run, plan.build_report(run)


def test_web_apps_alb_mode_host_rules_and_own_security_groups():
    run, report = _with_apps("prod", ops_console="ghcr.io/acme/ops-console:1.2.0",
                             web_client="ghcr.io/acme/web:2.0.1")
    rec = run.recording
    svcs = {s.get("name"): s for s in rec.of_type("aws:ecs/service:Service")}
    assert set(svcs) == {"uma-prod-core", "uma-prod-ops-console", "uma-prod-web-client"}
    rules = {r.get("priority"): r for r in rec.of_type("aws:lb/listenerRule:ListenerRule")}
    domain = run.config.domain
    assert {"hostHeader": {"values": [f"admin.{domain}"]}} in rules[49_000].get("conditions")
    assert {"hostHeader": {"values": [f"app.{domain}"]}} in rules[20].get("conditions")
    assert all(any("httpHeader" in c for c in rules[p].get("conditions")) for p in (49_000, 20))
    ports = {tg.get("port") for tg in rec.of_type("aws:lb/targetGroup:TargetGroup") if tg.get("targetType") == "ip"}
    assert ports == {run.config.core.port, 3000, 3001}
    ingress = [r for r in rec.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
               if r.name.startswith("unamentis-compute-web-")]
    assert sorted(r.get("fromPort") for r in ingress if r.get("securityGroupId") != _sg_id(rec, "core")) == [3000, 3001]
    assert all(r.get("referencedSecurityGroupId") == _sg_id(rec, "alb") for r in ingress
               if r.get("securityGroupId") != _sg_id(rec, "core"))
    assert [f for f in report["findings"] if f["severity"] == "error"] == []


def test_web_apps_tunnel_mode_register_in_cloud_map():
    from components.web_apps import service_url

    run, report = _with_apps("beta", ops_console="ghcr.io/acme/ops-console:1.2.0")
    rec = run.recording
    [ns] = rec.of_type("aws:servicediscovery/privateDnsNamespace:PrivateDnsNamespace")
    assert ns.get("name") == "uma-beta.internal"
    assert sorted(d.get("name") for d in rec.of_type("aws:servicediscovery/service:Service")) == ["core", "ops-console"]
    assert service_url("ops_console", "uma-beta") == "http://ops-console.uma-beta.internal:3000"
    # the tunnel sends admin.<domain> to it
    [tunnel] = rec.of_type("cloudflare:index/zeroTrustTunnelCloudflaredConfig:ZeroTrustTunnelCloudflaredConfig")
    admin = [(i.get("path"), i.get("service")) for i in tunnel.get("config")["ingresses"]
             if i.get("hostname") == f"admin.{run.config.domain}"]
    assert admin[-1] == (None, "http://ops-console.uma-beta.internal:3000")
    # cloudflared (core SG) may reach the console; the core SG admits only the console, on the console port
    core_sg = _sg_id(rec, "core")
    egress = [r for r in rec.of_type("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule")
              if r.get("securityGroupId") == core_sg and r.get("fromPort") == 3000]
    assert len(egress) == 1
    # A second always-on task does not fit the beta's $20 fixed ceiling: the plan says so.
    errors = [f for f in report["findings"] if f["severity"] == "error"]
    assert [f["rule"] for f in errors] == ["cost.fixed-ceiling"]
    assert any("Cloud Map" in l["item"] for l in report["cost"]["lines"])


def test_web_app_image_must_be_pinned():
    with pytest.raises(ValueError, match="pinned"):
        _with_apps("prod", ops_console="ghcr.io/acme/ops-console:latest")


# ------------------------------------------------------------------------------ argument shapes

_MAP_VALUED = {"variables", "tags", "tagsAll"}  # user maps: their keys are data, not argument names


def _snake_keys(value, path, out):
    if isinstance(value, dict):
        for k, v in value.items():
            if "_" in k:
                out.append(f"{path}.{k}")
            if k not in _MAP_VALUED:
                _snake_keys(v, f"{path}.{k}", out)
    elif isinstance(value, list):
        for v in value:
            _snake_keys(v, path, out)


@pytest.mark.parametrize("stack", ["beta", "prod", "customer"])
def test_nested_arguments_are_known_to_the_sdk(runs, stack):
    """A nested dict key the SDK does not know reaches the engine untranslated (snake_case) and
    would be rejected or ignored by `pulumi up`; every compute input must be a known wire name."""
    bad: list = []
    for r in runs[stack].recording.custom:
        if r.name.startswith("unamentis-compute"):
            _snake_keys(r.plain, f"{r.name}({r.type})", bad)
    assert bad == []


def test_nested_argument_check_catches_a_misspelt_key():
    out: list = []
    _snake_keys({"vpcConfig": {"subnet_idz": ["a"]}, "environment": {"variables": {"A_B": "1"}}}, "fn", out)
    assert out == ["fn.vpcConfig.subnet_idz"]


# ------------------------------------------------------------------------------ runtime settings


def _core_env(rec) -> dict:
    """The core container's environment, with each SSM-referenced secret given a sample value."""
    core = _containers(rec)["core"]
    env = {e["name"]: e["value"] for e in core["environment"]}
    samples = {"DATABASE_URL": "postgresql://unamentis_app:pw@db.internal:5432/unamentis?sslmode=require",
               "UNAMENTIS_DATABASE_ADMIN_URL": "postgresql://unamentis_admin:pw@db.internal:5432/unamentis"}
    for s in core["secrets"]:
        env[s["name"]] = samples.get(s["name"], "s" * 40)
    return env


@pytest.mark.parametrize("stack", ["beta", "prod", "customer"])
def test_runtime_settings_accept_what_compute_sets(runs, stack):
    """The environment compute gives the core and every Lambda parses with the runtime's own
    `Settings.from_env` (a renamed setting or a value outside its choices fails here, not at boot)."""
    from runtime.settings import Settings

    rec = runs[stack].recording
    core = Settings.from_env(_core_env(rec))
    assert core.database_url.startswith("postgresql://unamentis_app:")
    for fn in rec.of_type(LAMBDA):
        env = dict(fn.get("environment")["variables"])
        env["AWS_LAMBDA_FUNCTION_NAME"] = fn.get("name")
        settings = Settings.from_env(env)
        assert settings.db_mode == "single"
        assert settings.database_url and "unamentis_app" in settings.database_url
        if runs[stack].config.edge == "cloudflare":
            assert settings.origin_secret


def test_provider_keys_choose_providers_and_stay_secret():
    from runtime.settings import Settings

    run = plan.run_program("beta", overrides={"unamentis-cloud:groqApiKey": "gsk_test_key_0123456789",
                                              "unamentis-cloud:deepgramApiKey": "dg_test_key_0123456789"})
    rec = run.recording
    core = _containers(rec)["core"]
    env = {e["name"]: e["value"] for e in core["environment"]}
    assert (env["UNAMENTIS_LLM_PROVIDER"], env["UNAMENTIS_STT_PROVIDER"], env["UNAMENTIS_TTS_PROVIDER"]) == \
        ("groq", "groq", "deepgram")
    secret_names = {s["name"] for s in core["secrets"]}
    assert {"UNAMENTIS_LLM_API_KEY", "UNAMENTIS_STT_API_KEY", "UNAMENTIS_TTS_API_KEY"} <= secret_names
    assert "gsk_test_key" not in json.dumps(core)
    params = {p.get("name"): p for p in rec.of_type("aws:ssm/parameter:Parameter")}
    assert params["/uma-beta/core/UNAMENTIS_LLM_API_KEY"].secret_inputs == ["value"]
    voice = Settings.from_env(_core_env(rec)).voice
    assert (voice.llm_provider, voice.stt_provider, voice.tts_provider) == ("groq", "groq", "deepgram")


def test_only_the_gpu_node_role_writes_the_model_cache(runs):
    """The nodes load what the cache holds: every other role is denied writes there, and the
    policy rule fails a stack where another role could write it."""
    import copy

    from components import compute_policy
    from components.policy_core import PolicyContext

    run = runs["beta"]
    rec = run.recording
    policies = {r.name: json.loads(r.get("policy")) for r in rec.of_type("aws:iam/rolePolicy:RolePolicy")}
    bucket = rec.named("unamentis-storage-curricula").out("arn")
    for name in ("unamentis-compute-fn-data-access", "unamentis-compute-core-task-policy"):
        denies = [s for s in policies[name]["Statement"] if s["Effect"] == "Deny"]
        assert denies == [{"Effect": "Deny", "Action": ["s3:PutObject", "s3:DeleteObject"],
                           "Resource": [r for r in denies[0]["Resource"]]}]
        assert f"{bucket}/gpu-cache/*" in denies[0]["Resource"]
    node = policies["unamentis-compute-gpu-node-policy"]["Statement"]
    assert {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": f"{bucket}/gpu-cache/*"} in node
    rule = next(r for r in compute_policy.RULES if r.id == "s3.model-cache-writers")
    assert rule.run(PolicyContext(rec=rec, config=run.config)) == []
    # Without the Deny, the Lambdas' bucket-wide write would reach the cache: the rule fails the stack.
    broken = copy.deepcopy(rec)
    fn = broken.named("unamentis-compute-fn-data-access")
    doc = json.loads(fn.get("policy"))
    doc["Statement"] = [s for s in doc["Statement"] if s["Effect"] != "Deny"]
    fn.inputs["policy"] = json.dumps(doc)
    findings = rule.run(PolicyContext(rec=broken, config=run.config))
    assert [f.resource for f in findings] == ["unamentis-compute-fn-data-access"]
    assert "may write the GPU model cache" in findings[0].message
