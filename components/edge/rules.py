"""Cloudflare rule expressions and rule lists of the edge, as pure functions.

Everything here is plain data built from the stack's hostnames and the one route table
(`runtime.route_table`), so the tests can assert it exactly and `Edge` only wires it.
Expressions use Cloudflare's Rules language with what every plan has: the functions
`starts_with`, `ends_with`, `lower` and the operators `contains`, `in {...}`; no `matches`
(regex is Business+). `components.edge.expressions` parses each one with Cloudflare's engine.

Plan limits that shape these rules (https://developers.cloudflare.com/waf/custom-rules/ and
https://developers.cloudflare.com/waf/rate-limiting-rules/, read 2026-10):
- WAF custom rules: Free 5, Pro 20 (we use 4).
- Rate limiting: Free 1 rule, period 10 s, mitigation 10 s, path-only expressions, counting by
  `cf.colo.id` + `ip.src`, no custom response; Pro 2 rules, period up to 60 s, host allowed.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal, Sequence

from runtime.route_table import ROUTES, RouteRule

Plan = Literal["free", "pro"]
ORIGIN_SECRET_HEADER = "X-Origin-Secret"

# Response headers set on every response of the stack's hostnames.
SECURITY_HEADERS: dict[str, str] = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
    "Referrer-Policy": "strict-origin-when-cross-origin",
}

# Methods the API and the web apps use; anything else (TRACE, CONNECT, WebDAV …) is blocked.
ALLOWED_METHODS: tuple[str, ...] = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")

# Paths scanners probe and the app never serves (lower-cased comparison).
PROBE_SUBSTRINGS: tuple[str, ...] = ("/wp-admin", "/wp-login", "/xmlrpc", "/.env", "/.git",
                                     "/phpmyadmin", "/cgi-bin", "/vendor/phpunit", "/.aws")
PROBE_SUFFIXES: tuple[str, ...] = (".php", ".asp", ".aspx", ".jsp")


@dataclass(frozen=True)
class RateLimit:
    """One rate-limiting rule's numbers for a plan (the target: 100 requests/minute per IP)."""
    period: int  # seconds
    requests_per_period: int
    mitigation_timeout: int  # seconds


RATE_LIMITS: dict[str, RateLimit] = {
    # Free allows only a 10 s period and a 10 s timeout: 17 / 10 s ≈ 102 / min, stricter on bursts.
    "free": RateLimit(period=10, requests_per_period=17, mitigation_timeout=10),
    "pro": RateLimit(period=60, requests_per_period=100, mitigation_timeout=60),
}


def quote(value: str) -> str:
    """A Rules-language string literal (JSON string escaping is the same: \\ and \")."""
    return json.dumps(value)


def host_in(hosts: Sequence[str]) -> str:
    if len(hosts) == 1:
        return f"http.host eq {quote(hosts[0])}"
    return "http.host in {" + " ".join(quote(h) for h in hosts) + "}"


def served_prefixes(routes: Sequence[RouteRule] = ROUTES) -> tuple[str, ...]:
    """First path segments the API serves (`/api`, `/ws`, `/health`), from the route table."""
    seen: list[str] = []
    for r in routes:
        first = r.pattern.strip("/").split("/")[0]
        if first not in seen and first != "*":
            seen.append(first)
    return tuple(seen)


def path_under(prefix: str) -> str:
    """The path is `/prefix` or below it (the route table's matching rule)."""
    p = quote(f"/{prefix}")
    return f'(http.request.uri.path eq {p} or starts_with(http.request.uri.path, {quote(f"/{prefix}/")}))'


def api_unknown_path_expression(api_host: str, routes: Sequence[RouteRule] = ROUTES) -> str:
    served = " or ".join(path_under(p) for p in served_prefixes(routes))
    return f"({host_in([api_host])} and not ({served}))"


def probe_expression() -> str:
    path = "lower(http.request.uri.path)"
    parts = [f"{path} contains {quote(s)}" for s in PROBE_SUBSTRINGS]
    parts += [f"ends_with({path}, {quote(s)})" for s in PROBE_SUFFIXES]
    return "(" + " or ".join(parts) + ")"


def method_expression() -> str:
    return "(not http.request.method in {" + " ".join(quote(m) for m in ALLOWED_METHODS) + "})"


