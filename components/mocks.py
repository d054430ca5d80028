"""Recording Pulumi mocks: run the program with no cloud, no credentials, no network.

`RecordingMocks` answers `new_resource` with realistic ids and outputs (ARNs, endpoints,
URLs, generated passwords …) so downstream inputs resolve as they would in `pulumi up`, and
answers the invokes the program makes (`INVOKES`; an unknown invoke raises, so a new data
source can never silently return nothing). `RecordingMonitor` records every registered
resource — type, name, inputs (secrets kept wrapped, redacted on export), outputs, parent —
into a `Recording` that `plan`, `pricing`, `policy` and the tests read.

Adding an invoke: add `"<token>": function(args, mocks) -> dict` to `INVOKES`.
Adding outputs for a resource type: add `"<type token>": function(ctx) -> dict` to `OUTPUTS`.
Output keys are camelCase (the engine's wire names).
"""
from __future__ import annotations

import asyncio
import hashlib
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import pulumi
from pulumi.runtime import mocks as _pm
from pulumi.runtime import rpc, settings
from pulumi.runtime.stack import run_pulumi_func

REDACTED = "[secret]"
ACCOUNT_ID = "123456789012"
SECRET_SIG = rpc._special_secret_sig  # the wire marker of a secret value


def _digest(*parts: str, n: int = 17) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:n]


def is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(rpc._special_sig_key) == SECRET_SIG


