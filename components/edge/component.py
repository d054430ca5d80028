"""The Cloudflare edge of a stack: `Edge` (before compute) and `EdgeRouting` (after compute).

`Edge` holds everything that does not depend on the AWS origins, so compute can use its
outputs (origin secret, tunnel token, Access AUD, R2 credentials):

* zone settings: SSL full (strict), minimum TLS 1.2, TLS 1.3, Always Use HTTPS, WebSockets;
* the origin secret (`random.RandomPassword`, only in Pulumi state, never in a file);
* rulesets, one per zone phase (`delete_before_replace`, stable names and rule `ref`s):
  WAF custom rules, the plan's rate-limiting rule, security response headers, and the request
  late transform that sets `X-Origin-Secret` on the public hostnames;
* Zero Trust Access: a reusable allow policy (the args' e-mail domains and e-mails) with
  **independent MFA** (`mfa_config`: Access itself asks for TOTP / biometrics / a security key)
  and a self-hosted application for `admin.<domain>`, `api.<domain>/api/admin` and `/api/import`;
  IdP caveat: IdP-based MFA (`auth_method: mfa`) only works with Okta, Entra ID and generic
  OIDC/SAML, not with one-time PIN, GitHub or Google, which is why independent MFA is used; it
  must be switched on once per account (Zero Trust → Settings → Authentication);
* tunnel mode: a remotely managed tunnel (`config_src="cloudflare"`), its ingress config
  (core host → the core, admin host → ops console — split by path: the API's paths to the core —
  or the core's admin API, with cloudflared checking the Access JWT, `http_status:404` last), proxied CNAMEs to `<id>.cfargotunnel.com`,
  the `api.<domain>` Worker-only record (`AAAA 100::`), and the tunnel token (secret output);
* R2 buckets (curriculum assets, TTS overflow with an age lifecycle) and an account API token
  scoped to those buckets, turned into S3 credentials (secret outputs).

`EdgeRouting` holds what points at AWS origins created by compute: proxied CNAMEs to the ALB
(alb mode) or to the Lambda API's custom domain (tunnel mode), the unproxied ACM validation
records, and the edge router Worker (tunnel mode) with its route `api.<domain>/*`.

Cost: Free plan $0 (Pro $20–25/zone-month); Tunnel and Access (≤ 50 seats) $0; Workers free
tier 100,000 requests/day (beyond: Workers Paid $5/month); R2 free tier 10 GB-month, 1M class A,
10M class B operations, no egress fees. `python -m components.plan <stack>` prices it.
"""
from __future__ import annotations

import hashlib
import json
import re
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Literal, Mapping, Optional, Sequence

import pulumi
import pulumi_cloudflare as cloudflare
import pulumi_random as random

from components.base import ArgsError, Component, Transforms
from components.edge import rules as R
from components.facts import R2_BUCKET_RE
from components.ops_console import API_PATH_REGEX, proxy_route_regex
from components.edge import worker as W
from components.edge.sdk import checked

Ingress = Literal["tunnel", "alb"]
R2_PERMISSION_GROUP = "Workers R2 Storage Bucket Item Write"
MFA_AUTHENTICATORS = ("totp", "biometrics", "security_key")
WORKER_ONLY_ADDRESS = "100::"  # discard prefix: a proxied record for a hostname only a Worker serves
ZONE_SETTINGS: tuple[tuple[str, Any], ...] = (
    ("ssl", "strict"),
    ("min_tls_version", "1.2"),
    ("tls_1_3", "on"),
    ("always_use_https", "on"),
    ("websockets", "on"),
)


