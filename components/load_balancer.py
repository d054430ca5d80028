"""LoadBalancer (ALB ingress mode): TLS 1.3 HTTPS front door for the core and the Lambda API.

Used by prod / customer stacks with ``ingress: alb``. Creates an internet-facing Application Load
Balancer in the public subnets (its security group, from the network component, admits only
Cloudflare's ranges on 443, or any source when a customer runs with ``edge: none``):

* HTTPS listener with ``ELBSecurityPolicy-TLS13-1-2-2021-06`` and a certificate: the customer's
  ``certificate_arn``, else an ACM certificate for ``api.<domain>`` / ``app.<domain>`` /
  ``admin.<domain>`` validated by DNS records the edge component writes into Cloudflare;
* HTTP listener that only redirects to HTTPS (301);
* ``drop_invalid_header_fields``, ``desync_mitigation_mode=defensive``, idle timeout ≥ 300 s so
  voice WebSockets survive pauses;
* the core target group (IP targets on 8766, ``/health`` check, deregistration delay 60 s < the
  120 s Fargate Spot notice);
* listener rules generated from the route table (:func:`listener_rule_plan`): the core's specific
  paths first, the Lambda families (rules created by ``FunctionsApi``), then a catch-all to the core.
  With an origin secret (stacks behind Cloudflare) every forwarding rule also requires the
  ``X-Origin-Secret`` header and the listener's default action answers **403**, so a request that did
  not come through the edge never reaches a target.

Cost: $0.0225/h ($16.43/month) + $0.008 per LCU-hour + 2 public IPv4 addresses ($3.65 each per
month) ≈ $25/month at beta traffic (0.2 average LCU).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence

import pulumi
import pulumi_aws as aws

from components.base import ArgsError, Component, Transforms
from runtime.route_table import ROUTES, RouteRule

TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"
ORIGIN_SECRET_HEADER = "X-Origin-Secret"
CORE_PORT = 8766
MIN_IDLE_TIMEOUT = 300
# Fargate Spot gives 120 s notice and the ALB may keep routing until the task is STOPPED.
DEREGISTRATION_DELAY = 60
FIRST_PRIORITY = 100
PRIORITY_STEP = 10
CATCH_ALL_PRIORITY = 50_000  # the highest priority number the ALB accepts: evaluated last


@dataclass(frozen=True)
class RuleStep:
    priority: int
    patterns: tuple[str, ...]  # ALB path patterns
    target: str  # "core" or a Lambda service name


def alb_path_patterns(rule: RouteRule) -> tuple[str, ...]:
    """The path itself and everything below it; a ``*`` segment stays ``*`` (ALB wildcards)."""
    base = "/" + rule.pattern.strip("/")
    return (base, base + "/*")


def listener_rule_plan(routes: Sequence[RouteRule] = ROUTES) -> list[RuleStep]:
    """Listener rules in route-table order, up to the last Lambda rule, then the core catch-all.

    Rules after the last Lambda rule all go to the core, which the catch-all covers; core rules that
    precede a Lambda rule (specific paths inside Lambda families) must stay ahead of it.
    """
    last_lambda = max((i for i, r in enumerate(routes) if r.origin == "lambda"), default=-1)
    steps = [
        RuleStep(FIRST_PRIORITY + i * PRIORITY_STEP, alb_path_patterns(r),
                 "core" if r.origin == "core" else r.service)
        for i, r in enumerate(routes[: last_lambda + 1])
    ]
    steps.append(RuleStep(CATCH_ALL_PRIORITY, ("/*",), "core"))
    return steps


def listener_conditions(patterns: Sequence[str], origin_secret: Optional[pulumi.Input[str]]) -> list[dict]:
    conds: list[dict] = [{"path_pattern": {"values": list(patterns)}}]
    if origin_secret is not None:
        conds.append({"http_header": {"http_header_name": ORIGIN_SECRET_HEADER, "values": [origin_secret]}})
    return conds


@dataclass
class LoadBalancerArgs:
    """Arguments of `LoadBalancer`."""

    name_prefix: str
    """Physical-name prefix, e.g. `uma-prod`. Required."""
    vpc_id: pulumi.Input[str]
    """The VPC. Required."""
    subnet_ids: pulumi.Input[Sequence[str]]
    """The public subnets, one per AZ. Required."""
    security_group_id: pulumi.Input[str]
    """The ALB's security group. Required."""
    domain: str
    """The zone; the certificate covers `api.`, `admin.` and `app.<domain>`. Required."""
    certificate_arn: Optional[pulumi.Input[str]] = None
    """An existing ACM certificate; without it one is requested (DNS validation). Default: none."""
    origin_secret: Optional[pulumi.Input[str]] = None
    """When set (Cloudflare in front), every rule also requires `X-Origin-Secret` and anything else
    gets 403. Default: none."""
    idle_timeout: int = 900
    """Seconds (300–4000): voice WebSockets idle longer than the 60 s default. Default: `900`."""
    deregistration_delay: int = DEREGISTRATION_DELAY
    """Seconds (< 120, the Fargate Spot notice). Default: `DEREGISTRATION_DELAY` (60)."""
    core_port: int = CORE_PORT
    """The core's port. Default: `CORE_PORT` (8080)."""
    deletion_protection: bool = False
    """Refuse deletion of the ALB. Default: `False`."""

    transform: Transforms = field(default_factory=dict)
    """Per child kind (`LoadBalancer.CHILDREN`), a change to its arguments (`components.base`).
    Default: none."""

    def validate(self) -> None:
        if not MIN_IDLE_TIMEOUT <= self.idle_timeout <= 4000:
            raise ArgsError("LoadBalancerArgs", "idle_timeout", f"{self.idle_timeout} s",
                            f"use {MIN_IDLE_TIMEOUT}–4000 s (voice WebSockets idle longer than the 60 s default)")
        if not 0 <= self.deregistration_delay < 120:
            raise ArgsError("LoadBalancerArgs", "deregistration_delay", f"{self.deregistration_delay} s",
                            "use 0–119 s (the Fargate Spot notice is 120 s)")


