"""The Cloudflare edge under the recording mocks: beta (tunnel), prod (ALB), customer (no edge).

Every Edge resource and its security-relevant inputs are asserted exactly (recorded inputs
use the engine's camelCase names; numbers arrive as floats).
"""
from __future__ import annotations

import json

import pytest

from components.config import PROJECT
from components.mocks import CLOUDFLARE_IPV4, CLOUDFLARE_IPV6
from runtime.route_table import as_json_rules

BETA_ZONE = "9a8b7c6d5e4f30211a2b3c4d5e6f7081"
PROD_ZONE = "0b1c2d3e4f5a69788796a5b4c3d2e1f0"
ACCOUNT = "3f1e6a2b9c8d4e5f60718293a4b5c6d7"
MFA = {"allowedAuthenticators": ["totp", "biometrics", "security_key"], "mfaDisabled": False,
       "sessionDuration": "8h"}


def cf(rec):
    return {(r.type.split(":")[-1], r.name) for r in rec.custom if r.type.startswith("cloudflare:")}


def origin_secret(rec) -> str:
    return rec.named("unamentis-edge-origin-secret").out("result")


@pytest.fixture
def beta(stack_run):
    return stack_run("beta").recording


@pytest.fixture
def prod(stack_run):
    return stack_run("prod").recording


# --------------------------------------------------------------------------- beta (tunnel)


def test_beta_edge_resources_are_exactly_these(beta):
    assert cf(beta) == {
        ("ZoneSetting", f"unamentis-edge-zone-{s}") for s in
        ("ssl", "min-tls-version", "tls-1-3", "always-use-https", "websockets")
    } | {
        ("Ruleset", "unamentis-edge-waf"), ("Ruleset", "unamentis-edge-rate-limit"),
        ("Ruleset", "unamentis-edge-response-headers"), ("Ruleset", "unamentis-edge-origin-secret-header"),
        ("ZeroTrustAccessPolicy", "unamentis-edge-admin-policy"),
        ("ZeroTrustAccessApplication", "unamentis-edge-admin-app"),
        ("ZeroTrustTunnelCloudflared", "unamentis-edge-tunnel"),
        ("ZeroTrustTunnelCloudflaredConfig", "unamentis-edge-tunnel-config"),
        ("DnsRecord", "unamentis-edge-dns-core"), ("DnsRecord", "unamentis-edge-dns-admin"),
        ("DnsRecord", "unamentis-edge-dns-api"),
        ("DnsRecord", "unamentis-edge-routing-dns-fn"), ("DnsRecord", "unamentis-edge-routing-acm-fn"),
        ("WorkersScript", "unamentis-edge-routing-router"), ("WorkersRoute", "unamentis-edge-routing-router-route"),
    }
    for r in beta.custom:
        if r.type.startswith("cloudflare:"):
            assert beta.component_of(r) in ("unamentis-edge", "unamentis-edge-routing"), r.name


def test_beta_zone_settings(beta):
    got = {r.get("settingId"): (r.get("value"), r.get("zoneId"))
           for r in beta.of_type("cloudflare:index/zoneSetting:ZoneSetting")}
    assert got == {"ssl": ("strict", BETA_ZONE), "min_tls_version": ("1.2", BETA_ZONE),
                   "tls_1_3": ("on", BETA_ZONE), "always_use_https": ("on", BETA_ZONE),
                   "websockets": ("on", BETA_ZONE)}


def test_beta_dns_records(beta):
    tunnel = beta.named("unamentis-edge-tunnel")
    target = f"{tunnel.id}.cfargotunnel.com"
    domain = beta.named("unamentis-compute-fn-domain")
    got = {r.get("name"): (r.get("type"), r.get("content"), r.get("proxied"), r.get("ttl"), r.get("zoneId"))
           for r in beta.of_type("cloudflare:index/dnsRecord:DnsRecord")}
    acm = beta.named("unamentis-compute-fn-cert").out("domainValidationOptions")[0]
    assert got == {
        "core.unamentis.net": ("CNAME", target, True, 1, BETA_ZONE),
        "admin.unamentis.net": ("CNAME", target, True, 1, BETA_ZONE),
        "api.unamentis.net": ("AAAA", "100::", True, 1, BETA_ZONE),
        "fn.unamentis.net": ("CNAME", domain.out("domainNameConfiguration")["targetDomainName"], True, 1, BETA_ZONE),
        acm["resourceRecordName"].rstrip("."): ("CNAME", acm["resourceRecordValue"].rstrip("."), False, 300, BETA_ZONE),
    }