@dataclass(frozen=True)
class EdgeArgs:
    """Arguments of `Edge` (and the hostnames `EdgeRouting` derives from them)."""

    name_prefix: str
    """Cloudflare-side names, e.g. `unamentis-beta`. Required."""
    account_id: str
    """The Cloudflare account (32 hex digits). Required."""
    zone_id: str
    """The zone of `domain` (32 hex digits). Required."""
    domain: str
    """The zone's name; hostnames are `api.`, `admin.`, `app.` and `core.<domain>`. Required."""
    plan: R.Plan
    """The zone's plan: `free` or `pro` (decides the rate-limit rule). Required."""
    ingress: Ingress
    """`tunnel`: a tunnel to the core and the edge router; `alb`: records to the ALB. Required."""
    team_domain: str
    """The Zero Trust team domain, `<team>.cloudflareaccess.com`. Required."""
    allowed_email_domains: tuple[str, ...] = ()
    """E-mail domains the Access policy admits (with `allowed_emails`, at least one entry). Default:
    none."""
    allowed_emails: tuple[str, ...] = ()
    """E-mail addresses the Access policy admits. Default: none."""
    session_duration: str = "8h"
    """Access session length, e.g. `8h`. Default: `"8h"`."""
    core_port: int = 8080
    """The core's port (the tunnel's origin is `localhost:<core_port>`). Default: `8080`."""
    core_service: Optional[str] = None
    """Tunnel mode: the URL cloudflared reaches the core at; without it the sidecar's
    `http://localhost:<core_port>` (ECS). On EKS the core's Service in the cluster. Default: none."""
    web_client: bool = False
    """`app.<domain>` exists. Default: `False`."""
    ops_console_service: Optional[str] = None
    """Tunnel mode: the URL cloudflared reaches the ops console at; without it `admin.` goes to the
    core's admin API. Default: none."""
    web_client_service: Optional[str] = None
    """Tunnel mode: the URL cloudflared reaches the web client at; required when `web_client` is on.
    Default: none."""
    r2_enabled: bool = True
    """Create the R2 buckets and their scoped token. Default: `True`."""
    r2_assets_bucket: str = ""
    """The curriculum-assets bucket (3–63 lower-case letters, digits, hyphens); required when
    `r2_enabled`. Default: none."""
    r2_tts_bucket: str = ""
    """The TTS-overflow bucket (differs from `r2_assets_bucket`); required when `r2_enabled`.
    Default: none."""
    r2_tts_days: int = 30
    """TTS overflow objects expire after this many days (0 = keep). Default: `30`."""

    transform: Transforms = field(default_factory=dict)
    """Per child kind (`Edge.CHILDREN`), a change to its arguments (`components.base`). Default: none."""

    # ---- hostnames (full names: the API returns FQDNs; short names drift)
    def host(self, label: str) -> str:
        return f"{label}.{self.domain}"

    @property
    def api_host(self) -> str:
        return self.host("api")

    @property
    def admin_host(self) -> str:
        return self.host("admin")

    @property
    def app_host(self) -> str:
        return self.host("app")

    @property
    def core_host(self) -> str:
        """The core's tunnel hostname: the edge router's core origin (tunnel mode)."""
        return self.host("core")

    @property
    def public_hosts(self) -> list[str]:
        """Hostnames clients use (late transform, response headers)."""
        return [self.api_host, self.admin_host] + ([self.app_host] if self.web_client else [])

    @property
    def browser_hosts(self) -> list[str]:
        return [self.admin_host] + ([self.app_host] if self.web_client else [])

    @property
    def team_name(self) -> str:
        return R.team_name(self.team_domain)

    @property
    def r2_endpoint(self) -> str:
        return f"https://{self.account_id}.r2.cloudflarestorage.com"

    def validate(self) -> None:
        if self.plan not in R.RATE_LIMITS:
            raise ArgsError("EdgeArgs", "plan", f"{self.plan!r}", f"use one of {', '.join(sorted(R.RATE_LIMITS))}")
        if self.ingress not in ("tunnel", "alb"):
            raise ArgsError("EdgeArgs", "ingress", f"{self.ingress!r}", "use tunnel or alb")
        if not (self.allowed_email_domains or self.allowed_emails):
            raise ArgsError("EdgeArgs", "allowed_emails", "the Access policy would admit nobody",
                            "list allowed_emails or allowed_email_domains")
        if self.ingress == "tunnel" and self.web_client and not self.web_client_service:
            raise ArgsError("EdgeArgs", "web_client_service", "web_client is on in tunnel mode without a "
                            "service URL for app.<domain>", "pass the URL cloudflared reaches the web client at")
        if self.r2_enabled:
            for key, bucket in (("assets_bucket", self.r2_assets_bucket), ("tts_bucket", self.r2_tts_bucket)):
                if not R2_BUCKET_RE.match(bucket):
                    raise ArgsError("EdgeArgs", f"r2_{key}", f"{bucket!r} is not an R2 bucket name",
                                    "use 3-63 lower-case letters, digits and hyphens")
            if self.r2_assets_bucket == self.r2_tts_bucket:
                raise ArgsError("EdgeArgs", "r2_tts_bucket", "the same as r2_assets_bucket", "use two buckets")


