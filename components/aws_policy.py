"""Security and money rules over the AWS part of the recorded resource graph.

Each rule has an id, a severity (`error` fails the plan, `warning` is reported), the checkov
checks it corresponds to, a `check(ctx)` yielding findings, and a `bad()` example: a tiny graph
that must make the rule fire (`tests/infra/test_infra_policy.py` runs every example and every
stack file, so a rule cannot exist without proof that it works).

Adding a rule: append `Rule(...)` to `RULES` with a `bad` example built from
`fake(...)`/`example(...)`.
"""
from __future__ import annotations

import ipaddress
import json
import re
from typing import Any, Iterable, Optional

from components.mocks import CLOUDFLARE_IPV4, CLOUDFLARE_IPV6, RecordedResource, is_secret, unwrap
from components.policy_core import (OPEN, Finding, PolicyContext, Rule, example, example_config, fake,
                                    ingress_rules, rule_finder)
from components.pricing_core import CostLine, CostReport
from components.secrets import PARAMETER_READS, SSM_CORE_POLICY_ARN


def _sg_role(ctx: PolicyContext, sg_id: Optional[str]) -> Optional[str]:
    sg = ctx.rec.find_by_output("id", sg_id)
    return ((sg.get("tags") or {}).get("unamentis:role")) if sg is not None else None



def _secret_like(name: str) -> bool:
    if "_RATE_LIMIT_" in name.upper():  # e.g. UNAMENTIS_RATE_LIMIT_TOKEN is a rate ("120/60"), not a token
        return False
    return bool(re.search(r"(SECRET|PASSWORD|TOKEN|API_KEY|APIKEY|PRIVATE_KEY|DATABASE_URL)", name.upper()))



# --------------------------------------------------------------------------- checks


def _rds_private(ctx):
    for r in ctx.of("aws:rds/instance:Instance"):
        if r.get("publiclyAccessible") is not False:
            yield _rule("rds.private").finding(r, "publicly_accessible must be False")


def _rds_encrypted(ctx):
    for r in ctx.of("aws:rds/instance:Instance"):
        if r.get("storageEncrypted") is not True:
            yield _rule("rds.encrypted").finding(r, "storage_encrypted must be True")


def _rds_backups(ctx):
    for r in ctx.of("aws:rds/instance:Instance"):
        if int(r.get("backupRetentionPeriod") or 0) < 1:
            yield _rule("rds.backups").finding(r, "backup_retention_period must be at least 1 day")


def _rds_force_ssl(ctx):
    for r in ctx.of("aws:rds/instance:Instance"):
        pg = ctx.rec.find_by_output("name", r.get("parameterGroupName"))
        params = {p.get("name"): str(p.get("value")) for p in (pg.get("parameters") or [])} if pg else {}
        if params.get("rds.force_ssl") != "1":
            yield _rule("rds.force-ssl").finding(r, "its parameter group must set rds.force_ssl=1")


def _rds_deletion_protection(ctx):
    if ctx.config.profile == "beta":
        return  # waived for the beta: cheap to rebuild, and we keep backups
    for r in ctx.of("aws:rds/instance:Instance"):
        if r.get("deletionProtection") is not True:
            yield _rule("rds.deletion-protection").finding(r, f"{ctx.config.profile} databases need deletion_protection")


def _rds_data_subnets(ctx):
    for g in ctx.of("aws:rds/subnetGroup:SubnetGroup"):
        for sid in g.get("subnetIds") or []:
            sn = ctx.rec.find_by_output("id", sid)
            tier = ((sn.get("tags") or {}).get("Tier")) if sn else None
            if tier != "data":
                yield _rule("rds.data-subnets").finding(g, f"subnet {sid} is tier {tier!r}, not the isolated data tier")


def _bucket_children(ctx, type_: str) -> dict[str, RecordedResource]:
    return {r.get("bucket"): r for r in ctx.of(type_)}


