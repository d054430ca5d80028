"""Prices of the AWS resources of the network, the data tier and observability.

`PRICERS[type token](resource, ctx)` returns the resource's cost lines; `FREE` lists the types
that never cost anything by themselves; `SERVICE_USAGE` prices what is billed per account
(S3, SQS, CloudWatch Logs, the Cloudflare plan) once per stack. A recorded type in none of the
tables is reported as unpriced (a policy error).
"""
from __future__ import annotations

from typing import Any, Callable

from components.pricing_core import (FREE_TIERS, HOURS, PRICES, CostLine, Pricer, PricingContext, p,
                                     unpriced)


def _rds_instance(r, ctx: PricingContext) -> list[CostLine]:
    cls = r.get("instanceClass")
    key = f"rds:{cls}"
    if key not in PRICES:
        return unpriced(ctx, r, f"instance class {cls} has no price")
    multi = bool(r.get("multiAz"))
    f = p("rds_multi_az_factor") if multi else 1.0
    gb = int(r.get("allocatedStorage") or 20)
    az = "Multi-AZ" if multi else "single-AZ"
    out = [
        ctx.line(r, f"{cls} {az}", p(key) * f * HOURS, "fixed",
                 f"{HOURS} h × ${p(key)}/h" + (" × 2 (standby)" if multi else ""), key,
                 *(("rds_multi_az_factor",) if multi else ())),
        ctx.line(r, f"gp3 storage {gb} GB {az}", gb * p("rds_gp3_gb_month") * f, "fixed",
                 f"{gb} GB × ${p('rds_gp3_gb_month')}/GB-month" + (" × 2" if multi else "")
                 + "; backups free up to the provisioned size", "rds_gp3_gb_month",
                 *(("rds_multi_az_factor",) if multi else ())),
    ]
    if r.get("manageMasterUserPassword"):
        out.append(ctx.line(r, "RDS-managed master secret", p("secrets_manager_secret_month"), "fixed",
                            "1 Secrets Manager secret (rotation by RDS)", "secrets_manager_secret_month"))
    return out


def _nat_gateway(r, ctx: PricingContext) -> list[CostLine]:
    n = len(ctx.rec.of_type("aws:ec2/natGateway:NatGateway"))
    gb = ctx.usage.nat_processed_gb / max(n, 1)
    return [ctx.line(r, "NAT gateway hours", p("nat_gw_h") * HOURS, "fixed", f"{HOURS} h × ${p('nat_gw_h')}/h", "nat_gw_h"),
            ctx.line(r, "NAT gateway data", gb * p("nat_gw_gb"), "usage",
                     f"{gb:g} GB processed (usage.nat_processed_gb split over {n} gateway(s))", "nat_gw_gb")]


def _eip(r, ctx: PricingContext) -> list[CostLine]:
    return [ctx.line(r, "public IPv4 (Elastic IP)", p("public_ipv4_h") * HOURS, "fixed",
                     f"{HOURS} h × ${p('public_ipv4_h')}/h, in use or idle", "public_ipv4_h")]


def _launch_template_of(r, ctx: PricingContext):
    lt = r.get("launchTemplate") or {}
    lt_id = lt.get("id")
    mip = r.get("mixedInstancesPolicy") or {}
    spec = ((mip.get("launchTemplate") or {}).get("launchTemplateSpecification") or {})
    lt_id = lt_id or spec.get("launchTemplateId")
    return ctx.rec.find_by_output("id", lt_id) if lt_id else None


def _asg(r, ctx: PricingContext) -> list[CostLine]:
    lt = _launch_template_of(r, ctx)
    mip = r.get("mixedInstancesPolicy") or {}
    overrides = [o.get("instanceType") for o in
                 ((mip.get("launchTemplate") or {}).get("overrides") or []) if o.get("instanceType")]
    itype = (overrides[0] if overrides else None) or (lt.get("instanceType") if lt else None)
    if not itype or f"ec2:{itype}" not in PRICES:
        return unpriced(ctx, r, f"instance type {itype!r} has no price")
    dist = mip.get("instancesDistribution") or {}
    spot = bool(mip) and int(dist.get("onDemandPercentageAboveBaseCapacity", 100)) == 0
    rate_key = f"ec2_spot:{itype}" if spot and f"ec2_spot:{itype}" in PRICES else f"ec2:{itype}"
    rate = p(rate_key)
    public_ip = False
    gb = 8  # assumed when the template keeps the AMI's root volume size
    if lt:
        nis = lt.get("networkInterfaces") or []
        public_ip = any(str(ni.get("associatePublicIpAddress")).lower() == "true" for ni in nis)
        for bd in lt.get("blockDeviceMappings") or []:
            gb = int((bd.get("ebs") or {}).get("volumeSize") or gb)
    per_hour = rate + gb * p("ebs_gp3_gb_month") / HOURS + (p("public_ipv4_h") if public_ip else 0)
    floor = int(r.get("desiredCapacity") or r.get("minSize") or 0)
    market = "Spot estimate" if rate_key.startswith("ec2_spot") else "on-demand"
    prices = [rate_key, "ebs_gp3_gb_month"] + (["public_ipv4_h"] if public_ip else [])
    what = f"{itype} {market} ${rate}/h + {gb} GB gp3" + (" + public IPv4" if public_ip else "")
    # Spot's worst case is the on-demand price (the default maximum a Spot request pays).
    worst_per_hour = per_hour - rate + p(f"ec2:{itype}") if rate_key.startswith("ec2_spot") else None
    worst_note = f"; worst case at on-demand ${p(f'ec2:{itype}')}/h" if worst_per_hour is not None else ""
    out: list[CostLine] = []
    if floor > 0:
        out.append(ctx.line(r, f"{floor} × {itype} always on", floor * per_hour * HOURS, "fixed",
                            f"{floor} × {HOURS} h × ${per_hour:.4f}/h ({what}{worst_note})", *prices,
                            worst=floor * worst_per_hour * HOURS if worst_per_hour is not None else None))
    if int(r.get("maxSize") or 0) > floor and int(r.get("minSize") or 0) == 0:
        hours = ctx.usage.gpu_hours
        out.append(ctx.line(r, f"{itype} on demand (scale from zero)", hours * per_hour, "usage",
                            f"usage.gpu_hours {hours:g} h × ${per_hour:.4f} per hour of use ({what}{worst_note})",
                            *prices, worst=hours * worst_per_hour if worst_per_hour is not None else None))
    return out