def _proxied_record(owner: Component, name: str, zone_id: str, host: str, type_: str, content: pulumi.Input[str],
                    comment: str, opts: pulumi.ResourceOptions) -> cloudflare.DnsRecord:
    # Proxied records must use ttl 1 (automatic). delete_before_replace: a type change on the same
    # name fails with create-before-delete ("expected DNS record to not already be present").
    return owner.child(
        "dnsRecord", cloudflare.DnsRecord, name, zone_id=zone_id, name=host, type=type_, content=content, proxied=True, ttl=1,
        comment=comment, opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(delete_before_replace=True)))


def _zone_ruleset(owner: Component, name: str, zone_id: str, ruleset_name: str, phase: str, description: str,
                  rule_list: list[dict], opts: pulumi.ResourceOptions) -> cloudflare.Ruleset:
    # One entry-point ruleset per zone and phase: `name`/`phase` force replacement, and the
    # default create-before-delete would collide with the existing entry point.
    return owner.child(
        "ruleset", cloudflare.Ruleset, name, zone_id=zone_id, kind="zone", phase=phase, name=ruleset_name, description=description,
        rules=checked(cloudflare.RulesetRuleArgs, rule_list),
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(delete_before_replace=True)))


def _field(obj: Any, key: str) -> Any:
    """A field of an SDK output object, or of the same value as a plain dict (snake or camelCase)."""
    if isinstance(obj, dict):
        camel = re.sub(r"_([a-z])", lambda m: m.group(1).upper(), key)
        return obj.get(key, obj.get(camel))
    return getattr(obj, key)


def _first_permission_group_id(results: Optional[Sequence[Any]]) -> str:
    """The id of the R2 read-write permission group; never another group in its place (the token
    would silently get the wrong rights)."""
    for g in results or []:
        if _field(g, "name") == R2_PERMISSION_GROUP:
            return _field(g, "id")
    names = sorted(str(_field(g, "name")) for g in results or [] if "R2" in str(_field(g, "name")))
    raise ArgsError("EdgeArgs", "r2_enabled",
                    f"Cloudflare lists no permission group {R2_PERMISSION_GROUP!r} for this account"
                    + (f" (R2 groups it has: {', '.join(names)})" if names else " (no R2 group at all)"),
                    "activate R2 on the account (Dashboard → R2, needs a payment method) and give the "
                    "deploy token 'Account API Tokens Edit', or turn R2 off")


