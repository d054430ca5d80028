"""Prices of the Cloudflare edge (issue 3): registered into `components.pricing`.

What costs money on Cloudflare is billed per account or zone, not per resource: the zone plan
(`components.pricing` prices it), Workers requests beyond the free tier, R2 beyond its free
tier, and Access seats beyond 50. Every Cloudflare resource type the edge creates is therefore
declared free, and the account-wide lines below state their assumptions.

Sources: reference/B_cloudflare.md §2 (plan limits and prices: §2.3 Access seats, §2.4 Tunnel,
§2.5 R2) and Cloudflare's Workers pricing page (Free: 100,000 requests/day; Paid: $5/month
including 10M requests, then $0.30 per million).
"""
from __future__ import annotations


from components.pricing import FREE_TIERS, PRICES, Price, p

B = "reference/B_cloudflare.md"
EDGE_PRICES: dict[str, Price] = {
    "cf_workers_paid_month": Price(5.0, "account-month (10M requests included)",
                                   "Cloudflare Workers pricing page (Workers Paid)", "2026", "B"),
    "cf_workers_per_million": Price(0.30, "1M requests beyond 10M", "Cloudflare Workers pricing page", "2026", "B"),
    "cf_access_seat_month": Price(7.0, "seat-month beyond 50 (Zero Trust Standard)",
                                  f"{B} §2.3 (community answers, SECONDARY)", "2026-10-07", "C"),
    "cf_tunnel_month": Price(0.0, "tunnel-month", f"{B} §2.4 (no per-tunnel fee documented)", "2026", "B"),
}
EDGE_FREE_TIERS = {
    "workers_requests_day": 100_000,  # Workers Free
    "access_seats": 50,  # Zero Trust Free
    "r2_gb_month": 10.0, "r2_class_a": 1_000_000, "r2_class_b": 10_000_000,  # B §2.5, Standard class
}
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
    free_day = EDGE_FREE_TIERS["workers_requests_day"]
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
    billable_gb = max(0.0, gb - f * EDGE_FREE_TIERS["r2_gb_month"])
    billable_a = max(0, a - f * EDGE_FREE_TIERS["r2_class_a"])
    billable_b = max(0, b - f * EDGE_FREE_TIERS["r2_class_b"])
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
    usd = max(0, seats - EDGE_FREE_TIERS["access_seats"]) * p("cf_access_seat_month")
    return [ctx.line(None, "Zero Trust Access seats", usd, "fixed",
                     f"{who}; Zero Trust Free covers 50 seats", "cf_access_seat_month", service="cloudflare-access")]


def _tunnel(ctx) -> list:
    return [ctx.line(None, "Cloudflare Tunnel", 0.0, "fixed", "no per-tunnel fee; cloudflared runs in the core task",
                     "cf_tunnel_month", service="cloudflare-tunnel")]


def register(pricers: dict, free: dict, service_usage: list) -> None:
    """Add the edge's prices, free types and account-wide lines to `components.pricing`."""
    PRICES.update(EDGE_PRICES)
    FREE_TIERS.update({f"cf_{k}": v for k, v in EDGE_FREE_TIERS.items()})
    for t in EDGE_TYPES_FREE:
        free[t] = "no charge per resource (billed per account: see the Cloudflare lines)"
    has = lambda t: (lambda rec, c: any(not r.read for r in rec.of_type(t)))  # noqa: E731
    service_usage.append((has("cloudflare:index/workersScript:WorkersScript"), _workers_usage))
    service_usage.append((has("cloudflare:index/r2Bucket:R2Bucket"), _r2_usage))
    service_usage.append((has("cloudflare:index/zeroTrustAccessApplication:ZeroTrustAccessApplication"),
                          _access_seats))
    service_usage.append((has("cloudflare:index/zeroTrustTunnelCloudflared:ZeroTrustTunnelCloudflared"), _tunnel))
