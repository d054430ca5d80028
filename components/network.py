"""The AWS network: a VPC with four subnet tiers across the configured AZs, and NAT egress.

Tiers (one subnet per AZ each, CIDRs explicit in the args, never derived from the AZ count):
- public: internet gateway route; the core task (public IP, no inbound rule) and NAT live here.
- private: Lambdas and (prod) core tasks; default route via NAT when `nat != none`.
- gpu: the GPU Spot fleet; via NAT when there is one, else the internet gateway (the node
  then gets a public IP only while it runs).
- data: RDS; no default route at all.

Every route table except `data` gets the free S3 gateway endpoint (ECR image layers come
from S3). The VPC's default security group is taken over and emptied.

Cost: VPC, subnets, route tables, internet gateway and the S3 gateway endpoint are free.
`NatEgress` costs: `instance` ≈ $3.07 (t4g.nano) + $3.65 (public IPv4) + ~$0.64 EBS per
month; `gateway` ≈ $32.85 + $3.65 IPv4 per AZ plus $0.045/GB processed. Flow logs cost
CloudWatch Logs ingestion ($0.50/GB).
"""
from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Literal, Mapping, Optional

import pulumi
import pulumi_aws as aws

from components.base import ArgsError, Component, Transforms
from components.facts import TIERS
from components.secrets import SSM_CORE_POLICY_ARN, fence_parameter_reads

FCK_NAT_OWNER = "568608671756"  # fck-nat's public AMI account (AndrewGuenther/fck-nat)


DEFAULT_CIDRS: Mapping[str, tuple[str, ...]] = {
    "public": ("10.0.0.0/22", "10.0.4.0/22"),
    "private": ("10.0.16.0/20", "10.0.32.0/20"),
    "gpu": ("10.0.48.0/22", "10.0.52.0/22"),
    "data": ("10.0.56.0/24", "10.0.57.0/24"),
}


@dataclass(frozen=True)
class NetworkArgs:
    """Arguments of `Network`."""

    azs: tuple[str, ...]
    """Availability zones, in order; each tier gets one subnet per AZ. Required."""
    region: str
    """The AWS region (names the S3 gateway endpoint's service). Required."""
    vpc_cidr: str = "10.0.0.0/16"
    """The VPC's range. Default: `10.0.0.0/16`."""
    cidrs: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: dict(DEFAULT_CIDRS))
    """Per tier (`public`, `private`, `gpu`, `data`), one CIDR per entry of `azs`, in the same
    order; never derived from the AZ count, so adding an AZ never renumbers existing subnets.
    Default: `DEFAULT_CIDRS` (two AZs in `10.0.0.0/16`)."""
    nat: Literal["none", "instance", "gateway"] = "none"
    """The egress `NatEgress` will add. With `none` the GPU tier routes to the internet gateway.
    Default: `none`."""
    flow_logs: bool = False
    """Log rejected traffic to CloudWatch Logs. Default: `False`."""
    log_retention_days: int = 14
    """Retention of the flow-log group. Default: `14`."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags on every taggable child. Default: none."""
    transform: Transforms = field(default_factory=dict)
    """Per child kind (`Network.CHILDREN`), a change to its arguments (`components.base`).
    Default: none."""

    def __post_init__(self) -> None:
        for tier in TIERS:
            if len(self.cidrs.get(tier, ())) != len(self.azs):
                raise ArgsError("NetworkArgs", "cidrs", f"{tier} has {len(self.cidrs.get(tier, ()))} CIDR(s) "
                                f"for {len(self.azs)} AZ(s)", "give one CIDR per entry of azs, in the same order")
        if self.nat not in ("none", "instance", "gateway"):
            raise ArgsError("NetworkArgs", "nat", f"{self.nat!r}", "use none, instance or gateway")


