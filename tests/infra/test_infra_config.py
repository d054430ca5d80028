"""The typed stack config: every stack file parses; bad config fails with the key and the fix."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from components import plan
from components.config import ConfigError, PROJECT, parse_config

ROOT = Path(__file__).resolve().parents[2]


def _values(stack: str) -> tuple[dict, str]:
    flat, _ = plan.read_stack_file(ROOT / f"Pulumi.{stack}.yaml")
    values = {}
    for k, v in flat.items():
        ns, _, key = k.partition(":")
        if ns == PROJECT:
            values[key] = json.loads(v) if v[:1] in "[{" else v
    return values, flat["aws:region"]


@pytest.mark.parametrize("stack", ["beta", "prod", "customer"])
def test_stack_files_parse(stack):
    values, region = _values(stack)
    c = parse_config(stack, values, region)
    assert c.profile == stack
    assert len(c.azs) == 2 and all(az.startswith(region) for az in c.azs)


def test_profile_defaults_and_file_values():
    beta = parse_config("beta", *_values("beta"))
    assert (beta.ingress, beta.edge, beta.network.nat) == ("tunnel", "cloudflare", "none")
    assert (beta.database.instance_class, beta.database.multi_az) == ("db.t4g.micro", False)
    assert (beta.core.cpu, beta.core.memory, beta.core.spot_weight, beta.core.on_demand_base) == (256, 512, 1, 0)
    assert beta.budget.fixed_ceiling_usd == 20.0
    assert beta.cloudflare.access.session_duration == "8h"
    prod = parse_config("prod", *_values("prod"))
    assert (prod.ingress, prod.network.nat, prod.database.multi_az, prod.database.deletion_protection) == \
        ("alb", "instance", True, True)
    assert prod.network.cidrs.data == ("10.20.56.0/24", "10.20.57.0/24")
    customer = parse_config("customer", *_values("customer"))
    assert (customer.edge, customer.ingress) == ("none", "alb")
    assert customer.alb.certificate_arn.startswith("arn:aws:acm:")


def _bad(mutate, stack="beta"):
    values, region = _values(stack)
    mutate(values)
    with pytest.raises(ConfigError) as e:
        parse_config(stack, values, region)
    return e.value


def _set(path: str, value):
    def mutate(values):
        keys = path.split(".")
        d = values
        for k in keys[:-1]:
            d = d.setdefault(k, {})
        d[keys[-1]] = value
    return mutate


CASES = [
    # (stack, mutation, expected key, words in the message)
    ("customer", _set("alb", {}), "alb.certificate_arn", "certificate"),
    ("beta", _set("edge", "none"), "ingress", "tunnel"),
    ("beta", _set("network", {"cidrs": {"data": ["10.0.56.0/24", "10.0.1.0/24"]}}), "network.cidrs.data[1]", "overlaps"),
    ("beta", _set("network", {"cidrs": {"gpu": ["10.0.48.0/22", "10.1.0.0/22"]}}), "network.cidrs.gpu[1]", "does not fit"),
    ("beta", _set("network", {"cidrs": {"public": ["10.0.0.0/22"]}}), "network.cidrs.public", "1 CIDR(s) for 2 AZ"),
    ("beta", _set("network", {"cidr": "10.0.0.1/16"}), "network.cidr", "host bits"),
    ("beta", _set("azs", ["us-east-1a"]), "azs", "need two"),
    ("beta", _set("azs", ["us-east-1a", "us-west-2b"]), "azs[1]", "not an AZ of us-east-1"),
    ("beta", _set("network", {"nat": "cheap"}), "network.nat", "'none', 'instance', 'gateway'"),
    ("beta", _set("databse", {}), "databse", "unknown key"),
    ("beta", _set("core", {"memry": 512}), "core.memry", "unknown key"),
    ("beta", _set("core", {"cpu": 256, "memory": 4096}), "core.memory", "does not fit cpu 256"),
    ("beta", _set("database", {"storage_gb": "lots"}), "database.storage_gb", "whole number"),
    ("beta", _set("database", {"multi_az": "maybe"}), "database.multi_az", "true or false"),
    ("beta", _set("database", {"max_connections": 20}), "functions.reserved_concurrency", "exceed"),
    ("beta", _set("functions", {"reserved_concurrency": {"auth": 5}}), "functions.reserved_concurrency", "no reservation"),
    ("beta", _set("budget", {"alert_emails": []}), "budget.alert_emails", "at least one"),
    ("beta", _set("budget", {"alert_emails": ["not-an-address"]}), "budget.alert_emails[0]", "e-mail"),
    ("beta", _set("logs", {"retention_days": 10}), "logs.retention_days", "retention"),
    ("beta", _set("cloudflare", {"zone_id": "xyz"}), "cloudflare.account_id", "Cloudflare id"),
    ("beta", _set("gpu", {"max_size": 1, "warm_min": 2}), "gpu.warm_min", "warm_min"),
    ("beta", _set("web_client", {"enabled": True}), "web_client.image", "without an image"),
    ("beta", _set("alb", {"idle_timeout": 60}), "alb.idle_timeout", "300"),
    ("beta", _set("domain", "Not A Domain"), "domain", "DNS name"),
    ("beta", _set("profile", "staging"), "profile", "'beta', 'prod', 'customer'"),
    ("beta", _set("core", {"cloudflared_image": "cloudflare/cloudflared:latest"}), "core.cloudflared_image", "not pinned"),
    ("beta", _set("core", {"image": "ghcr.io/org/unamentis"}), "core.image", "not pinned"),
    ("beta", _set("ops_console", {"enabled": True, "image": "ghcr.io/org/console:latest"}), "ops_console.image", "not pinned"),
    ("beta", _set("runtime", {"cors_origins": ["http://app.example.org"]}), "runtime.cors_origins[0]", "https://"),
    ("beta", _set("runtime", {"rate_limits": {"per_ip_per_minute": 0}}), "runtime.rate_limits.per_ip_per_minute", "positive"),
    ("beta", _set("features", {"voice": True}), "features", "unknown key"),
    ("beta", _set("functions.timeout_s", 30), "functions.timeout_s", "at most 29 s"),
    ("beta", _set("gpu.instance_types", ["g5g.xlarge"]), "gpu.instance_types", "not x86_64 NVIDIA"),
    ("beta", _set("gpu.volume_gb", 2000), "gpu.volume_gb", "30–1000 GB"),
    ("beta", _set("cloudflare.r2", {"enabled": True, "assets_bucket": "Bad_Name"}), "cloudflare.r2.assets_bucket", "not an R2 bucket"),
    ("beta", _set("cloudflare.r2", {"enabled": True, "assets_bucket": "x-tts", "tts_bucket": "x-tts"}), "cloudflare.r2.tts_bucket", "two buckets"),
]


@pytest.mark.parametrize("stack,mutate,key,words", CASES, ids=[c[2] for c in CASES])
def test_bad_config_names_the_key_and_the_fix(stack, mutate, key, words):
    err = _bad(mutate, stack)
    assert err.key == f"{PROJECT}:{key}"
    msg = str(err)
    assert msg.startswith(f"{PROJECT}:{key}: ") and "Fix: " in msg and "\n" not in msg
    assert words in msg


def test_pinned_images_and_origins_accepted():
    values, region = _values("beta")
    values["core"] = {"image": "ghcr.io/org/unamentis@sha256:" + "a" * 64}
    values["web_client"] = {"enabled": True, "image": "ghcr.io/org/web:1.4.2"}
    values["runtime"] = {"cors_origins": ["https://app.unamentis.net", "http://localhost:3001"]}
    c = parse_config("beta", values, region)
    assert c.web_client.image == "ghcr.io/org/web:1.4.2"


def test_cloudflare_zone_id_is_checked_when_account_id_is_valid():
    err = _bad(_set("cloudflare", {"account_id": "a" * 32, "zone_id": "nope"}))
    assert err.key == f"{PROJECT}:cloudflare.zone_id"


def test_missing_region_and_profile():
    values, _ = _values("beta")
    with pytest.raises(ConfigError) as e:
        parse_config("beta", values, None)
    assert e.value.key == "aws:region"
    values.pop("profile")
    with pytest.raises(ConfigError) as e:
        parse_config("beta", values, "us-east-1")
    assert e.value.key == f"{PROJECT}:profile"


def test_bad_config_under_pulumi_creates_nothing():
    """Through the real program path (pulumi.Config): the error surfaces, no resource exists."""
    from components import mocks

    captured = {}
    orig = mocks.install

    def spy(*a, **kw):
        captured["monitor"] = orig(*a, **kw)
        return captured["monitor"]

    mocks.install = spy
    try:
        with pytest.raises(ConfigError) as e:
            plan.run_program("beta", overrides={f"{PROJECT}:edge": "none"})
    finally:
        mocks.install = orig
    assert e.value.key == f"{PROJECT}:ingress"
    assert captured["monitor"].recording.resources == []


def test_unknown_top_level_key_in_stack_file_is_rejected():
    with pytest.raises(ConfigError) as e:
        plan.run_program("beta", overrides={f"{PROJECT}:databse": {"storage_gb": 20}})
    assert e.value.key == f"{PROJECT}:databse"


def test_secure_values_in_a_stack_file_stay_secret(tmp_path):
    f = tmp_path / "Pulumi.s.yaml"
    f.write_text((ROOT / "Pulumi.beta.yaml").read_text()
                 + "  unamentis-cloud:groqApiKey:\n    secure: v1:AAAAbase64ciphertext==\n")
    flat, secret = plan.read_stack_file(f)
    assert secret == [f"{PROJECT}:groqApiKey"]
    assert flat[f"{PROJECT}:groqApiKey"] == plan.SECRET_PLACEHOLDER
    assert json.loads(flat[f"{PROJECT}:azs"]) == ["us-east-1a", "us-east-1b"]
    # The program accepts the provider-key secret (not an unknown key) and plans.
    run = plan.run_program("beta", stack_file=f)
    assert run.config.profile == "beta"


def test_project_schema_keys_are_set_by_every_stack():
    import yaml

    declared = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"]
    assert set(declared) == {"profile", "domain", "azs"}  # required: no project default
    for stack in ("beta", "prod", "customer"):
        flat, _ = plan.read_stack_file(ROOT / f"Pulumi.{stack}.yaml")
        assert all(f"{PROJECT}:{k}" in flat for k in declared), stack


def test_a_components_argument_error_becomes_the_stack_config_key():
    """Components speak in their own terms; the stack layer names the key the operator edits."""
    from components.base import ArgsError
    from components.database import DatabaseArgs
    from components.stack_args import config_errors

    with pytest.raises(ArgsError, match=r"^DatabaseArgs\.instance_class: 'm5\.large'\. Fix: e\.g\. db\.t4g\.micro$"):
        DatabaseArgs(subnet_ids=["s1", "s2"], security_group_id="sg", instance_class="m5.large")
    with pytest.raises(ConfigError) as e:
        with config_errors():
            DatabaseArgs(subnet_ids=["s1", "s2"], security_group_id="sg", instance_class="m5.large")
    assert str(e.value) == f"{PROJECT}:database.instance_class: 'm5.large'. Fix: e.g. db.t4g.micro"
    with pytest.raises(ConfigError) as e:
        with config_errors():
            raise ArgsError("FunctionsApiArgs", "reserved_concurrency.auth", "0", "reserve at least 1")
    assert e.value.key == f"{PROJECT}:functions.reserved_concurrency.auth"
    # An argument no stack key feeds stays in the component's terms.
    with pytest.raises(ArgsError, match=r"^CoreServiceArgs\.target_group_arn"):
        with config_errors():
            raise ArgsError("CoreServiceArgs", "target_group_arn", "missing", "pass it")
