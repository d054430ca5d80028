"""Prices of the compute resources; `components.pricing` composes them with the others.

Fixed lines: the Fargate tasks (Spot share priced at ``usage.fargate_spot_discount`` off the ARM
on-demand rate, the on-demand base at full price) and their public IPv4 addresses, the ALB (hours,
average LCU, one public IPv4 per AZ). Usage lines, once per stack: Lambda requests and GB-seconds
(arm64, always-free allowance when the stack gets it), HTTP API requests, ECR storage. The GPU
fleet is priced per hour of use by ``aws_pricing._asg`` (nothing while at zero instances).
Everything else compute creates is free by itself (clusters, task definitions, roles, listeners,
rules, target groups, certificates, routes, EventBridge rules on AWS service events).
"""
from __future__ import annotations

from typing import Any

from components.pricing_core import FREE_TIERS, HOURS, fargate_hourly, p

_FREE_TYPES = (
    "aws:ecs/cluster:Cluster", "aws:ecs/clusterCapacityProviders:ClusterCapacityProviders",
    "aws:ecs/taskDefinition:TaskDefinition",
    "aws:lambda/function:Function",  # priced as SERVICE usage (requests, GB-s)
    "aws:lambda/layerVersion:LayerVersion", "aws:lambda/permission:Permission",
    "aws:apigatewayv2/integration:Integration", "aws:apigatewayv2/route:Route",
    "aws:apigatewayv2/stage:Stage", "aws:apigatewayv2/domainName:DomainName",
    "aws:apigatewayv2/apiMapping:ApiMapping",
    "aws:apigatewayv2/api:Api",  # priced as SERVICE usage (requests)
    "aws:acm/certificate:Certificate", "aws:acm/certificateValidation:CertificateValidation",
    "aws:lb/targetGroup:TargetGroup", "aws:lb/listener:Listener", "aws:lb/listenerRule:ListenerRule",
    "aws:lb/targetGroupAttachment:TargetGroupAttachment",
    "aws:appautoscaling/target:Target", "aws:appautoscaling/policy:Policy",
    "aws:ecr/repository:Repository",  # priced as SERVICE usage (storage)
    "aws:ecr/lifecyclePolicy:LifecyclePolicy",
    "aws:cloudwatch/eventRule:EventRule", "aws:cloudwatch/eventTarget:EventTarget",
    "aws:cloudwatch/logResourcePolicy:LogResourcePolicy",
    "docker-build:index:Image",
    "aws:s3/bucketObjectv2:BucketObjectv2",  # the GPU agent archive; S3 storage is a usage line
    "aws:servicediscovery/privateDnsNamespace:PrivateDnsNamespace",  # its hosted zone: see pricer
    "aws:servicediscovery/service:Service",
)


def _task_definition_of(svc, ctx) -> Any:
    return ctx.rec.find_by_output("arn", svc.get("taskDefinition"))


def _ecs_service(r, ctx) -> list:
    td = _task_definition_of(r, ctx)
    if td is None:
        return []
    cpu, mem = int(td.get("cpu")), int(td.get("memory"))
    arm = (td.get("runtimePlatform") or {}).get("cpuArchitecture") == "ARM64"
    n = int(r.get("desiredCount") or 0)
    strategy = {s.get("capacityProvider"): s for s in r.get("capacityProviderStrategies") or []}
    od = strategy.get("FARGATE") or {}
    spot = strategy.get("FARGATE_SPOT") or {}
    base = min(n, int(od.get("base") or 0))
    w_od, w_spot = int(od.get("weight") or 0), int(spot.get("weight") or 0)
    rest = n - base
    n_spot = rest * w_spot / (w_od + w_spot) if (w_od + w_spot) else 0.0
    n_od = n - n_spot
    disc = ctx.usage.fargate_spot_discount
    arch = "ARM64" if arm else "x86"
    size = f"{cpu / 1024:g} vCPU / {mem / 1024:g} GB"
    keys = ("fargate_arm_vcpu_h", "fargate_arm_gb_h") if arm else ("fargate_x86_vcpu_h", "fargate_x86_gb_h")
    out = []
    if n_spot:
        rate = fargate_hourly(cpu, mem, arm, True, disc)
        worst_disc = ctx.usage.fargate_spot_discount_worst
        worst = fargate_hourly(cpu, mem, arm, True, worst_disc)
        out.append(ctx.line(r, f"{n_spot:g} × Fargate Spot {arch} {size}", n_spot * rate * HOURS, "fixed",
                            f"{n_spot:g} task(s) × {HOURS} h × ${rate:.5f}/h (on-demand {arch} rate less "
                            f"usage.fargate_spot_discount {disc:.0%}; worst case "
                            f"{worst_disc:.0%} off: ${n_spot * worst * HOURS:.2f})", *keys,
                            worst=n_spot * worst * HOURS))
    if n_od:
        rate = fargate_hourly(cpu, mem, arm, False, disc)
        out.append(ctx.line(r, f"{n_od:g} × Fargate on-demand {arch} {size}", n_od * rate * HOURS, "fixed",
                            f"{n_od:g} task(s) × {HOURS} h × ${rate:.5f}/h", *keys))
    if (r.get("networkConfiguration") or {}).get("assignPublicIp") and n:
        out.append(ctx.line(r, f"{n} × task public IPv4", n * p("public_ipv4_h") * HOURS, "fixed",
                            f"{n} × {HOURS} h × ${p('public_ipv4_h')}/h (no NAT: egress through the IGW)",
                            "public_ipv4_h"))
    return out