def _ec2_instance(r, ctx: PricingContext) -> list[CostLine]:
    itype = r.get("instanceType")
    if f"ec2:{itype}" not in PRICES:
        return unpriced(ctx, r, f"instance type {itype!r} has no price")
    gb = int(((r.get("rootBlockDevice") or {}).get("volumeSize")) or 8)
    out = [ctx.line(r, f"{itype} on-demand", p(f"ec2:{itype}") * HOURS, "fixed",
                    f"{HOURS} h × ${p(f'ec2:{itype}')}/h", f"ec2:{itype}"),
           ctx.line(r, f"root gp3 {gb} GB", gb * p("ebs_gp3_gb_month"), "fixed",
                    f"{gb} GB × ${p('ebs_gp3_gb_month')}", "ebs_gp3_gb_month")]
    if r.get("associatePublicIpAddress"):
        out.append(ctx.line(r, "public IPv4", p("public_ipv4_h") * HOURS, "fixed",
                            f"{HOURS} h × ${p('public_ipv4_h')}/h", "public_ipv4_h"))
    return out


def _vpc_endpoint(r, ctx: PricingContext) -> list[CostLine]:
    if (r.get("vpcEndpointType") or "Gateway") == "Gateway":
        return [ctx.line(r, "S3/DynamoDB gateway endpoint", 0.0, "fixed", "gateway endpoints are free (https://aws.amazon.com/privatelink/pricing/)")]
    azs = len(r.get("subnetIds") or []) or 1
    return [ctx.line(r, "interface endpoint", azs * p("vpc_interface_endpoint_az_h") * HOURS, "fixed",
                     f"{azs} AZ × {HOURS} h × ${p('vpc_interface_endpoint_az_h')}/h (+$0.01/GB)",
                     "vpc_interface_endpoint_az_h")]


def _alarm(r, ctx: PricingContext) -> list[CostLine]:
    n = ctx.count("alarms")
    if ctx.free and n <= FREE_TIERS["cw_alarms"]:
        return [ctx.line(r, "CloudWatch alarm", 0.0, "fixed",
                         f"alarm {n} of the account's {FREE_TIERS['cw_alarms']} free alarms", "cw_alarm_month")]
    return [ctx.line(r, "CloudWatch alarm", p("cw_alarm_month"), "fixed",
                     "1 standard-resolution alarm metric", "cw_alarm_month")]


def _secret(r, ctx: PricingContext) -> list[CostLine]:
    return [ctx.line(r, "Secrets Manager secret", p("secrets_manager_secret_month"), "fixed",
                     "1 secret-month (+$0.05 per 10k API calls)", "secrets_manager_secret_month")]


def _ssm_parameter(r, ctx: PricingContext) -> list[CostLine]:
    if (r.get("tier") or "Standard") == "Standard":
        return []  # standard parameters are free (https://aws.amazon.com/systems-manager/pricing/)
    return [ctx.line(r, "SSM advanced parameter", 0.05, "fixed", "advanced tier $0.05/parameter-month")]


PRICERS: dict[str, Pricer] = {
    "aws:rds/instance:Instance": _rds_instance,
    "aws:ec2/natGateway:NatGateway": _nat_gateway,
    "aws:ec2/eip:Eip": _eip,
    "aws:autoscaling/group:Group": _asg,
    "aws:ec2/instance:Instance": _ec2_instance,
    "aws:ec2/vpcEndpoint:VpcEndpoint": _vpc_endpoint,
    "aws:cloudwatch/metricAlarm:MetricAlarm": _alarm,
    "aws:secretsmanager/secret:Secret": _secret,
    "aws:ssm/parameter:Parameter": _ssm_parameter,
}

