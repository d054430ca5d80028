"""The Operations Console's wiring, recorded under mocks: its server-side proxies reach only the core's
console listener, from its own security group; its browser-side calls go through admin.<domain> behind
Access, split by path at the edge (tunnel) or by listener rules (ALB); the stack refuses what it cannot
wire safely (no Cloudflare Access, EKS) with a config error; `ops_console` tells the operator the rest.
"""
from __future__ import annotations

import json
import re

import pytest

from components import plan
from components.config import PROJECT, ConfigError
from components.ops_console import (
    ALB_VALUES_PER_RULE, ALB_WILDCARDS_PER_RULE, API_PATH_REGEX, CONSOLE_PORT, PROXY_ROUTES, alb_pattern_chunks,
    proxy_route_regex,
)

IMAGE = "ghcr.io/unamentis/ops-console:1.4.2"
ADMIN = "ops@unamentis.net"
CONSOLE = {f"{PROJECT}:ops_console": {"enabled": True, "image": IMAGE, "admin_email": ADMIN}}


@pytest.fixture(scope="module")
def beta():
    return plan.run_program("beta", overrides=CONSOLE)


@pytest.fixture(scope="module")
def prod():
    web = {f"{PROJECT}:web_client": {"enabled": True, "image": "ghcr.io/unamentis/web-client:1.4.2"}}
    return plan.run_program("prod", overrides={**CONSOLE, **web})


def _sg(rec, role):
    return next(sg.out("id") or sg.id for sg in rec.of_type("aws:ec2/securityGroup:SecurityGroup")
                if (sg.get("tags") or {}).get("unamentis:role") == role)


def _containers(rec, family):
    [td] = [t for t in rec.of_type("aws:ecs/taskDefinition:TaskDefinition") if t.get("family") == family]
    raw = td.get("containerDefinitions")
    return json.loads(raw) if isinstance(raw, str) else raw


def _env(container) -> dict:
    return {e["name"]: e["value"] for e in container.get("environment") or []}


# ----------------------------------------------------------------------------- the console listener
@pytest.mark.parametrize("stack", ["beta", "prod"])
def test_only_the_console_group_reaches_the_console_listener(stack, beta, prod):
    rec = {"beta": beta, "prod": prod}[stack].recording
    console_sg = _sg(rec, "web-ops-console")
    rules = [r for r in rec.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
             if r.get("fromPort") is not None and r.get("fromPort") <= CONSOLE_PORT <= r.get("toPort")]
    rules += [r for r in rec.of_type("aws:ec2/securityGroupRule:SecurityGroupRule")
              if r.get("type") == "ingress" and r.get("fromPort") is not None and r.get("fromPort") <= CONSOLE_PORT <= r.get("toPort")]
    assert [(r.get("securityGroupId"), r.get("referencedSecurityGroupId"), r.get("cidrIpv4"), r.get("fromPort"), r.get("toPort"))
            for r in rules if r.get("securityGroupId") == _sg(rec, "core")] == [
        (_sg(rec, "core"), console_sg, None, CONSOLE_PORT, CONSOLE_PORT)]
    # the console's own way out to it
    out = [r for r in rec.of_type("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule")
           if r.get("securityGroupId") == console_sg and r.get("fromPort") == CONSOLE_PORT]
    assert [r.get("referencedSecurityGroupId") for r in out] == [_sg(rec, "core")]
    # no load balancer target, no tunnel ingress on that port
    assert all(tg.get("port") != CONSOLE_PORT for tg in rec.of_type("aws:lb/targetGroup:TargetGroup"))
    for cfg in rec.of_type("cloudflare:index/zeroTrustTunnelCloudflaredConfig:ZeroTrustTunnelCloudflaredConfig"):
        assert not [i for i in cfg.get("config")["ingresses"] if str(CONSOLE_PORT) in i["service"]]
    assert [f for f in plan.build_report({"beta": beta, "prod": prod}[stack])["findings"]
            if f["rule"] in ("compute.console-listener-private", "compute.core-no-ingress")] == []


