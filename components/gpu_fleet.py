"""GpuFleet: a g4dn-class Spot Auto Scaling group that costs nothing while idle.

* Launch template: the GPU AMI from its public SSM parameter (``resolve:ssm:`` image id, resolved by
  EC2 at every launch, so a new AMI needs no redeploy), IMDSv2 **required** with hop limit 1, an
  encrypted gp3 root volume, an instance profile (SSM Session Manager instead of SSH keys, the
  lifecycle-hook calls, read access to the model cache bucket) and the cloud-init user data rendered
  by ``gpu_nodes.bootstrap.render_user_data``.
* ASG: mixed-instances policy (g4dn.xlarge first, then g4dn.2xlarge, g5.xlarge, g6.xlarge by
  default), 0 % on-demand, ``price-capacity-optimized``, capacity rebalancing, **min 0** (or the
  ``warm_min`` floor), max ``max_size``, in the GPU subnets with the GPU security group (admits
  only the core on 11434 / 8880 / 11401). A termination lifecycle hook gives the node agent time to
  drain; ``desired_capacity`` is owned by the core at run time (wake / sleep), so later deploys
  ignore its drift.
* An EventBridge rule for Spot interruption warnings and rebalance recommendations, delivered to a
  log group (and to an SNS topic when given) so operators see every interruption.
* :attr:`core_policy_statements`: the IAM the core needs to wake / sleep the fleet.
* With ``node_token``: an SSM SecureString (``node_token_parameter_name``) the nodes read at boot
  and present to the core's ``POST /api/gpu/nodes/{id}/events`` (drain, state, scale-to-zero);
  the core gets the same value as ``UNAMENTIS_GPU_NODE_TOKEN``.

Cost: nothing while at 0 instances. Per hour of use: g4dn.xlarge Spot ≈ $0.20 (estimate; on-demand
$0.526) + the root volume ($0.08 per GB-month, pro rata) + $0.005 for a public IPv4 when the GPU
subnets are public. EventBridge rules on AWS service events are free; the token parameter is a
standard-tier parameter ($0).
"""
from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Optional, Sequence

import pulumi
import pulumi_aws as aws

from components.base import ArgsError, Component, Transforms
from components.facts import GPU_FAMILIES
from components.secrets import SSM_CORE_POLICY_ARN, fence_parameter_reads
from gpu_nodes.bootstrap import AGENT_PREFIX, DEFAULT_CACHE_PREFIX, render_user_data
from runtime.voice.gpu_usage import METRIC_NAMESPACE as GPU_METRIC_NAMESPACE

DEFAULT_INSTANCE_TYPES = ("g4dn.xlarge", "g4dn.2xlarge", "g5.xlarge", "g6.xlarge")
# ECS GPU-optimised Amazon Linux 2023: NVIDIA driver, container toolkit and Docker preinstalled.
DEFAULT_AMI_PARAMETER = "/aws/service/ecs/optimized-ami/amazon-linux-2023/gpu/recommended/image_id"
DRAIN_HOOK = "drain"
DRAIN_HEARTBEAT_S = 110  # inside the two-minute Spot notice
SPOT_EVENTS = ("EC2 Spot Instance Interruption Warning", "EC2 Instance Rebalance Recommendation")


def node_token_parameter_name(name_prefix: str) -> str:
    """Where the nodes' token to the core lives (the user data names it before the fleet exists)."""
    return f"/{name_prefix}/gpu/node-token"


def asg_name(name_prefix: str) -> str:
    """The Auto Scaling group's name (the core and the nodes' user data name it before it exists)."""
    return f"{name_prefix}-gpu"


def node_user_data(*, name_prefix: str, region: str, model_bucket: pulumi.Input[str], core_url: str,
                   idle_minutes: int, max_lifetime_hours: int) -> pulumi.Output[str]:
    """The nodes' cloud-config (`gpu_nodes.bootstrap.render_user_data`).

    The bucket's name is known at deploy time only, so the text is rendered inside `apply` (a pure
    function; no resource is created there). An idle node removes itself through the Auto Scaling
    API (decrementing desired capacity): scale-to-zero must not depend on reaching the core through
    the edge. Its other events (drain, state) go to the core's /api/gpu route with the node token.
    """
    return pulumi.Output.from_input(model_bucket).apply(lambda bucket: render_user_data(
        region=region, model_bucket=bucket, core_url=core_url, asg_name=asg_name(name_prefix),
        lifecycle_hook_name=DRAIN_HOOK, idle_minutes=idle_minutes, max_lifetime_hours=max_lifetime_hours,
        dormant_action="asg", core_token_parameter=node_token_parameter_name(name_prefix),
        cache_prefix=DEFAULT_CACHE_PREFIX))


