"""Cloudflare rule expressions checked by Cloudflare's own engine, plus the documented limits.

Every expression is parsed by wirefilter, the Rust engine Cloudflare's Rules language runs on
(PyPI `octorules-wirefilter`: its HTTP scheme knows every field's type and every function's
signature), so an unknown field, a wrong argument type or a syntax error fails here and not at
`pulumi up`. The engine build also registers functions Cloudflare does not offer in rules
(`contains(...)` parses, yet `contains` is an operator in the Rules language), so a function must
also be on Cloudflare's functions reference, and a few documented plan and phase limits are
checked on top:

- functions: https://developers.cloudflare.com/ruleset-engine/rules-language/functions/
  (read 2026-12); `wildcard` and `contains` are operators there, not functions;
- `matches` (regular expressions) needs Business or WAF Advanced:
  https://developers.cloudflare.com/ruleset-engine/rules-language/operators/#comparison-operators;
- an expression is at most 4,096 characters:
  https://developers.cloudflare.com/ruleset-engine/rules-language/expressions/ ;
- phases, their actions and how many rules each plan allows per phase:
  https://developers.cloudflare.com/ruleset-engine/reference/phases-list/ ,
  https://developers.cloudflare.com/waf/custom-rules/ (Free 5, Pro 20),
  https://developers.cloudflare.com/waf/rate-limiting-rules/ (Free 1, Pro 2),
  https://developers.cloudflare.com/rules/transform/ (Free 10 rules per transform phase).

`pulumi up` itself does not need the engine; `plan` does, and requirements.txt installs it.
Without it `problems` returns one "not checked" note instead of passing silently.
"""
from __future__ import annotations

from typing import Optional

try:  # optional: plan and the tests have it, a bare `pulumi up` environment may not
    import octorules_wirefilter as _wirefilter
except ImportError:  # pragma: no cover - exercised only where the package is missing
    _wirefilter = None

ENGINE_MISSING = ("not checked by Cloudflare's engine: install octorules-wirefilter "
                  "(pip install -r requirements.txt)")

# Functions on Cloudflare's functions reference page (read 2026-12).
DOCUMENTED_FUNCTIONS: frozenset[str] = frozenset({
    "any", "all", "bit_slice", "cidr", "cidr6", "concat", "decode_base64", "encode_base64",
    "ends_with", "has_key", "has_value", "is_timed_hmac_valid_v0", "join", "len",
    "lookup_json_integer", "lookup_json_string", "lower", "regex_replace", "remove_bytes",
    "remove_query_args", "sha256", "split", "starts_with", "substring", "to_string", "upper",
    "url_decode", "uuidv4", "wildcard_replace",
})
# Functions a phase allows only in rewrite values, never in a rule's filter expression.
REWRITE_ONLY_FUNCTIONS: frozenset[str] = frozenset({"regex_replace", "wildcard_replace", "uuidv4",
                                                    "encode_base64", "sha256"})

MAX_EXPRESSION_LENGTH = 4096

# Zone phases this program writes, the actions a rule may take there, rules per plan.
PHASES: dict[str, dict] = {
    "http_request_firewall_custom": {
        "actions": {"block", "challenge", "js_challenge", "managed_challenge", "log", "skip"},
        "max_rules": {"free": 5, "pro": 20}},
    "http_ratelimit": {
        "actions": {"block", "challenge", "js_challenge", "managed_challenge", "log"},
        "max_rules": {"free": 1, "pro": 2}},
    "http_request_late_transform": {"actions": {"rewrite"}, "max_rules": {"free": 10, "pro": 25}},
    "http_response_headers_transform": {"actions": {"rewrite"}, "max_rules": {"free": 10, "pro": 25}},
    "http_request_transform": {"actions": {"rewrite"}, "max_rules": {"free": 10, "pro": 25}},
}
REGEX_PLANS: frozenset[str] = frozenset()  # neither Free nor Pro may use `matches`


def engine_available() -> bool:
    return _wirefilter is not None


def parse(expression: str) -> dict:
    """The engine's view of `expression` (fields, functions, operators …, or `error`)."""
    if _wirefilter is None:
        raise RuntimeError(ENGINE_MISSING)
    return _wirefilter.parse_expression(expression)


def problems(expression: str, plan: str = "free") -> list[str]:
    """What is wrong with a rule's filter expression on `plan`; [] when Cloudflare would take it."""
    if not isinstance(expression, str):
        return []  # not known offline (an Output); checked where it is built
    out: list[str] = []
    if len(expression) > MAX_EXPRESSION_LENGTH:
        out.append(f"{len(expression)} characters; Cloudflare allows {MAX_EXPRESSION_LENGTH}")
    if _wirefilter is None:
        return out + [ENGINE_MISSING]
    parsed = _wirefilter.parse_expression(expression)
    if parsed.get("error"):
        return out + ["the Rules-language engine rejects it: " + " ".join(str(parsed["error"]).split())]
    for fn in sorted(set(parsed.get("functions") or [])):
        if fn not in DOCUMENTED_FUNCTIONS:
            hint = (f" (`{fn}` is an operator: write `<field> {fn} \"value\"`)"
                    if fn in ("contains", "wildcard") else "")
            out.append(f"function {fn}() is not in Cloudflare's Rules language{hint}")
        elif fn in REWRITE_ONLY_FUNCTIONS:
            out.append(f"function {fn}() is allowed only in rewrite values, not in a filter expression")
    if "matches" in (parsed.get("operators") or []) and plan not in REGEX_PLANS:
        out.append(f"`matches` (regular expressions) needs a Business plan; this zone is on {plan}")
    return out


def ruleset_problems(phase: Optional[str], rules: list, plan: str = "free") -> list[str]:
    """Problems of one zone ruleset: its phase, each rule's action and expression, the rule count."""
    spec = PHASES.get(phase or "")
    if spec is None:
        return [f"phase {phase!r} is not one this program may write ({', '.join(sorted(PHASES))})"]
    out: list[str] = []
    limit = spec["max_rules"].get(plan)
    if limit is not None and len(rules) > limit:
        out.append(f"{len(rules)} rules in {phase}; the {plan} plan allows {limit}")
    for i, rule in enumerate(rules):
        rule = rule or {}
        label = f"rule {rule.get('ref') or i}"
        action = rule.get("action")
        if action not in spec["actions"]:
            out.append(f"{label}: action {action!r} is not allowed in {phase} "
                       f"(allowed: {', '.join(sorted(spec['actions']))})")
        out += [f"{label}: {p}" for p in problems(rule.get("expression"), plan)]
    return out