def test_the_core_opens_the_console_listener_as_the_configured_admin(beta):
    rec = beta.recording
    [core] = [c for c in _containers(rec, "uma-beta-core") if c["name"] == "core"]
    env = _env(core)
    assert (env["UNAMENTIS_CONSOLE_PORT"], env["UNAMENTIS_CONSOLE_ADMIN_EMAIL"]) == (str(CONSOLE_PORT), ADMIN)
    assert sorted(p["containerPort"] for p in core["portMappings"]) == [8080, CONSOLE_PORT]
    # registered as core.<namespace>, where the console's BACKEND_URL points
    [svc] = [s for s in rec.of_type("aws:ecs/service:Service") if s.get("name") == "uma-beta-core"]
    [disc] = [d for d in rec.of_type("aws:servicediscovery/service:Service") if d.get("name") == "core"]
    assert svc.get("serviceRegistries")["registryArn"] == disc.out("arn")
    # the Lambdas never get it (the listener is the core's)
    for fn in rec.of_type("aws:lambda/function:Function"):
        assert "UNAMENTIS_CONSOLE_PORT" not in ((fn.get("environment") or {}).get("variables") or {})


def test_the_console_reads_the_env_names_of_its_sources(beta):
    [console] = _containers(beta.recording, "uma-beta-ops-console")
    assert _env(console) == {
        "PORT": "3000", "HOSTNAME": "0.0.0.0", "BACKEND_URL": f"http://core.uma-beta.internal:{CONSOLE_PORT}",
        "NEXT_PUBLIC_BACKEND_URL": "https://admin.unamentis.net", "NEXT_PUBLIC_API_URL": "https://admin.unamentis.net",
        "NEXT_PUBLIC_MANAGEMENT_API_URL": "https://admin.unamentis.net",
        "NEXT_PUBLIC_MANAGEMENT_SERVER_URL": "https://admin.unamentis.net"}


# ----------------------------------------------------------------------------- admin.<domain>, by path
PROXIED = ["/api/stats", "/api/admin/users", "/api/admin/users/u-1", "/api/curricula/c-1/topics/t-1/assets/a-1",
           "/api/import/jobs", "/api/import/sources/s/courses/c", "/api/models", "/api/tts/pregen/jobs/j/retry-failed"]
TO_API = ["/ws", "/api/models/config", "/api/models/llama3/load", "/api/system/idle/status", "/api/media/capabilities",
          "/api/tts/profiles", "/api/sessions/s-1/context/build", "/api/kb/packs/p/x/y/z"]
PAGES = ["/", "/_next/static/chunks/main.js", "/favicon.ico", "/ws/audio", "/apix"]


def _route(ingresses, host, path):
    for i in ingresses:
        if i.get("hostname") not in (None, host):
            continue
        if i.get("path") and not re.search(i["path"], path):
            continue
        return i
    raise AssertionError("no rule")


def test_tunnel_splits_admin_by_path_and_checks_access_on_every_rule(beta):
    [cfg] = beta.recording.of_type("cloudflare:index/zeroTrustTunnelCloudflaredConfig:ZeroTrustTunnelCloudflaredConfig")
    ingresses = cfg.get("config")["ingresses"]
    console, core = "http://ops-console.uma-beta.internal:3000", "http://localhost:8080"
    for path in PROXIED + PAGES:
        assert _route(ingresses, "admin.unamentis.net", path)["service"] == console, path
    for path in TO_API:
        assert _route(ingresses, "admin.unamentis.net", path)["service"] == core, path
    for i in ingresses:
        if i.get("hostname") == "admin.unamentis.net":
            assert i["originRequest"]["access"]["required"] is True
    # the regexes are RE2-safe (no look-around) and the route list matches itself
    assert "(?" not in proxy_route_regex() and "(?" not in API_PATH_REGEX
    assert all(re.match(proxy_route_regex(), r.replace("[", "x").replace("]", "")) for r in PROXY_ROUTES)


def _alb_target(rules, tgs, host, path):
    """The target group an ALB listener sends host+path to (patterns: `*` any characters, `?` one)."""
    def matches(cond):
        if "hostHeader" in cond:
            return host in cond["hostHeader"]["values"]
        if "pathPattern" in cond:
            return any(re.fullmatch(re.escape(p).replace(r"\*", ".*").replace(r"\?", "."), path)
                       for p in cond["pathPattern"]["values"])
        return True  # the origin-secret header: present behind Cloudflare
    for r in sorted(rules, key=lambda r: r.get("priority")):
        if all(matches(c) for c in r.get("conditions")):
            return tgs.get(r.get("actions")[0].get("targetGroupArn"), "lambda")
    return "default"


