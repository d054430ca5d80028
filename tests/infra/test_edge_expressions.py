"""Every Cloudflare rule expression the program emits is parsed by Cloudflare's engine
(wirefilter, PyPI `octorules-wirefilter`), and each check of `edge.expressions` fires on a
broken input."""
from __future__ import annotations

import re

import pytest

from components.edge import expressions as E
from components.edge import rules as R
from components.edge.policy import T_RULESET

pytest.importorskip("octorules_wirefilter")


@pytest.mark.parametrize("stack", ["beta", "prod"])
def test_every_ruleset_of_the_cloudflare_stacks_passes_the_engine(stack_run, stack):
    run = stack_run(stack)
    rulesets = [r for r in run.recording.of_type(T_RULESET) if not r.read]
    phases = {r.get("phase") for r in rulesets}
    assert {"http_request_firewall_custom", "http_ratelimit", "http_request_late_transform",
            "http_response_headers_transform"} <= phases
    expressions = 0
    for r in rulesets:
        rules = list(r.get("rules") or [])
        expressions += len(rules)
        assert E.ruleset_problems(r.get("phase"), rules, run.config.cloudflare.plan) == [], r.name
        for rule in rules:
            assert not E.parse(rule["expression"]).get("error")
    assert expressions >= 7


def test_the_probe_rule_uses_contains_as_an_operator():
    parsed = E.parse(R.probe_expression())
    assert "contains" in parsed["operators"] and "contains" not in parsed["functions"]
    assert set(parsed["functions"]) == {"lower", "ends_with"}
    assert "/wp-admin" in parsed["string_literals"]


@pytest.mark.parametrize("plan", ["free", "pro"])
def test_every_rule_builder_passes_for_both_plans(plan):
    assert E.ruleset_problems("http_request_firewall_custom",
                              R.custom_rules("api.example.org", ["admin.example.org", "app.example.org"]), plan) == []
    assert E.ruleset_problems("http_ratelimit", [R.rate_limit_rule(plan, "api.example.org")], plan) == []
    assert E.ruleset_problems("http_response_headers_transform",
                              [R.response_header_rule(["api.example.org"])], plan) == []
    assert E.ruleset_problems("http_request_late_transform",
                              [R.origin_secret_rule(["api.example.org"], "s")], plan) == []


@pytest.mark.parametrize("expression, message", [
    ('contains(lower(http.request.uri.path), "/wp-admin")', r"function contains\(\) is not in .* is an operator"),
    ('http.request.uri.pth eq "/"', "engine rejects it: .*unknown identifier"),
    ('starts_with(http.request.uri.path, 1)', "engine rejects it: .*invalid type of argument"),
    ('(http.host eq "a"', "engine rejects it"),
    ('http.request.uri.path matches "^/x"', "needs a Business plan"),
    ('trim(http.host) eq "a"', r"function trim\(\) is not in"),
    ('regex_replace(http.request.uri.path, "a", "b") eq "c"', "only in rewrite values"),
    ('http.host eq "' + "a" * 4100 + '"', "Cloudflare allows 4096"),
])
def test_each_expression_check_fires(expression, message):
    assert any(re.search(message, p) for p in E.problems(expression)), E.problems(expression)


def test_phase_action_and_count_checks_fire():
    ok = {"ref": "x", "action": "block", "expression": 'http.host eq "a"'}
    assert "is not one this program may write" in E.ruleset_problems("http_request_firewall", [ok])[0]
    assert "action 'rewrite' is not allowed" in E.ruleset_problems(
        "http_request_firewall_custom", [dict(ok, action="rewrite")])[0]
    assert E.ruleset_problems("http_request_firewall_custom", [ok] * 6, "free") == [
        "6 rules in http_request_firewall_custom; the free plan allows 5"]
    assert E.ruleset_problems("http_request_firewall_custom", [ok] * 6, "pro") == []
    assert "the free plan allows 1" in E.ruleset_problems("http_ratelimit", [ok, ok], "free")[0]


def test_plan_exits_1_on_a_broken_expression(monkeypatch):
    from components import plan
    monkeypatch.setattr(R, "probe_expression",
                        lambda: '(contains(lower(http.request.uri.path), "/wp-admin"))')
    run = plan.run_program("beta")
    report = plan.build_report(run)
    bad = [f for f in report["findings"] if f["rule"] == "edge.rules-language"]
    assert bad and "contains" in bad[0]["message"] and plan.exit_code(report) == 1