class Edge(Component):
    """Zone security, Access, Tunnel, R2 and the origin secret (see the module docstring)."""
    CHILDREN = (
        "randomPassword", "zoneSetting", "zeroTrustAccessPolicy", "zeroTrustAccessApplication",
        "zeroTrustTunnelCloudflared", "zeroTrustTunnelCloudflaredConfig", "r2Bucket",
        "r2BucketLifecycle", "accountToken", "ruleset", "dnsRecord",
    )

    def __init__(self, name: str, args: EdgeArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(name, args.transform, opts)
        args.validate()
        self.args = args
        child = pulumi.ResourceOptions(parent=self)
        zone, account = args.zone_id, args.account_id

        # --- origin secret: generated here, kept only in (encrypted) Pulumi state
        self.origin_secret_password = self.child("randomPassword", random.RandomPassword,
            f"{name}-origin-secret", length=48, special=False, opts=child)
        self.origin_secret: pulumi.Output[str] = pulumi.Output.secret(self.origin_secret_password.result)

        # --- zone settings (deleting a ZoneSetting does not revert it: it is a no-op upstream)
        self.zone_settings = {
            setting: self.child("zoneSetting", cloudflare.ZoneSetting, f"{name}-zone-{setting.replace('_', '-')}", zone_id=zone,
                                            setting_id=setting, value=value, opts=child)
            for setting, value in ZONE_SETTINGS}

        # --- rulesets, one per phase
        p = args.name_prefix
        self.waf = _zone_ruleset(
            self, f"{name}-waf", zone, f"{p} custom rules", "http_request_firewall_custom",
            "UnaMentis WAF custom rules", R.custom_rules(args.api_host, args.browser_hosts), child)
        self.rate_limit = _zone_ruleset(
            self, f"{name}-rate-limit", zone, f"{p} rate limits", "http_ratelimit",
            f"UnaMentis API rate limit ({args.plan} plan)", [R.rate_limit_rule(args.plan, args.api_host)], child)
        self.response_headers = _zone_ruleset(
            self, f"{name}-response-headers", zone, f"{p} security headers", "http_response_headers_transform",
            "UnaMentis security response headers", [R.response_header_rule(args.public_hosts)], child)
        self.origin_secret_transform = _zone_ruleset(
            self, f"{name}-origin-secret-header", zone, f"{p} origin secret", "http_request_late_transform",
            "UnaMentis origin secret request header",
            [R.origin_secret_rule(args.public_hosts, self.origin_secret)], child)

        # --- Zero Trust Access: reusable policy with independent MFA + the admin application
        mfa = {"allowed_authenticators": list(MFA_AUTHENTICATORS), "mfa_disabled": False,
               "session_duration": args.session_duration}
        self.access_policy = self.child("zeroTrustAccessPolicy", cloudflare.ZeroTrustAccessPolicy,
            f"{name}-admin-policy", account_id=account, name=f"{p} admins", decision="allow",
            includes=checked(cloudflare.ZeroTrustAccessPolicyIncludeArgs,
                             R.access_includes(args.allowed_email_domains, args.allowed_emails)),
            mfa_config=checked(cloudflare.ZeroTrustAccessPolicyMfaConfigArgs, mfa),
            session_duration=args.session_duration, opts=child)
        # Access covers a destination's path and everything below it, so `/ws` is not listed on api.:
        # it would take the apps' `/ws/audio` too; the console's `/ws` goes through admin.<domain>.
        destinations = [{"type": "public", "uri": args.admin_host},
                        {"type": "public", "uri": f"{args.api_host}/api/admin"},
                        {"type": "public", "uri": f"{args.api_host}/api/import"}]
        self.access_app = self.child("zeroTrustAccessApplication", cloudflare.ZeroTrustAccessApplication,
            f"{name}-admin-app", account_id=account, name=f"{p} admin", type="self_hosted",
            domain=args.admin_host,
            destinations=checked(cloudflare.ZeroTrustAccessApplicationDestinationArgs, destinations),
            policies=checked(cloudflare.ZeroTrustAccessApplicationPolicyArgs,
                             [{"id": self.access_policy.id, "precedence": 1}]),
            session_duration=args.session_duration,
            mfa_config=checked(cloudflare.ZeroTrustAccessApplicationMfaConfigArgs, mfa),
            app_launcher_visible=True, auto_redirect_to_identity=False,
            http_only_cookie_attribute=True, same_site_cookie_attribute="lax",
            enable_binding_cookie=False, opts=child)
        self.access_aud: pulumi.Output[str] = self.access_app.aud
        self.access_team_domain: str = args.team_domain

        # --- tunnel (tunnel mode): the core task's cloudflared sidecar dials out with its token
        self.tunnel = None
        self.tunnel_config = None
        self.tunnel_token: Optional[pulumi.Output[str]] = None
        self.records: dict[str, cloudflare.DnsRecord] = {}
        self.core_hostname: Optional[str] = None
        self.core_origin: Optional[str] = None
        if args.ingress == "tunnel":
            self.tunnel = self.child("zeroTrustTunnelCloudflared", cloudflare.ZeroTrustTunnelCloudflared,
                f"{name}-tunnel", account_id=account, name=f"{p}-core", config_src="cloudflare", opts=child)
            self.tunnel_config = self.child("zeroTrustTunnelCloudflaredConfig", cloudflare.ZeroTrustTunnelCloudflaredConfig,
                f"{name}-tunnel-config", account_id=account, tunnel_id=self.tunnel.id, source="cloudflare",
                config=checked(cloudflare.ZeroTrustTunnelCloudflaredConfigConfigArgs,
                               {"ingresses": self.tunnel_ingresses(args, self.access_aud)}),
                opts=child)
            token = cloudflare.get_zero_trust_tunnel_cloudflared_token_output(
                account_id=account, tunnel_id=self.tunnel.id, opts=pulumi.InvokeOutputOptions(parent=self))
            self.tunnel_token = pulumi.Output.secret(token.token)
            target = self.tunnel.id.apply(lambda tid: f"{tid}.cfargotunnel.com")
            tunnel_hosts = [("core", args.core_host), ("admin", args.admin_host)]
            if args.web_client:
                tunnel_hosts.append(("app", args.app_host))
            for label, host in tunnel_hosts:
                self.records[host] = _proxied_record(
                    self, f"{name}-dns-{label}", zone, host, "CNAME", target,
                    f"UnaMentis {label} through Cloudflare Tunnel {p}-core", child)
            # api.<domain> is served only by the edge router Worker (EdgeRouting).
            self.records[args.api_host] = _proxied_record(
                    self, f"{name}-dns-api", zone, args.api_host, "AAAA", WORKER_ONLY_ADDRESS,
                "UnaMentis API: served by the edge router Worker", child)
            self.core_hostname = args.core_host
            self.core_origin = f"https://{args.core_host}"

        # --- R2: curriculum assets and TTS overflow, with bucket-scoped S3 credentials
        self.r2_buckets: dict[str, cloudflare.R2Bucket] = {}
        self.r2_token = None
        self.r2_access_key_id: Optional[pulumi.Output[str]] = None
        self.r2_secret_access_key: Optional[pulumi.Output[str]] = None
        self.r2_endpoint: Optional[str] = None
        if args.r2_enabled:
            for key, bucket in (("assets", args.r2_assets_bucket), ("tts", args.r2_tts_bucket)):
                self.r2_buckets[key] = self.child("r2Bucket", cloudflare.R2Bucket,
                    f"{name}-r2-{key}", account_id=account, name=bucket, storage_class="Standard", opts=child)
            if args.r2_tts_days > 0:
                self.r2_tts_lifecycle = self.child("r2BucketLifecycle", cloudflare.R2BucketLifecycle,
                    f"{name}-r2-tts-lifecycle", account_id=account, bucket_name=args.r2_tts_bucket,
                    rules=checked(cloudflare.R2BucketLifecycleRuleArgs, [{
                        "id": "expire-tts-overflow", "enabled": True, "conditions": {"prefix": ""},
                        "delete_objects_transition": {"condition": {
                            "type": "Age", "max_age": args.r2_tts_days * 86400}}}]),
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[self.r2_buckets["tts"]]))
            groups = cloudflare.get_account_api_token_permission_groups_list_output(
                account_id=account, name=urllib.parse.quote(R2_PERMISSION_GROUP),
                opts=pulumi.InvokeOutputOptions(parent=self))
            resources = json.dumps({f"com.cloudflare.edge.r2.bucket.{account}_default_{b}": "*"
                                    for b in (args.r2_assets_bucket, args.r2_tts_bucket)}, sort_keys=True)
            self.r2_token = self.child("accountToken", cloudflare.AccountToken,
                f"{name}-r2-token", account_id=account, name=f"{p} R2 read-write",
                policies=checked(cloudflare.AccountTokenPolicyArgs, [{
                    "effect": "allow",
                    "permission_groups": [{"id": groups.results.apply(_first_permission_group_id)}],
                    "resources": resources}]),
                opts=pulumi.ResourceOptions(parent=self, depends_on=list(self.r2_buckets.values())))
            # R2's S3 API: access key id = the token id, secret = SHA-256 of the token value.
            self.r2_access_key_id = pulumi.Output.secret(self.r2_token.id)
            self.r2_secret_access_key = pulumi.Output.secret(
                self.r2_token.value.apply(lambda v: hashlib.sha256(v.encode()).hexdigest()))
            self.r2_endpoint = args.r2_endpoint

        self.register_outputs({
            "origin_secret": self.origin_secret,
            "access_aud": self.access_aud,
            "access_team_domain": self.access_team_domain,
            "tunnel_id": self.tunnel.id if self.tunnel else None,
            "tunnel_token": self.tunnel_token,
            "core_hostname": self.core_hostname,
            "r2_endpoint": self.r2_endpoint,
            "r2_buckets": {k: b.name for k, b in self.r2_buckets.items()},
            "r2_access_key_id": self.r2_access_key_id,
            "r2_secret_access_key": self.r2_secret_access_key,
        })

    def exports(self) -> dict[str, Any]:
        """What operators read with `pulumi stack output edge` (no secrets)."""
        return {
            "access_aud": self.access_aud,
            "access_team_domain": self.access_team_domain,
            "tunnel_id": self.tunnel.id if self.tunnel else None,
            "core_hostname": self.core_hostname,
            "r2_endpoint": self.r2_endpoint,
            "r2_buckets": {k: b.name for k, b in self.r2_buckets.items()},
        }

    def secret_exports(self) -> dict[str, Any]:
        """The R2 S3 credentials (`pulumi stack output edge_r2_credentials --show-secrets`)."""
        return {"access_key_id": self.r2_access_key_id, "secret_access_key": self.r2_secret_access_key}

    @staticmethod
    def tunnel_ingresses(args: EdgeArgs, access_aud: pulumi.Input[str]) -> list[dict]:
        """The tunnel's ingress rules, first match wins; the catch-all 404 is last."""
        # ECS: cloudflared is a sidecar in the core task; EKS: a Deployment next to the core's Service.
        core = args.core_service or f"http://localhost:{args.core_port}"
        admin_access = {"access": {"required": True, "team_name": args.team_name, "aud_tags": [access_aud]}}
        rules = [{"hostname": args.core_host, "service": core}]
        if args.ops_console_service:
            # admin.<domain> split by path: the console's own proxy routes (and its pages, below) to
            # the console; the event socket and every other /api/ path (its browser-side calls) to the
            # core, which verifies the Access JWT. Never the core's console listener: that port is
            # reachable only from the console's own network.
            rules += [
                {"hostname": args.admin_host, "path": proxy_route_regex(), "service": args.ops_console_service,
                 "origin_request": admin_access},
                {"hostname": args.admin_host, "path": API_PATH_REGEX, "service": core, "origin_request": admin_access},
            ]
        # cloudflared itself rejects requests without a valid Access JWT for the admin app.
        rules.append({"hostname": args.admin_host, "service": args.ops_console_service or core,
                      "origin_request": admin_access})
        if args.web_client:
            rules.append({"hostname": args.app_host, "service": args.web_client_service})
        rules.append({"service": "http_status:404"})
        return rules


