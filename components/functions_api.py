"""FunctionsApi: the stateless runtime services as one arm64 Lambda each, fronted by the route table.

One function per service in ``runtime.route_table.LAMBDA_SERVICES`` (handler
``runtime.handlers.<service>.handler``), all built from the same reproducible code zip plus one
dependency layer (:mod:`components.lambda_build`; published from an S3 object in
``artifact_bucket``, since it exceeds the 50 MB direct upload), Python 3.12, arm64, in the private subnets with
the Lambda security group, a reserved concurrency each (the stack config checks that the sum fits the
database's connections) and an explicit log group with retention.

Front door, by ingress mode:

* ``tunnel``: an API Gateway **HTTP API** whose routes are generated from ``ROUTES`` (the same list the
  edge router embeds), default ``execute-api`` endpoint disabled, a custom domain (ACM certificate,
  DNS-validated through Cloudflare by the edge component), stage throttling and JSON access logs.
  The edge router forwards stateless paths to :attr:`origin_url`.
* ``alb``: one Lambda target group per service and ALB listener rules from
  :func:`components.load_balancer.listener_rule_plan` (the core's rules live in ``LoadBalancer``).

Cost: Lambda arm64 $0.20 per 1M requests + $0.0000133334 per GB-second (always-free 1M requests and
400,000 GB-s per month); HTTP API $1.00 per 1M requests; log groups $0.50/GB ingested, $0.03/GB-month.
No fixed monthly cost: an idle API costs $0.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence

import pulumi
import pulumi_aws as aws

from components.base import ArgsError, Component, Transforms
from components.core_service import policy_document
from components.facts import HTTP_API_MAX_INTEGRATION_MS, HTTP_API_MAX_LAMBDA_TIMEOUT_S
from components.lambda_build import Artifact
from components.load_balancer import listener_conditions, listener_rule_plan
from runtime.route_table import LAMBDA_SERVICES, ROUTES, RouteRule
from runtime.settings import env_vars

LAMBDA_RUNTIME = "python3.12"
# An HTTP API integration can wait at most 30 s (hard quota); the function must finish first.
DIRECT_UPLOAD_LIMIT = 50 * 1000 * 1000  # bytes of a zip uploaded in the Lambda API call itself


def handler_for(service: str) -> str:
    return f"runtime.handlers.{service}.handler"


def http_api_route_keys(routes: Sequence[RouteRule] = ROUTES,
                        services: Sequence[str] = LAMBDA_SERVICES) -> list[tuple[str, str]]:
    """``[(route_key, service)]`` for every Lambda-origin rule of the route table.

    A rule ``/api/auth`` matches the path itself and anything below it, so it becomes
    ``ANY /api/auth`` and ``ANY /api/auth/{proxy+}``; a ``*`` segment becomes a path parameter.
    Core-origin rules are not routed here: the edge sends those paths to the core.
    """
    keys: list[tuple[str, str]] = []
    seen: set[str] = set()
    for rule in routes:
        if rule.origin != "lambda":
            continue
        if rule.service not in services:
            raise ValueError(f"route {rule.pattern} names service {rule.service!r}, not a Lambda service")
        segs = [f"{{p{i}}}" if s == "*" else s for i, s in enumerate(rule.pattern.strip("/").split("/"))]
        base = "/" + "/".join(segs)
        for key in (f"ANY {base}", f"ANY {base}/{{proxy+}}"):
            if key not in seen:
                seen.add(key)
                keys.append((key, rule.service))
    return keys


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


@dataclass
class FunctionsApiArgs:
    """Arguments of `FunctionsApi`."""

    name_prefix: str
    """Physical-name prefix, e.g. `uma-beta` (function names `<prefix>-<service>`). Required."""
    ingress: str
    """`tunnel`: an HTTP API on `api_hostname`; `alb`: target groups and rules on `https_listener_arn`.
    Required."""
    code: Artifact
    """The code zip (`components.lambda_build`). Required."""
    layer: Artifact
    """The dependency layer zip (`components.lambda_build`). Required."""
    subnet_ids: pulumi.Input[Sequence[str]]
    """The private subnets the functions run in. Required."""
    security_group_ids: pulumi.Input[Sequence[str]]
    """The functions' security groups. Required."""
    memory_mb: int = 512
    """Memory per function (128–10240 MB). Default: `512`."""
    timeout_s: int = 15
    """Timeout per invocation; behind the HTTP API at most 29 s. Default: `15`."""
    reserved_concurrency: Mapping[str, int] = field(default_factory=dict)
    """Per service, its reserved concurrency (each instance holds one database connection); a service
    left out gets `default_reserved_concurrency`. Default: none."""
    default_reserved_concurrency: int = 2
    """The reservation of a service not in `reserved_concurrency`. Default: `2`."""
    reserve_concurrency: bool = True
    """Apply the reservations as Lambda reserved concurrency. Off, the functions share the account's
    unreserved pool (an account whose "Concurrent executions" quota is still 10 cannot reserve
    any: Lambda keeps 100 unreserved). Default: `True`."""
    log_retention_days: int = 14
    """Retention of each function's log group. Default: `14`."""
    environment: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Environment variables of every function (Lambda encrypts them at rest). Default: none."""
    policy_statements: Sequence[Any] = field(default_factory=list)
    """IAM statements (dicts or Outputs of them) for the functions' role. Default: none."""
    services: Sequence[str] = LAMBDA_SERVICES
    """The Lambda services to deploy. Default: every service of `runtime.route_table.LAMBDA_SERVICES`."""
    artifact_bucket: Optional[pulumi.Input[str]] = None
    """The S3 bucket (name) the layer is uploaded through; needed above 50 MB zipped. Default: none."""
    api_hostname: Optional[str] = None
    """The HTTP API's custom domain, e.g. `fn.example.org`; required with `ingress="tunnel"`. Default:
    none."""
    throttle_rate: float = 50.0
    """The HTTP API stage's steady requests per second. Default: `50.0`."""
    throttle_burst: int = 100
    """The HTTP API stage's burst. Default: `100`."""
    https_listener_arn: Optional[pulumi.Input[str]] = None
    """The ALB's HTTPS listener; required with `ingress="alb"`. Default: none."""
    vpc_id: Optional[pulumi.Input[str]] = None
    """The VPC of the target groups; required with `ingress="alb"`. Default: none."""
    origin_secret: Optional[pulumi.Input[str]] = None
    """When set, every listener rule also requires the `X-Origin-Secret` header. Default: none."""

    transform: Transforms = field(default_factory=dict)
    """Per child kind (`FunctionsApi.CHILDREN`), a change to its arguments (`components.base`).
    Default: none."""

    def validate(self) -> None:
        if self.ingress not in ("tunnel", "alb"):
            raise ArgsError("FunctionsApiArgs", "ingress", f"{self.ingress!r}", "use tunnel or alb")
        unknown = set(self.reserved_concurrency) - set(self.services)
        if unknown:
            raise ArgsError("FunctionsApiArgs", "reserved_concurrency", f"unknown services {sorted(unknown)}",
                            f"use services of {', '.join(self.services)}")
        for svc in self.services:
            if self.reserved_for(svc) < 1:
                raise ArgsError("FunctionsApiArgs", f"reserved_concurrency.{svc}", f"{self.reserved_for(svc)}",
                                "reserve at least 1 (0 would disable the function)")
        if self.layer.size_bytes > DIRECT_UPLOAD_LIMIT and self.artifact_bucket is None:
            raise ArgsError("FunctionsApiArgs", "artifact_bucket", f"the dependency layer is "
                            f"{self.layer.size_bytes / 1e6:.1f} MB zipped, over the 50 MB direct-upload limit",
                            "give a bucket to upload it through")
        if not 128 <= self.memory_mb <= 10240:
            raise ArgsError("FunctionsApiArgs", "memory_mb", f"{self.memory_mb}", "Lambda allows 128–10240 MB")
        if self.ingress == "tunnel":
            if self.timeout_s > HTTP_API_MAX_LAMBDA_TIMEOUT_S:
                raise ArgsError("FunctionsApiArgs", "timeout_s", f"{self.timeout_s} s",
                                "at most 29 s behind the HTTP API (its 30 s hard limit)")
            if not self.api_hostname:
                raise ArgsError("FunctionsApiArgs", "api_hostname", "tunnel ingress needs the HTTP API's custom domain",
                                "pass e.g. fn.example.org")
        if self.ingress == "alb" and (self.https_listener_arn is None or self.vpc_id is None):
            raise ArgsError("FunctionsApiArgs", "https_listener_arn", "alb ingress needs the HTTPS listener and vpc_id",
                            "pass both")

    def reserved_for(self, service: str) -> int:
        return int(self.reserved_concurrency.get(service, self.default_reserved_concurrency))


