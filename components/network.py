"""The AWS network: a VPC with four subnet tiers across the configured AZs, and NAT egress.

Tiers (one subnet per AZ each, CIDRs explicit from config, never derived from the AZ count):
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
from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_aws as aws

from components.config import TIERS, StackConfig
from components.secrets import SSM_CORE_POLICY_ARN, fence_parameter_reads

FCK_NAT_OWNER = "568608671756"  # fck-nat's public AMI account (AndrewGuenther/fck-nat)


@dataclass(frozen=True)
class NetworkArgs:
    vpc_cidr: str
    azs: tuple[str, ...]
    cidrs: dict[str, tuple[str, ...]]  # tier -> one CIDR per AZ
    nat: str  # none | instance | gateway
    region: str
    flow_logs: bool
    log_retention_days: int
    tags: dict[str, str]

    @classmethod
    def from_config(cls, c: StackConfig) -> "NetworkArgs":
        return cls(vpc_cidr=c.network.cidr, azs=c.azs,
                   cidrs={t: getattr(c.network.cidrs, t) for t in TIERS}, nat=c.network.nat,
                   region=c.region, flow_logs=c.network.flow_logs,
                   log_retention_days=c.logs.retention_days, tags=c.tags)


class Network(pulumi.ComponentResource):
    """VPC, four tiers × AZs, route tables, internet gateway, S3 gateway endpoint, flow logs."""

    def __init__(self, name: str, args: NetworkArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("unamentis:aws:Network", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        t = args.tags
        self.azs = args.azs
        self.vpc_cidr = args.vpc_cidr
        self.vpc = aws.ec2.Vpc(f"{name}-vpc", cidr_block=args.vpc_cidr, enable_dns_support=True,
                               enable_dns_hostnames=True, tags={**t, "Name": f"{name}-vpc"},
                               opts=child)
        # Take over the default SG and strip its allow-all rules (CKV2_AWS_12).
        aws.ec2.DefaultSecurityGroup(f"{name}-default-sg", vpc_id=self.vpc.id, ingress=[],
                                     egress=[], tags={**t, "Name": f"{name}-default-sg"}, opts=child)
        self.igw = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=self.vpc.id,
                                           tags={**t, "Name": f"{name}-igw"}, opts=child)

        self.subnets: dict[str, list[aws.ec2.Subnet]] = {}
        self.route_tables: dict[str, list[aws.ec2.RouteTable]] = {}
        for tier in TIERS:
            self.subnets[tier] = []
            self.route_tables[tier] = []
            for az, cidr in zip(args.azs, args.cidrs[tier]):
                sn = aws.ec2.Subnet(f"{name}-{tier}-{az}", vpc_id=self.vpc.id, cidr_block=cidr,
                                    availability_zone=az, map_public_ip_on_launch=False,
                                    tags={**t, "Name": f"{name}-{tier}-{az}", "Tier": tier},
                                    opts=child)
                # One route table per tier per AZ (free), so a per-AZ NAT gateway can be
                # wired without replacing tables later.
                rt = aws.ec2.RouteTable(f"{name}-{tier}-{az}-rt", vpc_id=self.vpc.id,
                                        tags={**t, "Name": f"{name}-{tier}-{az}-rt", "Tier": tier},
                                        opts=child)
                aws.ec2.RouteTableAssociation(f"{name}-{tier}-{az}-rta", subnet_id=sn.id,
                                              route_table_id=rt.id, opts=child)
                self.subnets[tier].append(sn)
                self.route_tables[tier].append(rt)

        for i, rt in enumerate(self.route_tables["public"]):
            aws.ec2.Route(f"{name}-public-{args.azs[i]}-default", route_table_id=rt.id,
                          destination_cidr_block="0.0.0.0/0", gateway_id=self.igw.id, opts=child)
        # Without NAT the GPU nodes reach model registries through the internet gateway.
        self.gpu_subnets_public = args.nat == "none"
        if self.gpu_subnets_public:
            for i, rt in enumerate(self.route_tables["gpu"]):
                aws.ec2.Route(f"{name}-gpu-{args.azs[i]}-default", route_table_id=rt.id,
                              destination_cidr_block="0.0.0.0/0", gateway_id=self.igw.id,
                              opts=child)

        self.s3_endpoint = aws.ec2.VpcEndpoint(
            f"{name}-s3", vpc_id=self.vpc.id, service_name=f"com.amazonaws.{args.region}.s3",
            vpc_endpoint_type="Gateway",
            route_table_ids=[rt.id for tier in ("public", "private", "gpu")
                             for rt in self.route_tables[tier]],
            tags={**t, "Name": f"{name}-s3"}, opts=child)

        self.flow_log_group: Optional[aws.cloudwatch.LogGroup] = None
        if args.flow_logs:
            self.flow_log_group = aws.cloudwatch.LogGroup(
                f"{name}-flow-logs", name=f"/unamentis/{name}/vpc-flow-logs",
                retention_in_days=args.log_retention_days, tags=t, opts=child)
            role = aws.iam.Role(f"{name}-flow-logs-role", assume_role_policy=json.dumps({
                "Version": "2012-10-17", "Statement": [{
                    "Effect": "Allow", "Action": "sts:AssumeRole",
                    "Principal": {"Service": "vpc-flow-logs.amazonaws.com"}}]}), tags=t, opts=child)
            aws.iam.RolePolicy(f"{name}-flow-logs-write", role=role.id,
                               policy=self.flow_log_group.arn.apply(lambda arn: json.dumps({
                                   "Version": "2012-10-17", "Statement": [{
                                       "Effect": "Allow",
                                       "Action": ["logs:CreateLogStream", "logs:PutLogEvents",
                                                  "logs:DescribeLogStreams"],
                                       "Resource": [arn, f"{arn}:*"]}]})), opts=child)
            # Rejected traffic only: the security signal, at a fraction of ALL's volume.
            aws.ec2.FlowLog(f"{name}-flow-log", vpc_id=self.vpc.id, traffic_type="REJECT",
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
    strategy: str  # instance | gateway
    network: Network
    security_group_id: Optional[pulumi.Input[str]]  # the NAT instance's SG (instance only)
    instance_type: str
    tags: dict[str, str]


class NatEgress(pulumi.ComponentResource):
    """Internet egress for the private and GPU tiers.

    `instance`: one fck-nat ARM instance (t4g.nano) in an Auto Scaling group of one, holding a
    static ENI that the routes of both AZs point at, so a replacement instance takes over
    without route changes (fck-nat HA mode). IMDSv2 required, encrypted root volume, source/
    dest check off on the ENI, SG admitting only the VPC. ≈ $7.36/month incl. its public IPv4.
    `gateway`: a managed NAT gateway + EIP per AZ. ≈ $36.50/month per AZ + $0.045/GB.
    """

    def __init__(self, name: str, args: NatEgressArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("unamentis:aws:NatEgress", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        net, t = args.network, args.tags
        egress_tables = [(f"{tier}-{az}", rt, i) for tier in ("private", "gpu")
                         if not (tier == "gpu" and net.gpu_subnets_public)
                         for i, (az, rt) in enumerate(zip(net.azs, net.route_tables[tier]))]
        self.eni: Optional[aws.ec2.NetworkInterface] = None
        self.group: Optional[aws.autoscaling.Group] = None
        self.gateways: list[aws.ec2.NatGateway] = []
        if args.strategy == "instance":
            if args.security_group_id is None:
                raise ValueError("NatEgress(instance) needs the NAT security group")
            self.eni = aws.ec2.NetworkInterface(
                f"{name}-eni", subnet_id=net.subnets["public"][0].id,
                security_groups=[args.security_group_id], source_dest_check=False,
                description="fck-nat static ENI (route target)", tags={**t, "Name": f"{name}-eni"},
                opts=child)
            role = aws.iam.Role(f"{name}-role", assume_role_policy=json.dumps({
                "Version": "2012-10-17", "Statement": [{
                    "Effect": "Allow", "Action": "sts:AssumeRole",
                    "Principal": {"Service": "ec2.amazonaws.com"}}]}), tags=t, opts=child)
            aws.iam.RolePolicy(f"{name}-attach-eni", role=role.id, policy=json.dumps({
                "Version": "2012-10-17", "Statement": [{
                    "Effect": "Allow",
                    "Action": ["ec2:AttachNetworkInterface", "ec2:ModifyNetworkInterfaceAttribute"],
                    "Resource": "*"},
                    # the NAT instance faces the internet: it reads no parameter of ours
                    fence_parameter_reads()]}), opts=child)
            # Session Manager instead of SSH: no key pair, no port 22.
            aws.iam.RolePolicyAttachment(f"{name}-ssm", role=role.name, policy_arn=SSM_CORE_POLICY_ARN,
                                         opts=child)
            profile = aws.iam.InstanceProfile(f"{name}-profile", role=role.name, tags=t, opts=child)
            ami = aws.ec2.get_ami_output(owners=[FCK_NAT_OWNER], most_recent=True, filters=[
                aws.ec2.GetAmiFilterArgs(name="name", values=["fck-nat-al2023-*"]),
                aws.ec2.GetAmiFilterArgs(name="architecture", values=["arm64"])], opts=pulumi.InvokeOutputOptions(parent=self))
            user_data = self.eni.id.apply(lambda eni_id: base64.b64encode((
                "#!/bin/bash\n"
                f"echo 'eni_id={eni_id}' >> /etc/fck-nat.conf\n"
                "service fck-nat restart\n").encode()).decode())
            lt = aws.ec2.LaunchTemplate(
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
            self.group = aws.autoscaling.Group(
                f"{name}-asg", min_size=1, max_size=1, desired_capacity=1,
                vpc_zone_identifiers=[net.subnets["public"][0].id],
                launch_template=aws.autoscaling.GroupLaunchTemplateArgs(id=lt.id, version="$Latest"),
                health_check_type="EC2",
                tags=[aws.autoscaling.GroupTagArgs(key="Name", value=f"{name}-instance",
                                                   propagate_at_launch=True)],
                opts=child)
            for label, rt, _ in egress_tables:
                aws.ec2.Route(f"{name}-{label}-default", route_table_id=rt.id,
                              destination_cidr_block="0.0.0.0/0",
                              network_interface_id=self.eni.id, opts=child)
        elif args.strategy == "gateway":
            for i, az in enumerate(net.azs):
                eip = aws.ec2.Eip(f"{name}-eip-{az}", domain="vpc", tags={**t, "Name": f"{name}-eip-{az}"},
                                  opts=child)
                self.gateways.append(aws.ec2.NatGateway(
                    f"{name}-gw-{az}", allocation_id=eip.allocation_id,
                    subnet_id=net.subnets["public"][i].id, connectivity_type="public",
                    tags={**t, "Name": f"{name}-gw-{az}"}, opts=child))
            for label, rt, i in egress_tables:
                aws.ec2.Route(f"{name}-{label}-default", route_table_id=rt.id,
                              destination_cidr_block="0.0.0.0/0",
                              nat_gateway_id=self.gateways[i].id, opts=child)
        else:
            raise ValueError(f"unknown NAT strategy {args.strategy!r}")
        self.register_outputs({"strategy": args.strategy,
                               "eni_id": self.eni.id if self.eni else None})
