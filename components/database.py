"""RDS PostgreSQL 16 in the isolated data subnets.

Encrypted gp3 storage with autoscaling up to `max_storage_gb`, never publicly accessible,
automated backups, a parameter group forcing TLS (`rds.force_ssl=1`) and closing idle
sessions (`idle_session_timeout`, `idle_in_transaction_session_timeout`) so Lambda
connections that were frozen with their sandbox do not pile up.

The master password is never written anywhere in code: by default it is generated with
`pulumi_random` (kept in Pulumi state as a secret) and published as the SSM SecureString
`/unamentis/<stack>/database-url` (free): the owner's URL, which only migrations use
(`UNAMENTIS_DATABASE_ADMIN_URL`); requests run as the RLS-bound app role whose URL compute
builds. With `managed_master_password` RDS keeps and rotates the master password in
Secrets Manager instead (+$0.40/month) and `master_user_secret_arn` is set.

Cost (us-east-1): db.t4g.micro single-AZ $0.016/h = $11.68/month + gp3 $0.115/GB-month
(20 GB = $2.30); Multi-AZ doubles both. Backups are free up to the provisioned storage.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Mapping, Optional, Sequence

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from components.base import ArgsError, Component, Transforms

# Parameter values: milliseconds.
IDLE_SESSION_TIMEOUT_MS = 10 * 60 * 1000
IDLE_IN_TRANSACTION_TIMEOUT_MS = 60 * 1000
MASTER_USERNAME = "unamentis_admin"
DB_NAME = "unamentis"


@dataclass(frozen=True)
class DatabaseArgs:
    """Arguments of `Database`."""

    subnet_ids: Sequence[pulumi.Input[str]]
    """The isolated data-tier subnets (two AZs at least: RDS needs them). Required."""
    security_group_id: pulumi.Input[str]
    """The database's security group. Required."""
    instance_class: str = "db.t4g.micro"
    """The RDS instance class. Default: `db.t4g.micro`."""
    storage_gb: int = 20
    """Allocated gp3 storage (20–65536 GB). Default: `20`."""
    max_storage_gb: int = 50
    """Storage autoscaling ceiling (billed only when used). Default: `50`."""
    multi_az: bool = False
    """A standby in a second AZ (doubles the cost). Default: `False`."""
    deletion_protection: bool = False
    """Refuse deletion, keep a final snapshot and protect the resource. Default: `False`."""
    backup_retention_days: int = 7
    """Days of automated backups (1–35). Default: `7`."""
    engine_version: str = "16"
    """PostgreSQL version; the parameter group is `postgres16`. Default: `16`."""
    managed_master_password: bool = False
    """Let RDS keep the master password in Secrets Manager (+$0.40/month) instead of a generated
    one published as the owner's URL. Default: `False`."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags on every taggable child. Default: none."""
    transform: Transforms = field(default_factory=dict)
    """Per child kind (`Database.CHILDREN`), a change to its arguments (`components.base`).
    Default: none."""

    def __post_init__(self) -> None:
        if not re.fullmatch(r"db\.[a-z0-9]+\.[a-z0-9]+", self.instance_class):
            raise ArgsError("DatabaseArgs", "instance_class", f"{self.instance_class!r}", "e.g. db.t4g.micro")
        if not 20 <= self.storage_gb <= 65536:
            raise ArgsError("DatabaseArgs", "storage_gb", f"{self.storage_gb}", "gp3 needs 20–65536 GB")
        if self.max_storage_gb < self.storage_gb:
            raise ArgsError("DatabaseArgs", "max_storage_gb", f"{self.max_storage_gb} < storage_gb {self.storage_gb}",
                            "set it at least as large as storage_gb")
        if not 1 <= self.backup_retention_days <= 35:
            raise ArgsError("DatabaseArgs", "backup_retention_days", f"{self.backup_retention_days}",
                            "keep 1–35 days of backups")
        if self.engine_version.split(".")[0] != "16":
            raise ArgsError("DatabaseArgs", "engine_version", f"{self.engine_version!r}",
                            "the parameter group is postgres16; use 16 or 16.x")