def unwrap(value: Any) -> Any:
    """Inputs with every secret replaced by its plain value (for assertions on content)."""
    if is_secret(value):
        return unwrap(value.get("value"))
    if isinstance(value, dict):
        return {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    return value


def describe_asset(value: Any) -> Any:
    """A Pulumi asset/archive as plain data (its kind and where it comes from)."""
    for attr in ("path", "uri", "text"):
        if hasattr(value, attr):
            return {"asset": type(value).__name__, attr: getattr(value, attr)}
    if hasattr(value, "assets"):
        return {"asset": type(value).__name__,
                "assets": {k: describe_asset(v) for k, v in sorted(value.assets.items())}}
    return value


def redact(value: Any) -> Any:
    """Inputs with every secret replaced by `REDACTED` and assets described (what plan shows)."""
    if is_secret(value):
        return REDACTED
    if isinstance(value, (pulumi.Asset, pulumi.Archive)):
        return describe_asset(value)
    if isinstance(value, dict):
        return {k: redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def secret_paths(value: Any, path: str = "") -> list[str]:
    """Dotted paths of the secret values inside `value`."""
    if is_secret(value):
        return [path or "."]
    out: list[str] = []
    if isinstance(value, dict):
        for k, v in value.items():
            out += secret_paths(v, f"{path}.{k}" if path else k)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += secret_paths(v, f"{path}[{i}]")
    return out


# --------------------------------------------------------------------------- recording


@dataclass
class RecordedResource:
    """One registered resource. `inputs` keep secrets wrapped; use `.plain` / `.redacted`."""
    type: str
    name: str
    urn: str
    parent: Optional[str]  # parent URN (None for the stack itself)
    custom: bool
    inputs: dict
    outputs: dict
    id: str = ""
    read: bool = False  # `Resource.get(...)` of an existing resource
    dependencies: list[str] = field(default_factory=list)  # URNs it waits for (depends_on and inputs)

    @property
    def plain(self) -> dict:
        return unwrap(self.inputs)

    @property
    def redacted(self) -> dict:
        return redact(self.inputs)

    @property
    def secret_inputs(self) -> list[str]:
        return secret_paths(self.inputs)

    def get(self, key: str, default: Any = None) -> Any:
        """Input `key` (camelCase) with secrets unwrapped."""
        return unwrap(self.inputs.get(key, default))

    def out(self, key: str, default: Any = None) -> Any:
        return unwrap(self.outputs.get(key, default))


@dataclass
class Recording:
    resources: list[RecordedResource] = field(default_factory=list)

    def add(self, r: RecordedResource) -> None:
        self.resources.append(r)

    @property
    def custom(self) -> list[RecordedResource]:
        """Real cloud resources (not components, not providers)."""
        return [r for r in self.resources
                if r.custom and not r.type.startswith("pulumi:providers:")]

    @property
    def components(self) -> list[RecordedResource]:
        return [r for r in self.resources if not r.custom]

    def of_type(self, type_: str) -> list[RecordedResource]:
        return [r for r in self.resources if r.type == type_]

    def named(self, name: str) -> RecordedResource:
        found = [r for r in self.resources if r.name == name]
        if len(found) != 1:
            raise KeyError(f"{len(found)} resources named {name!r}")
        return found[0]

    def by_urn(self, urn: Optional[str]) -> Optional[RecordedResource]:
        for r in self.resources:
            if r.urn == urn:
                return r
        return None

    def children(self, parent: RecordedResource) -> list[RecordedResource]:
        return [r for r in self.resources if r.parent == parent.urn]

    def component_of(self, r: RecordedResource) -> str:
        """Name of the nearest enclosing component ("" at the top level)."""
        p = self.by_urn(r.parent)
        while p is not None and p.custom:
            p = self.by_urn(p.parent)
        return p.name if p is not None else ""

    def find_by_output(self, key: str, value: Any) -> Optional[RecordedResource]:
        """The resource whose output `key` (e.g. "arn", "id") equals `value`."""
        if value is None:
            return None
        for r in self.resources:
            if r.out(key) == value or (key == "id" and r.id == value):
                return r
        return None


# --------------------------------------------------------------------------- outputs


@dataclass
class OutputContext:
    type: str
    name: str
    inputs: dict
    region: str
    account: str
    physical: str  # the name the cloud would see

    def arn(self, service: str, resource: str, region: bool = True, account: bool = True) -> str:
        return (f"arn:aws:{service}:{self.region if region else ''}:"
                f"{self.account if account else ''}:{resource}")


def _aws_id(prefix: str) -> Callable[[OutputContext], dict]:
    return lambda c: {"id": f"{prefix}-{_digest(c.type, c.name)}"}


OUTPUTS: dict[str, Callable[[OutputContext], dict]] = {
    "aws:ec2/vpc:Vpc": lambda c: {
        "id": f"vpc-{_digest(c.name)}", "defaultSecurityGroupId": f"sg-{_digest(c.name, 'd')}",
        "mainRouteTableId": f"rtb-{_digest(c.name, 'main')}",
        "arn": c.arn("ec2", f"vpc/vpc-{_digest(c.name)}")},
    "aws:ec2/subnet:Subnet": _aws_id("subnet"),
    "aws:ec2/routeTable:RouteTable": _aws_id("rtb"),
    "aws:ec2/internetGateway:InternetGateway": _aws_id("igw"),
    "aws:ec2/natGateway:NatGateway": lambda c: {"id": f"nat-{_digest(c.name)}",
                                                "publicIp": "198.51.100.7"},
    "aws:ec2/eip:Eip": lambda c: {"id": f"eipalloc-{_digest(c.name)}",
                                  "allocationId": f"eipalloc-{_digest(c.name)}",
                                  "publicIp": "198.51.100.9"},
    "aws:ec2/networkInterface:NetworkInterface": lambda c: {
        "id": f"eni-{_digest(c.name)}", "privateIp": "10.0.0.10"},
    "aws:ec2/securityGroup:SecurityGroup": lambda c: {
        "id": f"sg-{_digest(c.name)}", "arn": c.arn("ec2", f"security-group/sg-{_digest(c.name)}")},
    "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": _aws_id("sg"),
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": _aws_id("sgr"),
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": _aws_id("sgr"),
    "aws:ec2/securityGroupRule:SecurityGroupRule": _aws_id("sgrule"),
    "aws:ec2/vpcEndpoint:VpcEndpoint": lambda c: {
        "id": f"vpce-{_digest(c.name)}", "prefixListId": "pl-63a5400a",
        "arn": c.arn("ec2", f"vpc-endpoint/vpce-{_digest(c.name)}")},
    "aws:ec2/launchTemplate:LaunchTemplate": lambda c: {
        "id": f"lt-{_digest(c.name)}", "latestVersion": 1, "defaultVersion": 1,
        "arn": c.arn("ec2", f"launch-template/lt-{_digest(c.name)}")},
    "aws:ec2/instance:Instance": lambda c: {
        "id": f"i-{_digest(c.name)}", "primaryNetworkInterfaceId": f"eni-{_digest(c.name, 'p')}",
        "privateIp": "10.0.0.20"},
    "aws:ec2/flowLog:FlowLog": _aws_id("fl"),
    "aws:autoscaling/group:Group": lambda c: {
        "arn": c.arn("autoscaling", f"autoScalingGroup:{uuid.UUID(_digest(c.name, n=32))}:"
                     f"autoScalingGroupName/{c.physical}")},
    "aws:rds/instance:Instance": lambda c: {
        "address": f"{c.physical}.c{_digest(c.name, n=11)}.{c.region}.rds.amazonaws.com",
        "endpoint": f"{c.physical}.c{_digest(c.name, n=11)}.{c.region}.rds.amazonaws.com:5432",
        "port": 5432, "resourceId": f"db-{_digest(c.name, n=26).upper()}",
        "identifier": c.physical,
        "arn": c.arn("rds", f"db:{c.physical}"),
        "masterUserSecrets": ([{"secretArn": c.arn("secretsmanager", f"secret:rds!db-{_digest(c.name)}"),
                                "secretStatus": "active", "kmsKeyId": ""}]
                              if c.inputs.get("manageMasterUserPassword") else [])},
    "aws:s3/bucket:Bucket": lambda c: {
        "bucket": c.physical, "arn": f"arn:aws:s3:::{c.physical}",
        "bucketRegionalDomainName": f"{c.physical}.s3.{c.region}.amazonaws.com"},
    "aws:sqs/queue:Queue": lambda c: {
        "id": f"https://sqs.{c.region}.amazonaws.com/{c.account}/{c.physical}",
        "url": f"https://sqs.{c.region}.amazonaws.com/{c.account}/{c.physical}",
        "arn": c.arn("sqs", c.physical)},
    "aws:sns/topic:Topic": lambda c: {"id": c.arn("sns", c.physical), "arn": c.arn("sns", c.physical)},
    "aws:ssm/parameter:Parameter": lambda c: {
        "arn": c.arn("ssm", "parameter/" + c.physical.lstrip("/"))},
    "aws:iam/role:Role": lambda c: {"arn": c.arn("iam", f"role/{c.physical}", region=False),
                                    "uniqueId": f"AROA{_digest(c.name).upper()}"},
    "aws:iam/policy:Policy": lambda c: {"arn": c.arn("iam", f"policy/{c.physical}", region=False)},
    "aws:iam/instanceProfile:InstanceProfile": lambda c: {
        "arn": c.arn("iam", f"instance-profile/{c.physical}", region=False)},
    "aws:cloudwatch/logGroup:LogGroup": lambda c: {"arn": c.arn("logs", f"log-group:{c.physical}")},
    "aws:cloudwatch/metricAlarm:MetricAlarm": lambda c: {"arn": c.arn("cloudwatch", f"alarm:{c.physical}")},
    "aws:ecs/cluster:Cluster": lambda c: {"arn": c.arn("ecs", f"cluster/{c.physical}")},
    "aws:ecs/taskDefinition:TaskDefinition": lambda c: {
        "arn": c.arn("ecs", f"task-definition/{c.inputs.get('family', c.physical)}:1"),
        "arnWithoutRevision": c.arn("ecs", f"task-definition/{c.inputs.get('family', c.physical)}"),
        "revision": 1},
    "aws:ecs/service:Service": lambda c: {"arn": c.arn("ecs", f"service/{c.physical}")},
    "aws:ecr/repository:Repository": lambda c: {
        "arn": c.arn("ecr", f"repository/{c.physical}"), "registryId": c.account,
        "repositoryUrl": f"{c.account}.dkr.ecr.{c.region}.amazonaws.com/{c.physical}"},
    "aws:lambda/function:Function": lambda c: {
        "arn": c.arn("lambda", f"function:{c.physical}"),
        "invokeArn": f"arn:aws:apigateway:{c.region}:lambda:path/2015-03-31/functions/"
                     f"{c.arn('lambda', 'function:' + c.physical)}/invocations",
        "qualifiedArn": c.arn("lambda", f"function:{c.physical}:1"), "version": "1"},
    "aws:lambda/layerVersion:LayerVersion": lambda c: {
        "arn": c.arn("lambda", f"layer:{c.physical}:1"), "version": "1"},
    "aws:lb/loadBalancer:LoadBalancer": lambda c: {
        "arn": c.arn("elasticloadbalancing", f"loadbalancer/app/{c.physical}/{_digest(c.name, n=16)}"),
        "arnSuffix": f"app/{c.physical}/{_digest(c.name, n=16)}",
        "dnsName": f"{c.physical}-{_digest(c.name, n=10)}.{c.region}.elb.amazonaws.com",
        "zoneId": "Z35SXDOTRQ7X7K"},
    "aws:lb/targetGroup:TargetGroup": lambda c: {
        "arn": c.arn("elasticloadbalancing", f"targetgroup/{c.physical[:32]}/{_digest(c.name, n=16)}"),
        "arnSuffix": f"targetgroup/{c.physical[:32]}/{_digest(c.name, n=16)}"},
    "aws:lb/listener:Listener": lambda c: {
        "arn": c.arn("elasticloadbalancing", f"listener/app/{c.physical}/{_digest(c.name, n=16)}")},
    "aws:acm/certificate:Certificate": lambda c: {
        "arn": c.arn("acm", f"certificate/{uuid.UUID(_digest(c.name, n=32))}"),
        "domainValidationOptions": [
            {"domainName": d, "resourceRecordName": f"_{_digest(d, n=32)}.{d}.",
             "resourceRecordType": "CNAME",
             "resourceRecordValue": f"_{_digest(d, 'v', n=32)}.acm-validations.aws."}
            for d in [c.inputs.get("domainName", "")] + list(c.inputs.get("subjectAlternativeNames") or [])]},
    "aws:apigatewayv2/api:Api": lambda c: {
        "id": _digest(c.name, n=10),
        "apiEndpoint": f"https://{_digest(c.name, n=10)}.execute-api.{c.region}.amazonaws.com",
        "executionArn": c.arn("execute-api", _digest(c.name, n=10)),
        "arn": f"arn:aws:apigateway:{c.region}::/apis/{_digest(c.name, n=10)}"},
    "aws:apigatewayv2/domainName:DomainName": lambda c: {
        "domainNameConfiguration": {**(c.inputs.get("domainNameConfiguration") or {}),
                                    "targetDomainName": f"d-{_digest(c.name, n=10)}.execute-api.{c.region}.amazonaws.com",
                                    "hostedZoneId": "Z1UJRXOUMOOFQ8"}},
    # The image build reports the pushed tag pinned to its digest.
    "docker-build:index:Image": lambda c: {
        "digest": "sha256:" + _digest("image", c.name, n=64),
        "ref": f"{(c.inputs.get('tags') or ['image:latest'])[0]}@sha256:{_digest('image', c.name, n=64)}"},
    "aws:apigatewayv2/stage:Stage": lambda c: {"id": c.inputs.get("name", "$default")},
    "random:index/randomPassword:RandomPassword": lambda c: {
        "result": "Mk" + _digest("password", c.name, n=int(c.inputs.get("length", 32)) - 2),
        "bcryptHash": "$2a$10$" + _digest("bcrypt", c.name, n=53)},
    "random:index/randomId:RandomId": lambda c: {
        "hex": _digest("id", c.name, n=int(c.inputs.get("byteLength", 8)) * 2),
        "b64Url": _digest("id64", c.name, n=int(c.inputs.get("byteLength", 8)) * 4 // 3),
        "b64Std": _digest("id64", c.name, n=int(c.inputs.get("byteLength", 8)) * 4 // 3),
        "dec": str(int(_digest("id", c.name, n=12), 16))},
    "random:index/randomString:RandomString": lambda c: {
        "result": _digest("string", c.name, n=int(c.inputs.get("length", 16)))},
    "random:index/randomUuid:RandomUuid": lambda c: {"result": str(uuid.UUID(_digest("u", c.name, n=32)))},
    "cloudflare:index/zeroTrustAccessApplication:ZeroTrustAccessApplication": lambda c: {
        "aud": _digest("aud", c.name, n=64)},
    "cloudflare:index/zeroTrustTunnelCloudflared:ZeroTrustTunnelCloudflared": lambda c: {
        "id": str(uuid.UUID(_digest("tunnel", c.name, n=32)))},
    # An account token's value is shown once at creation (R2 S3 credentials).
    "cloudflare:index/accountToken:AccountToken": lambda c: {
        "id": _digest("token-id", c.name, n=32), "value": "cf" + _digest("token-value", c.name, n=38)},
    "cloudflare:index/workersScript:WorkersScript": lambda c: {
        "id": c.inputs.get("scriptName", c.name), "etag": _digest("etag", c.name, n=32)},
    # The EKS path (compute.platform: eks).
    "aws:kms/key:Key": lambda c: {"arn": c.arn("kms", f"key/{uuid.UUID(_digest(c.name, n=32))}"),
                                  "keyId": str(uuid.UUID(_digest(c.name, n=32)))},
    "aws:eks/cluster:Cluster": lambda c: {
        "arn": c.arn("eks", f"cluster/{c.physical}"),
        "endpoint": f"https://{_digest(c.name, n=32).upper()}.gr7.{c.region}.eks.amazonaws.com",
        "certificateAuthority": {"data": "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCm1vY2sKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo="},
        "vpcConfig": {**(c.inputs.get("vpcConfig") or {}), "clusterSecurityGroupId": f"sg-{_digest(c.name, 'cluster')}",
                      "vpcId": f"vpc-{_digest('vpc')}"},
        "identities": [{"oidcs": [{"issuer": f"https://oidc.eks.{c.region}.amazonaws.com/id/{_digest(c.name, n=32).upper()}"}]}],
        "status": "ACTIVE"},
    "aws:eks/nodeGroup:NodeGroup": lambda c: {"arn": c.arn("eks", f"nodegroup/{c.physical}"), "status": "ACTIVE"},
    "aws:eks/addon:Addon": lambda c: {"arn": c.arn("eks", f"addon/{c.inputs.get('addonName', c.physical)}"),
                                      "addonVersion": "v1.0.0-eksbuild.1"},
    "aws:eks/podIdentityAssociation:PodIdentityAssociation": lambda c: {
        "associationArn": c.arn("eks", f"podidentityassociation/{c.physical}"), "associationId": f"a-{_digest(c.name)}"},
    "aws:elasticache/replicationGroup:ReplicationGroup": lambda c: {
        "arn": c.arn("elasticache", f"replicationgroup:{c.physical}"),
        "primaryEndpointAddress": f"master.{c.physical}.{_digest(c.name, n=6)}.use1.cache.amazonaws.com",
        "readerEndpointAddress": f"replica.{c.physical}.{_digest(c.name, n=6)}.use1.cache.amazonaws.com"},
    "aws:elasticache/subnetGroup:SubnetGroup": lambda c: {"name": c.physical},
}

_PHYSICAL_KEYS = ("name", "bucket", "identifier", "family", "functionName", "layerName")


def _physical_name(type_: str, name: str, inputs: dict) -> str:
    for k in _PHYSICAL_KEYS:
        v = unwrap(inputs.get(k))
        if isinstance(v, str) and v:
            return v
    # Pulumi auto-naming: logical name + a random suffix (deterministic here).
    return f"{name}-{_digest(type_, name, n=7)}"


# --------------------------------------------------------------------------- invokes


def _ip_ranges(args: dict, m: "RecordingMocks") -> dict:
    # Cloudflare's published ranges (https://www.cloudflare.com/ips/), a fixed snapshot.
    return {
        "id": "cloudflare-ip-ranges", "etag": "mock-etag",
        "ipv4Cidrs": list(CLOUDFLARE_IPV4), "ipv6Cidrs": list(CLOUDFLARE_IPV6),
        "jdcloudCidrs": [], "networks": args.get("networks"),
    }


CLOUDFLARE_IPV4 = ("173.245.48.0/20", "103.21.244.0/22", "103.22.200.0/22", "103.31.4.0/22",
                   "141.101.64.0/18", "108.162.192.0/18", "190.93.240.0/20", "188.114.96.0/20",
                   "197.234.240.0/22", "198.41.128.0/17", "162.158.0.0/15", "104.16.0.0/13",
                   "104.24.0.0/14", "172.64.0.0/13", "131.0.72.0/22")
CLOUDFLARE_IPV6 = ("2400:cb00::/32", "2606:4700::/32", "2803:f800::/32", "2405:b500::/32",
                   "2405:8100::/32", "2a06:98c0::/29", "2c0f:f248::/32")

SSM_PUBLIC_PARAMETERS = {
    "/aws/service/ecs/optimized-ami/amazon-linux-2023/gpu/recommended/image_id": "ami-0a1b2c3d4e5f60718",
    "/aws/service/ecs/optimized-ami/amazon-linux-2/gpu/recommended/image_id": "ami-0b2c3d4e5f6071829",
}


def _ssm_parameter(args: dict, m: "RecordingMocks") -> dict:
    name = args.get("name", "")
    if name.startswith("/aws/service/deeplearning/ami/"):
        value = "ami-0c3d4e5f60718293a"
    elif name in SSM_PUBLIC_PARAMETERS:
        value = SSM_PUBLIC_PARAMETERS[name]
    else:
        raise NotImplementedError(f"mock SSM parameter {name!r} is unknown; add it to SSM_PUBLIC_PARAMETERS")
    return {"id": name, "name": name, "value": value, "insecureValue": value, "type": "String",
            "arn": f"arn:aws:ssm:{m.region}::parameter{name}", "version": 1,
            "withDecryption": args.get("withDecryption", True)}


INVOKES: dict[str, Callable[[dict, "RecordingMocks"], dict]] = {
    "aws:index/getCallerIdentity:getCallerIdentity": lambda a, m: {
        "accountId": m.account, "arn": f"arn:aws:iam::{m.account}:user/plan",
        "id": m.account, "userId": "AIDAPLANMOCK"},
    "aws:index/getRegion:getRegion": lambda a, m: {
        "id": m.region, "name": m.region, "region": m.region,
        "endpoint": f"ec2.{m.region}.amazonaws.com", "description": m.region},
    "aws:index/getPartition:getPartition": lambda a, m: {
        "id": "aws", "partition": "aws", "dnsSuffix": "amazonaws.com",
        "reverseDnsPrefix": "com.amazonaws"},
    "aws:index/getAvailabilityZones:getAvailabilityZones": lambda a, m: {
        "id": m.region, "names": [f"{m.region}{s}" for s in "abcdef"],
        "zoneIds": [f"use1-az{i}" for i in range(1, 7)], "groupNames": [m.region]},
    "aws:ec2/getAmi:getAmi": lambda a, m: {
        "id": "ami-0f1e2d3c4b5a69788", "imageId": "ami-0f1e2d3c4b5a69788",
        "architecture": "arm64" if "arm64" in str(a) else "x86_64",
        "name": "fck-nat-al2023-hvm-1.3.0-20240125-arm64-ebs", "ownerId": "568608671756",
        "rootDeviceName": "/dev/xvda", "blockDeviceMappings": [], "mostRecent": True},
    "aws:ssm/getParameter:getParameter": _ssm_parameter,
    "aws:ec2/getPrefixList:getPrefixList": lambda a, m: {
        "id": "pl-63a5400a", "name": a.get("name", f"com.amazonaws.{m.region}.s3"),
        "cidrBlocks": ["3.5.0.0/19", "52.216.0.0/15"]},
    "aws:iam/getPolicyDocument:getPolicyDocument": lambda a, m: {
        "id": "policy", "json": __import__("json").dumps({"Version": "2012-10-17",
                                                          "Statement": a.get("statements", [])})},
    "cloudflare:index/getIpRanges:getIpRanges": _ip_ranges,
    # The registry login the image build pushes with.
    "aws:ecr/getAuthorizationToken:getAuthorizationToken": lambda a, m: {
        "id": m.region, "registryId": a.get("registryId", m.account),
        "authorizationToken": "QVdTOm1vY2stcGFzc3dvcmQ=", "userName": "AWS", "password": "mock-password",
        "expiresAt": "2026-11-26T12:00:00Z",
        "proxyEndpoint": f"https://{a.get('registryId', m.account)}.dkr.ecr.{m.region}.amazonaws.com"},
    # The permission group the R2 token is scoped with (id as the API lists it).
    "cloudflare:index/getAccountApiTokenPermissionGroupsList:getAccountApiTokenPermissionGroupsList":
        lambda a, m: {"accountId": a.get("accountId"), "name": a.get("name"), "results": [
            {"id": "2efd5506f9c8494dacb1fa10a3e7d5b6", "name": "Workers R2 Storage Bucket Item Write",
             "category": "developer_platform", "isSelectable": True,
             "scopes": ["com.cloudflare.edge.r2.bucket"]}]},
    "cloudflare:index/getZeroTrustTunnelCloudflaredToken:getZeroTrustTunnelCloudflaredToken":
        lambda a, m: {"accountId": a.get("accountId"), "tunnelId": a.get("tunnelId"),
                      "id": a.get("tunnelId"), "token": "eyJ" + _digest("tunnel-token", str(a.get("tunnelId")), n=60)},
}


class RecordingMocks(pulumi.runtime.Mocks):
    """Mocks with realistic outputs; every invoke must be known (strict, like awsx's tests)."""

    def __init__(self, region: str = "us-east-1", account: str = ACCOUNT_ID):
        self.region = region
        self.account = account
        self.invokes: list[tuple[str, dict]] = []

    def new_resource(self, args: _pm.MockResourceArgs) -> tuple[Optional[str], dict]:
        inputs = dict(args.inputs)
        physical = _physical_name(args.typ, args.name, inputs)
        ctx = OutputContext(args.typ, args.name, unwrap(inputs), self.region, self.account, physical)
        extra = OUTPUTS.get(args.typ, lambda c: {})(ctx)
        state = {**inputs, **{k: v for k, v in extra.items() if k != "id"}}
        if args.typ.startswith("aws:"):
            state.setdefault("arn", ctx.arn(args.typ.split(":")[1].split("/")[0], f"{physical}"))
            state.setdefault("tagsAll", unwrap(inputs.get("tags")) or {})
        if any(k in inputs for k in _PHYSICAL_KEYS) or args.typ.startswith("aws:"):
            for k in ("name",):
                state.setdefault(k, physical)
        rid = extra.get("id") or (args.resource_id or "") or f"{physical}"
        if not args.custom:
            return "", state
        return rid, state

    def call(self, args: _pm.MockCallArgs) -> tuple[dict, Optional[list]]:
        self.invokes.append((args.token, dict(args.args)))
        fn = INVOKES.get(args.token)
        if fn is None:
            raise NotImplementedError(f"mock invoke {args.token!r} is not implemented; "
                                      "add it to components.mocks.INVOKES")
        return fn(dict(args.args), self), []


class RecordingMonitor(_pm.MockMonitor):
    """A MockMonitor that also records parent, custom-ness and outputs of every resource."""

    def __init__(self, mocks: RecordingMocks):
        super().__init__(mocks)
        self.recording = Recording()

    def _record(self, request, urn: str, read: bool) -> None:
        reg = self.resources.get(urn)
        inputs = rpc.deserialize_properties(request.properties if read else request.object)
        self.recording.add(RecordedResource(
            type=request.type, name=request.name, urn=urn,
            parent=request.parent or None,
            custom=True if read else bool(request.custom),
            inputs=dict(inputs), outputs=dict(reg.state) if reg else {},
            id=reg.id if reg else "", read=read,
            dependencies=[] if read else list(getattr(request, "dependencies", []) or [])))

    def RegisterResource(self, request):
        resp = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            self._record(request, resp.urn, read=False)
        return resp

    def ReadResource(self, request):
        resp = super().ReadResource(request)
        self._record(request, resp.urn, read=True)
        return resp


def install(stack: str, project: str, region: str = "us-east-1",
            account: str = ACCOUNT_ID) -> RecordingMonitor:
    """Point the Pulumi runtime at fresh recording mocks (a new root stack each time)."""
    settings.ROOT.set(None)
    mocks = RecordingMocks(region=region, account=account)
    monitor = RecordingMonitor(mocks)
    _pm.set_mocks(mocks, project=project, stack=stack, preview=False, monitor=monitor)
    settings.SETTINGS.rpc_manager.clear()
    settings.SETTINGS.outputs.clear()
    return monitor



def running_under_mocks() -> bool:
    """True when the program runs on Pulumi's mock engine (`plan` and tests): never touch the network."""
    return isinstance(getattr(settings.SETTINGS, "monitor", None), _pm.MockMonitor)


def record(build: Callable[[], Any], stack: str = "test", project: str = "unamentis-cloud") -> Recording:
    """Run `build` (which creates resources) under fresh recording mocks and return what it
    recorded, once every outstanding registration has finished."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)  # before install: the mock engine binds to the current loop
    monitor = install(stack, project)
    try:
        loop.run_until_complete(run_pulumi_func(build))
    finally:
        loop.close()
        asyncio.set_event_loop(None)
    return monitor.recording
