"""Edge rules: Access with MFA on every admin hostname, WAF before any proxied record, the
tunnel's 404 catch-all, the origin secret kept secret, and rate limits that fit the plan.
`components.policy` composes them with the others.

Each rule reads the recorded inputs (camelCase wire names) and has a `bad()` example that must
make it fire (the policy tests run every rule's example and every stack file).
"""
from __future__ import annotations

from typing import Iterable, Optional

from components.edge import expressions
from components.edge.rules import ORIGIN_SECRET_HEADER, RATE_LIMITS
from components.policy_core import Rule, example, example_config, fake, rule_finder

T_DNS = "cloudflare:index/dnsRecord:DnsRecord"
T_RULESET = "cloudflare:index/ruleset:Ruleset"
T_APP = "cloudflare:index/zeroTrustAccessApplication:ZeroTrustAccessApplication"
T_POLICY = "cloudflare:index/zeroTrustAccessPolicy:ZeroTrustAccessPolicy"
T_TUNNEL_CONFIG = "cloudflare:index/zeroTrustTunnelCloudflaredConfig:ZeroTrustTunnelCloudflaredConfig"
T_WORKER = "cloudflare:index/workersScript:WorkersScript"
CATCH_ALL = "http_status:404"


def _mfa_on(cfg: Optional[dict]) -> bool:
    return bool(cfg) and not cfg.get("mfaDisabled") and bool(cfg.get("allowedAuthenticators"))


def _app_hosts(app) -> set[str]:
    hosts = {app.get("domain")} if app.get("domain") else set()
    for d in app.get("destinations") or []:
        uri = (d or {}).get("uri") or ""
        if "/" not in uri:
            hosts.add(uri)
    return hosts


def _admin_access(ctx) -> Iterable:
    """Every admin.* hostname is covered by a self-hosted Access app whose policies require MFA
    and admit named people, never everyone."""
    rule = _rule("edge.admin-access-mfa")
    apps = ctx.of(T_APP)
    for rec in ctx.of(T_DNS):
        host = rec.get("name") or ""
        if not isinstance(host, str) or not host.startswith("admin."):
            continue
        covering = [a for a in apps if host in _app_hosts(a)]
        if not covering:
            yield rule.finding(rec, f"{host} has no Access application")
            continue
        for app in covering:
            policies = [ctx.rec.find_by_output("id", (p or {}).get("id")) for p in app.get("policies") or []]
            policies = [p for p in policies if p is not None]
            if not policies:
                yield rule.finding(app, f"Access app for {host} has no policy")
                continue
            for pol in policies:
                if not (_mfa_on(pol.get("mfaConfig")) or _mfa_on(app.get("mfaConfig"))):
                    yield rule.finding(pol, f"Access policy for {host} does not require MFA")
                if any("everyone" in (i or {}) for i in pol.get("includes") or []):
                    yield rule.finding(pol, f"Access policy for {host} admits everyone")


def _proxied_needs_waf(ctx) -> Iterable:
    """No proxied record in a zone without WAF custom rules (the zone's custom-rules entry point)."""
    rule = _rule("edge.proxied-needs-waf")
    guarded = {r.get("zoneId") for r in ctx.of(T_RULESET)
               if r.get("phase") == "http_request_firewall_custom"
               and any((x or {}).get("enabled", True) for x in r.get("rules") or [])}
    for rec in ctx.of(T_DNS):
        if rec.get("proxied") and rec.get("zoneId") not in guarded:
            yield rule.finding(rec, f"{rec.get('name')} is proxied but its zone has no WAF custom rules")


def _tunnel_catch_all(ctx) -> Iterable:
    rule = _rule("edge.tunnel-catch-all")
    for rec in ctx.of(T_TUNNEL_CONFIG):
        ingresses = ((rec.get("config") or {}).get("ingresses")) or []
        if not ingresses:
            yield rule.finding(rec, "tunnel config has no ingress rules")
            continue
        last = ingresses[-1] or {}
        if last.get("hostname") or last.get("path") or last.get("service") != CATCH_ALL:
            yield rule.finding(rec, f"the last ingress rule must be the catch-all {{service: {CATCH_ALL}}}")
        for i, ing in enumerate(ingresses[:-1]):
            if not (ing or {}).get("hostname"):
                yield rule.finding(rec, f"ingress rule {i} has no hostname: it shadows every rule after it")


def _origin_secret_hidden(ctx) -> Iterable:
    """The origin secret is a secret everywhere it is written: the late transform and the router."""
    rule = _rule("edge.origin-secret-secret")
    for rec in ctx.of(T_RULESET):
        if rec.get("phase") != "http_request_late_transform":
            continue
        sets_secret = any(ORIGIN_SECRET_HEADER in (((x or {}).get("actionParameters") or {}).get("headers") or {})
                          for x in rec.get("rules") or [])
        if sets_secret and not any(p.startswith("rules") for p in rec.secret_inputs):
            yield rule.finding(rec, f"{ORIGIN_SECRET_HEADER} is set from a plain (non-secret) value")
    for rec in ctx.of(T_WORKER):
        for b in rec.get("bindings") or []:
            if b.get("name") == "ORIGIN_SECRET" and b.get("type") != "secret_text":
                yield rule.finding(rec, "the router's ORIGIN_SECRET binding must be secret_text")
        plain = [b for i, b in enumerate(rec.inputs.get("bindings") or [])
                 if isinstance(b, dict) and b.get("name") == "ORIGIN_SECRET"
                 and not any(p.startswith(f"bindings[{i}]") or p == "bindings" for p in rec.secret_inputs)]
        if plain:
            yield rule.finding(rec, "the router's ORIGIN_SECRET value is not a secret")


