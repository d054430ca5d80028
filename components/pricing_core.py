"""The dated, sourced price table and the types every pricer works with.

Prices are us-east-1, USD, on-demand Linux, a month = 730 h, as collected on 2026-11-25 from the
providers' pricing pages (each row names its source). Confidence: A = an AWS/Cloudflare document
states it, B = two or more sources agree, C = one source or an estimate (re-check before
committing money).

Every line says what it assumes. `fixed` lines run whether or not anyone uses the stack
(hours × rate); `usage` lines come from the stack's `usage:` assumptions. The always-free
allowances (Lambda, SQS, CloudWatch alarms/logs, Workers, R2) are applied only when
`usage.apply_free_tiers` says this stack gets the account's allowance.

The pricers themselves live in `aws_pricing`, `compute_pricing` and `edge.pricing`;
`components.pricing` composes them.
"""
from __future__ import annotations

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


PRICES: dict[str, Price] = {
    "public_ipv4_h": Price(0.005, "IP-hour", "https://aws.amazon.com/vpc/pricing/ (public IPv4 charge since 2024-02-01)", "2024-02-01", "A"),
    "fargate_x86_vcpu_h": Price(0.04048, "vCPU-hour", "https://aws.amazon.com/fargate/pricing/ (factualminds, vantage)", "2026-06", "B"),
    "fargate_x86_gb_h": Price(0.004445, "GB-hour", "https://aws.amazon.com/fargate/pricing/", "2026-06", "B"),
    "fargate_arm_vcpu_h": Price(0.03238, "vCPU-hour", "https://aws.amazon.com/fargate/pricing/ (fortem.dev, vantage)", "2026-06", "B"),
    "fargate_arm_gb_h": Price(0.00356, "GB-hour", "https://aws.amazon.com/fargate/pricing/", "2026-06", "B"),
    "fargate_spot_x86_vcpu_h": Price(0.01254688, "vCPU-hour", "https://aws.amazon.com/fargate/pricing/ (observed; floats)", "2026", "C"),
    "fargate_spot_x86_gb_h": Price(0.00137248, "GB-hour", "https://aws.amazon.com/fargate/pricing/ (observed; floats)", "2026", "C"),
    "alb_h": Price(0.0225, "LB-hour", "https://aws.amazon.com/elasticloadbalancing/pricing/ (cloud-horizons)", "2026-05-08", "B"),
    "alb_lcu_h": Price(0.008, "LCU-hour", "https://aws.amazon.com/elasticloadbalancing/pricing/", "2026-05-08", "B"),
    "nat_gw_h": Price(0.045, "NATGW-hour", "https://aws.amazon.com/vpc/pricing/ (AWS VPC pricing example)", "2026-09-20", "A"),
    "nat_gw_gb": Price(0.045, "GB processed", "https://aws.amazon.com/vpc/pricing/", "2026-09-20", "A"),
    "ec2:t4g.nano": Price(0.0042, "hour", "https://aws.amazon.com/ec2/pricing/on-demand/", "2026-07-28", "B"),
    "ec2:t4g.micro": Price(0.0084, "hour", "https://aws.amazon.com/ec2/pricing/on-demand/", "2026-07-28", "B"),
    "ec2:t4g.small": Price(0.0168, "hour", "https://aws.amazon.com/ec2/pricing/on-demand/", "2026-07-28", "B"),
    "ec2:t4g.medium": Price(0.0336, "hour", "https://aws.amazon.com/ec2/pricing/on-demand/", "2026-07-28", "B"),
    "ec2:g4dn.xlarge": Price(0.526, "hour", "https://aws.amazon.com/ec2/pricing/on-demand/", "2024–2026", "B"),
    "ec2:g4dn.2xlarge": Price(0.752, "hour", "https://aws.amazon.com/ec2/pricing/on-demand/", "2025–2026", "B"),
    "ec2:g5.xlarge": Price(1.006, "hour", "https://aws.amazon.com/ec2/pricing/on-demand/", "2026-06-17", "B"),
    "ec2:g6.xlarge": Price(0.8048, "hour", "https://aws.amazon.com/ec2/pricing/on-demand/", "2025–2026", "B"),
    "ec2:g6e.xlarge": Price(1.861, "hour", "https://aws.amazon.com/ec2/pricing/on-demand/", "2025–2026", "B"),
    "ec2_spot:g4dn.xlarge": Price(0.20, "hour", "https://aws.amazon.com/ec2/spot/pricing/ (typical $0.15–0.25)", "2025–2026", "C"),
    "ebs_gp3_gb_month": Price(0.08, "GB-month", "https://aws.amazon.com/ebs/pricing/", "2026", "B"),
    "rds:db.t4g.micro": Price(0.016, "instance-hour (single-AZ)", "https://aws.amazon.com/rds/postgresql/pricing/ (infratally)", "2026", "B"),
    # One source: AWS prices db.t4g.small at exactly twice micro (verify before relying on it).
    "rds:db.t4g.small": Price(0.032, "instance-hour (single-AZ)", "https://aws.amazon.com/rds/postgresql/pricing/ (t4g.small = 2 × micro)", "2026", "C"),
    "rds:db.t4g.medium": Price(0.065, "instance-hour (single-AZ)", "https://aws.amazon.com/rds/postgresql/pricing/", "2026", "C"),
    "rds_multi_az_factor": Price(2.0, "× instance and storage", "https://aws.amazon.com/rds/postgresql/pricing/ (billed for primary + standby)", "2026", "A"),
    "rds_gp3_gb_month": Price(0.115, "GB-month (single-AZ)", "https://aws.amazon.com/rds/postgresql/pricing/ (usage.ai)", "2026-06", "B"),
    "secrets_manager_secret_month": Price(0.40, "secret-month", "https://aws.amazon.com/secrets-manager/pricing/", "2025–2026", "B"),
    "lambda_per_million": Price(0.20, "1M requests", "https://aws.amazon.com/lambda/pricing/ (AWS whitepaper)", "current", "A"),
    "lambda_gb_s_arm": Price(0.0000133334, "GB-second", "https://aws.amazon.com/lambda/pricing/", "2024–2026", "B"),
    "lambda_gb_s_x86": Price(0.0000166667, "GB-second", "https://aws.amazon.com/lambda/pricing/", "current", "A"),
    "apigw_http_per_million": Price(1.00, "1M requests", "https://aws.amazon.com/api-gateway/pricing/", "current", "A"),
    "s3_gb_month": Price(0.023, "GB-month", "https://aws.amazon.com/s3/pricing/ (cloudburn)", "2026-03-13", "B"),
    "s3_put_per_1k": Price(0.005, "1k PUT/LIST", "https://aws.amazon.com/s3/pricing/", "—", "B"),
    "s3_get_per_1k": Price(0.0004, "1k GET", "https://aws.amazon.com/s3/pricing/", "—", "B"),
    "sqs_per_million": Price(0.40, "1M requests (1M/month free)", "https://aws.amazon.com/sqs/pricing/", "2026-06-13", "B"),
    "cw_logs_ingest_gb": Price(0.50, "GB ingested", "https://aws.amazon.com/cloudwatch/pricing/", "2026-06", "B"),
    "cw_logs_store_gb_month": Price(0.03, "GB-month", "https://aws.amazon.com/cloudwatch/pricing/", "2026-06", "B"),
    # A standard-resolution alarm; the first 10 of an account are free.
    "cw_alarm_month": Price(0.10, "alarm metric-month", "https://aws.amazon.com/cloudwatch/pricing/ (10 alarms free)", "2026", "C"),
    "vpc_interface_endpoint_az_h": Price(0.01, "endpoint-AZ-hour", "https://aws.amazon.com/privatelink/pricing/", "current", "A"),
    "ecr_gb_month": Price(0.10, "GB-month", "https://aws.amazon.com/ecr/pricing/", "2026", "C"),
    "route53_zone_month": Price(0.50, "zone-month", "https://aws.amazon.com/route53/pricing/", "—", "C"),
    "cloudflare_free_month": Price(0.0, "zone-month", "https://www.cloudflare.com/plans/ (Free plan)", "2026-10-07", "A"),
    "cloudflare_pro_month": Price(25.0, "zone-month (billed monthly; $20 annually)", "https://www.cloudflare.com/plans/ (api-evangelist scrape)", "2026-10-07", "C"),
    "r2_gb_month": Price(0.015, "GB-month (10 GB free)", "https://developers.cloudflare.com/r2/pricing/", "2026", "A"),
    "r2_class_a_per_million": Price(4.50, "1M writes (1M free)", "https://developers.cloudflare.com/r2/pricing/", "2026", "A"),
    "r2_class_b_per_million": Price(0.36, "1M reads (10M free)", "https://developers.cloudflare.com/r2/pricing/", "2026", "A"),
    # Cloudflare: Workers, Access seats and Tunnel are billed per account, not per resource.
    "cf_workers_paid_month": Price(5.0, "account-month (10M requests included)",
                                   "https://developers.cloudflare.com/workers/platform/pricing/ (Workers Paid)", "2026", "B"),
    "cf_workers_per_million": Price(0.30, "1M requests beyond 10M",
                                    "https://developers.cloudflare.com/workers/platform/pricing/", "2026", "B"),
    "cf_access_seat_month": Price(7.0, "seat-month beyond 50 (Zero Trust Standard)",
                                  "https://www.cloudflare.com/plans/zero-trust-services/ (community answers, secondary)",
                                  "2026-10-07", "C"),
    "cf_tunnel_month": Price(0.0, "tunnel-month",
                             "https://www.cloudflare.com/plans/zero-trust-services/ (no per-tunnel fee documented)",
                             "2026", "B"),
    # The EKS path (compute.platform: eks); Spot rows are typical us-east-1 figures and float.
    "eks_cluster_h": Price(0.10, "cluster-hour (standard support)", "https://aws.amazon.com/eks/pricing/", "2026-11-25", "A"),
    "ec2:m7g.large": Price(0.0816, "hour", "https://aws.amazon.com/ec2/pricing/on-demand/", "2026-11-25", "B"),
    "ec2:m6g.large": Price(0.077, "hour", "https://aws.amazon.com/ec2/pricing/on-demand/", "2026-11-25", "B"),
    "ec2:c7g.xlarge": Price(0.145, "hour", "https://aws.amazon.com/ec2/pricing/on-demand/", "2026-11-25", "B"),
    "ec2_spot:m7g.large": Price(0.035, "hour", "https://aws.amazon.com/ec2/spot/pricing/ (typical $0.03–0.04)", "2026-11-25", "C"),
    "ec2_spot:m6g.large": Price(0.033, "hour", "https://aws.amazon.com/ec2/spot/pricing/ (typical $0.03–0.04)", "2026-11-25", "C"),
    "ec2_spot:c7g.xlarge": Price(0.060, "hour", "https://aws.amazon.com/ec2/spot/pricing/ (typical $0.05–0.07)", "2026-11-25", "C"),
    "ec2_spot:g5.xlarge": Price(0.40, "hour", "https://aws.amazon.com/ec2/spot/pricing/ (typical $0.35–0.50)", "2026-11-25", "C"),
    "ec2_spot:g6.xlarge": Price(0.32, "hour", "https://aws.amazon.com/ec2/spot/pricing/ (typical $0.28–0.40)", "2026-11-25", "C"),
    "elasticache:cache.t4g.micro": Price(0.016, "node-hour", "https://aws.amazon.com/elasticache/pricing/", "2026-11-25", "B"),
    "elasticache:cache.t4g.small": Price(0.032, "node-hour", "https://aws.amazon.com/elasticache/pricing/", "2026-11-25", "B"),
    "elasticache:cache.t4g.medium": Price(0.065, "node-hour", "https://aws.amazon.com/elasticache/pricing/", "2026-11-25", "B"),
    "kms_key_month": Price(1.00, "key-month (requests: first 20,000/month free)", "https://aws.amazon.com/kms/pricing/", "2026-11-25", "A"),
}