@dataclass
class EdgeRoutingArgs:
    """Arguments of `EdgeRouting`: what the edge needs from compute."""

    edge: EdgeArgs
    """The `Edge`'s arguments (hostnames, zone, ingress). Required."""
    origin_secret: pulumi.Input[str]
    """The origin secret the edge router injects (a secret). Required."""
    records: Mapping[str, tuple[pulumi.Input[str], pulumi.Input[str]]] = field(default_factory=dict)
    """Label -> (full hostname, proxied CNAME target), e.g. `fn` -> the Lambda API's custom domain.
    Default: none."""
    validations: Sequence[tuple[pulumi.Input[Any], Sequence[str]]] = ()
    """ACM `domain_validation_options` outputs with the labels of the domains each certificate covers.
    Default: `()`."""
    lambda_origin: Optional[pulumi.Input[str]] = None
    """Tunnel mode: the Lambda API's base URL; required with `tunnel`. Default: none."""
    core_origin: Optional[str] = None
    """Tunnel mode: `https://core.<domain>`; required with `tunnel`. Default: none."""

    transform: Transforms = field(default_factory=dict)
    """Per child kind (`EdgeRouting.CHILDREN`), a change to its arguments (`components.base`). Default:
    none."""

    def validate(self) -> None:
        if self.edge.ingress == "tunnel" and (self.lambda_origin is None or not self.core_origin):
            raise ArgsError("EdgeRoutingArgs", "lambda_origin", "tunnel ingress needs lambda_origin and core_origin "
                            "for the edge router", "pass both")
        for label, (host, _) in self.records.items():
            if isinstance(host, str) and host != self.edge.host(label):
                raise ArgsError("EdgeRoutingArgs", f"records.{label}", f"{host!r}", f"use {self.edge.host(label)}")