class LoadBalancer(Component):
    """The ALB, its listeners, the core target group and the core's listener rules."""
    CHILDREN = (
        "loadBalancer", "certificate", "certificateValidation", "targetGroup", "listener",
        "listenerRule",
    )

    def __init__(self, name: str, args: LoadBalancerArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(name, args.transform, opts)
        args.validate()
        child = pulumi.ResourceOptions(parent=self)

        self.alb = self.child("loadBalancer", aws.lb.LoadBalancer,
            f"{name}-alb",
            name=f"{args.name_prefix}-alb"[:32],
            load_balancer_type="application",
            internal=False,
            subnets=args.subnet_ids,
            security_groups=[args.security_group_id],
            idle_timeout=args.idle_timeout,
            drop_invalid_header_fields=True,
            desync_mitigation_mode="defensive",
            enable_deletion_protection=args.deletion_protection,
            enable_http2=True,
            opts=child,
        )
        self.certificate = None
        self.certificate_validation_options = None
        cert_arn = args.certificate_arn
        if cert_arn is None:
            self.certificate = self.child("certificate", aws.acm.Certificate,
                f"{name}-cert",
                domain_name=f"api.{args.domain}",
                subject_alternative_names=[f"app.{args.domain}", f"admin.{args.domain}"],
                validation_method="DNS",
                key_algorithm="EC_prime256v1",
                opts=child,
            )
            self.certificate_validation_options = self.certificate.domain_validation_options
            validation = self.child("certificateValidation", aws.acm.CertificateValidation,
                f"{name}-cert-valid", certificate_arn=self.certificate.arn, opts=child)
            cert_arn = validation.certificate_arn

        self.core_target_group = self.child("targetGroup", aws.lb.TargetGroup,
            f"{name}-core-tg",
            name=f"{args.name_prefix}-core"[:32],
            target_type="ip",
            protocol="HTTP",
            port=args.core_port,
            vpc_id=args.vpc_id,
            deregistration_delay=args.deregistration_delay,
            health_check={"path": "/health", "port": "traffic-port", "protocol": "HTTP",
                          "matcher": "200", "interval": 15, "timeout": 5,
                          "healthy_threshold": 2, "unhealthy_threshold": 3},
            opts=child,
        )
        if args.origin_secret is not None:
            default_action = {"type": "fixed-response", "fixed_response": {
                "content_type": "application/json", "status_code": "403",
                "message_body": '{"error":"forbidden","code":"FORBIDDEN","message":"origin secret missing"}'}}
        else:
            default_action = {"type": "forward", "target_group_arn": self.core_target_group.arn}
        self.https_listener = self.child("listener", aws.lb.Listener,
            f"{name}-https",
            load_balancer_arn=self.alb.arn,
            port=443,
            protocol="HTTPS",
            ssl_policy=TLS_POLICY,
            certificate_arn=cert_arn,
            default_actions=[default_action],
            opts=child,
        )
        self.http_listener = self.child("listener", aws.lb.Listener,
            f"{name}-http",
            load_balancer_arn=self.alb.arn,
            port=80,
            protocol="HTTP",
            default_actions=[{"type": "redirect", "redirect": {
                "protocol": "HTTPS", "port": "443", "status_code": "HTTP_301"}}],
            opts=child,
        )
        self.core_rules: list[aws.lb.ListenerRule] = []
        for step in listener_rule_plan():
            if step.target != "core":
                continue
            # Without an origin secret the default action already forwards to the core.
            if step.priority == CATCH_ALL_PRIORITY and args.origin_secret is None:
                continue
            self.core_rules.append(self.child("listenerRule", aws.lb.ListenerRule,
                f"{name}-rule-{step.priority}",
                listener_arn=self.https_listener.arn,
                priority=step.priority,
                conditions=listener_conditions(step.patterns, args.origin_secret),
                actions=[{"type": "forward", "target_group_arn": self.core_target_group.arn}],
                opts=child,
            ))

        self.dns_name = self.alb.dns_name
        self.https_listener_arn = self.https_listener.arn
        self.register_outputs({
            "dns_name": self.dns_name,
            "https_listener_arn": self.https_listener_arn,
            "core_target_group_arn": self.core_target_group.arn,
        })