def test_beta_waf_custom_rules(beta):
    waf = beta.named("unamentis-edge-waf")
    assert (waf.get("kind"), waf.get("phase"), waf.get("zoneId"), waf.get("name")) == (
        "zone", "http_request_firewall_custom", BETA_ZONE, "unamentis-beta custom rules")
    rules = waf.get("rules")
    assert len(rules) <= 5  # the Free plan's limit
    assert [(r["ref"], r["action"], r["enabled"]) for r in rules] == [
        ("block_api_unknown_paths", "block", True), ("block_probes", "block", True),
        ("block_methods", "block", True), ("challenge_no_user_agent", "managed_challenge", True)]
    assert rules[0]["expression"] == (
        '(http.host eq "api.unamentis.net" and not ('
        '(http.request.uri.path eq "/api" or starts_with(http.request.uri.path, "/api/")) or '
        '(http.request.uri.path eq "/log" or starts_with(http.request.uri.path, "/log/")) or '
        '(http.request.uri.path eq "/ws" or starts_with(http.request.uri.path, "/ws/")) or '
        '(http.request.uri.path eq "/health" or starts_with(http.request.uri.path, "/health/"))))')
    assert rules[2]["expression"] == '(not http.request.method in {"GET" "HEAD" "POST" "PUT" "PATCH" "DELETE" "OPTIONS"})'
    assert rules[3]["expression"] == '(http.host eq "admin.unamentis.net" and http.user_agent eq "")'
    assert not any("matches" in r["expression"] for r in rules)  # regex is Business+


def test_beta_rate_limit_fits_free_plan(beta):
    rl = beta.named("unamentis-edge-rate-limit")
    assert (rl.get("kind"), rl.get("phase"), rl.get("zoneId")) == ("zone", "http_ratelimit", BETA_ZONE)
    assert rl.get("rules") == [{
        "ref": "api_per_ip", "action": "block", "enabled": True,
        "description": "API: 17 requests / 10 s per IP per data centre",
        "expression": '(starts_with(http.request.uri.path, "/api/"))',
        "ratelimit": {"characteristics": ["cf.colo.id", "ip.src"], "period": 10,
                      "requestsPerPeriod": 17, "mitigationTimeout": 10}}]


def test_beta_security_headers_and_origin_secret_transform(beta):
    hdr = beta.named("unamentis-edge-response-headers")
    assert hdr.get("phase") == "http_response_headers_transform"
    assert hdr.get("rules") == [{
        "ref": "security_headers", "action": "rewrite", "enabled": True,
        "description": "security headers on every response",
        "expression": 'http.host in {"api.unamentis.net" "admin.unamentis.net"}',
        "actionParameters": {"headers": {
            "X-Content-Type-Options": {"operation": "set", "value": "nosniff"},
            "X-Frame-Options": {"operation": "set", "value": "DENY"},
            "Strict-Transport-Security": {"operation": "set", "value": "max-age=31536000; includeSubDomains"},
            "Referrer-Policy": {"operation": "set", "value": "strict-origin-when-cross-origin"}}}}]
    late = beta.named("unamentis-edge-origin-secret-header")
    assert late.get("phase") == "http_request_late_transform"  # not http_request_transform (URL rewrite)
    secret = origin_secret(beta)
    assert len(secret) == 48
    (rule,) = late.get("rules")
    assert rule["expression"] == 'http.host in {"api.unamentis.net" "admin.unamentis.net"}'
    assert rule["actionParameters"] == {"headers": {"X-Origin-Secret": {"operation": "set", "value": secret}}}
    assert late.secret_inputs == ["rules"]  # the value never appears in plan output
    pw = beta.named("unamentis-edge-origin-secret")
    assert (pw.get("length"), pw.get("special")) == (48, False)
    for r in beta.of_type("cloudflare:index/ruleset:Ruleset"):
        assert r.get("kind") == "zone"


