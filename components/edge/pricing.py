"""Prices of the Cloudflare edge; `components.pricing` composes them with the others.

What costs money on Cloudflare is billed per account or zone, not per resource: the zone plan
(priced in `aws_pricing` with the other account-wide lines), Workers requests beyond the free
tier, R2 beyond its free tier, and Access seats beyond 50. Every Cloudflare resource type the
edge creates is therefore free by itself, and the account-wide lines below state their
assumptions (prices and allowances: `components.pricing_core`).
"""
from __future__ import annotations

from components.pricing_core import FREE_TIERS, p

DAYS = 30.4  # days per month (730 h)

EDGE_TYPES_FREE: tuple[str, ...] = (
    "cloudflare:index/dnsRecord:DnsRecord",
    "cloudflare:index/zoneSetting:ZoneSetting",
    "cloudflare:index/ruleset:Ruleset",  # within the plan's included rules (policy checks the counts)
    "cloudflare:index/zeroTrustAccessApplication:ZeroTrustAccessApplication",
    "cloudflare:index/zeroTrustAccessPolicy:ZeroTrustAccessPolicy",
    "cloudflare:index/zeroTrustTunnelCloudflared:ZeroTrustTunnelCloudflared",
    "cloudflare:index/zeroTrustTunnelCloudflaredConfig:ZeroTrustTunnelCloudflaredConfig",
    "cloudflare:index/r2Bucket:R2Bucket",  # storage and operations: the R2 usage line
    "cloudflare:index/r2BucketLifecycle:R2BucketLifecycle",
    "cloudflare:index/accountToken:AccountToken",
    "cloudflare:index/workersScript:WorkersScript",  # requests: the Workers usage line
    "cloudflare:index/workersRoute:WorkersRoute",
)


def _workers_usage(ctx) -> list:
    """The edge router runs on every api.<domain> request (usage.api_requests)."""
    n = ctx.usage.api_requests
    per_day = n / DAYS
    free_day = FREE_TIERS["cf_workers_requests_day"]
    if ctx.free and per_day <= free_day:
        return [ctx.line(None, "Workers requests (edge router)", 0.0, "usage",
                         f"usage.api_requests {n:,}/month ≈ {per_day:,.0f}/day ≤ {free_day:,}/day free",
                         "cf_workers_paid_month", service="cloudflare-workers")]
    over = max(0.0, n - 10_000_000)
    usd = p("cf_workers_paid_month") + over / 1e6 * p("cf_workers_per_million")
    return [ctx.line(None, "Workers requests (edge router)", usd, "usage",
                     f"usage.api_requests {n:,}/month ≈ {per_day:,.0f}/day: Workers Paid"
                     + ("" if ctx.free else " (free tier not assigned to this stack)"),
                     "cf_workers_paid_month", "cf_workers_per_million", service="cloudflare-workers")]


def _r2_usage(ctx) -> list:
    u = ctx.usage
    gb, a, b = u.r2_storage_gb, u.r2_class_a_requests, u.r2_class_b_requests
    # The free tier is per account: only a stack that gets the account's allowance deducts it.
    f = 1 if ctx.free else 0
    billable_gb = max(0.0, gb - f * FREE_TIERS["cf_r2_gb_month"])
    billable_a = max(0, a - f * FREE_TIERS["cf_r2_class_a"])
    billable_b = max(0, b - f * FREE_TIERS["cf_r2_class_b"])
    usd = (billable_gb * p("r2_gb_month") + billable_a / 1e6 * p("r2_class_a_per_million")
           + billable_b / 1e6 * p("r2_class_b_per_million"))
    return [ctx.line(None, "R2 storage and operations", usd, "usage",
                     f"usage.r2_storage_gb {gb:g} GB, {a:,} class A, {b:,} class B"
                     + (" (free: 10 GB, 1M A, 10M B)" if ctx.free else "") + "; egress free",
                     "r2_gb_month", "r2_class_a_per_million", "r2_class_b_per_million", service="r2")]


def _access_seats(ctx) -> list:
    cf = ctx.config.cloudflare.access
    named = len(cf.allowed_emails)
    who = (f"{named} listed admin e-mail(s)" if not cf.allowed_email_domains
           else f"admins from {', '.join(cf.allowed_email_domains)} (assumed ≤ 50 people log in)")
    seats = named if not cf.allowed_email_domains else 0
    usd = max(0, seats - FREE_TIERS["cf_access_seats"]) * p("cf_access_seat_month")
    return [ctx.line(None, "Zero Trust Access seats", usd, "fixed",
                     f"{who}; Zero Trust Free covers 50 seats", "cf_access_seat_month", service="cloudflare-access")]


def _tunnel(ctx) -> list:
    return [ctx.line(None, "Cloudflare Tunnel", 0.0, "fixed", "no per-tunnel fee; cloudflared runs next to the core (ECS sidecar or EKS Deployment)",
                     "cf_tunnel_month", service="cloudflare-tunnel")]


FREE = {t: "no charge per resource (billed per account: see the Cloudflare lines)" for t in EDGE_TYPES_FREE}


def _has(type_: str):
    """Trigger: the stack creates at least one resource of `type_`."""
    return lambda rec, c: any(not r.read for r in rec.of_type(type_))


SERVICE_USAGE = [
    (_has("cloudflare:index/workersScript:WorkersScript"), _workers_usage),
    (_has("cloudflare:index/r2Bucket:R2Bucket"), _r2_usage),
    (_has("cloudflare:index/zeroTrustAccessApplication:ZeroTrustAccessApplication"), _access_seats),
    (_has("cloudflare:index/zeroTrustTunnelCloudflared:ZeroTrustTunnelCloudflared"), _tunnel),
]