class EdgeRouting(Component):
    """DNS records to the AWS origins, ACM validation records and the edge router Worker."""
    CHILDREN = ("dnsRecord", "workersScript", "workersRoute")

    def __init__(self, name: str, args: EdgeRoutingArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(name, args.transform, opts)
        args.validate()
        e = args.edge
        child = pulumi.ResourceOptions(parent=self)

        self.records: dict[str, cloudflare.DnsRecord] = {}
        for label, (host, target) in args.records.items():
            self.records[label] = _proxied_record(
                    self, f"{name}-dns-{label}", e.zone_id, host, "CNAME", target, f"UnaMentis {label} (AWS origin)", child)

        # ACM DNS validation: one unproxied CNAME per certificate domain (ACM must see it).
        self.validation_records: dict[str, cloudflare.DnsRecord] = {}
        for options, labels in args.validations:
            for label in labels:
                domain = e.host(label)
                opt = pulumi.Output.from_input(options).apply(lambda os, d=domain: _validation_option(os, d))
                self.validation_records[label] = self.child("dnsRecord", cloudflare.DnsRecord,
                    f"{name}-acm-{label}", zone_id=e.zone_id,
                    name=opt.apply(lambda o: _field(o, "resource_record_name").rstrip(".")),
                    type=opt.apply(lambda o: _field(o, "resource_record_type")),
                    content=opt.apply(lambda o: _field(o, "resource_record_value").rstrip(".")),
                    proxied=False, ttl=300, comment=f"ACM validation for {domain}",
                    opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True))

        self.worker = None
        self.worker_route = None
        if e.ingress == "tunnel":
            self.worker = self.child("workersScript", cloudflare.WorkersScript,
                f"{name}-router", account_id=e.account_id, script_name=W.script_name(e.name_prefix),
                content=W.source(), main_module=W.MAIN_MODULE,
                compatibility_date=W.COMPATIBILITY_DATE,
                bindings=checked(cloudflare.WorkersScriptBindingArgs,
                                 W.bindings(args.lambda_origin, args.core_origin, args.origin_secret)),
                opts=child)
            self.worker_route = self.child("workersRoute", cloudflare.WorkersRoute,
                f"{name}-router-route", zone_id=e.zone_id, pattern=f"{e.api_host}/*",
                script=self.worker.script_name, opts=child)

        self.register_outputs({
            "records": {k: r.id for k, r in self.records.items()},
            "validation_records": {k: r.id for k, r in self.validation_records.items()},
            "worker": self.worker.script_name if self.worker else None,
        })


def host_of(url: str) -> str:
    host = urllib.parse.urlsplit(url).hostname
    if not host:
        raise ValueError(f"EdgeRouting: {url!r} is not a base URL like https://fn.example.org")
    return host


def _validation_option(options: Sequence[Any], domain: str) -> Any:
    for o in options or []:
        if _field(o, "domain_name") == domain:
            return o
    raise ValueError(f"the ACM certificate has no validation option for {domain}")