def test_beta_access_app_and_policy_require_mfa(beta):
    pol = beta.named("unamentis-edge-admin-policy")
    assert pol.plain == {
        "accountId": ACCOUNT, "name": "unamentis-beta admins", "decision": "allow",
        "includes": [{"emailDomain": {"domain": "unamentis.net"}}], "mfaConfig": MFA, "sessionDuration": "8h"}
    app = beta.named("unamentis-edge-admin-app")
    assert app.plain == {
        "accountId": ACCOUNT, "name": "unamentis-beta admin", "type": "self_hosted",
        "domain": "admin.unamentis.net",
        "destinations": [{"type": "public", "uri": "admin.unamentis.net"},
                         {"type": "public", "uri": "api.unamentis.net/api/admin"},
                         {"type": "public", "uri": "api.unamentis.net/api/import"}],
        "policies": [{"id": pol.id, "precedence": 1}], "sessionDuration": "8h", "mfaConfig": MFA,
        "appLauncherVisible": True, "autoRedirectToIdentity": False, "httpOnlyCookieAttribute": True,
        "sameSiteCookieAttribute": "lax", "enableBindingCookie": False}


def test_beta_tunnel_and_config_end_in_the_404_catch_all(beta):
    tunnel = beta.named("unamentis-edge-tunnel")
    assert tunnel.plain == {"accountId": ACCOUNT, "name": "unamentis-beta-core", "configSrc": "cloudflare"}
    cfg = beta.named("unamentis-edge-tunnel-config")
    aud = beta.named("unamentis-edge-admin-app").out("aud")
    assert (cfg.get("tunnelId"), cfg.get("accountId"), cfg.get("source")) == (tunnel.id, ACCOUNT, "cloudflare")
    assert cfg.get("config") == {"ingresses": [
        {"hostname": "core.unamentis.net", "service": "http://localhost:8080"},
        {"hostname": "admin.unamentis.net", "service": "http://localhost:8080",
         "originRequest": {"access": {"required": True, "teamName": "unamentis", "audTags": [aud]}}},
        {"service": "http_status:404"}]}


def _beta_r2_on(stack_run):
    return stack_run("beta", {f"{PROJECT}:cloudflare": {
        "account_id": ACCOUNT, "zone_id": BETA_ZONE,
        "access": {"team_domain": "unamentis.cloudflareaccess.com", "allowed_email_domains": ["unamentis.net"]},
        "r2": {"enabled": True}}})


def test_beta_r2_buckets_and_scoped_token(stack_run):
    beta = _beta_r2_on(stack_run).recording
    assert {r.get("name") for r in beta.of_type("cloudflare:index/r2Bucket:R2Bucket")} == {
        "beta-unamentis-assets", "beta-unamentis-tts"}
    life = beta.named("unamentis-edge-r2-tts-lifecycle")
    assert life.get("bucketName") == "beta-unamentis-tts"
    assert life.get("rules") == [{"id": "expire-tts-overflow", "enabled": True, "conditions": {"prefix": ""},
                                  "deleteObjectsTransition": {"condition": {"type": "Age", "maxAge": 30 * 86400}}}]
    tok = beta.named("unamentis-edge-r2-token")
    (policy,) = tok.get("policies")
    assert policy["effect"] == "allow"
    assert policy["permissionGroups"] == [{"id": "2efd5506f9c8494dacb1fa10a3e7d5b6"}]
    assert json.loads(policy["resources"]) == {
        f"com.cloudflare.edge.r2.bucket.{ACCOUNT}_default_beta-unamentis-assets": "*",
        f"com.cloudflare.edge.r2.bucket.{ACCOUNT}_default_beta-unamentis-tts": "*"}


