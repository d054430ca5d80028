"""Edge building blocks: SDK shape checks, argument validation, rule expressions, policy rules."""
from __future__ import annotations

import dataclasses

import pulumi_cloudflare as cloudflare
import pytest

from components.base import ArgsError
from components.edge import EdgeArgs
from components.edge import rules as R
from components.edge.component import Edge, _first_permission_group_id
from components.edge.sdk import checked
from components.policy import RULES
from components.policy_core import example_config
from runtime.route_table import ROUTES, RouteRule

ARGS = EdgeArgs(name_prefix="unamentis-t", account_id="a" * 32, zone_id="b" * 32, domain="example.org",
                plan="free", ingress="tunnel", team_domain="team.cloudflareaccess.com",
                allowed_emails=("ops@example.org",), r2_assets_bucket="t-assets", r2_tts_bucket="t-tts")


def test_sdk_check_accepts_the_real_shapes_and_names_a_misspelt_key():
    ingresses = Edge.tunnel_ingresses(ARGS, "aud-1")
    assert checked(cloudflare.ZeroTrustTunnelCloudflaredConfigConfigArgs, {"ingresses": ingresses})
    bad = [dict(ingresses[1], origin_request={"access": {"required": True, "team_name": "t", "aud_tag": ["x"]}})]
    with pytest.raises(TypeError, match=r"ingresses\[0\]\.origin_request\.access: .* no argument 'aud_tag'"):
        checked(cloudflare.ZeroTrustTunnelCloudflaredConfigConfigArgs, {"ingresses": bad})
    with pytest.raises(TypeError, match="no argument 'ingress'"):
        checked(cloudflare.ZeroTrustTunnelCloudflaredConfigConfigArgs, {"ingress": ingresses})
    # map-valued inputs (headers) check each value, not the header names
    rule = R.response_header_rule(["api.example.org"])
    assert checked(cloudflare.RulesetRuleArgs, [rule])
    rule["action_parameters"]["headers"]["X-Frame-Options"]["op"] = "set"
    with pytest.raises(TypeError, match=r"headers\['X-Frame-Options'\]: .* no argument 'op'"):
        checked(cloudflare.RulesetRuleArgs, [rule])
    with pytest.raises(TypeError, match="requires 'expression'"):
        checked(cloudflare.RulesetRuleArgs, [{"action": "block"}])


def test_every_rule_the_edge_builds_passes_the_sdk_check():
    for plan in ("free", "pro"):
        checked(cloudflare.RulesetRuleArgs, [R.rate_limit_rule(plan, "api.example.org")])
    checked(cloudflare.RulesetRuleArgs, R.custom_rules("api.example.org", ["admin.example.org"]))
    checked(cloudflare.RulesetRuleArgs, [R.origin_secret_rule(["api.example.org"], "s")])
    checked(cloudflare.ZeroTrustAccessPolicyIncludeArgs, R.access_includes(["example.org"], ["a@b.org"]))


@pytest.mark.parametrize("change, message", [
    ({"plan": "business"}, r"EdgeArgs\.plan: 'business'\. Fix: use one of free, pro"),
    ({"ingress": "nlb"}, r"EdgeArgs\.ingress: 'nlb'"),
    ({"allowed_emails": (), "allowed_email_domains": ()}, r"EdgeArgs\.allowed_emails: the Access policy would admit nobody"),
    ({"web_client": True}, r"EdgeArgs\.web_client_service: "),
    ({"r2_assets_bucket": "Bad_Name"}, r"EdgeArgs\.r2_assets_bucket: 'Bad_Name' is not an R2 bucket name"),
    ({"r2_tts_bucket": "t-assets"}, r"EdgeArgs\.r2_tts_bucket: the same as r2_assets_bucket"),
])
def test_edge_args_reject_bad_values_in_their_own_terms(change, message):
    with pytest.raises(ArgsError, match="^" + message):
        dataclasses.replace(ARGS, **change).validate()


def test_tunnel_ingresses_route_apps_to_their_services_and_end_in_404():
    args = dataclasses.replace(ARGS, web_client=True, web_client_service="http://web-client.x.internal:3001",
                               ops_console_service="http://ops-console.x.internal:3000")
    rules = Edge.tunnel_ingresses(args, "aud-1")
    assert [(r.get("hostname"), r["service"]) for r in rules] == [
        ("core.example.org", "http://localhost:8080"),
        ("admin.example.org", "http://ops-console.x.internal:3000"),
        ("app.example.org", "http://web-client.x.internal:3001"),
        (None, "http_status:404")]
    assert rules[1]["origin_request"] == {"access": {"required": True, "team_name": "team", "aud_tags": ["aud-1"]}}


