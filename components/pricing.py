"""Monthly cost of a recorded stack: a dated, sourced price table and a pricer per type.

Prices are us-east-1, USD, on-demand Linux, a month = 730 h, as collected on 2026-11-25 in
`reference/D_aws.md` §1 (row numbers cited as `D#n`) and `reference/B_cloudflare.md` §2
(`B§…`). Confidence: A = an AWS/Cloudflare document states it, B = two or more sources
agree, C = one source or an estimate (re-check before committing money).

Every line says what it assumes. `fixed` lines run whether or not anyone uses the stack
(hours × rate); `usage` lines come from the stack's `usage:` assumptions. The always-free
allowances (Lambda, SQS, CloudWatch alarms/logs, R2) are applied only when
`usage.apply_free_tiers` says this stack gets the account's allowance.

Extending (ED/CP): add prices to `PRICES`; add `PRICERS["<type token>"] = fn(resource, ctx)`
returning `ctx.line(...)`s; add resource types that never cost anything to `FREE`; add a
service-wide usage pricer (billed per account, not per resource) to `SERVICE_USAGE`.
A recorded type in none of these is reported as unpriced (a policy error).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

PRICED_AT = "2026-11-25"
PRICE_REGION = "us-east-1"
HOURS = 730


@dataclass(frozen=True)
class Price:
    usd: float
    unit: str
    source: str
    date: str
    conf: str  # A | B | C


D = "reference/D_aws.md"
PRICES: dict[str, Price] = {
    "public_ipv4_h": Price(0.005, "IP-hour", f"{D} D#13 (AWS Networking blog, IPv4 charge)", "2024-02-01", "A"),
    "fargate_x86_vcpu_h": Price(0.04048, "vCPU-hour", f"{D} D#1 (factualminds, vantage)", "2026-06", "B"),
    "fargate_x86_gb_h": Price(0.004445, "GB-hour", f"{D} D#2", "2026-06", "B"),
    "fargate_arm_vcpu_h": Price(0.03238, "vCPU-hour", f"{D} D#3 (fortem.dev, vantage)", "2026-06", "B"),
    "fargate_arm_gb_h": Price(0.00356, "GB-hour", f"{D} D#4", "2026-06", "B"),
    "fargate_spot_x86_vcpu_h": Price(0.01254688, "vCPU-hour", f"{D} D#6 (observed; floats)", "2026", "C"),
    "fargate_spot_x86_gb_h": Price(0.00137248, "GB-hour", f"{D} D#7 (observed; floats)", "2026", "C"),
    "alb_h": Price(0.0225, "LB-hour", f"{D} D#9 (cloud-horizons)", "2026-05-08", "B"),
    "alb_lcu_h": Price(0.008, "LCU-hour", f"{D} D#10", "2026-05-08", "B"),
    "nat_gw_h": Price(0.045, "NATGW-hour", f"{D} D#11 (AWS VPC pricing example)", "2026-09-20", "A"),
    "nat_gw_gb": Price(0.045, "GB processed", f"{D} D#12", "2026-09-20", "A"),
    "ec2:t4g.nano": Price(0.0042, "hour", f"{D} D#15", "2026-07-28", "B"),
    "ec2:t4g.micro": Price(0.0084, "hour", f"{D} D#16", "2026-07-28", "B"),
    "ec2:t4g.small": Price(0.0168, "hour", f"{D} D#17", "2026-07-28", "B"),
    "ec2:t4g.medium": Price(0.0336, "hour", f"{D} D#18", "2026-07-28", "B"),
    "ec2:g4dn.xlarge": Price(0.526, "hour", f"{D} D#19", "2024–2026", "B"),
    "ec2:g4dn.2xlarge": Price(0.752, "hour", f"{D} D#21", "2025–2026", "B"),
    "ec2:g5.xlarge": Price(1.006, "hour", f"{D} D#22", "2026-06-17", "B"),
    "ec2:g6.xlarge": Price(0.8048, "hour", f"{D} D#23", "2025–2026", "B"),
    "ec2:g6e.xlarge": Price(1.861, "hour", f"{D} D#24", "2025–2026", "B"),
    "ec2_spot:g4dn.xlarge": Price(0.20, "hour", f"{D} D#20 (typical $0.15–0.25)", "2025–2026", "C"),
    "ebs_gp3_gb_month": Price(0.08, "GB-month", f"{D} D#25", "2026", "B"),
    "rds:db.t4g.micro": Price(0.016, "instance-hour (single-AZ)", f"{D} D#26 (infratally)", "2026", "B"),
    # Not in the notes: AWS prices db.t4g.small at exactly twice micro (verify before relying on it).
    "rds:db.t4g.small": Price(0.032, "instance-hour (single-AZ)", "AWS RDS PostgreSQL pricing page (t4g.small = 2 × micro)", "2026", "C"),
    "rds:db.t4g.medium": Price(0.065, "instance-hour (single-AZ)", "AWS RDS PostgreSQL pricing page", "2026", "C"),
    "rds_multi_az_factor": Price(2.0, "× instance and storage", f"{D} D#27/D#29 (billed for primary + standby)", "2026", "A"),
    "rds_gp3_gb_month": Price(0.115, "GB-month (single-AZ)", f"{D} D#28 (usage.ai)", "2026-06", "B"),
    "secrets_manager_secret_month": Price(0.40, "secret-month", f"{D} D#45", "2025–2026", "B"),
    "lambda_per_million": Price(0.20, "1M requests", f"{D} D#33 (AWS whitepaper)", "current", "A"),
    "lambda_gb_s_arm": Price(0.0000133334, "GB-second", f"{D} D#35", "2024–2026", "B"),
    "lambda_gb_s_x86": Price(0.0000166667, "GB-second", f"{D} D#34", "current", "A"),
    "apigw_http_per_million": Price(1.00, "1M requests", f"{D} D#37", "current", "A"),
    "s3_gb_month": Price(0.023, "GB-month", f"{D} D#41 (cloudburn)", "2026-03-13", "B"),
    "s3_put_per_1k": Price(0.005, "1k PUT/LIST", f"{D} D#42", "—", "B"),
    "s3_get_per_1k": Price(0.0004, "1k GET", f"{D} D#43", "—", "B"),
    "sqs_per_million": Price(0.40, "1M requests (1M/month free)", f"{D} D#44", "2026-06-13", "B"),
    "cw_logs_ingest_gb": Price(0.50, "GB ingested", f"{D} D#47", "2026-06", "B"),
    "cw_logs_store_gb_month": Price(0.03, "GB-month", f"{D} D#48", "2026-06", "B"),
    # Not in the notes: CloudWatch pricing page, standard-resolution alarm; 10 free per account.
    "cw_alarm_month": Price(0.10, "alarm metric-month", "AWS CloudWatch pricing page (10 alarms free)", "2026", "C"),
    "vpc_interface_endpoint_az_h": Price(0.01, "endpoint-AZ-hour", f"{D} D#55", "current", "A"),
    "ecr_gb_month": Price(0.10, "GB-month", f"{D} D#58", "2026", "C"),
    "route53_zone_month": Price(0.50, "zone-month", f"{D} D#59", "—", "C"),
    "cloudflare_free_month": Price(0.0, "zone-month", "reference/B_cloudflare.md §2 (Free plan)", "2026-10-07", "A"),
    "cloudflare_pro_month": Price(25.0, "zone-month (billed monthly; $20 annually)", "reference/B_cloudflare.md §2.2 (api-evangelist scrape)", "2026-10-07", "C"),
    "r2_gb_month": Price(0.015, "GB-month (10 GB free)", "reference/B_cloudflare.md §2.5", "2026", "A"),
    "r2_class_a_per_million": Price(4.50, "1M writes (1M free)", "reference/B_cloudflare.md §2.5", "2026", "A"),
    "r2_class_b_per_million": Price(0.36, "1M reads (10M free)", "reference/B_cloudflare.md §2.5", "2026", "A"),
}

FREE_TIERS = {  # always-free monthly allowances (D#36, D#44, D#50, CloudWatch pricing page)
    "lambda_requests": 1_000_000, "lambda_gb_s": 400_000, "sqs_requests": 1_000_000,
    "cw_alarms": 10, "cw_logs_gb": 5.0,
}


def _money(usd: float) -> str:
    """Plain decimal (no scientific notation): 0.0000133334, 0.5, 25."""
    return f"{usd:.10f}".rstrip("0").rstrip(".") or "0"


def p(key: str) -> float:
    return PRICES[key].usd


def fargate_hourly(cpu_units: int, memory_mib: int, arm: bool, spot: bool, spot_discount: float) -> float:
    """$/hour of one Fargate task. Spot ARM has no published figure in the notes: it is the
    ARM on-demand rate less the stack's `usage.fargate_spot_discount` (the observed x86 ratio)."""
    vcpu, gb = cpu_units / 1024, memory_mib / 1024
    rate = (vcpu * p("fargate_arm_vcpu_h") + gb * p("fargate_arm_gb_h")) if arm else \
           (vcpu * p("fargate_x86_vcpu_h") + gb * p("fargate_x86_gb_h"))
    return rate * (1 - spot_discount) if spot else rate