def test_beta_router_worker_embeds_the_route_table_and_the_secret(beta):
    w = beta.named("unamentis-edge-routing-router")
    assert (w.get("accountId"), w.get("scriptName"), w.get("mainModule")) == (
        ACCOUNT, "unamentis-beta-edge-router", "router.js")
    assert "export default" in w.get("content") and "X-Origin-Secret" in w.get("content")
    bindings = {b["name"]: b for b in w.get("bindings")}
    assert json.loads(bindings["ROUTES"]["json"]) == as_json_rules()
    assert bindings["ROUTES"]["type"] == "json"
    assert bindings["LAMBDA_ORIGIN"] == {"name": "LAMBDA_ORIGIN", "type": "plain_text", "text": "https://fn.unamentis.net"}
    assert bindings["CORE_ORIGIN"] == {"name": "CORE_ORIGIN", "type": "plain_text", "text": "https://core.unamentis.net"}
    assert bindings["ORIGIN_SECRET"] == {"name": "ORIGIN_SECRET", "type": "secret_text", "text": origin_secret(beta)}
    idx = [b["name"] for b in w.get("bindings")].index("ORIGIN_SECRET")
    assert any(p.startswith(f"bindings[{idx}]") or p == "bindings" for p in w.secret_inputs)
    route = beta.named("unamentis-edge-routing-router-route")
    assert route.plain == {"zoneId": BETA_ZONE, "pattern": "api.unamentis.net/*", "script": "unamentis-beta-edge-router"}


def test_beta_compute_gets_the_edge_outputs(stack_run):
    run = stack_run("beta")
    rec = run.recording
    # the origin secret reaches the runtime only as a secret value
    found = []
    for r in rec.custom:
        if origin_secret(rec) in json.dumps(r.plain, default=str) and not r.type.startswith(("cloudflare:", "random:")):
            found.append((r.type, r.name, r.secret_inputs))
    assert found, "compute does not receive the origin secret"
    for typ, name, secrets in found:
        assert secrets, f"{name} ({typ}) holds the origin secret in a plain input"


# --------------------------------------------------------------------------- prod (ALB)


def test_prod_edge_points_at_the_alb_and_validates_its_certificate(prod):
    assert not [r for r in prod.custom if "Tunnel" in r.type or "workers" in r.type.lower()]
    alb = prod.named("unamentis-compute-lb-alb")
    cert = prod.named("unamentis-compute-lb-cert")
    opts = {o["domainName"]: o for o in cert.out("domainValidationOptions")}
    got = {r.get("name"): (r.get("type"), r.get("content"), r.get("proxied"), r.get("ttl"))
           for r in prod.of_type("cloudflare:index/dnsRecord:DnsRecord")}
    expected = {h: ("CNAME", alb.out("dnsName"), True, 1) for h in ("api.unamentis.com", "admin.unamentis.com")}
    for host in ("api.unamentis.com", "app.unamentis.com", "admin.unamentis.com"):
        o = opts[host]
        expected[o["resourceRecordName"].rstrip(".")] = ("CNAME", o["resourceRecordValue"].rstrip("."), False, 300)
    assert got == expected
    for r in prod.of_type("cloudflare:index/dnsRecord:DnsRecord"):
        assert r.get("zoneId") == PROD_ZONE


def test_prod_rate_limit_is_100_per_minute_on_the_api_host(prod):
    (rule,) = prod.named("unamentis-edge-rate-limit").get("rules")
    assert rule["expression"] == '(http.host eq "api.unamentis.com" and starts_with(http.request.uri.path, "/api/"))'
    assert rule["ratelimit"] == {"characteristics": ["cf.colo.id", "ip.src"], "period": 60,
                                 "requestsPerPeriod": 100, "mitigationTimeout": 60}
    assert rule["actionParameters"]["response"]["statusCode"] == 429