def test_rate_limit_rules_per_plan():
    free = R.rate_limit_rule("free", "api.example.org")
    assert "http.host" not in free["expression"] and "action_parameters" not in free
    assert (free["ratelimit"]["period"], free["ratelimit"]["requests_per_period"],
            free["ratelimit"]["mitigation_timeout"]) == (10, 17, 10)
    pro = R.rate_limit_rule("pro", "api.example.org")
    assert (pro["ratelimit"]["period"], pro["ratelimit"]["requests_per_period"]) == (60, 100)
    assert pro["expression"].startswith('(http.host eq "api.example.org" and ')


def test_served_prefixes_follow_the_route_table():
    assert R.served_prefixes() == ("api", "log", "ws", "health")  # "log": Android's log server endpoint
    extra = ROUTES + (RouteRule("/metrics-export", "telemetry", "lambda"),)
    assert R.served_prefixes(extra)[-1] == "metrics-export"
    assert 'starts_with(http.request.uri.path, "/metrics-export/")' in R.api_unknown_path_expression("a.b", extra)


def test_string_literals_are_escaped():
    assert R.host_in(['x"y']) == 'http.host eq "x\\"y"'


def test_permission_group_lookup_fails_clearly_without_r2():
    assert _first_permission_group_id([{"id": "g1", "name": R2_NAME}]) == "g1"
    with pytest.raises(ArgsError, match=r"^EdgeArgs\.r2_enabled: .*no R2 group at all\)\. Fix: activate R2"):
        _first_permission_group_id([])
    # Never another group in its place: a token with the wrong rights would fail only at run time.
    with pytest.raises(ArgsError, match="R2 groups it has: Workers R2 Storage Read"):
        _first_permission_group_id([{"id": "g0", "name": "Zone Read"}, {"id": "g2", "name": "Workers R2 Storage Read"}])


R2_NAME = "Workers R2 Storage Bucket Item Write"


@pytest.mark.parametrize("rule_id", ["edge.admin-access-mfa", "edge.proxied-needs-waf", "edge.tunnel-catch-all",
                                     "edge.origin-secret-secret", "edge.rate-limit-plan"])
def test_edge_policy_rules_fire_on_their_bad_example(rule_id):
    rule = next(r for r in RULES if r.id == rule_id)
    assert rule.run(rule.bad()), f"{rule_id} did not fire on its bad example"


def test_edge_policy_rules_are_quiet_on_the_stacks(stack_run):
    from components.policy_core import PolicyContext

    for stack in ("beta", "prod", "customer"):
        run = stack_run(stack)
        ctx = PolicyContext(rec=run.recording, config=run.config)
        for rule in RULES:
            if rule.id.startswith("edge."):
                assert rule.run(ctx) == [], (stack, rule.id)


def test_admin_rule_passes_when_the_policy_requires_mfa():
    from components.edge.policy import _waf, T_APP, T_DNS, T_POLICY
    from components.policy_core import example, fake

    pol = fake(T_POLICY, "pol", {"decision": "allow", "includes": [{"email": {"email": "a@b.org"}}],
                                  "mfaConfig": {"allowedAuthenticators": ["totp"], "mfaDisabled": False}},
                id="pol-1")
    app = fake(T_APP, "app", {"domain": "admin.example.org", "policies": [{"id": "pol-1"}]})
    dns = fake(T_DNS, "admin", {"zoneId": "z", "name": "admin.example.org", "proxied": True})
    rule = next(r for r in RULES if r.id == "edge.admin-access-mfa")
    assert rule.run(example(pol, app, dns, _waf(), config=example_config())) == []
    everyone = fake(T_POLICY, "pol", {"decision": "allow", "includes": [{"everyone": {}}],
                                       "mfaConfig": {"allowedAuthenticators": ["totp"]}}, id="pol-1")
    assert [f.message for f in rule.run(example(everyone, app, dns, _waf()))] == [
        "Access policy for admin.example.org admits everyone"]