def _b64(text: str) -> str:
    """Launch templates take user data base64-encoded."""
    return base64.b64encode(text.encode()).decode()


@dataclass
class GpuFleetArgs:
    """Arguments of `GpuFleet`."""

    name_prefix: str
    """Physical-name prefix, e.g. `uma-beta` (the group is `<prefix>-gpu`). Required."""
    subnet_ids: pulumi.Input[Sequence[str]]
    """The GPU tier's subnets. Required."""
    security_group_id: pulumi.Input[str]
    """The nodes' security group. Required."""
    user_data: pulumi.Input[str]
    """Cloud-config text (`gpu_nodes.bootstrap.render_user_data`). Required."""
    max_size: int = 1
    """Most nodes at once (>= 1). Default: `1`."""
    warm_min: int = 0
    """Nodes kept when idle (0 = scale to zero). Default: `0`."""
    instance_types: Sequence[str] = DEFAULT_INSTANCE_TYPES
    """x86_64 NVIDIA types, in order of preference. Default: `DEFAULT_INSTANCE_TYPES` (g4dn.xlarge,
    g4dn.2xlarge, g5.xlarge, g6.xlarge)."""
    volume_gb: int = 100
    """Encrypted gp3 root volume (30–1000 GB). Default: `100`."""
    associate_public_ip: bool = False
    """A public IP per node (public GPU subnets without NAT need it to pull images and models).
    Default: `False`."""
    ami_parameter: str = DEFAULT_AMI_PARAMETER
    """The SSM parameter naming the GPU AMI. Default: `DEFAULT_AMI_PARAMETER`."""
    model_bucket_arn: Optional[pulumi.Input[str]] = None
    """The bucket of the model cache and the agent archive. Default: none."""
    model_bucket_id: Optional[pulumi.Input[str]] = None
    """Its name. Default: none."""
    cache_prefix: str = "gpu-cache"
    """Key prefix of the model cache in that bucket. Default: `"gpu-cache"`."""
    cache_write_back: bool = True
    """Nodes upload pulled models so the next boot skips the registries. Default: `True`."""
    agent_archive: Optional[tuple[str, bytes]] = None
    """(key, bytes) of the node agent archive (`gpu_nodes.bootstrap.agent_archive`) to upload. Default:
    none."""
    alert_topic_arn: Optional[pulumi.Input[str]] = None
    """Where Spot interruption and rebalance events are published. Default: none."""
    log_retention_days: int = 14
    """Retention of the events log group. Default: `14`."""
    max_instance_lifetime_s: int = 7 * 24 * 3600
    """EC2 Auto Scaling replaces older nodes (at least one day). Default: seven days."""
    node_token: Optional[pulumi.Input[str]] = None
    """The bearer token nodes present to the core's event route, stored at
    `node_token_parameter_name()`. Default: none."""

    transform: Transforms = field(default_factory=dict)
    """Per child kind (`GpuFleet.CHILDREN`), a change to its arguments (`components.base`). Default:
    none."""

    def validate(self) -> None:
        if not self.instance_types:
            raise ArgsError("GpuFleetArgs", "instance_types", "empty", "list at least one instance type")
        bad = [t for t in self.instance_types if not t.startswith(GPU_FAMILIES)]
        if bad:
            raise ArgsError("GpuFleetArgs", "instance_types", f"{bad} are not x86_64 NVIDIA types",
                            f"use the families {', '.join(f.rstrip('.') for f in GPU_FAMILIES)}")
        if len(set(self.instance_types)) != len(self.instance_types):
            raise ArgsError("GpuFleetArgs", "instance_types", "a type is listed twice", "list each type once")
        if not 0 <= self.warm_min <= self.max_size:
            raise ArgsError("GpuFleetArgs", "warm_min", f"{self.warm_min} with max_size {self.max_size}",
                            "keep it between 0 and max_size")
        if self.max_size < 1:
            raise ArgsError("GpuFleetArgs", "max_size", f"{self.max_size}", "use at least 1 (or create no fleet)")
        if not 30 <= self.volume_gb <= 1000:
            raise ArgsError("GpuFleetArgs", "volume_gb", f"{self.volume_gb}", "use 30–1000 GB")


