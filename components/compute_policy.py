"""Compute rules: the core's tunnel isolation, Spot draining, the ALB's idle timeout, the
runtime's Lambdas (inside the VPC, environment size), the HTTP API's default endpoint and the
GPU fleet's Spot and scale-to-zero settings. `components.policy` composes them with the others.

Each rule has a `bad()` example that must make it fire (the policy tests run every example).
"""
from __future__ import annotations

import json
from typing import Iterable

from components.ops_console import CONSOLE_PORT
from components.policy_core import Rule, example, fake, ingress_rules, rule_finder

SPOT_NOTICE_S = 120



def _service_sg_ids(ctx) -> set:
    """Security groups of the core: ECS services whose task runs the cloudflared sidecar."""
    ids: set = set()
    for svc in ctx.of("aws:ecs/service:Service"):
        td = ctx.rec.find_by_output("arn", svc.get("taskDefinition"))
        names = {c.get("name") for c in _containers(td)} if td is not None else set()
        if td is None or "cloudflared" in names:
            ids.update((svc.get("networkConfiguration") or {}).get("securityGroups") or [])
    return ids


def _console_sg_ids(ctx) -> set:
    return {sg.id for sg in ctx.of("aws:ec2/securityGroup:SecurityGroup")
            if (sg.get("tags") or {}).get("unamentis:role") == "web-ops-console"}


def _from_console_only(r, lo, hi, cidrs, console_sgs: set) -> bool:
    """An ingress rule admitting exactly the ops console's group on the console listener's port."""
    source = r.get("referencedSecurityGroupId") or r.get("sourceSecurityGroupId")
    return not cidrs and lo == hi == CONSOLE_PORT and source in console_sgs


def _core_no_ingress(ctx) -> Iterable:
    if ctx.config.ingress != "tunnel":
        return
    sg_ids = _service_sg_ids(ctx)
    console_sgs = _console_sg_ids(ctx)
    for r, sg_id, proto, lo, hi, cidrs in ingress_rules(ctx):
        if sg_id in sg_ids and not _from_console_only(r, lo, hi, cidrs, console_sgs):
            yield _rule("compute.core-no-ingress").finding(
                r, f"tunnel mode: the core's security group {sg_id} must admit nothing "
                   f"(found {proto} {lo}-{hi} from {cidrs or 'a security group'})")


def _containers(td) -> list:
    raw = td.get("containerDefinitions")
    try:
        return json.loads(raw) if isinstance(raw, str) else list(raw or [])
    except ValueError:
        return []


def _spot_drain(ctx) -> Iterable:
    for svc in ctx.of("aws:ecs/service:Service"):
        providers = {s.get("capacityProvider") for s in svc.get("capacityProviderStrategies") or []}
        if "FARGATE_SPOT" not in providers:
            continue
        td = ctx.rec.find_by_output("arn", svc.get("taskDefinition"))
        for c in _containers(td) if td is not None else []:
            if int(c.get("stopTimeout") or 30) < SPOT_NOTICE_S:
                yield _rule("compute.spot-drain").finding(
                    svc, f"container {c.get('name')} stopTimeout {c.get('stopTimeout') or 30} s < "
                         f"{SPOT_NOTICE_S} s: it is killed before the Spot drain ends")
    for tg in ctx.of("aws:lb/targetGroup:TargetGroup"):
        if tg.get("targetType") in ("ip", "instance") and int(tg.get("deregistrationDelay") or 300) >= SPOT_NOTICE_S:
            yield _rule("compute.spot-drain").finding(
                tg, f"deregistration_delay {tg.get('deregistrationDelay') or 300} s must be < {SPOT_NOTICE_S} s")


def _alb_idle(ctx) -> Iterable:
    for lb in ctx.of("aws:lb/loadBalancer:LoadBalancer"):
        if (lb.get("loadBalancerType") or "application") == "application" and int(lb.get("idleTimeout") or 60) < 300:
            yield _rule("compute.alb-websocket-idle").finding(
                lb, f"idle_timeout {lb.get('idleTimeout') or 60} s < 300 s drops idle voice sockets")


def _lambda_in_vpc(ctx) -> Iterable:
    for fn in ctx.of("aws:lambda/function:Function"):
        if not str(fn.get("handler") or "").startswith("runtime.handlers."):
            continue  # only the runtime's API functions must reach the database inside the VPC
        vpc = fn.get("vpcConfig") or {}
        if not vpc.get("subnetIds") or not vpc.get("securityGroupIds"):
            yield _rule("compute.lambda-in-vpc").finding(fn, "vpc_config with subnets and a security group is required")


LAMBDA_ENV_LIMIT = 4096  # bytes: Lambda rejects a larger environment


def _lambda_env_size(ctx) -> Iterable:
    for fn in ctx.of("aws:lambda/function:Function"):
        env = ((fn.get("environment") or {}).get("variables")) or {}
        size = sum(len(k) + len(str(v)) for k, v in env.items())
        if size > LAMBDA_ENV_LIMIT:
            yield _rule("compute.lambda-env-size").finding(
                fn, f"environment is {size} bytes; Lambda allows {LAMBDA_ENV_LIMIT}")


