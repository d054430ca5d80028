"""Monthly cost of a recorded stack.

The price table and the pricer types live in `pricing_core`; the pricers of each part of the
stack in `aws_pricing` (network, data tier, observability, account-wide AWS lines),
`compute_pricing`, `eks_pricing` and `edge.pricing`. This module composes their tables and prices a recording:
every created resource goes to its type's pricer, or is declared free, or is reported as
unpriced (a policy error); account-wide usage lines are priced once per stack.

Extending: add prices to `pricing_core.PRICES`; add a pricer `fn(resource, ctx)` returning
`ctx.line(...)`s to the `PRICERS` of the part that creates the type; add types that never cost
anything to its `FREE`; add a per-account usage pricer to its `SERVICE_USAGE`.
"""
from __future__ import annotations

import dataclasses

from components import aws_pricing, compute_pricing, eks_pricing
from components.edge import pricing as edge_pricing
from components.pricing_core import PRICE_REGION, CostLine, CostReport, Pricer, PricingContext

PRICERS: dict[str, Pricer] = {**aws_pricing.PRICERS, **compute_pricing.PRICERS, **eks_pricing.PRICERS}
FREE: dict[str, str] = {**aws_pricing.FREE, **compute_pricing.FREE, **edge_pricing.FREE, **eks_pricing.FREE}
SERVICE_USAGE = [*aws_pricing.SERVICE_USAGE, *compute_pricing.SERVICE_USAGE, *edge_pricing.SERVICE_USAGE]


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
