"""Network, NAT and the security-group matrix: exact security-relevant inputs per stack."""
from __future__ import annotations

import base64

from components.config import PROJECT
from components.mocks import CLOUDFLARE_IPV4, CLOUDFLARE_IPV6

SG = "aws:ec2/securityGroup:SecurityGroup"
IN = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
OUT = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
CLASSIC = "aws:ec2/securityGroupRule:SecurityGroupRule"


def sg_ids(rec) -> dict[str, str]:
    return {r.get("tags")["unamentis:role"]: r.id for r in rec.of_type(SG)}


def rules_of(rec, role: str, direction: str) -> set[tuple]:
    """(protocol, port, peer) of every rule of a role's group, peers by role or CIDR."""
    ids = sg_ids(rec)
    by_id = {v: k for k, v in ids.items()}
    out = set()
    for r in rec.of_type(IN if direction == "ingress" else OUT):
        if r.get("securityGroupId") != ids[role]:
            continue
        peer = (f"sg:{by_id[r.get('referencedSecurityGroupId')]}" if r.get("referencedSecurityGroupId")
                else r.get("cidrIpv4") or r.get("cidrIpv6") or f"pl:{r.get('prefixListId')}")
        out.add((r.get("ipProtocol"), r.get("fromPort"), peer))
        assert r.get("fromPort") == r.get("toPort")
    for r in rec.of_type(CLASSIC):
        if r.get("securityGroupId") == ids[role] and r.get("type") == direction:
            peer = (f"sg:{by_id[r.get('sourceSecurityGroupId')]}" if r.get("sourceSecurityGroupId")
                    else tuple(sorted((r.get("cidrBlocks") or []) + (r.get("ipv6CidrBlocks") or []))))
            out.add((r.get("protocol"), r.get("fromPort"), peer))
            assert r.get("fromPort") == r.get("toPort")
    return out


def test_beta_network_layout(stack_run):
    rec = stack_run("beta").recording
    vpc = rec.named("unamentis-network-vpc")
    assert vpc.get("cidrBlock") == "10.0.0.0/16"
    assert vpc.get("enableDnsHostnames") is True and vpc.get("enableDnsSupport") is True
    subnets = {r.name: (r.get("cidrBlock"), r.get("availabilityZone"), r.get("mapPublicIpOnLaunch"))
               for r in rec.of_type("aws:ec2/subnet:Subnet")}
    assert subnets == {
        "unamentis-network-public-us-east-1a": ("10.0.0.0/22", "us-east-1a", False),
        "unamentis-network-public-us-east-1b": ("10.0.4.0/22", "us-east-1b", False),
        "unamentis-network-private-us-east-1a": ("10.0.16.0/20", "us-east-1a", False),
        "unamentis-network-private-us-east-1b": ("10.0.32.0/20", "us-east-1b", False),
        "unamentis-network-gpu-us-east-1a": ("10.0.48.0/22", "us-east-1a", False),
        "unamentis-network-gpu-us-east-1b": ("10.0.52.0/22", "us-east-1b", False),
        "unamentis-network-data-us-east-1a": ("10.0.56.0/24", "us-east-1a", False),
        "unamentis-network-data-us-east-1b": ("10.0.57.0/24", "us-east-1b", False),
    }
    # Beta has no NAT of any kind; only public and GPU tables route to the internet gateway.
    for t in ("aws:ec2/natGateway:NatGateway", "aws:ec2/eip:Eip",
              "aws:ec2/networkInterface:NetworkInterface", "aws:ec2/instance:Instance"):
        assert rec.of_type(t) == []
    assert not [r for r in rec.resources if r.name.startswith("unamentis-nat")]
    igw = rec.named("unamentis-network-igw").id
    routes = {r.name: (r.get("destinationCidrBlock"), r.get("gatewayId")) for r in rec.of_type("aws:ec2/route:Route")}
    assert routes == {f"unamentis-network-{tier}-{az}-default": ("0.0.0.0/0", igw)
                      for tier in ("public", "gpu") for az in ("us-east-1a", "us-east-1b")}
    ep = rec.named("unamentis-network-s3")
    assert (ep.get("serviceName"), ep.get("vpcEndpointType")) == ("com.amazonaws.us-east-1.s3", "Gateway")
    tables = {r.id: r.name for r in rec.of_type("aws:ec2/routeTable:RouteTable")}
    assert sorted(tables[i] for i in ep.get("routeTableIds")) == sorted(
        n for n in tables.values() if "-data-" not in n)
    dsg = rec.named("unamentis-network-default-sg")
    assert (dsg.get("vpcId"), dsg.get("ingress"), dsg.get("egress")) == (vpc.id, [], [])
    assert rec.of_type("aws:ec2/flowLog:FlowLog") == []


def test_beta_security_group_matrix(stack_run):
    rec = stack_run("beta").recording
    assert set(sg_ids(rec)) == {"core", "lambda", "db", "gpu"}
    assert rules_of(rec, "core", "ingress") == set()  # tunnel mode: no inbound rule at all
    assert rules_of(rec, "core", "egress") == {
        ("tcp", 443, "0.0.0.0/0"), ("tcp", 7844, "0.0.0.0/0"), ("udp", 7844, "0.0.0.0/0"),
        ("tcp", 5432, "sg:db"), ("tcp", 11434, "sg:gpu"), ("tcp", 8880, "sg:gpu"), ("tcp", 11401, "sg:gpu"),
        ("tcp", 11400, "sg:gpu")}
    # the model servers and the node agent (health, activity reports), from the core only
    assert rules_of(rec, "gpu", "ingress") == {("tcp", 11434, "sg:core"), ("tcp", 8880, "sg:core"),
                                               ("tcp", 11401, "sg:core"), ("tcp", 11400, "sg:core")}
    assert rules_of(rec, "db", "ingress") == {("tcp", 5432, "sg:core"), ("tcp", 5432, "sg:lambda")}
    assert rules_of(rec, "db", "egress") == set()
    assert rules_of(rec, "lambda", "ingress") == set()
    assert rules_of(rec, "lambda", "egress") == {("tcp", 5432, "sg:db"), ("tcp", 443, "pl:pl-63a5400a")}
    assert rec.of_type(CLASSIC) == []