def _alb(r, ctx) -> list:
    azs = len(r.get("subnets") or []) or 2
    lcu = ctx.usage.alb_avg_lcu
    return [
        ctx.line(r, "ALB hours", p("alb_h") * HOURS, "fixed", f"{HOURS} h × ${p('alb_h')}/h", "alb_h"),
        ctx.line(r, "ALB LCU", lcu * p("alb_lcu_h") * HOURS, "usage",
                 f"usage.alb_avg_lcu {lcu:g} × {HOURS} h × ${p('alb_lcu_h')}/LCU-h", "alb_lcu_h"),
        ctx.line(r, f"ALB public IPv4 × {azs}", azs * p("public_ipv4_h") * HOURS, "fixed",
                 f"one address per AZ: {azs} × {HOURS} h × ${p('public_ipv4_h')}/h", "public_ipv4_h"),
    ]


def _dns_namespace(r, ctx) -> list:
    return [ctx.line(r, "Cloud Map private DNS namespace (Route 53 private zone)", p("route53_zone_month"),
                     "fixed", "1 hosted zone-month", "route53_zone_month")]


def _lambda_usage(ctx) -> list:
    fns = [f for f in ctx.rec.of_type("aws:lambda/function:Function") if not f.read]
    u = ctx.usage
    mem_gb = sum(int(f.get("memorySize") or 128) for f in fns) / len(fns) / 1024
    gb_s = u.lambda_requests * u.lambda_avg_ms / 1000 * mem_gb
    req = u.lambda_requests
    if ctx.free:
        req = max(0, req - FREE_TIERS["lambda_requests"])
        gb_s = max(0.0, gb_s - FREE_TIERS["lambda_gb_s"])
    note = " (always-free 1M requests / 400k GB-s applied)" if ctx.free else ""
    return [
        ctx.line(None, "Lambda requests", req / 1e6 * p("lambda_per_million"), "usage",
                 f"usage.lambda_requests {u.lambda_requests:,}{note}", "lambda_per_million"),
        ctx.line(None, "Lambda duration (arm64)", gb_s * p("lambda_gb_s_arm"), "usage",
                 f"{u.lambda_requests:,} × {u.lambda_avg_ms} ms × {mem_gb:.2f} GB average memory{note}",
                 "lambda_gb_s_arm"),
    ]


def _http_api_usage(ctx) -> list:
    n = ctx.usage.api_requests
    return [ctx.line(None, "API Gateway HTTP API requests", n / 1e6 * p("apigw_http_per_million"), "usage",
                     f"usage.api_requests {n:,} (no free tier on accounts opened after 2025-07-15)",
                     "apigw_http_per_million")]


def _ecr_usage(ctx) -> list:
    gb = ctx.usage.ecr_storage_gb
    return [ctx.line(None, "ECR image storage", gb * p("ecr_gb_month"), "usage",
                     f"usage.ecr_storage_gb {gb:g} GB (lifecycle keeps the newest 10 images)", "ecr_gb_month")]


PRICERS = {
    "aws:ecs/service:Service": _ecs_service,
    "aws:lb/loadBalancer:LoadBalancer": _alb,
    "aws:servicediscovery/privateDnsNamespace:PrivateDnsNamespace": _dns_namespace,
}

SERVICE_USAGE = [
    (lambda rec, c: bool(rec.of_type("aws:lambda/function:Function")), _lambda_usage),
    (lambda rec, c: bool(rec.of_type("aws:apigatewayv2/api:Api")), _http_api_usage),
    (lambda rec, c: bool(rec.of_type("aws:ecr/repository:Repository")), _ecr_usage),
]

FREE = {t: "no charge by itself (usage priced per stack)" for t in _FREE_TYPES if t not in PRICERS}