def test_alb_sends_admin_proxy_routes_and_pages_to_the_console_and_the_rest_to_the_api(prod):
    rec = prod.recording
    rules = rec.of_type("aws:lb/listenerRule:ListenerRule")
    tgs = {tg.out("arn"): tg.get("name") for tg in rec.of_type("aws:lb/targetGroup:TargetGroup")}
    for path in PROXIED + PAGES:
        if path == "/ws/audio":
            continue  # a route-table path: the voice socket goes to the core on every host
        assert _alb_target(rules, tgs, "admin.unamentis.com", path) == "uma-prod-ops-console", path
    # ALB's `*` crosses `/`: a made-up path below a proxy route's parameter reaches the console (its 404)
    for path in [p for p in TO_API if p != "/api/kb/packs/p/x/y/z"]:
        assert _alb_target(rules, tgs, "admin.unamentis.com", path) != "uma-prod-ops-console", path
    assert _alb_target(rules, tgs, "admin.unamentis.com", "/ws") == "uma-prod-core"
    assert _alb_target(rules, tgs, "app.unamentis.com", "/api/stats") == "uma-prod-web-client"
    priorities = [r.get("priority") for r in rules]
    assert len(priorities) == len(set(priorities))
    # the API host is untouched
    assert _alb_target(rules, tgs, "api.unamentis.com", "/api/stats") != "uma-prod-ops-console"
    for r in rules:
        conds = r.get("conditions")
        values = sum(len(next(iter(c.values()))["values"]) for c in conds)
        stars = sum(v.count("*") for c in conds if "pathPattern" in c for v in c["pathPattern"]["values"])
        assert values <= ALB_VALUES_PER_RULE and stars <= ALB_WILDCARDS_PER_RULE, r.name


def test_alb_chunks_respect_the_quotas():
    for other in (1, 2):
        chunks = alb_pattern_chunks(other)
        assert sum(len(c) for c in chunks) == len({p for c in chunks for p in c})
        assert all(len(c) + other <= ALB_VALUES_PER_RULE and sum(p.count("*") for p in c) <= ALB_WILDCARDS_PER_RULE
                   for c in chunks)


# ----------------------------------------------------------------------------- config and outputs
def test_stack_output_ops_console(beta):
    outputs = plan.build_report(beta)["outputs"]
    out = outputs["ops_console"]
    assert out["url"] == "https://admin.unamentis.net" and out["image"] == IMAGE and out["acts_as"] == ADMIN
    assert out["backend_url"] == f"http://core.uma-beta.internal:{CONSOLE_PORT}"
    assert set(out["build_env"]) == {"NEXT_PUBLIC_BACKEND_URL", "NEXT_PUBLIC_API_URL", "NEXT_PUBLIC_MANAGEMENT_API_URL",
                                     "NEXT_PUBLIC_MANAGEMENT_SERVER_URL"}
    assert "ws://localhost:8766/ws" in out["events"]
    assert "ops_console" not in plan.build_report(plan.run_program("beta"))["outputs"]


@pytest.mark.parametrize("overrides,key", [
    ({f"{PROJECT}:ops_console": {"enabled": True, "image": IMAGE}}, "ops_console.admin_email"),
    ({f"{PROJECT}:ops_console": {"enabled": True, "image": IMAGE, "admin_email": "not-an-email"}}, "ops_console.admin_email"),
], ids=["no admin", "bad admin"])
def test_console_needs_its_admin(overrides, key):
    with pytest.raises(ConfigError, match=re.escape(key)):
        plan.run_program("beta", overrides=overrides)


def test_console_refused_without_cloudflare_access():
    with pytest.raises(ConfigError, match="ops_console.enabled.*Cloudflare Access"):
        plan.run_program("customer", overrides={**CONSOLE, f"{PROJECT}:edge": "none"})


def test_console_refused_on_eks_until_the_chart_has_it():
    with pytest.raises(ConfigError, match="ops_console.enabled.*eks"):
        plan.run_program("scale", overrides=CONSOLE)
