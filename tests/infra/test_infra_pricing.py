"""The cost model: exact arithmetic from the dated price table, per-stack assumptions."""
from __future__ import annotations

import pytest

from components import policy, policy_core, pricing, pricing_core
from components.config import PROJECT


def lines_by_item(report) -> dict[str, float]:
    return {f"{l.resource}:{l.item}": round(l.monthly_usd, 2) for l in report.lines}


def test_beta_fixed_cost_fits_the_ceiling_and_every_line_is_explained(stack_run):
    run = stack_run("beta")
    report = pricing.price_resources(run.recording, run.config)
    assert report.unpriced == []
    assert report.fixed_usd <= 20.0, report.as_dict()
    assert report.monthly_usd <= run.config.budget.monthly_usd
    items = lines_by_item(report)
    assert items["unamentis-db-postgres:db.t4g.micro single-AZ"] == 11.68  # 730 × 0.016
    assert items["unamentis-db-postgres:gp3 storage 20 GB single-AZ"] == 2.30  # 20 × 0.115
    for l in report.as_dict()["lines"]:
        assert l["assumption"] and l["kind"] in ("fixed", "usage")
        assert all("conf" in s for s in l["sources"])
    # No NAT, no ALB, no Secrets Manager secret, no interface endpoint in the beta.
    kinds = {l.type for l in report.lines}
    assert not kinds & {"aws:ec2/natGateway:NatGateway", "aws:lb/loadBalancer:LoadBalancer",
                        "aws:secretsmanager/secret:Secret"}
    assert all("interface endpoint" not in l.item for l in report.lines)


def test_prod_prices_multi_az_nat_instance_and_pro_plan(stack_run):
    run = stack_run("prod")
    items = lines_by_item(pricing.price_resources(run.recording, run.config))
    assert items["unamentis-db-postgres:db.t4g.small Multi-AZ"] == 46.72  # 730 × 0.032 × 2
    assert items["unamentis-db-postgres:gp3 storage 50 GB Multi-AZ"] == 11.50  # 50 × 0.115 × 2
    assert items["unamentis-nat-asg:1 × t4g.nano always on"] == 7.36  # 3.07 + 3.65 + 8 GB × 0.08
    assert items["[cloudflare]:Cloudflare pro plan"] == 25.0


def test_nat_gateway_and_managed_secret_are_priced(stack_run):
    net = {"cidr": "10.0.0.0/16", "nat": "gateway"}
    run = stack_run("beta", {f"{PROJECT}:network": net, f"{PROJECT}:database": {"managed_master_password": True},
                             f"{PROJECT}:budget": {"monthly_usd": 200, "alert_emails": ["ops@unamentis.net"]}})
    report = pricing.price_resources(run.recording, run.config)
    items = lines_by_item(report)
    for az in ("us-east-1a", "us-east-1b"):
        assert items[f"unamentis-nat-gw-{az}:NAT gateway hours"] == 32.85
        assert items[f"unamentis-nat-gw-{az}:NAT gateway data"] == round(2.5 * 0.045, 2)
        assert items[f"unamentis-nat-eip-{az}:public IPv4 (Elastic IP)"] == 3.65
    assert items["unamentis-db-postgres:RDS-managed master secret"] == 0.40


def test_free_tiers_only_when_the_stack_says_so(stack_run):
    run = stack_run("beta")
    ctx_free = pricing.price_resources(run.recording, run.config)
    alarms = [l for l in ctx_free.lines if l.item == "CloudWatch alarm"]
    assert alarms and all(l.monthly_usd == 0 for l in alarms)
    paid = stack_run("beta", {f"{PROJECT}:usage": {"apply_free_tiers": False}})
    report = pricing.price_resources(paid.recording, paid.config)
    alarms = [l for l in report.lines if l.item == "CloudWatch alarm"]
    assert alarms and all(l.monthly_usd == 0.10 for l in alarms)