def custom_rules(api_host: str, browser_hosts: Sequence[str]) -> list[dict]:
    """WAF custom rules (phase `http_request_firewall_custom`), at most 5 on Free.

    Every rule has a stable `ref` (edits keep rule ids) and `enabled` set explicitly
    (an omitted field the API normalises shows as drift on every `pulumi up`).
    """
    rules = [
        {"ref": "block_api_unknown_paths", "action": "block", "enabled": True,
         "description": "api host serves only the route table's paths (/api, /ws, /health)",
         "expression": api_unknown_path_expression(api_host)},
        {"ref": "block_probes", "action": "block", "enabled": True,
         "description": "scanner probes for software the app does not run",
         "expression": probe_expression()},
        {"ref": "block_methods", "action": "block", "enabled": True,
         "description": "methods the app never uses",
         "expression": method_expression()},
    ]
    if browser_hosts:
        rules.append({
            "ref": "challenge_no_user_agent", "action": "managed_challenge", "enabled": True,
            "description": "browser hostnames: requests without a User-Agent are scripts",
            "expression": f'({host_in(list(browser_hosts))} and http.user_agent eq "")'})
    return rules


def rate_limit_rule(plan: Plan, api_host: str) -> dict:
    """The one rate-limiting rule (phase `http_ratelimit`) the plan allows for the API.

    Free: path-only expression (host fields are rejected), default 429 block page.
    Pro: scoped to the API host, 100 requests / 60 s per IP, JSON 429 body.
    `requests_to_origin` stays unset (false, i.e. cached assets count too): with it true,
    Cloudflare counts the edge router's same-zone subrequests (to fn./core.) a second time.
    """
    lim = RATE_LIMITS[plan]
    api_paths = 'starts_with(http.request.uri.path, "/api/")'
    rule: dict = {
        "ref": "api_per_ip", "action": "block", "enabled": True,
        "description": f"API: {lim.requests_per_period} requests / {lim.period} s per IP per data centre",
        "expression": f"({api_paths})" if plan == "free" else f"({host_in([api_host])} and {api_paths})",
        "ratelimit": {"characteristics": ["cf.colo.id", "ip.src"], "period": lim.period,
                      "requests_per_period": lim.requests_per_period,
                      "mitigation_timeout": lim.mitigation_timeout},
    }
    if plan != "free":
        rule["action_parameters"] = {"response": {
            "status_code": 429, "content_type": "application/json",
            "content": json.dumps({"error": "rate_limited",
                                   "message": "too many requests from this address; retry shortly"})}}
    return rule


def response_header_rule(hosts: Sequence[str]) -> dict:
    return {"ref": "security_headers", "action": "rewrite", "enabled": True,
            "description": "security headers on every response",
            "expression": host_in(list(hosts)),
            "action_parameters": {"headers": {
                name: {"operation": "set", "value": value} for name, value in SECURITY_HEADERS.items()}}}


def origin_secret_rule(hosts: Sequence[str], secret) -> dict:
    """Request late transform: set the origin secret on requests to the public hostnames.

    `set` replaces any client-sent copy. Internal origin hostnames (the core's tunnel host,
    the Lambda API's custom domain) are left out on purpose: only the edge router, which adds
    the secret itself, should reach them; a client calling them directly arrives without it
    and the runtime answers 403.
    """
    return {"ref": "origin_secret", "action": "rewrite", "enabled": True,
            "description": "origin secret the runtime requires (defence in depth; rotate by replacing the RandomPassword)",
            "expression": host_in(list(hosts)),
            "action_parameters": {"headers": {ORIGIN_SECRET_HEADER: {"operation": "set", "value": secret}}}}


def team_name(team_domain: str) -> str:
    """`myteam.cloudflareaccess.com` -> `myteam` (cloudflared's `access.team_name`)."""
    return team_domain.split(".", 1)[0]


def access_includes(email_domains: Sequence[str], emails: Sequence[str]) -> list[dict]:
    """Access policy `includes` (OR): one selector per domain and per address."""
    return ([{"email_domain": {"domain": d.lstrip("@")}} for d in email_domains]
            + [{"email": {"email": e}} for e in emails])