def _http_api_origin(ctx) -> Iterable:
    for api in ctx.of("aws:apigatewayv2/api:Api"):
        if api.get("protocolType") == "HTTP" and api.get("disableExecuteApiEndpoint") is not True:
            yield _rule("compute.api-default-endpoint-off").finding(
                api, "disable_execute_api_endpoint must be True: the execute-api URL bypasses the edge")


def _gpu_spot_scale_to_zero(ctx) -> Iterable:
    for asg in ctx.of("aws:autoscaling/group:Group"):
        mip = asg.get("mixedInstancesPolicy") or {}
        types = [o.get("instanceType", "") for o in (mip.get("launchTemplate") or {}).get("overrides") or []]
        if not any(t.startswith(("g4dn.", "g5.", "g6.", "g6e.")) for t in types):
            continue
        dist = mip.get("instancesDistribution") or {}
        floor = ctx.config.gpu.warm_min
        if int(asg.get("minSize") or 0) != floor:
            yield _rule("compute.gpu-spot").finding(asg, f"min_size must be gpu.warm_min ({floor}); idle GPUs cost money")
        if int(dist.get("onDemandPercentageAboveBaseCapacity", 100)) != 0 or int(dist.get("onDemandBaseCapacity") or 0):
            yield _rule("compute.gpu-spot").finding(asg, "GPU capacity must be 100 % Spot")
        if dist.get("spotAllocationStrategy") != "price-capacity-optimized":
            yield _rule("compute.gpu-spot").finding(asg, "spot_allocation_strategy must be price-capacity-optimized")
        if asg.get("capacityRebalance") is not True:
            yield _rule("compute.gpu-spot").finding(asg, "capacity_rebalance must be True")


def _console_listener_private(ctx) -> Iterable:
    console_sgs = _console_sg_ids(ctx)
    core_sgs = {sg.id for sg in ctx.of("aws:ec2/securityGroup:SecurityGroup")
                if (sg.get("tags") or {}).get("unamentis:role") == "core"} | _service_sg_ids(ctx)
    for r, sg_id, proto, lo, hi, cidrs in ingress_rules(ctx):
        if sg_id not in core_sgs:
            continue
        covers = proto == "-1" or (lo is not None and hi is not None and int(lo) <= CONSOLE_PORT <= int(hi))
        if covers and not _from_console_only(r, lo, hi, cidrs, console_sgs):
            yield _rule("compute.console-listener-private").finding(
                r, f"{sg_id} admits port {CONSOLE_PORT} (the core's console listener, which acts as an admin) "
                   f"from {cidrs or 'a security group'} other than the ops console's")
    for tg in ctx.of("aws:lb/targetGroup:TargetGroup"):
        if tg.get("port") == CONSOLE_PORT:
            yield _rule("compute.console-listener-private").finding(
                tg, f"a target group on port {CONSOLE_PORT} puts the console listener behind the load balancer")


def _bad_console_listener():
    core = fake("aws:ec2/securityGroup:SecurityGroup", "sg-core", {"tags": {"unamentis:role": "core"}})
    return example(core, fake("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", "console-in",
                        {"securityGroupId": core.id, "ipProtocol": "tcp", "fromPort": CONSOLE_PORT,
                         "toPort": CONSOLE_PORT, "cidrIpv4": "10.0.0.0/16"}))


def _bad_core_ingress():
    svc = fake("aws:ecs/service:Service", "core", {"networkConfiguration": {"securityGroups": ["sg-core"]},
                                                    "capacityProviderStrategies": []})
    rule = fake("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", "core-in",
                {"securityGroupId": "sg-core", "ipProtocol": "tcp", "fromPort": 8080, "toPort": 8080,
                 "cidrIpv4": "10.0.0.0/16"})
    return example(svc, rule)


def _bad_spot_drain():
    td = fake("aws:ecs/taskDefinition:TaskDefinition", "td",
              {"containerDefinitions": json.dumps([{"name": "core", "stopTimeout": 30}])},
              outputs={"arn": "arn:aws:ecs:us-east-1:1:task-definition/td:1"})
    svc = fake("aws:ecs/service:Service", "core", {
        "taskDefinition": "arn:aws:ecs:us-east-1:1:task-definition/td:1",
        "capacityProviderStrategies": [{"capacityProvider": "FARGATE_SPOT", "weight": 1}]})
    return example(td, svc)


def _bad_gpu():
    return example(fake("aws:autoscaling/group:Group", "gpu", {
        "minSize": 1, "maxSize": 2, "capacityRebalance": False,
        "mixedInstancesPolicy": {"instancesDistribution": {"onDemandPercentageAboveBaseCapacity": 100},
                                 "launchTemplate": {"overrides": [{"instanceType": "g4dn.xlarge"}]}}}))


MODEL_CACHE_PREFIX = "gpu-cache"  # gpu_nodes.bootstrap.DEFAULT_CACHE_PREFIX
_WRITES = ("s3:PutObject", "s3:DeleteObject")