class GpuFleet(Component):
    """Launch template + Spot ASG (min 0) + interruption events + the core's wake/sleep IAM."""
    CHILDREN = (
        "role", "rolePolicyAttachment", "instanceProfile", "launchTemplate", "group", "bucketObjectv2",
        "parameter", "rolePolicy", "logGroup", "logResourcePolicy", "eventRule", "eventTarget",
    )

    def __init__(self, name: str, args: GpuFleetArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(name, args.transform, opts)
        args.validate()
        child = pulumi.ResourceOptions(parent=self)
        group_name = asg_name(args.name_prefix)

        self.role = self.child("role", aws.iam.Role,
            f"{name}-node-role",
            assume_role_policy=json.dumps({"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Action": "sts:AssumeRole",
                "Principal": {"Service": "ec2.amazonaws.com"}}]}),
            description="GPU nodes: Session Manager, lifecycle hook, model cache reads",
            opts=child)
        self.child("rolePolicyAttachment", aws.iam.RolePolicyAttachment,
            f"{name}-node-ssm", role=self.role.name,
            policy_arn=SSM_CORE_POLICY_ARN, opts=child)
        self.profile = self.child("instanceProfile", aws.iam.InstanceProfile, f"{name}-node-profile", role=self.role.name, opts=child)

        if args.associate_public_ip:
            network = {"network_interfaces": [{
                "device_index": 0, "associate_public_ip_address": "true",
                "delete_on_termination": "true", "security_groups": [args.security_group_id]}]}
        else:
            network = {"vpc_security_group_ids": [args.security_group_id]}
        self.launch_template = self.child("launchTemplate", aws.ec2.LaunchTemplate,
            f"{name}-lt",
            name_prefix=f"{args.name_prefix}-gpu-",
            description="UnaMentis GPU node (Ollama, TTS, STT + node agent)",
            image_id=f"resolve:ssm:{args.ami_parameter}",
            iam_instance_profile={"arn": self.profile.arn},
            metadata_options={"http_endpoint": "enabled", "http_tokens": "required",
                              "http_put_response_hop_limit": 1, "instance_metadata_tags": "disabled"},
            block_device_mappings=[{"device_name": "/dev/xvda", "ebs": {
                "volume_size": args.volume_gb, "volume_type": "gp3",
                "encrypted": "true", "delete_on_termination": "true"}}],
            user_data=pulumi.Output.from_input(args.user_data).apply(_b64),
            # A node that shuts itself down (the bootstrap's last resort) must end, not sit
            # stopped in the group: a stopped Spot instance still bills its disk and its IPv4.
            instance_initiated_shutdown_behavior="terminate",
            update_default_version=True,
            tag_specifications=[{"resource_type": "instance", "tags": {"Name": group_name}},
                                {"resource_type": "volume", "tags": {"Name": group_name}}],
            opts=child,
            **network)

        self.asg = self.child("group", aws.autoscaling.Group,
            f"{name}-asg",
            name=group_name,
            min_size=args.warm_min,
            max_size=args.max_size,
            desired_capacity=args.warm_min,
            vpc_zone_identifiers=args.subnet_ids,
            capacity_rebalance=True,
            health_check_type="EC2",
            max_instance_lifetime=args.max_instance_lifetime_s,
            mixed_instances_policy={
                "instances_distribution": {
                    "on_demand_base_capacity": 0,
                    "on_demand_percentage_above_base_capacity": 0,
                    "spot_allocation_strategy": "price-capacity-optimized",
                },
                "launch_template": {
                    "launch_template_specification": {
                        "launch_template_id": self.launch_template.id, "version": "$Latest"},
                    "overrides": [{"instance_type": t} for t in args.instance_types],
                },
            },
            initial_lifecycle_hooks=[{
                "name": DRAIN_HOOK,
                "lifecycle_transition": "autoscaling:EC2_INSTANCE_TERMINATING",
                "heartbeat_timeout": DRAIN_HEARTBEAT_S,
                "default_result": "CONTINUE",
            }],
            tags=[{"key": "Name", "value": group_name, "propagate_at_launch": True}],
            # The core sets desired capacity at run time (wake / sleep); a deploy must not undo it.
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["desiredCapacity"]))

        node_statements: list[dict] = [{
            "Effect": "Allow",
            "Action": ["autoscaling:CompleteLifecycleAction",
                       "autoscaling:RecordLifecycleActionHeartbeat",
                       "autoscaling:SetInstanceHealth",
                       "autoscaling:TerminateInstanceInAutoScalingGroup"],
            "Resource": self.asg.arn,
        }]
        if args.model_bucket_arn is not None:
            prefix_arn = pulumi.Output.concat(args.model_bucket_arn, f"/{args.cache_prefix}/*")
            node_statements += [
                {"Effect": "Allow", "Action": ["s3:GetObject"],
                 "Resource": pulumi.Output.concat(args.model_bucket_arn, f"/{AGENT_PREFIX}/*")},
                {"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": args.model_bucket_arn,
                 "Condition": {"StringLike": {"s3:prefix": [f"{args.cache_prefix}/*"]}}},
                {"Effect": "Allow",
                 "Action": ["s3:GetObject", "s3:PutObject"] if args.cache_write_back else ["s3:GetObject"],
                 "Resource": prefix_arn},
            ]
        self.agent_object = None
        if args.agent_archive is not None:
            if args.model_bucket_id is None:
                raise ArgsError("GpuFleetArgs", "model_bucket_id", "agent_archive needs the bucket to upload to",
                                "pass model_bucket_id")
            key, data = args.agent_archive
            self.agent_object = self.child("bucketObjectv2", aws.s3.BucketObjectv2,
                f"{name}-agent", bucket=args.model_bucket_id, key=key,
                content_base64=base64.b64encode(data).decode(), content_type="application/gzip",
                opts=child)
        self.node_token_parameter: Optional[aws.ssm.Parameter] = None
        if args.node_token is not None:
            self.node_token_parameter = self.child("parameter", aws.ssm.Parameter,
                f"{name}-node-token", name=node_token_parameter_name(args.name_prefix), type="SecureString",
                tier="Standard", value=pulumi.Output.secret(args.node_token),
                description="Bearer token GPU nodes present to the core's /api/gpu/nodes/{id}/events",
                opts=child)
            # The AWS-managed aws/ssm key decrypts for any principal allowed to read the parameter.
            node_statements.append({"Effect": "Allow", "Action": ["ssm:GetParameter"],
                                    "Resource": self.node_token_parameter.arn})
        # Session Manager's managed policy reads every parameter: fence it to the node's own.
        node_statements.append(fence_parameter_reads(
            [self.node_token_parameter.arn] if self.node_token_parameter is not None else []))
        self.child("rolePolicy", aws.iam.RolePolicy,
            f"{name}-node-policy", role=self.role.id,
            policy=pulumi.Output.json_dumps({"Version": "2012-10-17", "Statement": node_statements}),
            opts=child)

        # Spot interruption warnings and rebalance recommendations -> a log group (+ SNS).
        self.events_log_group = self.child("logGroup", aws.cloudwatch.LogGroup,
            f"{name}-spot-events", name=f"/aws/events/{args.name_prefix}-gpu-spot",
            retention_in_days=args.log_retention_days, opts=child)
        self.child("logResourcePolicy", aws.cloudwatch.LogResourcePolicy,
            f"{name}-spot-events-policy",
            policy_name=f"{args.name_prefix}-gpu-spot-events",
            policy_document=pulumi.Output.json_dumps({"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow",
                "Principal": {"Service": ["events.amazonaws.com", "delivery.logs.amazonaws.com"]},
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": pulumi.Output.concat(self.events_log_group.arn, ":*"),
            }]}),
            opts=child)
        self.spot_rule = self.child("eventRule", aws.cloudwatch.EventRule,
            f"{name}-spot-rule",
            description="Spot interruption warnings and rebalance recommendations for GPU nodes",
            event_pattern=json.dumps({"source": ["aws.ec2"], "detail-type": list(SPOT_EVENTS)}),
            opts=child)
        self.child("eventTarget", aws.cloudwatch.EventTarget,
            f"{name}-spot-to-logs", rule=self.spot_rule.name, arn=self.events_log_group.arn, opts=child)
        if args.alert_topic_arn is not None:
            self.child("eventTarget", aws.cloudwatch.EventTarget,
                f"{name}-spot-to-sns", rule=self.spot_rule.name, arn=args.alert_topic_arn, opts=child)

        self.asg_name = self.asg.name
        self.asg_arn = self.asg.arn
        # What the core's task role needs to wake (desired 1) and sleep (desired 0) the fleet, replace
        # its nodes (the Operations Console's restart) and find the nodes' private addresses.
        self.core_policy_statements: list[dict] = [
            {"Effect": "Allow",
             "Action": ["autoscaling:SetDesiredCapacity", "autoscaling:UpdateAutoScalingGroup",
                        "autoscaling:TerminateInstanceInAutoScalingGroup"],
             "Resource": self.asg.arn},
            {"Effect": "Allow",
             "Action": ["autoscaling:DescribeAutoScalingGroups", "ec2:DescribeInstances"],
             "Resource": "*"},
            # The nodes' GPU utilisation (the right-sizing metric); PutMetricData has no resource
            # ARN, so the namespace condition is what narrows it.
            {"Effect": "Allow", "Action": ["cloudwatch:PutMetricData"], "Resource": "*",
             "Condition": {"StringEquals": {"cloudwatch:namespace": GPU_METRIC_NAMESPACE}}},
        ]
        self.register_outputs({"asg_name": self.asg_name, "asg_arn": self.asg_arn})