def test_prod_alb_admits_only_cloudflare_ranges_on_443(prod):
    sg_id = prod.named("unamentis-sg-alb").id
    ingress = [r for r in prod.of_type("aws:ec2/securityGroupRule:SecurityGroupRule")
               if r.get("securityGroupId") == sg_id and r.get("type") == "ingress"]
    ingress += [r for r in prod.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
                if r.get("securityGroupId") == sg_id]
    v4, v6 = set(), set()
    for r in ingress:
        assert (r.get("fromPort"), r.get("toPort")) == (443, 443), r.name
        v4 |= set(r.get("cidrBlocks") or []) | ({r.get("cidrIpv4")} - {None})
        v6 |= set(r.get("ipv6CidrBlocks") or []) | ({r.get("cidrIpv6")} - {None})
    assert v4 == set(CLOUDFLARE_IPV4) and v6 == set(CLOUDFLARE_IPV6)


# --------------------------------------------------------------------------- customer (edge: none)


def test_customer_without_cloudflare_has_no_cloudflare_resource_and_alb_open_on_443_only(stack_run):
    run = stack_run("customer")
    rec = run.recording
    assert run.config.edge == "none"
    assert [r.name for r in rec.resources if r.type.startswith(("cloudflare:", "unamentis:edge:"))] == []
    assert not any(name.startswith("unamentis-edge") for name in (r.name for r in rec.resources))
    sg_id = rec.named("unamentis-sg-alb").id
    rules = [r for r in rec.custom if r.type in ("aws:ec2/securityGroupRule:SecurityGroupRule",
                                                 "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
             and r.get("securityGroupId") == sg_id and r.get("type", "ingress") == "ingress"]
    assert rules
    for r in rules:
        assert (r.get("fromPort"), r.get("toPort")) == (443, 443)


def test_a_pro_zone_in_tunnel_mode_gets_the_pro_rate_limit(stack_run):
    rec = stack_run("beta", {f"{PROJECT}:cloudflare": {
        "account_id": ACCOUNT, "zone_id": BETA_ZONE, "plan": "pro",
        "access": {"team_domain": "unamentis.cloudflareaccess.com", "allowed_emails": ["ops@unamentis.net"]}}}).recording
    (rule,) = rec.named("unamentis-edge-rate-limit").get("rules")
    assert rule["ratelimit"]["period"] == 60 and rule["ratelimit"]["requestsPerPeriod"] == 100
    pol = rec.named("unamentis-edge-admin-policy")
    assert pol.get("includes") == [{"email": {"email": "ops@unamentis.net"}}]


def test_r2_is_off_by_default_no_bucket_or_token(stack_run):
    """Nothing in the runtime uses R2 yet: no buckets, and no read-write token lying unused."""
    rec = stack_run("beta").recording
    assert not [r for r in rec.custom if "r2" in r.type.lower() or "accountToken" in r.type]
    assert rec.of_type("cloudflare:index/zeroTrustTunnelCloudflared:ZeroTrustTunnelCloudflared")


def test_beta_with_web_apps_routes_app_and_admin_through_the_tunnel_to_their_services(stack_run):
    rec = stack_run("beta", {
        f"{PROJECT}:web_client": {"enabled": True, "image": "ghcr.io/unamentis/web-client:1.4.2"},
        f"{PROJECT}:ops_console": {"enabled": True, "image": "ghcr.io/unamentis/ops-console:1.4.2",
                                   "admin_email": "ops@unamentis.net"}}).recording
    ingresses = rec.named("unamentis-edge-tunnel-config").get("config")["ingresses"]
    assert [(i.get("hostname"), i["service"]) for i in ingresses] == [
        ("core.unamentis.net", "http://localhost:8080"),
        ("admin.unamentis.net", "http://ops-console.uma-beta.internal:3000"),  # the console's proxy routes
        ("admin.unamentis.net", "http://localhost:8080"),  # /ws and the other /api/ paths
        ("admin.unamentis.net", "http://ops-console.uma-beta.internal:3000"),  # its pages
        ("app.unamentis.net", "http://web-client.uma-beta.internal:3001"),
        (None, "http_status:404")]
    target = f"{rec.named('unamentis-edge-tunnel').id}.cfargotunnel.com"
    app = [r for r in rec.of_type("cloudflare:index/dnsRecord:DnsRecord") if r.get("name") == "app.unamentis.net"]
    assert [(r.get("type"), r.get("content"), r.get("proxied")) for r in app] == [("CNAME", target, True)]
    (late,) = rec.named("unamentis-edge-origin-secret-header").get("rules")
    assert late["expression"] == 'http.host in {"api.unamentis.net" "admin.unamentis.net" "app.unamentis.net"}'
    waf = rec.named("unamentis-edge-waf").get("rules")
    assert waf[3]["expression"] == '(http.host in {"admin.unamentis.net" "app.unamentis.net"} and http.user_agent eq "")'


def test_prod_edge_resources_are_exactly_these(prod):
    assert cf(prod) == {
        ("ZoneSetting", f"unamentis-edge-zone-{s}") for s in
        ("ssl", "min-tls-version", "tls-1-3", "always-use-https", "websockets")
    } | {
        ("Ruleset", "unamentis-edge-waf"), ("Ruleset", "unamentis-edge-rate-limit"),
        ("Ruleset", "unamentis-edge-response-headers"), ("Ruleset", "unamentis-edge-origin-secret-header"),
        ("ZeroTrustAccessPolicy", "unamentis-edge-admin-policy"),
        ("ZeroTrustAccessApplication", "unamentis-edge-admin-app"),
        ("DnsRecord", "unamentis-edge-routing-dns-api"), ("DnsRecord", "unamentis-edge-routing-dns-admin"),
        ("DnsRecord", "unamentis-edge-routing-acm-api"), ("DnsRecord", "unamentis-edge-routing-acm-app"),
        ("DnsRecord", "unamentis-edge-routing-acm-admin"),
    }
    (late,) = prod.named("unamentis-edge-origin-secret-header").get("rules")
    assert late["expression"] == 'http.host in {"api.unamentis.com" "admin.unamentis.com"}'
    assert late["actionParameters"]["headers"]["X-Origin-Secret"]["value"] == origin_secret(prod)


def test_plan_json_shows_the_edge_and_hides_the_secret(stack_run):
    from components import plan

    report = plan.build_report(stack_run("beta"))
    text = json.dumps(report, default=str)
    assert origin_secret(stack_run("beta").recording) not in text
    by_name = {r["name"]: r for r in report["resources"]}
    assert by_name["unamentis-edge-origin-secret-header"]["inputs"]["phase"] == "http_request_late_transform"
    assert by_name["unamentis-edge-tunnel-config"]["inputs"]["config"]["ingresses"][-1] == {"service": "http_status:404"}
    assert by_name["unamentis-edge-admin-policy"]["inputs"]["mfaConfig"]["mfaDisabled"] is False
    assert {"unamentis-edge-waf", "unamentis-edge-rate-limit", "unamentis-edge-response-headers",
            "unamentis-edge-routing-router"} <= set(by_name)
    assert not [f for f in report["findings"] if f["rule"].startswith("edge.")]


def test_stack_outputs_name_the_edge_and_keep_r2_credentials_secret(stack_run):
    from components import plan

    outputs = plan.build_report(_beta_r2_on(stack_run))["outputs"]
    rec = _beta_r2_on(stack_run).recording
    assert outputs["edge"] == {
        "access_aud": rec.named("unamentis-edge-admin-app").out("aud"),
        "access_team_domain": "unamentis.cloudflareaccess.com",
        "tunnel_id": rec.named("unamentis-edge-tunnel").id, "core_hostname": "core.unamentis.net",
        "r2_endpoint": f"https://{ACCOUNT}.r2.cloudflarestorage.com",
        "r2_buckets": {"assets": "beta-unamentis-assets", "tts": "beta-unamentis-tts"}}
    assert outputs["edge_r2_credentials"] == "[secret]"
    assert "edge" not in plan.build_report(stack_run("customer"))["outputs"]