def test_unknown_type_is_unpriced_and_fails_policy():
    ex = policy_core.example(policy_core.fake("aws:kinesis/stream:Stream", "stream", {}))
    report = pricing.price_resources(ex.rec, ex.config)
    assert report.unpriced == [{"type": "aws:kinesis/stream:Stream", "name": "stream",
                                "why": "no pricer and not declared free"}]
    assert [f.rule for f in policy.evaluate(ex.rec, ex.config, report)] == ["cost.unpriced"]


def test_asg_scaled_from_zero_is_priced_per_hour_of_use():
    f = policy_core.fake
    ex = policy_core.example(
        f("aws:ec2/launchTemplate:LaunchTemplate", "gpu-lt", {"instanceType": "g4dn.xlarge",
          "blockDeviceMappings": [{"deviceName": "/dev/xvda", "ebs": {"volumeSize": 100, "encrypted": "true"}}],
          "networkInterfaces": [{"associatePublicIpAddress": "true"}]}, id="lt-gpu"),
        f("aws:autoscaling/group:Group", "gpu-asg", {"minSize": 0, "maxSize": 1, "desiredCapacity": 0,
          "mixedInstancesPolicy": {"instancesDistribution": {"onDemandPercentageAboveBaseCapacity": 0},
                                   "launchTemplate": {"launchTemplateSpecification": {"launchTemplateId": "lt-gpu"},
                                                      "overrides": [{"instanceType": "g4dn.xlarge"}, {"instanceType": "g5.xlarge"}]}}}))
    report = pricing.price_resources(ex.rec, ex.config)
    [line] = [l for l in report.lines if l.resource == "gpu-asg"]
    per_hour = 0.20 + 100 * 0.08 / 730 + 0.005
    assert line.kind == "usage" and line.monthly_usd == pytest.approx(30 * per_hour)
    assert f"${per_hour:.4f} per hour of use" in line.assumption


def test_fargate_rates():
    # 0.25 vCPU / 0.5 GB ARM on-demand ≈ $7.21/month (the ARM rates of components/pricing_core.py: $0.03238 per vCPU-hour, $0.00356 per GB-hour); Spot at the observed 69 % off.
    od = pricing_core.fargate_hourly(256, 512, arm=True, spot=False, spot_discount=0.69) * 730
    assert round(od, 2) == 7.21
    spot = pricing_core.fargate_hourly(256, 512, arm=True, spot=True, spot_discount=0.69) * 730
    assert round(spot, 2) == round(7.20875 * 0.31, 2)
    assert round(pricing_core.fargate_hourly(512, 1024, arm=False, spot=False, spot_discount=0) * 730, 2) == 18.02


def test_price_table_is_dated_and_sourced():
    for key, price in pricing_core.PRICES.items():
        assert price.source and price.date and price.conf in ("A", "B", "C"), key
    assert pricing_core.PRICED_AT == "2026-11-25" and pricing_core.PRICE_REGION == "us-east-1"


def test_spot_is_priced_as_a_range(stack_run):
    """Spot floats: the beta's fixed part fits its ceiling at the typical price, and the plan
    states the worst case (Fargate Spot at 50 % off, GPU Spot at the on-demand price)."""
    run = stack_run("beta")
    cost = pricing.price_resources(run.recording, run.config)
    assert cost.fixed_usd == 19.86 <= cost.fixed_ceiling_usd < cost.fixed_worst_usd == 21.23
    spot = [l for l in cost.lines if "Fargate Spot" in l.item]
    assert spot and all(l.worst > l.monthly_usd for l in spot)
    gpu = [l for l in cost.lines if l.item.startswith("g4dn.xlarge")]
    assert gpu and gpu[0].worst > gpu[0].monthly_usd and "worst case at on-demand $0.526/h" in gpu[0].assumption
    assert cost.monthly_worst_usd > cost.monthly_usd