class Network(Component):
    """VPC, four tiers × AZs, route tables, internet gateway, S3 gateway endpoint, flow logs."""
    CHILDREN = (
        "vpc", "defaultSecurityGroup", "internetGateway", "subnet", "routeTable",
        "routeTableAssociation", "route", "vpcEndpoint", "logGroup", "role", "rolePolicy", "flowLog",
    )

    def __init__(self, name: str, args: NetworkArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(name, args.transform, opts)
        child = pulumi.ResourceOptions(parent=self)
        t = dict(args.tags)
        self.azs = args.azs
        self.vpc_cidr = args.vpc_cidr
        self.vpc = self.child("vpc", aws.ec2.Vpc, f"{name}-vpc", cidr_block=args.vpc_cidr, enable_dns_support=True,
                               enable_dns_hostnames=True, tags={**t, "Name": f"{name}-vpc"},
                               opts=child)
        # Take over the default SG and strip its allow-all rules (CKV2_AWS_12).
        self.child("defaultSecurityGroup", aws.ec2.DefaultSecurityGroup, f"{name}-default-sg", vpc_id=self.vpc.id, ingress=[],
                                     egress=[], tags={**t, "Name": f"{name}-default-sg"}, opts=child)
        self.igw = self.child("internetGateway", aws.ec2.InternetGateway, f"{name}-igw", vpc_id=self.vpc.id,
                                           tags={**t, "Name": f"{name}-igw"}, opts=child)

        self.subnets: dict[str, list[aws.ec2.Subnet]] = {}
        self.route_tables: dict[str, list[aws.ec2.RouteTable]] = {}
        for tier in TIERS:
            self.subnets[tier] = []
            self.route_tables[tier] = []
            for az, cidr in zip(args.azs, args.cidrs[tier]):
                sn = self.child("subnet", aws.ec2.Subnet, f"{name}-{tier}-{az}", vpc_id=self.vpc.id, cidr_block=cidr,
                                    availability_zone=az, map_public_ip_on_launch=False,
                                    tags={**t, "Name": f"{name}-{tier}-{az}", "Tier": tier},
                                    opts=child)
                # One route table per tier per AZ (free), so a per-AZ NAT gateway can be
                # wired without replacing tables later.
                rt = self.child("routeTable", aws.ec2.RouteTable, f"{name}-{tier}-{az}-rt", vpc_id=self.vpc.id,
                                        tags={**t, "Name": f"{name}-{tier}-{az}-rt", "Tier": tier},
                                        opts=child)
                self.child("routeTableAssociation", aws.ec2.RouteTableAssociation, f"{name}-{tier}-{az}-rta", subnet_id=sn.id,
                                              route_table_id=rt.id, opts=child)
                self.subnets[tier].append(sn)
                self.route_tables[tier].append(rt)

        for i, rt in enumerate(self.route_tables["public"]):
            self.child("route", aws.ec2.Route, f"{name}-public-{args.azs[i]}-default", route_table_id=rt.id,
                          destination_cidr_block="0.0.0.0/0", gateway_id=self.igw.id, opts=child)
        # Without NAT the GPU nodes reach model registries through the internet gateway.
        self.gpu_subnets_public = args.nat == "none"
        if self.gpu_subnets_public:
            for i, rt in enumerate(self.route_tables["gpu"]):
                self.child("route", aws.ec2.Route, f"{name}-gpu-{args.azs[i]}-default", route_table_id=rt.id,
                              destination_cidr_block="0.0.0.0/0", gateway_id=self.igw.id,
                              opts=child)

        self.s3_endpoint = self.child("vpcEndpoint", aws.ec2.VpcEndpoint,
            f"{name}-s3", vpc_id=self.vpc.id, service_name=f"com.amazonaws.{args.region}.s3",
            vpc_endpoint_type="Gateway",
            route_table_ids=[rt.id for tier in ("public", "private", "gpu")
                             for rt in self.route_tables[tier]],
            tags={**t, "Name": f"{name}-s3"}, opts=child)

        self.flow_log_group: Optional[aws.cloudwatch.LogGroup] = None
        if args.flow_logs:
            self.flow_log_group = self.child("logGroup", aws.cloudwatch.LogGroup,
                f"{name}-flow-logs", name=f"/unamentis/{name}/vpc-flow-logs",
                retention_in_days=args.log_retention_days, tags=t, opts=child)
            role = self.child("role", aws.iam.Role, f"{name}-flow-logs-role", assume_role_policy=json.dumps({
                "Version": "2012-10-17", "Statement": [{
                    "Effect": "Allow", "Action": "sts:AssumeRole",
                    "Principal": {"Service": "vpc-flow-logs.amazonaws.com"}}]}), tags=t, opts=child)
            self.child("rolePolicy", aws.iam.RolePolicy, f"{name}-flow-logs-write", role=role.id,
                               policy=self.flow_log_group.arn.apply(lambda arn: json.dumps({
                                   "Version": "2012-10-17", "Statement": [{
                                       "Effect": "Allow",
                                       "Action": ["logs:CreateLogStream", "logs:PutLogEvents",
                                                  "logs:DescribeLogStreams"],
                                       "Resource": [arn, f"{arn}:*"]}]})), opts=child)
            # Rejected traffic only: the security signal, at a fraction of ALL's volume.
            self.child("flowLog", aws.ec2.FlowLog, f"{name}-flow-log", vpc_id=self.vpc.id, traffic_type="REJECT",
                            log_destination_type="cloud-watch-logs",
                            log_destination=self.flow_log_group.arn, iam_role_arn=role.arn,
                            max_aggregation_interval=600, tags=t, opts=child)

        self.vpc_id = self.vpc.id
        self.subnet_ids = {tier: [s.id for s in subs] for tier, subs in self.subnets.items()}
        self.register_outputs({
            "vpc_id": self.vpc_id, "s3_prefix_list_id": self.s3_endpoint.prefix_list_id,
            **{f"{tier}_subnet_ids": ids for tier, ids in self.subnet_ids.items()},
        })


@dataclass(frozen=True)
class NatEgressArgs:
    """Arguments of `NatEgress`."""

    network: Network
    """The network whose private (and, unless they route to the internet gateway, GPU) tables
    get the default route. Required."""
    strategy: Literal["instance", "gateway"] = "instance"
    """`instance`: one fck-nat instance; `gateway`: a managed NAT gateway per AZ. Default: `instance`."""
    security_group_id: Optional[pulumi.Input[str]] = None
    """The NAT instance's security group; required with `strategy="instance"`. Default: none."""
    instance_type: str = "t4g.nano"
    """The NAT instance's type (arm64: the fck-nat image is). Default: `t4g.nano`."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags on every taggable child. Default: none."""
    transform: Transforms = field(default_factory=dict)
    """Per child kind (`NatEgress.CHILDREN`), a change to its arguments (`components.base`).
    Default: none."""

    def __post_init__(self) -> None:
        if self.strategy not in ("instance", "gateway"):
            raise ArgsError("NatEgressArgs", "strategy", f"{self.strategy!r}", "use instance or gateway")
        if self.strategy == "instance" and self.security_group_id is None:
            raise ArgsError("NatEgressArgs", "security_group_id", "the NAT instance needs its security group",
                            "pass the id of the group that admits the VPC")


class NatEgress(Component):
    """Internet egress for the private and GPU tiers.

    `instance`: one fck-nat ARM instance (t4g.nano) in an Auto Scaling group of one, holding a
    static ENI that the routes of both AZs point at, so a replacement instance takes over
    without route changes (fck-nat HA mode). IMDSv2 required, encrypted root volume, source/
    dest check off on the ENI, SG admitting only the VPC. ≈ $7.36/month incl. its public IPv4.
    `gateway`: a managed NAT gateway + EIP per AZ. ≈ $36.50/month per AZ + $0.045/GB.
    """
    CHILDREN = (
        "networkInterface", "role", "rolePolicy", "rolePolicyAttachment", "instanceProfile",
        "launchTemplate", "group", "route", "eip", "natGateway",
    )

    def __init__(self, name: str, args: NatEgressArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(name, args.transform, opts)
        child = pulumi.ResourceOptions(parent=self)
        net, t = args.network, dict(args.tags)
        egress_tables = [(f"{tier}-{az}", rt, i) for tier in ("private", "gpu")
                         if not (tier == "gpu" and net.gpu_subnets_public)
                         for i, (az, rt) in enumerate(zip(net.azs, net.route_tables[tier]))]
        self.eni: Optional[aws.ec2.NetworkInterface] = None
        self.group: Optional[aws.autoscaling.Group] = None
        self.gateways: list[aws.ec2.NatGateway] = []
        if args.strategy == "instance":
            self.eni = self.child("networkInterface", aws.ec2.NetworkInterface,
                f"{name}-eni", subnet_id=net.subnets["public"][0].id,
                security_groups=[args.security_group_id], source_dest_check=False,
                description="fck-nat static ENI (route target)", tags={**t, "Name": f"{name}-eni"},
                opts=child)
            role = self.child("role", aws.iam.Role, f"{name}-role", assume_role_policy=json.dumps({
                "Version": "2012-10-17", "Statement": [{
                    "Effect": "Allow", "Action": "sts:AssumeRole",
                    "Principal": {"Service": "ec2.amazonaws.com"}}]}), tags=t, opts=child)
            self.child("rolePolicy", aws.iam.RolePolicy, f"{name}-attach-eni", role=role.id, policy=json.dumps({
                "Version": "2012-10-17", "Statement": [{
                    "Effect": "Allow",
                    "Action": ["ec2:AttachNetworkInterface", "ec2:ModifyNetworkInterfaceAttribute"],
                    "Resource": "*"},
                    # the NAT instance faces the internet: it reads no parameter of ours
                    fence_parameter_reads()]}), opts=child)
            # Session Manager instead of SSH: no key pair, no port 22.
            self.child("rolePolicyAttachment", aws.iam.RolePolicyAttachment, f"{name}-ssm", role=role.name, policy_arn=SSM_CORE_POLICY_ARN,
                                         opts=child)
            profile = self.child("instanceProfile", aws.iam.InstanceProfile, f"{name}-profile", role=role.name, tags=t, opts=child)
            ami = aws.ec2.get_ami_output(owners=[FCK_NAT_OWNER], most_recent=True, filters=[
                aws.ec2.GetAmiFilterArgs(name="name", values=["fck-nat-al2023-*"]),
                aws.ec2.GetAmiFilterArgs(name="architecture", values=["arm64"])], opts=pulumi.InvokeOutputOptions(parent=self))
            user_data = self.eni.id.apply(lambda eni_id: base64.b64encode((
                "#!/bin/bash\n"
                f"echo 'eni_id={eni_id}' >> /etc/fck-nat.conf\n"
                "service fck-nat restart\n").encode()).decode())
            lt = self.child("launchTemplate", aws.ec2.LaunchTemplate,
                f"{name}-lt", image_id=ami.id, instance_type=args.instance_type,
                iam_instance_profile=aws.ec2.LaunchTemplateIamInstanceProfileArgs(arn=profile.arn),
                network_interfaces=[aws.ec2.LaunchTemplateNetworkInterfaceArgs(
                    device_index=0, associate_public_ip_address="true",
                    security_groups=[args.security_group_id], delete_on_termination="true")],
                metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
                    http_endpoint="enabled", http_tokens="required", http_put_response_hop_limit=1),
                block_device_mappings=[aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                    device_name="/dev/xvda", ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                        encrypted="true", volume_type="gp3", delete_on_termination="true"))],
                user_data=user_data, update_default_version=True,
                tag_specifications=[aws.ec2.LaunchTemplateTagSpecificationArgs(
                    resource_type="instance", tags={**t, "Name": f"{name}-instance"})],
                tags=t, opts=child)
            # The static ENI lives in AZ 0, so the instance must too.
            self.group = self.child("group", aws.autoscaling.Group,
                f"{name}-asg", min_size=1, max_size=1, desired_capacity=1,
                vpc_zone_identifiers=[net.subnets["public"][0].id],
                launch_template=aws.autoscaling.GroupLaunchTemplateArgs(id=lt.id, version="$Latest"),
                health_check_type="EC2",
                tags=[aws.autoscaling.GroupTagArgs(key="Name", value=f"{name}-instance",
                                                   propagate_at_launch=True)],
                opts=child)
            for label, rt, _ in egress_tables:
                self.child("route", aws.ec2.Route, f"{name}-{label}-default", route_table_id=rt.id,
                              destination_cidr_block="0.0.0.0/0",
                              network_interface_id=self.eni.id, opts=child)
        elif args.strategy == "gateway":
            for i, az in enumerate(net.azs):
                eip = self.child("eip", aws.ec2.Eip, f"{name}-eip-{az}", domain="vpc", tags={**t, "Name": f"{name}-eip-{az}"},
                                  opts=child)
                self.gateways.append(self.child("natGateway", aws.ec2.NatGateway,
                    f"{name}-gw-{az}", allocation_id=eip.allocation_id,
                    subnet_id=net.subnets["public"][i].id, connectivity_type="public",
                    tags={**t, "Name": f"{name}-gw-{az}"}, opts=child))
            for label, rt, i in egress_tables:
                self.child("route", aws.ec2.Route, f"{name}-{label}-default", route_table_id=rt.id,
                              destination_cidr_block="0.0.0.0/0",
                              nat_gateway_id=self.gateways[i].id, opts=child)
        self.register_outputs({"strategy": args.strategy,
                               "eni_id": self.eni.id if self.eni else None})