# --------------------------------------------------------------------------- lines


@dataclass
class CostLine:
    resource: str
    type: str
    component: str
    item: str
    monthly_usd: float
    kind: str  # fixed | usage
    assumption: str
    prices: tuple[str, ...] = ()

    def as_dict(self) -> dict:
        return {"resource": self.resource, "type": self.type, "component": self.component,
                "item": self.item, "monthly_usd": round(self.monthly_usd, 2), "kind": self.kind,
                "assumption": self.assumption,
                "sources": [f"{k}: ${_money(PRICES[k].usd)} per {PRICES[k].unit}; {PRICES[k].source}, "
                            f"{PRICES[k].date}, conf {PRICES[k].conf}" for k in self.prices]}


@dataclass
class CostReport:
    lines: list[CostLine]
    unpriced: list[dict]
    budget_usd: float
    fixed_ceiling_usd: Optional[float]
    assumptions: dict
    region: str
    notes: list[str] = field(default_factory=list)

    @property
    def fixed_usd(self) -> float:
        return round(sum(l.monthly_usd for l in self.lines if l.kind == "fixed"), 2)

    @property
    def usage_usd(self) -> float:
        return round(sum(l.monthly_usd for l in self.lines if l.kind == "usage"), 2)

    @property
    def monthly_usd(self) -> float:
        return round(sum(l.monthly_usd for l in self.lines), 2)

    def as_dict(self) -> dict:
        return {"monthly_usd": self.monthly_usd, "fixed_usd": self.fixed_usd,
                "usage_usd": self.usage_usd, "budget_usd": self.budget_usd,
                "fixed_ceiling_usd": self.fixed_ceiling_usd, "currency": "USD",
                "priced_at": PRICED_AT, "region": PRICE_REGION, "stack_region": self.region,
                "hours_per_month": HOURS, "lines": [l.as_dict() for l in self.lines],
                "unpriced": self.unpriced, "assumptions": self.assumptions, "notes": self.notes}


