"""`python -m components.plan` end to end, as an operator runs it (a subprocess per call)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def plan(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "components.plan", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("stack", ["beta", "prod", "customer"])
def test_plan_json_per_stack(stack):
    p = plan(stack, "--json")
    assert p.returncode == 0, p.stderr[-3000:] + p.stdout[-3000:]
    doc = json.loads(p.stdout)
    assert doc["stack"] == stack and doc["profile"] == stack
    assert doc["resources"] and all(set(r) >= {"type", "name", "inputs"} for r in doc["resources"])
    cost = doc["cost"]
    assert cost["monthly_usd"] == pytest.approx(sum(l["monthly_usd"] for l in cost["lines"]), abs=0.05)
    assert cost["monthly_usd"] <= cost["budget_usd"]
    assert all(l["assumption"] for l in cost["lines"])
    assert [f for f in doc["findings"] if f["severity"] == "error"] == []
    assert all(set(f) == {"rule", "resource", "severity", "message"} for f in doc["findings"])
    # Secrets never appear in the plan output.
    assert "plan-placeholder-secret" not in p.stdout
    db = next(r for r in doc["resources"] if r["type"] == "aws:rds/instance:Instance")
    assert db["inputs"].get("password") in (None, "[secret]")
    if stack == "beta":
        assert cost["fixed_usd"] <= 20.0 and cost["fixed_ceiling_usd"] == 20.0


def test_plan_text_shows_tree_cost_and_findings():
    p = plan("beta")
    assert p.returncode == 0, p.stderr[-3000:]
    out = p.stdout
    assert "Resources by component" in out and "+ unamentis-network" in out
    assert "Monthly cost estimate" in out and "db.t4g.micro single-AZ: 730 h × $0.016/h" in out
    assert "Policy findings:" in out


def test_broken_stack_file_fails_with_one_line_naming_the_key(tmp_path):
    bad = tmp_path / "Pulumi.bad.yaml"
    text = (ROOT / "Pulumi.beta.yaml").read_text().replace("unamentis-cloud:edge: cloudflare",
                                                            "unamentis-cloud:edge: none")
    bad.write_text(text)
    p = plan("beta", "--json", "--stack-file", str(bad))
    assert p.returncode == 2
    assert p.stdout == ""
    err = p.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("config error: unamentis-cloud:ingress:")
    assert "Fix:" in err[0]


def test_over_budget_exits_non_zero(tmp_path):
    over = tmp_path / "Pulumi.over.yaml"
    over.write_text((ROOT / "Pulumi.beta.yaml").read_text().replace("fixed_ceiling_usd: 20", "fixed_ceiling_usd: 5"))
    p = plan("beta", "--json", "--stack-file", str(over))
    assert p.returncode == 1
    doc = json.loads(p.stdout)
    assert [f["rule"] for f in doc["findings"] if f["severity"] == "error"] == ["cost.fixed-ceiling"]