def _s3_public_access(ctx):
    blocks = _bucket_children(ctx, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
    for b in ctx.of("aws:s3/bucket:Bucket"):
        blk = blocks.get(b.id)
        flags = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
        if blk is None or not all(blk.get(f) is True for f in flags):
            yield _rule("s3.public-access-blocked").finding(b, "needs a public access block with all four flags true")


def _s3_encrypted(ctx):
    sse = _bucket_children(ctx, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")
    for b in ctx.of("aws:s3/bucket:Bucket"):
        cfg = sse.get(b.id)
        algos = [((rule.get("applyServerSideEncryptionByDefault") or {}).get("sseAlgorithm"))
                 for rule in (cfg.get("rules") or [])] if cfg else []
        if not any(a in ("AES256", "aws:kms", "aws:kms:dsse") for a in algos):
            yield _rule("s3.encrypted").finding(b, "needs default server-side encryption")


def _s3_lifecycle(ctx):
    lc = _bucket_children(ctx, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
    for b in ctx.of("aws:s3/bucket:Bucket"):
        if b.id not in lc:
            yield _rule("s3.lifecycle").finding(b, "has no lifecycle configuration")


def _s3_tls_only(ctx):
    pols = _bucket_children(ctx, "aws:s3/bucketPolicy:BucketPolicy")
    for b in ctx.of("aws:s3/bucket:Bucket"):
        pol = pols.get(b.id)
        text = pol.get("policy") if pol else None
        ok = False
        if isinstance(text, str):
            try:
                doc = json.loads(text)
                ok = any(s.get("Effect") == "Deny" and
                         (s.get("Condition") or {}).get("Bool", {}).get("aws:SecureTransport") == "false"
                         for s in doc.get("Statement", []))
            except (ValueError, AttributeError):
                ok = False
        if not ok:
            yield _rule("s3.tls-only").finding(b, "needs a bucket policy denying aws:SecureTransport=false")


def _sg_open_ingress(ctx):
    c = ctx.config
    for r, sg_id, proto, lo, hi, cidrs in ingress_rules(ctx):
        open_ = [x for x in cidrs if x in OPEN]
        if not open_:
            continue
        allowed = (c.edge == "none" and c.ingress == "alb" and _sg_role(ctx, sg_id) == "alb"
                   and proto == "tcp" and lo == 443 and hi == 443)
        if not allowed:
            yield _rule("sg.no-open-ingress").finding(
                r, f"admits {', '.join(open_)} on {proto} {lo}-{hi}; only the ALB of a stack "
                   "without Cloudflare may, and only on 443")


def _sg_alb_cloudflare_only(ctx):
    if ctx.config.edge != "cloudflare":
        return
    published = [ipaddress.ip_network(x) for x in CLOUDFLARE_IPV4 + CLOUDFLARE_IPV6]
    for r, sg_id, _proto, lo, hi, cidrs in ingress_rules(ctx):
        if _sg_role(ctx, sg_id) != "alb":
            continue
        for cidr in cidrs:
            net = ipaddress.ip_network(cidr, strict=False)
            if not any(net.version == p.version and net.subnet_of(p) for p in published):
                yield _rule("sg.alb-cloudflare-only").finding(r, f"ALB admits {cidr}, not a Cloudflare range")
        if (lo, hi) != (443, 443):
            yield _rule("sg.alb-cloudflare-only").finding(r, f"ALB admits ports {lo}-{hi}; only 443")


def _sg_default_restricted(ctx):
    defaults = {d.get("vpcId"): d for d in ctx.of("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup")}
    for vpc in ctx.of("aws:ec2/vpc:Vpc"):
        d = defaults.get(vpc.id)
        if d is None or d.get("ingress") or d.get("egress"):
            yield _rule("sg.default-restricted").finding(vpc, "its default security group must be managed with no rules")


# AWS accepts only these characters in security-group and rule descriptions
# (EC2 API `IpRange.Description` / `CreateSecurityGroup`): a quote fails `pulumi up`.
_SG_DESCRIPTION = re.compile(r"^[a-zA-Z0-9. _\-:/()#,@\[\]+=&;{}!$*]{0,255}$")


def _sg_descriptions(ctx):
    kinds = ("aws:ec2/securityGroup:SecurityGroup", "aws:ec2/securityGroupRule:SecurityGroupRule",
             "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
             "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule")
    for t in kinds:
        for r in ctx.of(t):
            texts = [r.get("description")] + [x.get("description") for x in
                                               (r.get("ingress") or []) + (r.get("egress") or [])]
            for text in texts:
                if text is not None and not _SG_DESCRIPTION.match(str(text)):
                    yield _rule("sg.description-charset").finding(
                        r, f"description {text!r} has characters AWS rejects (allowed: a-z A-Z 0-9 "
                           "space ._-:/()#,@[]+=&;{}!$*)")


def _imdsv2(ctx):
    for r in ctx.of("aws:ec2/launchTemplate:LaunchTemplate") + ctx.of("aws:ec2/instance:Instance"):
        md = r.get("metadataOptions") or {}
        if md.get("httpTokens") != "required":
            yield _rule("ec2.imdsv2").finding(r, "metadata_options.http_tokens must be 'required' (IMDSv2)")
        elif int(md.get("httpPutResponseHopLimit") or 1) > 2:
            yield _rule("ec2.imdsv2").finding(r, "http_put_response_hop_limit must be 1 (2 only for containers)")


def _ebs_encrypted(ctx):
    for r in ctx.of("aws:ec2/launchTemplate:LaunchTemplate"):
        maps = r.get("blockDeviceMappings") or []
        if not maps:
            yield _rule("ec2.ebs-encrypted").finding(r, "declare the root volume with encrypted=true")
        for bd in maps:
            if str((bd.get("ebs") or {}).get("encrypted")).lower() != "true":
                yield _rule("ec2.ebs-encrypted").finding(r, f"volume {bd.get('deviceName')} is not encrypted")
    for r in ctx.of("aws:ec2/instance:Instance"):
        if (r.get("rootBlockDevice") or {}).get("encrypted") is not True:
            yield _rule("ec2.ebs-encrypted").finding(r, "root_block_device.encrypted must be True")


def _log_retention(ctx):
    for r in ctx.of("aws:cloudwatch/logGroup:LogGroup"):
        if int(r.get("retentionInDays") or 0) <= 0:
            yield _rule("logs.retention").finding(r, "retention_in_days must be set (logs kept forever cost money)")


def _alb_headers(ctx):
    for r in ctx.of("aws:lb/loadBalancer:LoadBalancer"):
        if (r.get("loadBalancerType") or "application") != "application":
            continue
        if r.get("dropInvalidHeaderFields") is not True:
            yield _rule("alb.drop-invalid-headers").finding(r, "drop_invalid_header_fields must be True")


def _alb_tls(ctx):
    for r in ctx.of("aws:lb/listener:Listener"):
        proto = r.get("protocol")
        if proto == "HTTPS":
            if not str(r.get("sslPolicy") or "").startswith("ELBSecurityPolicy-TLS13-"):
                yield _rule("alb.tls13").finding(r, f"ssl_policy {r.get('sslPolicy')!r} is not a TLS 1.3 policy")
        elif proto == "HTTP":
            acts = r.get("defaultActions") or []
            if not any(a.get("type") == "redirect" and (a.get("redirect") or {}).get("protocol") == "HTTPS"
                       for a in acts):
                yield _rule("alb.tls13").finding(r, "an HTTP listener may only redirect to HTTPS")


# Lambda's "Concurrent executions" quota (Service Quotas code L-B99A9384) starts at 10 on new
# accounts, and Lambda keeps 100 of it unreserved
# (https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html, read 2026-12).
LAMBDA_CONCURRENCY_QUOTA = "L-B99A9384"
LAMBDA_UNRESERVED_MINIMUM = 100


def _lambda_concurrency(ctx):
    fns = ctx.of("aws:lambda/function:Function")
    functions_cfg = getattr(ctx.config, "functions", None)
    if fns and functions_cfg is not None and not functions_cfg.reserve_concurrency:
        need = LAMBDA_UNRESERVED_MINIMUM + sum(functions_cfg.reserved_concurrency.values())
        yield _rule("lambda.reserved-concurrency").finding(None, (
            f"reserved concurrency is off (functions.reserve_concurrency: false): the {len(fns)} functions "
            f"share the account's pool and only the HTTP API throttle bounds their database connections. "
            f"To turn it on, first ask Service Quotas for Lambda 'Concurrent executions' "
            f"({LAMBDA_CONCURRENCY_QUOTA}) of at least {need} in {ctx.config.region}"), "warning")
        return
    for r in fns:
        if int(r.get("reservedConcurrentExecutions") or -1) < 1:
            yield _rule("lambda.reserved-concurrency").finding(r, "reserved_concurrent_executions must be >= 1")


def _ecr_scan(ctx):
    for r in ctx.of("aws:ecr/repository:Repository"):
        if (r.get("imageScanningConfiguration") or {}).get("scanOnPush") is not True:
            yield _rule("ecr.scan-on-push").finding(r, "image_scanning_configuration.scan_on_push must be True")


def _sqs_encrypted(ctx):
    for r in ctx.of("aws:sqs/queue:Queue"):
        if r.get("sqsManagedSseEnabled") is not True and not r.get("kmsMasterKeyId"):
            yield _rule("sqs.encrypted").finding(r, "enable sqs_managed_sse_enabled (free) or a KMS key")


def _ssm_secure(ctx):
    for r in ctx.of("aws:ssm/parameter:Parameter"):
        secret = "value" in r.secret_inputs or "insecureValue" in r.secret_inputs
        if (secret or _secret_like(str(r.get("name") or ""))) and r.get("type") != "SecureString":
            yield _rule("secrets.secure-string").finding(r, "a secret parameter must be a SecureString")


def _role(ctx, ref: Any) -> Optional[RecordedResource]:
    """The IAM role a policy or attachment names (by name or id)."""
    for r in ctx.of("aws:iam/role:Role"):
        if ref is not None and ref in (r.out("name"), r.out("id"), r.id):
            return r
    return None


def _ssm_core_fenced(ctx):
    for att in ctx.of("aws:iam/rolePolicyAttachment:RolePolicyAttachment"):
        if att.get("policyArn") != SSM_CORE_POLICY_ARN:
            continue
        role = _role(ctx, att.get("role"))
        fenced = False
        for rp in ctx.of("aws:iam/rolePolicy:RolePolicy"):
            if role is None or _role(ctx, rp.get("role")) is not role:
                continue
            doc = rp.get("policy")
            doc = json.loads(doc) if isinstance(doc, str) else (doc or {})
            for st in doc.get("Statement") or []:
                actions = st.get("Action")
                actions = {actions} if isinstance(actions, str) else set(actions or [])
                if st.get("Effect") == "Deny" and "NotResource" in st and set(PARAMETER_READS) <= actions:
                    fenced = True
        if not fenced:
            yield _rule("iam.ssm-core-fenced").finding(
                att, "AmazonSSMManagedInstanceCore reads every SSM parameter (the runtime's secrets): add "
                     "components.secrets.fence_parameter_reads() to the role's inline policy")


def _env_vars(r: RecordedResource) -> Iterable[tuple[str, Any, bool]]:
    """(name, value, is_secret) of the plain environment of a Lambda or ECS task definition."""
    if r.type == "aws:lambda/function:Function":
        env = (r.inputs.get("environment") or {})
        variables = env.get("variables") if isinstance(env, dict) else None
        if is_secret(variables):
            for k, v in (unwrap(variables) or {}).items():
                yield k, v, True
        else:
            for k, v in (variables or {}).items():
                yield k, v, is_secret(v)
    elif r.type == "aws:ecs/taskDefinition:TaskDefinition":
        raw = r.inputs.get("containerDefinitions")
        secret = is_secret(raw)
        try:
            defs = json.loads(unwrap(raw)) if raw else []
        except ValueError:
            defs = []
        for d in defs:
            for e in d.get("environment") or []:
                yield e.get("name", ""), e.get("value"), secret


def _no_plaintext_secrets(ctx):
    for r in ctx.of("aws:lambda/function:Function") + ctx.of("aws:ecs/taskDefinition:TaskDefinition"):
        for k, _value, secret in _env_vars(r):
            if _secret_like(k) and not secret:
                yield _rule("secrets.no-plaintext-env").finding(
                    r, f"environment variable {k} holds a secret in plain text; pass it from SSM/Secrets Manager")


def _secret_rotation(ctx):
    rotated = {r.get("secretId") for r in ctx.of("aws:secretsmanager/secretRotation:SecretRotation")}
    for s in ctx.of("aws:secretsmanager/secret:Secret"):
        if s.id not in rotated and s.out("arn") not in rotated:
            yield _rule("secretsmanager.rotation").finding(s, "has no rotation; use SSM SecureString if it never rotates")


def _flow_logs(ctx):
    if ctx.config.profile == "beta":
        return
    logged = {f.get("vpcId") for f in ctx.of("aws:ec2/flowLog:FlowLog")}
    for vpc in ctx.of("aws:ec2/vpc:Vpc"):
        if vpc.id not in logged:
            yield _rule("vpc.flow-logs").finding(vpc, "no flow logs; set network.flow_logs: true")


def _cost_unpriced(ctx):
    if ctx.cost is None:
        return
    for u in ctx.cost.unpriced:
        yield Finding("cost.unpriced", u["name"], "error",
                      f"{u['type']} is not priced ({u['why']}); add a pricer or declare it free in components/pricing.py")


def _cost_budget(ctx):
    if ctx.cost is None:
        return
    if ctx.cost.monthly_usd > ctx.cost.budget_usd:
        yield _rule("cost.budget").finding(None, f"estimate ${ctx.cost.monthly_usd:.2f}/month exceeds "
                                                f"budget.monthly_usd ${ctx.cost.budget_usd:.2f}")


def _cost_spot_worst_case(ctx):
    """Spot floats: say what the month costs at the worst-case Spot price when that breaks a limit."""
    if ctx.cost is None:
        return
    c = ctx.cost
    if c.fixed_ceiling_usd is not None and c.fixed_worst_usd > c.fixed_ceiling_usd >= c.fixed_usd:
        yield _rule("cost.spot-worst-case").finding(None, (
            f"fixed ${c.fixed_usd:.2f}/month at the typical Spot price fits budget.fixed_ceiling_usd "
            f"${c.fixed_ceiling_usd:.2f}, but at the worst-case Spot price it is ${c.fixed_worst_usd:.2f} "
            f"(usage.fargate_spot_discount_worst); the AWS budget alerts at 80 % and 100 %"))
    if c.monthly_worst_usd > c.budget_usd >= c.monthly_usd:
        yield _rule("cost.spot-worst-case").finding(None, (
            f"estimate ${c.monthly_usd:.2f}/month at the typical Spot price, ${c.monthly_worst_usd:.2f} at the "
            f"worst case: above budget.monthly_usd ${c.budget_usd:.2f}"))


def _cost_fixed(ctx):
    if ctx.cost is None or ctx.cost.fixed_ceiling_usd is None:
        return
    if ctx.cost.fixed_usd > ctx.cost.fixed_ceiling_usd:
        yield _rule("cost.fixed-ceiling").finding(None, f"fixed infrastructure ${ctx.cost.fixed_usd:.2f}/month "
                                                       f"exceeds budget.fixed_ceiling_usd ${ctx.cost.fixed_ceiling_usd:.2f}")


# --------------------------------------------------------------------------- bad examples

def _bad_rds(**over):
    def make():
        good = {"publiclyAccessible": False, "storageEncrypted": True, "backupRetentionPeriod": 7,
                "parameterGroupName": "pg", "deletionProtection": True}
        return example(fake("aws:rds/instance:Instance", "db", {**good, **over}),
                       fake("aws:rds/parameterGroup:ParameterGroup", "pg",
                            {"name": "pg", "parameters": [{"name": "rds.force_ssl", "value": "1"}]}),
                       config=example_config(profile="prod") if "deletionProtection" in over else None)
    return make


def _bad_bucket(skip: str):
    def make():
        parts = [fake("aws:s3/bucket:Bucket", "b", {}, id="b-id")]
        flags = {"bucket": "b-id", "blockPublicAcls": True, "blockPublicPolicy": True,
                 "ignorePublicAcls": True, "restrictPublicBuckets": skip != "pab-flag"}
        if skip != "pab":
            parts.append(fake("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "b-pab", flags))
        if skip != "sse":
            parts.append(fake("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
                              "b-sse", {"bucket": "b-id", "rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}]}))
        if skip != "lifecycle":
            parts.append(fake("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "b-lc", {"bucket": "b-id", "rules": []}))
        if skip != "tls":
            parts.append(fake("aws:s3/bucketPolicy:BucketPolicy", "b-pol", {"bucket": "b-id", "policy": json.dumps(
                {"Statement": [{"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]})}))
        return example(*parts)
    return make


def _bad_open_ingress():
    return example(fake("aws:ec2/securityGroup:SecurityGroup", "core", {"tags": {"unamentis:role": "core"}}, id="sg-core"),
                   fake("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", "core-ssh",
                        {"securityGroupId": "sg-core", "ipProtocol": "tcp", "fromPort": 22, "toPort": 22,
                         "cidrIpv4": "0.0.0.0/0"}))


def _bad_alb_range():
    return example(fake("aws:ec2/securityGroup:SecurityGroup", "alb", {"tags": {"unamentis:role": "alb"}}, id="sg-alb"),
                   fake("aws:ec2/securityGroupRule:SecurityGroupRule", "alb-in",
                        {"type": "ingress", "securityGroupId": "sg-alb", "protocol": "tcp", "fromPort": 443,
                         "toPort": 443, "cidrBlocks": ["173.245.48.0/20", "203.0.113.0/24"]}),
                   config=example_config(ingress="alb"))


def _bad_default_sg():
    return example(fake("aws:ec2/vpc:Vpc", "vpc", {"cidrBlock": "10.0.0.0/16"}, id="vpc-1"),
                   fake("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup", "dsg",
                        {"vpcId": "vpc-1", "ingress": [{"protocol": "-1", "self": True}]}))


def _bad_lt():
    return example(fake("aws:ec2/launchTemplate:LaunchTemplate", "lt", {
        "metadataOptions": {"httpTokens": "optional"},
        "blockDeviceMappings": [{"deviceName": "/dev/xvda", "ebs": {"encrypted": "true"}}]}))


def _bad_lt_ebs():
    return example(fake("aws:ec2/launchTemplate:LaunchTemplate", "lt", {
        "metadataOptions": {"httpTokens": "required", "httpPutResponseHopLimit": 1},
        "blockDeviceMappings": [{"deviceName": "/dev/xvda", "ebs": {"encrypted": "false"}}]}))


def _bad_rds_subnets():
    return example(fake("aws:ec2/subnet:Subnet", "pub", {"tags": {"Tier": "public"}}, id="subnet-pub"),
                   fake("aws:rds/subnetGroup:SubnetGroup", "dbs", {"subnetIds": ["subnet-pub"]}))


def _bad_cost(kind: str):
    def make():
        line = CostLine("x", "t", "", "item", 18.0 if kind == "spot" else 30.0, "fixed", "a",
                        worst_usd=22.0 if kind == "spot" else None)
        report = CostReport(lines=[line], unpriced=[{"type": "aws:x/y:Z", "name": "z", "why": "test"}] if kind == "unpriced" else [],
                            budget_usd=25.0 if kind == "budget" else 100.0,
                            fixed_ceiling_usd=20.0 if kind in ("fixed", "spot") else None,
                            assumptions={}, region="us-east-1")
        return example(config=example_config(), cost=report)
    return make


RULES: list[Rule] = [
    Rule("rds.private", "error", "RDS is not publicly accessible", ("CKV_AWS_17",), _rds_private,
         _bad_rds(publiclyAccessible=True)),
    Rule("rds.encrypted", "error", "RDS storage is encrypted", ("CKV_AWS_16",), _rds_encrypted,
         _bad_rds(storageEncrypted=False)),
    Rule("rds.backups", "error", "RDS keeps automated backups", ("CKV_AWS_133",), _rds_backups,
         _bad_rds(backupRetentionPeriod=0)),
    Rule("rds.force-ssl", "error", "RDS accepts TLS connections only", ("CKV2_AWS_69",), _rds_force_ssl,
         _bad_rds(parameterGroupName="other")),
    Rule("rds.deletion-protection", "error", "prod/customer databases are deletion-protected",
         ("CKV_AWS_293",), _rds_deletion_protection, _bad_rds(deletionProtection=False)),
    Rule("rds.data-subnets", "error", "RDS lives only in the isolated data tier", (),
         _rds_data_subnets, _bad_rds_subnets),
    Rule("s3.public-access-blocked", "error", "every bucket blocks public access (4 flags)",
         ("CKV_AWS_53", "CKV_AWS_54", "CKV_AWS_55", "CKV_AWS_56", "CKV2_AWS_6"), _s3_public_access,
         _bad_bucket("pab-flag")),
    Rule("s3.encrypted", "error", "every bucket has default encryption", ("CKV_AWS_19",), _s3_encrypted,
         _bad_bucket("sse")),
    Rule("s3.lifecycle", "warning", "every bucket has a lifecycle configuration", ("CKV2_AWS_61",),
         _s3_lifecycle, _bad_bucket("lifecycle")),
    Rule("s3.tls-only", "error", "every bucket denies plain-HTTP access", (), _s3_tls_only,
         _bad_bucket("tls")),
    Rule("sg.no-open-ingress", "error", "no 0.0.0.0/0 or ::/0 ingress except the no-CDN ALB on 443",
         ("CKV_AWS_24", "CKV_AWS_25", "CKV_AWS_260", "CKV_AWS_277"), _sg_open_ingress, _bad_open_ingress),
    Rule("sg.alb-cloudflare-only", "error", "with Cloudflare the ALB admits only Cloudflare ranges on 443",
         (), _sg_alb_cloudflare_only, _bad_alb_range),
    Rule("sg.default-restricted", "error", "the VPC default security group has no rules",
         ("CKV2_AWS_12",), _sg_default_restricted, _bad_default_sg),
    Rule("sg.description-charset", "error", "security group descriptions use only characters AWS accepts",
         ("CKV_AWS_23",), _sg_descriptions,
         lambda: example(fake("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", "r",
                              {"securityGroupId": "sg-1", "ipProtocol": "tcp", "fromPort": 443, "toPort": 443,
                               "referencedSecurityGroupId": "sg-2", "description": "the ALB's traffic"}))),
    Rule("ec2.imdsv2", "error", "IMDSv2 required on every instance and launch template",
         ("CKV_AWS_79", "CKV_AWS_341"), _imdsv2, _bad_lt),
    Rule("ec2.ebs-encrypted", "error", "EBS volumes of instances are encrypted", ("CKV_AWS_8",),
         _ebs_encrypted, _bad_lt_ebs),
    Rule("logs.retention", "error", "every log group has a retention", ("CKV_AWS_66",), _log_retention,
         lambda: example(fake("aws:cloudwatch/logGroup:LogGroup", "lg", {"name": "/x"}))),
    Rule("alb.drop-invalid-headers", "error", "ALBs drop invalid header fields", ("CKV_AWS_131",),
         _alb_headers, lambda: example(fake("aws:lb/loadBalancer:LoadBalancer", "alb",
                                            {"loadBalancerType": "application", "dropInvalidHeaderFields": False}))),
    Rule("alb.tls13", "error", "HTTPS listeners use a TLS 1.3 policy; HTTP only redirects",
         ("CKV_AWS_103", "CKV2_AWS_20"), _alb_tls,
         lambda: example(fake("aws:lb/listener:Listener", "https",
                              {"protocol": "HTTPS", "sslPolicy": "ELBSecurityPolicy-2016-08"}))),
    Rule("lambda.reserved-concurrency", "error", "Lambdas have reserved concurrency", ("CKV_AWS_115",),
         _lambda_concurrency, lambda: example(fake("aws:lambda/function:Function", "fn", {"memorySize": 512}))),
    Rule("ecr.scan-on-push", "error", "ECR repositories scan on push", ("CKV_AWS_163",), _ecr_scan,
         lambda: example(fake("aws:ecr/repository:Repository", "repo",
                              {"imageScanningConfiguration": {"scanOnPush": False}}))),
    Rule("sqs.encrypted", "error", "queues are encrypted at rest", ("CKV_AWS_27",), _sqs_encrypted,
         lambda: example(fake("aws:sqs/queue:Queue", "q", {"sqsManagedSseEnabled": False}))),
    Rule("secrets.secure-string", "error", "secret SSM parameters are SecureStrings", (), _ssm_secure,
         lambda: example(fake("aws:ssm/parameter:Parameter", "p", {"name": "/x/db", "type": "String",
                                                                    "value": "postgresql://u:p@h/db"},
                              secret=("value",)))),
    Rule("iam.ssm-core-fenced", "error",
         "instance roles with Session Manager's policy cannot read the stack's parameters", (),
         _ssm_core_fenced,
         lambda: example(fake("aws:iam/role:Role", "node-role", {"name": "node-role"}),
                         fake("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "node-ssm", {
                             "role": "node-role",
                             "policyArn": "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"}),
                         fake("aws:iam/rolePolicy:RolePolicy", "node-policy", {"role": "node-role-id", "policy": json.dumps({
                             "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject",
                                                                     "Resource": "*"}]})}))),
    Rule("secrets.no-plaintext-env", "error", "no secret in a plain environment variable", ("CKV_AWS_45",),
         _no_plaintext_secrets,
         lambda: example(fake("aws:lambda/function:Function", "fn", {
             "reservedConcurrentExecutions": 2,
             "environment": {"variables": {"DATABASE_URL": "postgresql://u:p@h/db"}}}))),
    Rule("secretsmanager.rotation", "warning", "Secrets Manager secrets rotate", ("CKV2_AWS_57",),
         _secret_rotation, lambda: example(fake("aws:secretsmanager/secret:Secret", "s", {}))),
    Rule("vpc.flow-logs", "warning", "prod/customer VPCs keep flow logs", ("CKV2_AWS_11",), _flow_logs,
         lambda: example(fake("aws:ec2/vpc:Vpc", "vpc", {}, id="vpc-1"),
                         config=example_config(profile="prod", ingress="alb",
                                               network={"flow_logs": False}))),
    Rule("cost.unpriced", "error", "every created resource type has a price (or is declared free)", (),
         _cost_unpriced, _bad_cost("unpriced")),
    Rule("cost.budget", "error", "the estimate fits budget.monthly_usd", (), _cost_budget, _bad_cost("budget")),
    Rule("cost.spot-worst-case", "warning",
         "the plan states when the worst-case Spot price would break the fixed ceiling or the budget",
         (), _cost_spot_worst_case, _bad_cost("spot")),
    Rule("cost.fixed-ceiling", "error", "fixed infrastructure fits budget.fixed_ceiling_usd", (), _cost_fixed,
         _bad_cost("fixed")),
]


_rule = rule_finder(lambda: RULES)