@dataclass
class PricingContext:
    rec: Any  # mocks.Recording
    config: Any  # StackConfig
    counters: dict = field(default_factory=dict)

    @property
    def usage(self):
        return self.config.usage

    @property
    def free(self) -> bool:
        return bool(self.config.usage.apply_free_tiers)

    def line(self, r, item: str, usd: float, kind: str, assumption: str, *prices: str,
             service: str = "") -> CostLine:
        """One cost line for resource `r` (or, with r=None, for an account-wide `service`)."""
        name = r.name if r is not None else f"[{service or 'account'}]"
        typ = r.type if r is not None else ""
        comp = self.rec.component_of(r) if r is not None else ""
        return CostLine(name, typ, comp, item, usd, kind, assumption, tuple(prices))

    def count(self, key: str) -> int:
        self.counters[key] = self.counters.get(key, 0) + 1
        return self.counters[key]


Pricer = Callable[[Any, PricingContext], list[CostLine]]


def _rds_instance(r, ctx: PricingContext) -> list[CostLine]:
    cls = r.get("instanceClass")
    key = f"rds:{cls}"
    if key not in PRICES:
        return _unpriced(ctx, r, f"instance class {cls} has no price")
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


def _unpriced(ctx: PricingContext, r, why: str) -> list[CostLine]:
    ctx.counters.setdefault("_unpriced", []).append({"type": r.type, "name": r.name, "why": why})
    return []


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
        return _unpriced(ctx, r, f"instance type {itype!r} has no price")
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
    out: list[CostLine] = []
    if floor > 0:
        out.append(ctx.line(r, f"{floor} × {itype} always on", floor * per_hour * HOURS, "fixed",
                            f"{floor} × {HOURS} h × ${per_hour:.4f}/h ({what})", *prices))
    if int(r.get("maxSize") or 0) > floor and int(r.get("minSize") or 0) == 0:
        hours = ctx.usage.gpu_hours
        out.append(ctx.line(r, f"{itype} on demand (scale from zero)", hours * per_hour, "usage",
                            f"usage.gpu_hours {hours:g} h × ${per_hour:.4f} per hour of use ({what})",
                            *prices))
    return out