def _rate_limit_fits_plan(ctx) -> Iterable:
    """The rate-limiting ruleset fits the zone's plan (else `pulumi up` fails at the API)."""
    rule = _rule("edge.rate-limit-plan")
    if ctx.config.edge != "cloudflare":
        return
    plan = ctx.config.cloudflare.plan
    lim = RATE_LIMITS[plan]
    max_rules = {"free": 1, "pro": 2}[plan]
    for rec in ctx.of(T_RULESET):
        if rec.get("phase") != "http_ratelimit":
            continue
        rules = rec.get("rules") or []
        if len(rules) > max_rules:
            yield rule.finding(rec, f"{len(rules)} rate-limiting rules; the {plan} plan allows {max_rules}")
        for x in rules:
            rl = (x or {}).get("ratelimit") or {}
            if "cf.colo.id" not in (rl.get("characteristics") or []):
                yield rule.finding(rec, "rate-limit characteristics must include cf.colo.id")
            if rl.get("period", 0) > lim.period or (plan == "free" and rl.get("period") != 10):
                yield rule.finding(rec, f"period {rl.get('period')} s does not fit the {plan} plan")
            if plan == "free" and ("http.host" in (x.get("expression") or "") or x.get("actionParameters")):
                yield rule.finding(rec, "the free plan allows only path fields and no custom response")


def _rules_language(ctx) -> Iterable:
    """Every ruleset's phase, actions, rule count and expressions, as Cloudflare would judge them
    (the expressions parsed by wirefilter, Cloudflare's engine; `edge.expressions`)."""
    rule = _rule("edge.rules-language")
    plan = ctx.config.cloudflare.plan if ctx.config.edge == "cloudflare" else "free"
    for rec in ctx.of(T_RULESET):
        for problem in expressions.ruleset_problems(rec.get("phase"), list(rec.get("rules") or []), plan):
            severity = "warning" if problem.endswith(expressions.ENGINE_MISSING) else None
            yield rule.finding(rec, problem, severity)


# --------------------------------------------------------------------------- bad examples


def _ex(*resources, **config):
    return example(*resources, config=example_config(**config) if config else None)


def _waf(zone="z"):
    return fake(T_RULESET, "waf", {"zoneId": zone, "phase": "http_request_firewall_custom",
                                    "rules": [{"ref": "r", "action": "block", "expression": "true", "enabled": True}]})


def _bad_admin():
    pol = fake(T_POLICY, "pol", {"decision": "allow", "includes": [{"email": {"email": "a@b.org"}}]},
                id="pol-1")
    app = fake(T_APP, "app", {"domain": "admin.example.org", "policies": [{"id": "pol-1", "precedence": 1}]})
    dns = fake(T_DNS, "admin", {"zoneId": "z", "name": "admin.example.org", "proxied": True})
    return _ex(pol, app, dns, _waf())


def _bad_proxied():
    return _ex(fake(T_DNS, "api", {"zoneId": "z", "name": "api.example.org", "proxied": True}))


def _bad_tunnel():
    return _ex(fake(T_TUNNEL_CONFIG, "cfg", {"config": {"ingresses": [
        {"service": "http://localhost:8080"}, {"hostname": "admin.example.org", "service": "http://x"}]}}))


def _bad_secret():
    return _ex(fake(T_RULESET, "late", {"zoneId": "z", "phase": "http_request_late_transform", "rules": [
        {"ref": "o", "action": "rewrite", "expression": "true", "actionParameters": {"headers": {
            ORIGIN_SECRET_HEADER: {"operation": "set", "value": "plain-text-secret"}}}}]}))


def _bad_rate_limit():
    return _ex(fake(T_RULESET, "rl", {"zoneId": "z", "phase": "http_ratelimit", "rules": [
        {"ref": "a", "action": "block", "expression": '(http.host eq "api.example.org")',
         "ratelimit": {"characteristics": ["ip.src"], "period": 60, "requestsPerPeriod": 100}}]}))


def _bad_expression():
    return _ex(fake(T_RULESET, "waf", {"zoneId": "z", "phase": "http_request_firewall_custom", "rules": [
        {"ref": "probe", "action": "block", "enabled": True,
         "expression": 'contains(lower(http.request.uri.path), "/wp-admin")'},
        {"ref": "typo", "action": "deny", "enabled": True, "expression": 'http.request.uri.pth eq "/"'},
        {"ref": "regex", "action": "block", "enabled": True, "expression": 'http.request.uri.path matches "^/x"'}]}))


RULES: list[Rule] = [
    Rule("edge.admin-access-mfa", "error",
         "every admin hostname has an Access application whose policy requires MFA and names who may enter",
         (), _admin_access, _bad_admin),
    Rule("edge.proxied-needs-waf", "error", "no proxied record in a zone without WAF custom rules",
         (), _proxied_needs_waf, _bad_proxied),
    Rule("edge.tunnel-catch-all", "error",
         "tunnel ingress: every rule but the last names a hostname; the last is http_status:404",
         (), _tunnel_catch_all, _bad_tunnel),
    Rule("edge.origin-secret-secret", "error",
         "the origin secret is a Pulumi secret in the late transform and the router's binding",
         (), _origin_secret_hidden, _bad_secret),
    Rule("edge.rate-limit-plan", "error",
         "the rate-limiting rules fit the Cloudflare plan (count, period, fields, cf.colo.id)",
         (), _rate_limit_fits_plan, _bad_rate_limit),
    Rule("edge.rules-language", "error",
         "every ruleset's expressions parse in Cloudflare's engine with documented functions only; "
         "its phase, actions and rule count fit the plan",
         (), _rules_language, _bad_expression),
]

_rule = rule_finder(lambda: RULES)