class Database(Component):
    CHILDREN = ("subnetGroup", "parameterGroup", "randomPassword", "instance")

    def __init__(self, name: str, args: DatabaseArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(name, args.transform, opts)
        child = pulumi.ResourceOptions(parent=self)
        t = dict(args.tags)
        subnet_group = self.child("subnetGroup", aws.rds.SubnetGroup, f"{name}-subnets", subnet_ids=list(args.subnet_ids),
                                           description=f"{name}: isolated data tier", tags=t, opts=child)
        params = self.child("parameterGroup", aws.rds.ParameterGroup,
            f"{name}-params", family="postgres16", description=f"{name}: TLS only, idle sessions closed",
            parameters=[
                aws.rds.ParameterGroupParameterArgs(name="rds.force_ssl", value="1"),
                aws.rds.ParameterGroupParameterArgs(name="idle_session_timeout",
                                                    value=str(IDLE_SESSION_TIMEOUT_MS)),
                aws.rds.ParameterGroupParameterArgs(name="idle_in_transaction_session_timeout",
                                                    value=str(IDLE_IN_TRANSACTION_TIMEOUT_MS)),
            ], tags=t, opts=child)
        self.password: Optional[random.RandomPassword] = None
        credentials: dict = {"manage_master_user_password": True}
        if not args.managed_master_password:
            # Alphanumeric only: safe inside a URL without escaping; 32 chars ≈ 190 bits.
            self.password = self.child("randomPassword", random.RandomPassword, f"{name}-master-password", length=32,
                                                  special=False, opts=child)
            credentials = {"password": self.password.result}
        self.instance = self.child("instance", aws.rds.Instance,
            f"{name}-postgres", engine="postgres", engine_version=args.engine_version,
            instance_class=args.instance_class, allocated_storage=args.storage_gb,
            max_allocated_storage=args.max_storage_gb, storage_type="gp3",
            storage_encrypted=True, publicly_accessible=False, multi_az=args.multi_az,
            db_subnet_group_name=subnet_group.name, vpc_security_group_ids=[args.security_group_id],
            parameter_group_name=params.name, db_name=DB_NAME, username=MASTER_USERNAME,
            backup_retention_period=args.backup_retention_days, copy_tags_to_snapshot=True,
            deletion_protection=args.deletion_protection,
            skip_final_snapshot=not args.deletion_protection,
            final_snapshot_identifier=None if not args.deletion_protection else f"{name}-final",
            auto_minor_version_upgrade=True, ca_cert_identifier="rds-ca-rsa2048-g1",
            apply_immediately=not args.deletion_protection,
            tags=t, **credentials,
            opts=child.merge(pulumi.ResourceOptions(protect=args.deletion_protection)))
        self.address = self.instance.address
        self.port = self.instance.port
        self.db_name = DB_NAME
        self.instance_identifier = self.instance.identifier
        self.master_user_secret_arn = (
            self.instance.master_user_secrets.apply(lambda s: s[0].secret_arn if s else None)
            if args.managed_master_password else None)
        self.register_outputs({"address": self.address, "port": self.port,
                               "identifier": self.instance_identifier})

    def parameter_values(self) -> dict[str, pulumi.Output[str]]:
        """SSM values: `database-url` = the OWNER (master) URL, i.e. the runtime's
        `UNAMENTIS_DATABASE_ADMIN_URL` for migrations — never its request-path `DATABASE_URL`,
        which compute builds for the RLS-bound app role (`unamentis_app`). Empty when RDS
        manages the master password (read `master_user_secret_arn` instead)."""
        if self.password is None:
            return {}
        url = pulumi.Output.all(self.password.result, self.instance.address, self.instance.port).apply(
            lambda a: f"postgresql://{MASTER_USERNAME}:{a[0]}@{a[1]}:{a[2]}/{DB_NAME}?sslmode=require")
        return {"database-url": pulumi.Output.secret(url)}