# Types that never cost anything by themselves (their usage, if any, is a SERVICE_USAGE line).
FREE: dict[str, str] = {t: "no charge" for t in (
    "aws:ec2/vpc:Vpc", "aws:ec2/subnet:Subnet", "aws:ec2/routeTable:RouteTable",
    "aws:ec2/routeTableAssociation:RouteTableAssociation", "aws:ec2/route:Route",
    "aws:ec2/internetGateway:InternetGateway", "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup",
    "aws:ec2/securityGroup:SecurityGroup", "aws:ec2/securityGroupRule:SecurityGroupRule",
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
    "aws:ec2/networkInterface:NetworkInterface",  # its public IP (if any) is billed where it is assigned
    "aws:ec2/launchTemplate:LaunchTemplate", "aws:ec2/flowLog:FlowLog",
    "aws:iam/role:Role", "aws:iam/rolePolicy:RolePolicy", "aws:iam/policy:Policy",
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment", "aws:iam/instanceProfile:InstanceProfile",
    "aws:rds/subnetGroup:SubnetGroup", "aws:rds/parameterGroup:ParameterGroup",
    "aws:s3/bucket:Bucket", "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
    "aws:s3/bucketPolicy:BucketPolicy", "aws:s3/bucketVersioning:BucketVersioning",
    "aws:sqs/queue:Queue", "aws:sns/topic:Topic", "aws:sns/topicPolicy:TopicPolicy",
    "aws:sns/topicSubscription:TopicSubscription", "aws:budgets/budget:Budget",
    "aws:cloudwatch/logGroup:LogGroup",
    "random:index/randomPassword:RandomPassword", "random:index/randomId:RandomId",
    "random:index/randomString:RandomString", "random:index/randomUuid:RandomUuid",
)}


def _s3_usage(ctx: PricingContext) -> list[CostLine]:
    u = ctx.usage
    return [ctx.line(None, "S3 storage", u.s3_storage_gb * p("s3_gb_month"), "usage",
                     f"usage.s3_storage_gb {u.s3_storage_gb:g} GB × ${p('s3_gb_month')}", "s3_gb_month",
                     service="s3"),
            ctx.line(None, "S3 requests",
                     u.s3_put_requests / 1000 * p("s3_put_per_1k") + u.s3_get_requests / 1000 * p("s3_get_per_1k"),
                     "usage", f"{u.s3_put_requests:,} PUT + {u.s3_get_requests:,} GET",
                     "s3_put_per_1k", "s3_get_per_1k", service="s3")]


def _sqs_usage(ctx: PricingContext) -> list[CostLine]:
    n = ctx.usage.sqs_requests
    billable = max(0, n - FREE_TIERS["sqs_requests"]) if ctx.free else n
    note = " (1M/month free)" if ctx.free else ""
    return [ctx.line(None, "SQS requests", billable / 1e6 * p("sqs_per_million"), "usage",
                     f"usage.sqs_requests {n:,}{note}", "sqs_per_million", service="sqs")]


def _logs_usage(ctx: PricingContext) -> list[CostLine]:
    gb = ctx.usage.log_ingest_gb
    billable = max(0.0, gb - FREE_TIERS["cw_logs_gb"]) if ctx.free else gb
    days = ctx.config.logs.retention_days
    stored = gb * min(days, 30) / 30  # at steady state about retention/30 months of ingest
    return [ctx.line(None, "CloudWatch Logs ingestion", billable * p("cw_logs_ingest_gb"), "usage",
                     f"usage.log_ingest_gb {gb:g} GB" + (" (5 GB free)" if ctx.free else ""), "cw_logs_ingest_gb",
                     service="logs"),
            ctx.line(None, "CloudWatch Logs storage", stored * p("cw_logs_store_gb_month"), "usage",
                     f"≈{stored:.2f} GB kept ({days}-day retention)", "cw_logs_store_gb_month",
                     service="logs")]


def _cloudflare_plan(ctx: PricingContext) -> list[CostLine]:
    plan = ctx.config.cloudflare.plan
    key = f"cloudflare_{plan}_month"
    return [ctx.line(None, f"Cloudflare {plan} plan", p(key), "fixed",
                     f"zone on the {plan} plan (Tunnel, Access ≤ 50 users, WAF custom rules included)", key,
                     service="cloudflare")]


# (trigger: a predicate over (recording, config), pricer) — priced once per stack.
SERVICE_USAGE: list[tuple[Callable[[Any, Any], bool], Callable[[PricingContext], list[CostLine]]]] = [
    (lambda rec, c: bool(rec.of_type("aws:s3/bucket:Bucket")), _s3_usage),
    (lambda rec, c: bool(rec.of_type("aws:sqs/queue:Queue")), _sqs_usage),
    (lambda rec, c: True, _logs_usage),  # every stack writes logs (Lambda, ECS, flow logs)
    (lambda rec, c: c.edge == "cloudflare", _cloudflare_plan),
]