class FunctionsApi(Component):
    """One Lambda per stateless service and the HTTP API (tunnel) or ALB rules (alb) in front of them."""
    CHILDREN = (
        "role", "rolePolicyAttachment", "rolePolicy", "bucketObjectv2", "layerVersion", "logGroup",
        "function", "api", "integration", "permission", "route", "stage", "certificate",
        "certificateValidation", "domainName", "apiMapping", "targetGroup", "targetGroupAttachment",
        "listenerRule",
    )

    def __init__(self, name: str, args: FunctionsApiArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(name, args.transform, opts)
        args.validate()
        child = pulumi.ResourceOptions(parent=self)

        self.role = self.child("role", aws.iam.Role,
            f"{name}-role",
            assume_role_policy=json.dumps({
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                               "Principal": {"Service": "lambda.amazonaws.com"}}],
            }),
            description="UnaMentis stateless API functions",
            opts=child,
        )
        # ENI management in the VPC + writing to the function's own log group.
        self.vpc_access = self.child("rolePolicyAttachment", aws.iam.RolePolicyAttachment,
            f"{name}-vpc-access", role=self.role.name,
            policy_arn="arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole",
            opts=child,
        )
        # Least privilege: only the statements the platform grants (its buckets, queue, parameters).
        self.data_access = None
        if args.policy_statements:
            self.data_access = self.child("rolePolicy", aws.iam.RolePolicy,
                f"{name}-data-access", role=self.role.id,
                policy=policy_document(args.policy_statements),
                opts=child,
            )

        self.layer_is_placeholder = args.layer.placeholder
        if args.layer.placeholder:
            pulumi.log.warn(
                "Lambda dependency layer NOT BUILT: using a placeholder archive. Run "
                "`python -m components.lambda_build` (needs PyPI) before `pulumi up`.", self)
        # Through S3: a direct upload is capped at 50 MB (the layer is ~50 MB zipped, 150 MB
        # unzipped, under the 250 MB limit); the key is content-addressed.
        self.layer_object = None
        layer_code: dict = {"code": pulumi.FileArchive(args.layer.path)}
        if args.artifact_bucket is not None:
            self.layer_object = self.child("bucketObjectv2", aws.s3.BucketObjectv2,
                f"{name}-deps-object", bucket=args.artifact_bucket,
                key=f"lambda/layers/{args.name_prefix}-runtime-deps-{args.layer.sha256[:16]}.zip",
                source=pulumi.FileAsset(args.layer.path), content_type="application/zip", opts=child)
            layer_code = {"s3_bucket": self.layer_object.bucket, "s3_key": self.layer_object.key}
        self.layer = self.child("layerVersion", aws.lambda_.LayerVersion,
            f"{name}-deps",
            layer_name=f"{args.name_prefix}-runtime-deps",
            source_code_hash=args.layer.source_code_hash,
            **layer_code,
            compatible_runtimes=[LAMBDA_RUNTIME],
            compatible_architectures=["arm64"],
            description=("PLACEHOLDER (layer not built: run python -m components.lambda_build) "
                         if args.layer.placeholder else "")
            + f"runtime/requirements.txt for {LAMBDA_RUNTIME} arm64, sha256 {args.layer.sha256[:16]}",
            opts=child,
        )

        self.functions: dict[str, aws.lambda_.Function] = {}
        self.log_groups: dict[str, aws.cloudwatch.LogGroup] = {}
        env = {**args.environment, **env_vars(db_mode="single")}
        for svc in args.services:
            fname = f"{args.name_prefix}-{svc}"
            lg = self.child("logGroup", aws.cloudwatch.LogGroup,
                f"{name}-{svc}-logs", name=f"/aws/lambda/{fname}",
                retention_in_days=args.log_retention_days, opts=child)
            fn = self.child("function", aws.lambda_.Function,
                f"{name}-{svc}",
                name=fname,
                role=self.role.arn,
                runtime=LAMBDA_RUNTIME,
                architectures=["arm64"],
                handler=handler_for(svc),
                code=pulumi.FileArchive(args.code.path),
                source_code_hash=args.code.source_code_hash,
                layers=[self.layer.arn],
                memory_size=args.memory_mb,
                timeout=args.timeout_s,
                reserved_concurrent_executions=args.reserved_for(svc) if args.reserve_concurrency else None,
                vpc_config={"subnet_ids": args.subnet_ids, "security_group_ids": args.security_group_ids},
                environment={"variables": env},
                logging_config={"log_format": "Text", "log_group": lg.name},
                description=f"UnaMentis {svc} API ({handler_for(svc)})",
                opts=pulumi.ResourceOptions(parent=self, depends_on=[lg, self.vpc_access]),
            )
            self.functions[svc] = fn
            self.log_groups[svc] = lg

        self.api = None
        self.origin_url: Optional[pulumi.Output[str]] = None
        self.certificate = None
        self.target_groups: dict[str, aws.lb.TargetGroup] = {}
        self.listener_rules: list[aws.lb.ListenerRule] = []
        if args.ingress == "tunnel":
            self._http_api(name, args)
        else:
            self._alb_targets(name, args)

        self.function_names = {s: f.name for s, f in self.functions.items()}
        self.register_outputs({
            "function_names": self.function_names,
            "origin_url": self.origin_url,
            "layer_placeholder": self.layer_is_placeholder,
        })

    # -- tunnel mode ------------------------------------------------------------------------
    def _http_api(self, name: str, args: FunctionsApiArgs) -> None:
        child = pulumi.ResourceOptions(parent=self)
        self.api = self.child("api", aws.apigatewayv2.Api,
            f"{name}-http",
            name=f"{args.name_prefix}-api",
            protocol_type="HTTP",
            # Only the custom domain (reached through the edge, which adds the origin secret) serves it.
            disable_execute_api_endpoint=True,
            description="UnaMentis stateless API (routes generated from runtime/route_table.py)",
            opts=child,
        )
        integrations = {}
        for svc, fn in self.functions.items():
            integrations[svc] = self.child("integration", aws.apigatewayv2.Integration,
                f"{name}-{svc}-int",
                api_id=self.api.id,
                integration_type="AWS_PROXY",
                integration_uri=fn.invoke_arn,
                payload_format_version="2.0",
                timeout_milliseconds=min(HTTP_API_MAX_INTEGRATION_MS, args.timeout_s * 1000 + 1000),
                opts=child,
            )
            self.child("permission", aws.lambda_.Permission,
                f"{name}-{svc}-invoke",
                action="lambda:InvokeFunction",
                function=fn.name,
                principal="apigateway.amazonaws.com",
                source_arn=pulumi.Output.concat(self.api.execution_arn, "/*/*"),
                opts=child,
            )
        self.routes = []
        for key, svc in http_api_route_keys(services=args.services):
            self.routes.append(self.child("route", aws.apigatewayv2.Route,
                f"{name}-route-{_slug(key)}",
                api_id=self.api.id,
                route_key=key,
                target=pulumi.Output.concat("integrations/", integrations[svc].id),
                opts=child,
            ))
        self.access_logs = self.child("logGroup", aws.cloudwatch.LogGroup,
            f"{name}-access-logs", name=f"/aws/apigateway/{args.name_prefix}-api",
            retention_in_days=args.log_retention_days, opts=child)
        self.stage = self.child("stage", aws.apigatewayv2.Stage,
            f"{name}-stage",
            api_id=self.api.id,
            name="$default",
            auto_deploy=True,
            default_route_settings={"throttling_rate_limit": args.throttle_rate,
                                    "throttling_burst_limit": args.throttle_burst},
            access_log_settings={
                "destination_arn": self.access_logs.arn,
                "format": json.dumps({
                    "requestId": "$context.requestId", "ip": "$context.identity.sourceIp",
                    "method": "$context.httpMethod", "path": "$context.path",
                    "status": "$context.status", "latencyMs": "$context.responseLatency",
                    "integrationError": "$context.integrationErrorMessage",
                }),
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=self.routes),
        )
        # The certificate is validated by DNS records the edge component creates from
        # ``certificate_validation_options``; CertificateValidation waits until ACM issues it.
        self.certificate = self.child("certificate", aws.acm.Certificate,
            f"{name}-cert", domain_name=args.api_hostname, validation_method="DNS",
            # RSA: API Gateway custom domains take ECDSA certificates only in some cases; RSA_2048
            # is the key type every endpoint type accepts.
            key_algorithm="RSA_2048", opts=child)
        self.certificate_validation = self.child("certificateValidation", aws.acm.CertificateValidation,
            f"{name}-cert-valid", certificate_arn=self.certificate.arn, opts=child)
        self.domain = self.child("domainName", aws.apigatewayv2.DomainName,
            f"{name}-domain",
            domain_name=args.api_hostname,
            domain_name_configuration={
                "certificate_arn": self.certificate_validation.certificate_arn,
                "endpoint_type": "REGIONAL",
                "security_policy": "TLS_1_2",
            },
            opts=child,
        )
        self.mapping = self.child("apiMapping", aws.apigatewayv2.ApiMapping,
            f"{name}-mapping", api_id=self.api.id, domain_name=self.domain.id, stage=self.stage.id,
            opts=child)
        self.origin_url = pulumi.Output.from_input(f"https://{args.api_hostname}")
        # The edge points the proxied ``api_hostname`` CNAME at this regional target.
        self.origin_target = self.domain.domain_name_configuration.apply(lambda c: c.target_domain_name)
        self.certificate_validation_options = self.certificate.domain_validation_options

    # -- alb mode ---------------------------------------------------------------------------
    def _alb_targets(self, name: str, args: FunctionsApiArgs) -> None:
        child = pulumi.ResourceOptions(parent=self)
        for svc, fn in self.functions.items():
            tg = self.child("targetGroup", aws.lb.TargetGroup,
                f"{name}-{svc}-tg",
                name=f"{args.name_prefix}-{svc}"[:32],
                target_type="lambda",
                lambda_multi_value_headers_enabled=True,
                opts=child,
            )
            perm = self.child("permission", aws.lambda_.Permission,
                f"{name}-{svc}-alb-invoke",
                action="lambda:InvokeFunction",
                function=fn.name,
                principal="elasticloadbalancing.amazonaws.com",
                source_arn=tg.arn,
                opts=child,
            )
            self.child("targetGroupAttachment", aws.lb.TargetGroupAttachment,
                f"{name}-{svc}-attach", target_group_arn=tg.arn, target_id=fn.arn,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[perm]))
            self.target_groups[svc] = tg
        for step in listener_rule_plan():
            if step.target == "core":
                continue
            self.listener_rules.append(self.child("listenerRule", aws.lb.ListenerRule,
                f"{name}-rule-{step.priority}",
                listener_arn=args.https_listener_arn,
                priority=step.priority,
                conditions=listener_conditions(step.patterns, args.origin_secret),
                actions=[{"type": "forward", "target_group_arn": self.target_groups[step.target].arn}],
                opts=child,
            ))