def _as_list(v) -> list:
    return v if isinstance(v, list) else [v] if v else []


def _covers(patterns, value: str) -> bool:
    import fnmatch
    return any(fnmatch.fnmatchcase(value, p) for p in _as_list(patterns))


def _writes(statement: dict) -> bool:
    return any(_covers(_as_list(statement.get("Action")), a) for a in _WRITES)


def _node_roles(ctx) -> set:
    """Roles of the instance profiles the launch templates use (the GPU nodes')."""
    profiles = {(lt.get("iamInstanceProfile") or {}).get("arn") for lt in ctx.of("aws:ec2/launchTemplate:LaunchTemplate")}
    return {ip.get("role") for ip in ctx.rec.of_type("aws:iam/instanceProfile:InstanceProfile")
            if ip.out("arn") in profiles}


def _model_cache_writers(ctx) -> Iterable:
    """Only the GPU node role may write the model cache the nodes load: any other role whose policy
    allows writes there, without an explicit Deny in the same policy, is a finding."""
    rule = _rule("s3.model-cache-writers")
    buckets = [b.out("arn") for b in ctx.rec.of_type("aws:s3/bucket:Bucket") if b.out("arn")]
    targets = [f"{b}/{MODEL_CACHE_PREFIX}/model" for b in buckets]
    nodes = _node_roles(ctx)
    for rp in ctx.of("aws:iam/rolePolicy:RolePolicy"):
        if rp.get("role") in nodes or not isinstance(rp.get("policy"), str):
            continue
        statements = _as_list(json.loads(rp.get("policy")).get("Statement"))
        open_to = []
        for target in targets:
            allowed = any(s.get("Effect") == "Allow" and _writes(s) and _covers(s.get("Resource"), target)
                          for s in statements)
            denied = any(s.get("Effect") == "Deny" and all(_covers(_as_list(s.get("Action")), a) for a in _WRITES)
                         and _covers(s.get("Resource"), target) for s in statements)
            if allowed and not denied:
                open_to.append(target.rsplit("/", 1)[0] + "/*")
        if open_to:
            yield rule.finding(rp, f"role {rp.get('role')} may write the GPU model cache ({', '.join(open_to)}); "
                                   "only the GPU node role may: add an explicit Deny of s3:PutObject and "
                                   "s3:DeleteObject there")


def _bad_cache_writer():
    return example(
        fake("aws:s3/bucket:Bucket", "curricula", outputs={"arn": "arn:aws:s3:::curricula"}),
        fake("aws:iam/rolePolicy:RolePolicy", "fn-data", {"role": "fn-role", "policy": json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:PutObject", "s3:DeleteObject"],
                                                   "Resource": ["arn:aws:s3:::curricula/*"]}]})}))


RULES: list[Rule] = [
    Rule("compute.core-no-ingress", "error",
         "tunnel mode: the core task's security group admits nothing but the ops console on the console listener",
         (), _core_no_ingress, _bad_core_ingress),
    Rule("compute.console-listener-private", "error",
         "only the ops console's security group reaches the core's console listener; no load balancer targets it",
         (), _console_listener_private, _bad_console_listener),
    Rule("s3.model-cache-writers", "error",
         "only the GPU node role may write the model cache (every other role has an explicit Deny there)",
         (), _model_cache_writers, _bad_cache_writer),
    Rule("compute.spot-drain", "error",
         "Fargate Spot containers get the full 120 s stopTimeout; target groups deregister in < 120 s",
         (), _spot_drain, _bad_spot_drain),
    Rule("compute.alb-websocket-idle", "error", "the ALB idle timeout is at least 300 s (voice sockets)",
         (), _alb_idle, lambda: example(fake("aws:lb/loadBalancer:LoadBalancer", "alb",
                                             {"loadBalancerType": "application", "idleTimeout": 60}))),
    Rule("compute.lambda-in-vpc", "error", "the runtime's Lambdas run in the private subnets with their security group",
         ("CKV_AWS_117",), _lambda_in_vpc,
         lambda: example(fake("aws:lambda/function:Function", "fn", {
             "reservedConcurrentExecutions": 2, "handler": "runtime.handlers.auth.handler"}))),
    Rule("compute.lambda-env-size", "error", "each Lambda's environment fits Lambda's 4 KB limit",
         (), _lambda_env_size,
         lambda: example(fake("aws:lambda/function:Function", "fn", {
             "reservedConcurrentExecutions": 2, "environment": {"variables": {"BIG": "x" * 5000}}}))),
    Rule("compute.api-default-endpoint-off", "error", "the HTTP API's execute-api endpoint is disabled",
         (), _http_api_origin,
         lambda: example(fake("aws:apigatewayv2/api:Api", "api", {"protocolType": "HTTP"}))),
    Rule("compute.gpu-spot", "error",
         "the GPU fleet is all Spot, price-capacity-optimized, rebalancing, at gpu.warm_min when idle",
         (), _gpu_spot_scale_to_zero, _bad_gpu),
]

_rule = rule_finder(lambda: RULES)