def test_prod_alb_admits_only_cloudflare_on_443(stack_run):
    rec = stack_run("prod").recording
    assert set(sg_ids(rec)) == {"core", "lambda", "db", "gpu", "alb", "nat"}
    cf = tuple(sorted(CLOUDFLARE_IPV4 + CLOUDFLARE_IPV6))
    assert rules_of(rec, "alb", "ingress") == {("tcp", 443, cf)}
    assert rules_of(rec, "alb", "egress") == {("tcp", 8080, "sg:core")}
    assert rules_of(rec, "core", "ingress") == {("tcp", 8080, "sg:alb")}
    # No cloudflared port in ALB mode; Lambdas may use the NAT.
    assert ("tcp", 7844, "0.0.0.0/0") not in rules_of(rec, "core", "egress")
    assert ("tcp", 443, "0.0.0.0/0") in rules_of(rec, "lambda", "egress")
    assert rules_of(rec, "nat", "ingress") == {("-1", None, "10.20.0.0/16")}
    classic = rec.of_type(CLASSIC)
    v4 = [r for r in classic if r.get("cidrBlocks")]
    assert len(v4) == 1 and v4[0].get("cidrBlocks") == list(CLOUDFLARE_IPV4)
    assert v4[0].get("ipv6CidrBlocks") == list(CLOUDFLARE_IPV6)


def test_customer_without_cloudflare_opens_443_only(stack_run):
    rec = stack_run("customer").recording
    assert rules_of(rec, "alb", "ingress") == {("tcp", 443, ("0.0.0.0/0",)), ("tcp", 443, ("::/0",))}
    # Nothing else anywhere admits the internet.
    for role in set(sg_ids(rec)) - {"alb"}:
        assert not any(peer in ("0.0.0.0/0", "::/0") for _, _, peer in rules_of(rec, role, "ingress"))


def test_prod_nat_instance_is_fck_nat_with_static_eni(stack_run):
    rec = stack_run("prod").recording
    eni = rec.named("unamentis-nat-eni")
    assert eni.get("sourceDestCheck") is False
    assert eni.get("securityGroups") == [sg_ids(rec)["nat"]]
    assert eni.get("subnetId") == rec.named("unamentis-network-public-us-east-1a").id
    lt = rec.named("unamentis-nat-lt")
    assert lt.get("instanceType") == "t4g.nano"
    assert lt.get("metadataOptions") == {"httpEndpoint": "enabled", "httpTokens": "required",
                                         "httpPutResponseHopLimit": 1}
    assert lt.get("blockDeviceMappings")[0]["ebs"]["encrypted"] == "true"
    assert lt.get("networkInterfaces")[0]["associatePublicIpAddress"] == "true"
    user_data = base64.b64decode(lt.get("userData")).decode()
    assert f"eni_id={eni.id}" in user_data and "service fck-nat restart" in user_data
    asg = rec.named("unamentis-nat-asg")
    assert (asg.get("minSize"), asg.get("maxSize"), asg.get("desiredCapacity")) == (1, 1, 1)
    assert asg.get("launchTemplate") == {"id": lt.id, "version": "$Latest"}
    # Private and GPU tables of both AZs route through the ENI; data stays isolated.
    nat_routes = {r.name: r.get("networkInterfaceId") for r in rec.of_type("aws:ec2/route:Route")
                  if r.get("networkInterfaceId")}
    assert nat_routes == {f"unamentis-nat-{tier}-{az}-default": eni.id
                          for tier in ("private", "gpu") for az in ("us-east-1a", "us-east-1b")}
    assert rec.named("unamentis-network-flow-log").get("trafficType") == "REJECT"
    assert rec.named("unamentis-network-flow-logs").get("retentionInDays") == 30


def test_nat_gateway_strategy_one_per_az(stack_run):
    rec = stack_run("prod", {f"{PROJECT}:network": {
        "cidr": "10.20.0.0/16", "nat": "gateway",
        "cidrs": {"public": ["10.20.0.0/22", "10.20.4.0/22"], "private": ["10.20.16.0/20", "10.20.32.0/20"],
                  "gpu": ["10.20.48.0/22", "10.20.52.0/22"], "data": ["10.20.56.0/24", "10.20.57.0/24"]}}}).recording
    gws = rec.of_type("aws:ec2/natGateway:NatGateway")
    assert len(gws) == 2 and len(rec.of_type("aws:ec2/eip:Eip")) == 2
    assert "nat" not in sg_ids(rec)
    by_az = {g.name.rsplit("-gw-", 1)[1]: g.id for g in gws}
    routes = {r.name: r.get("natGatewayId") for r in rec.of_type("aws:ec2/route:Route") if r.get("natGatewayId")}
    assert routes == {f"unamentis-nat-{tier}-{az}-default": by_az[az]
                      for tier in ("private", "gpu") for az in ("us-east-1a", "us-east-1b")}