def _ec2_instance(r, ctx: PricingContext) -> list[CostLine]:
    itype = r.get("instanceType")
    if f"ec2:{itype}" not in PRICES:
        return _unpriced(ctx, r, f"instance type {itype!r} has no price")
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
        return [ctx.line(r, "S3/DynamoDB gateway endpoint", 0.0, "fixed", "gateway endpoints are free (D#56)")]
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
        return []  # standard parameters are free (D#46)
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

# Compute (issue 4): pricers, free types and usage lines of its resources.
from components.compute_pricing import register as _register_compute  # noqa: E402

_register_compute(PRICERS, FREE, SERVICE_USAGE)

# Edge (issue 3): Cloudflare types (billed per account) and the Workers, R2, Access, Tunnel lines.
from components.edge.pricing import register as _register_edge  # noqa: E402

_register_edge(PRICERS, FREE, SERVICE_USAGE)


def price_resources(rec, config) -> CostReport:
    """Price every recorded resource of the stack under the stack's usage assumptions."""
    ctx = PricingContext(rec=rec, config=config)
    lines: list[CostLine] = []
    unpriced: list[dict] = []
    for r in sorted(rec.custom, key=lambda x: (rec.component_of(x), x.name, x.type)):
        if r.read:
            continue  # an existing resource looked up, not created here
        pricer = PRICERS.get(r.type)
        if pricer is not None:
            lines += pricer(r, ctx)
        elif r.type not in FREE:
            unpriced.append({"type": r.type, "name": r.name, "why": "no pricer and not declared free"})
    unpriced += ctx.counters.get("_unpriced", [])
    for applies, fn in SERVICE_USAGE:
        if applies(rec, config):
            lines += fn(ctx)
    notes = []
    if config.region != PRICE_REGION:
        notes.append(f"prices are {PRICE_REGION}; {config.region} usually costs the same or up to ~15 % more")
    return CostReport(lines=lines, unpriced=unpriced, budget_usd=config.budget.monthly_usd,
                      fixed_ceiling_usd=config.budget.fixed_ceiling_usd,
                      assumptions=dataclasses.asdict(config.usage), region=config.region, notes=notes)