# Always-free monthly allowances, from the pricing pages above.
FREE_TIERS = {
    "lambda_requests": 1_000_000, "lambda_gb_s": 400_000, "sqs_requests": 1_000_000,
    "cw_alarms": 10, "cw_logs_gb": 5.0,
    "cf_workers_requests_day": 100_000,  # Workers Free
    "cf_access_seats": 50,  # Zero Trust Free
    "cf_r2_gb_month": 10.0, "cf_r2_class_a": 1_000_000, "cf_r2_class_b": 10_000_000,  # R2 Standard class
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
    worst_usd: Optional[float] = None  # Spot lines: at the worst-case Spot price (None: no range)

    @property
    def worst(self) -> float:
        return self.monthly_usd if self.worst_usd is None else self.worst_usd

    def as_dict(self) -> dict:
        return {"resource": self.resource, "type": self.type, "component": self.component,
                "item": self.item, "monthly_usd": round(self.monthly_usd, 2),
                "worst_monthly_usd": round(self.worst, 2), "kind": self.kind,
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

    @property
    def fixed_worst_usd(self) -> float:
        """The fixed part with every Spot line at its worst-case price."""
        return round(sum(l.worst for l in self.lines if l.kind == "fixed"), 2)

    @property
    def monthly_worst_usd(self) -> float:
        return round(sum(l.worst for l in self.lines), 2)

    def as_dict(self) -> dict:
        return {"monthly_usd": self.monthly_usd, "fixed_usd": self.fixed_usd,
                "monthly_worst_usd": self.monthly_worst_usd, "fixed_worst_usd": self.fixed_worst_usd,
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
             service: str = "", worst: Optional[float] = None) -> CostLine:
        """One cost line for resource `r` (or, with r=None, for an account-wide `service`);
        `worst`: the monthly figure at the worst-case Spot price, for Spot lines."""
        name = r.name if r is not None else f"[{service or 'account'}]"
        typ = r.type if r is not None else ""
        comp = self.rec.component_of(r) if r is not None else ""
        return CostLine(name, typ, comp, item, usd, kind, assumption, tuple(prices), worst)

    def count(self, key: str) -> int:
        self.counters[key] = self.counters.get(key, 0) + 1
        return self.counters[key]


Pricer = Callable[[Any, PricingContext], list[CostLine]]


def unpriced(ctx: PricingContext, r, why: str) -> list[CostLine]:
    """Report `r` as unpriced (a policy error) and price it at nothing."""
    ctx.counters.setdefault("_unpriced", []).append({"type": r.type, "name": r.name, "why": why})
    return []
