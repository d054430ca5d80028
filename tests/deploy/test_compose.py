"""deploy/compose: `secrets init`, the Compose file against the Compose Specification schema, and the
properties a one-server install relies on (start order, health checks, pinned images, the two
database roles kept apart)."""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from runtime.selfhost_secrets import generate, parse_env_file
from tests.deploy.compose_tools import (
    COMPOSE_FILE,
    ENV_EXAMPLE,
    ROOT,
    InterpolationError,
    environment,
    load,
    load_raw,
    referenced_variables,
)

SCHEMA = json.loads((Path(__file__).with_name("compose-spec.json")).read_text(encoding="utf-8"))


def secrets_init(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runtime", "secrets", "init", str(path)],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )


@pytest.fixture(scope="module")
def env_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("compose") / ".env"
    result = secrets_init(path)
    assert result.returncode == 0, result.stderr
    return path


@pytest.fixture(scope="module")
def env(env_file: Path) -> dict[str, str]:
    return parse_env_file(env_file.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def compose(env: dict[str, str]) -> dict:
    return load(env)


# ------------------------------------------------------------------------------ secrets init
def test_secrets_init_writes_0600_with_strong_distinct_values(env_file: Path, env: dict[str, str]) -> None:
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    secret_names = [n for n in env if n.endswith(("PASSWORD", "SECRET", "SECRET_ACCESS_KEY"))]
    assert set(secret_names) >= {
        "POSTGRES_PASSWORD", "UNAMENTIS_APP_ROLE_PASSWORD", "UNAMENTIS_JWT_SECRET",
        "MINIO_ROOT_PASSWORD", "UNAMENTIS_S3_SECRET_ACCESS_KEY",
    }
    values = [env[n] for n in secret_names]
    assert len(set(values)) == len(values), "every secret is its own random value"
    for value in values:
        assert len(value) >= 40 and set(value) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert len(env["UNAMENTIS_JWT_SECRET"]) >= 32
    # the two database roles are different roles with different passwords
    assert env["POSTGRES_USER"] != env["UNAMENTIS_APP_ROLE"]
    assert env["POSTGRES_PASSWORD"] != env["UNAMENTIS_APP_ROLE_PASSWORD"]


def test_secrets_init_is_fresh_every_time() -> None:
    first, second = dict((n, v) for n, v, _ in generate()), dict((n, v) for n, v, _ in generate())
    assert first["POSTGRES_PASSWORD"] != second["POSTGRES_PASSWORD"]
    assert first["UNAMENTIS_JWT_SECRET"] != second["UNAMENTIS_JWT_SECRET"]


def test_secrets_init_never_overwrites(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text("POSTGRES_PASSWORD=keep-me\n")
    result = secrets_init(path)
    assert result.returncode != 0
    assert "already exists" in result.stderr and "never overwritten" in result.stderr
    assert path.read_text() == "POSTGRES_PASSWORD=keep-me\n"


def test_secrets_init_refuses_a_missing_directory(tmp_path: Path) -> None:
    result = secrets_init(tmp_path / "nope" / ".env")
    assert result.returncode == 2 and result.stderr.startswith("error:")


def test_env_example_documents_every_variable(env: dict[str, str]) -> None:
    documented = set()
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        text = line.lstrip("# ").strip()
        if "=" in text and text.split("=", 1)[0].isupper() and " " not in text.split("=", 1)[0]:
            documented.add(text.split("=", 1)[0])
    assert set(env) <= documented, set(env) - documented
    assert set(referenced_variables()) <= documented, set(referenced_variables()) - documented
    assert "COMPOSE_PROFILES" in documented
    # required variables (no default in compose.yaml) are exactly what secrets init writes
    required = {name for name, op in referenced_variables().items() if op in (":?", "?")}
    assert required <= set(env), required - set(env)


def test_missing_env_file_fails_with_the_fix() -> None:
    with pytest.raises(InterpolationError, match="secrets init"):
        load({})


# ----------------------------------------------------------------------------- compose file
def test_compose_file_matches_the_compose_specification(compose: dict) -> None:
    jsonschema.Draft7Validator.check_schema(SCHEMA)
    errors = sorted(jsonschema.Draft7Validator(SCHEMA).iter_errors(compose), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


def test_schema_catches_a_typo(compose: dict) -> None:
    broken = json.loads(json.dumps(compose))
    broken["services"]["core"]["healthcheck"]["intervall"] = "15s"
    assert list(jsonschema.Draft7Validator(SCHEMA).iter_errors(broken))


def test_start_order_waits_for_health_and_one_offs(compose: dict) -> None:
    services = compose["services"]
    assert services["core"]["depends_on"] == {
        "postgres": {"condition": "service_healthy"},
        "migrate": {"condition": "service_completed_successfully"},
        "minio-init": {"condition": "service_completed_successfully"},
    }
    assert services["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert services["minio-init"]["depends_on"] == {"minio": {"condition": "service_healthy"}}
    assert services["migrate"]["command"] == ["migrate"]
    assert services["core"]["command"][0] == "serve"
    assert services["migrate"]["image"] == services["core"]["image"]


def test_health_checks_restart_policies_and_limits(compose: dict) -> None:
    for name, service in compose["services"].items():
        one_off = name in ("migrate", "minio-init")
        assert service["restart"] == ("no" if one_off else "unless-stopped"), name
        if not one_off:
            assert service["healthcheck"]["test"], name
        assert service["deploy"]["resources"]["limits"]["memory"], name
    assert "/health" in " ".join(compose["services"]["core"]["healthcheck"]["test"])
    core = compose["services"]["core"]
    assert core["stop_grace_period"] == "120s" and int(environment(core)["UNAMENTIS_DRAIN_SECONDS"]) < 120
    assert core["read_only"] is True and core["cap_drop"] == ["ALL"]


def test_images_are_pinned(compose: dict) -> None:
    for name, service in compose["services"].items():
        image = service["image"]
        if name == "console" and not image:
            continue  # the operator's own build (UNAMENTIS_CONSOLE_IMAGE, profile console): no default to pin
        repo, _, tag = image.rpartition(":") if "@" not in image else (image, "", "digest")
        assert repo and tag and tag != "latest" and "/" not in tag, f"{name}: {image}"
    raw = COMPOSE_FILE.read_text(encoding="utf-8")
    assert ":latest" not in raw


def test_database_roles_are_kept_apart(compose: dict, env: dict[str, str]) -> None:
    core, migrate = environment(compose["services"]["core"]), environment(compose["services"]["migrate"])
    owner, owner_pw = env["POSTGRES_USER"], env["POSTGRES_PASSWORD"]
    app, app_pw = env["UNAMENTIS_APP_ROLE"], env["UNAMENTIS_APP_ROLE_PASSWORD"]
    # the serving runtime connects as the runtime role and never sees the owner's credentials
    assert core["DATABASE_URL"].startswith(f"postgresql://{app}:{app_pw}@postgres:5432/")
    assert "UNAMENTIS_DATABASE_ADMIN_URL" not in core and "UNAMENTIS_APP_ROLE_PASSWORD" not in core
    assert all(owner_pw not in value for value in core.values())
    # migrate runs as the owner and hands the runtime role its password
    assert migrate["UNAMENTIS_DATABASE_ADMIN_URL"].startswith(f"postgresql://{owner}:{owner_pw}@postgres:5432/")
    assert migrate["UNAMENTIS_APP_ROLE_PASSWORD"] == app_pw and migrate["UNAMENTIS_APP_ROLE"] == app
    assert "DATABASE_URL" not in migrate
    postgres = environment(compose["services"]["postgres"])
    assert postgres["POSTGRES_USER"] == owner and postgres["POSTGRES_PASSWORD"] == owner_pw


def test_storage_points_at_minio_path_style(compose: dict, env: dict[str, str]) -> None:
    core = environment(compose["services"]["core"])
    assert core["UNAMENTIS_STORAGE_URL"] == f"s3://{env['UNAMENTIS_BUCKET']}"
    assert core["UNAMENTIS_S3_ENDPOINT_URL"] == "http://minio:9000"
    assert core["UNAMENTIS_S3_FORCE_PATH_STYLE"] == "true"
    assert core["UNAMENTIS_S3_ACCESS_KEY_ID"] == env["UNAMENTIS_S3_ACCESS_KEY_ID"] != env["MINIO_ROOT_USER"]
    init = compose["services"]["minio-init"]
    script = init["command"][0]
    assert "mc mb --ignore-existing" in script and "mc admin user add" in script


def test_backing_services_are_not_published(compose: dict) -> None:
    assert compose["networks"]["backend"]["internal"] is True
    for name in ("postgres", "minio", "redis", "ollama", "speaches", "cloudflared", "migrate", "minio-init"):
        assert "ports" not in compose["services"][name], name
    assert compose["services"]["core"]["ports"] == ["0.0.0.0:8766:8766"]


def test_profiles(compose: dict) -> None:
    services = compose["services"]
    assert services["redis"]["profiles"] == ["redis"]
    assert services["cloudflared"]["profiles"] == ["tunnel"]
    assert "TUNNEL_TOKEN" in environment(services["cloudflared"])
    for name in ("ollama", "speaches"):
        assert services[name]["profiles"] == ["gpu"]
        device = services[name]["deploy"]["resources"]["reservations"]["devices"][0]
        assert device["driver"] == "nvidia" and device["capabilities"] == ["gpu"]
    core_vars = set(load_raw()["services"]["core"]["environment"])
    # the runtime's provider settings (runtime/voice/config.py, runtime/settings.py) reach the core
    from runtime.settings import Settings

    gpu_env = {
        "UNAMENTIS_GPU_LLM_URL": "http://ollama:11434",
        "UNAMENTIS_GPU_STT_URL": "http://speaches:8000/v1",
        "UNAMENTIS_GPU_TTS_URL": "http://speaches:8000/v1",
        "REDIS_URL": "redis://redis:6379/0",
    }
    assert set(gpu_env) <= core_vars
    settings = Settings.from_env({**environment(services["core"]), **gpu_env})
    assert settings.voice.gpu_llm_url == "http://ollama:11434" and settings.redis_url == "redis://redis:6379/0"
    # with the profile variables unset, the empty values mean "not configured"
    plain = Settings.from_env(environment(services["core"]))
    assert plain.redis_url is None and plain.voice.gpu_llm_url is None


def test_tunnel_profile_can_close_every_port(env: dict[str, str]) -> None:
    compose = load({**env, "UNAMENTIS_BIND_ADDRESS": "127.0.0.1", "COMPOSE_PROFILES": "tunnel"})
    assert compose["services"]["core"]["ports"] == ["127.0.0.1:8766:8766"]


def test_env_file_is_ignored_by_git() -> None:
    result = subprocess.run(["git", "check-ignore", "-q", "deploy/compose/.env"], cwd=ROOT)
    assert result.returncode == 0
    assert os.path.exists(ROOT / "deploy" / "compose" / ".gitignore")


def test_console_profile_reaches_the_listener_only_on_its_own_network(env: dict[str, str]) -> None:
    import ipaddress

    from runtime.settings import Settings

    compose = load({**env, "COMPOSE_PROFILES": "console", "UNAMENTIS_CONSOLE_IMAGE": "registry.example.org/ops:1.0.0",
                    "UNAMENTIS_CONSOLE_PORT": "8767", "UNAMENTIS_CONSOLE_ADMIN_EMAIL": "ops@example.org"})
    services = compose["services"]
    console, core = services["console"], services["core"]
    assert console["profiles"] == ["console"] and console["image"] == "registry.example.org/ops:1.0.0"
    assert console["ports"] == ["127.0.0.1:3000:3000"]
    wired = environment(console)
    assert wired["BACKEND_URL"] == "http://core:8767"
    assert {wired[k] for k in ("NEXT_PUBLIC_BACKEND_URL", "NEXT_PUBLIC_API_URL", "NEXT_PUBLIC_MANAGEMENT_API_URL",
                               "NEXT_PUBLIC_MANAGEMENT_SERVER_URL")} == {"http://localhost:3000"}
    # the core opens the listener on its console-network address only, and never publishes it
    settings = Settings.from_env(environment(core))
    assert (settings.console_port, settings.console_admin_email) == (8767, "ops@example.org")
    network = compose["networks"]["console"]
    assert network["internal"] is True
    assert settings.console_host == core["networks"]["console"]["ipv4_address"]
    assert ipaddress.ip_address(settings.console_host) in ipaddress.ip_network(network["ipam"]["config"][0]["subnet"])
    assert all(":8767" not in port for port in core["ports"])
    members = sorted(name for name, svc in services.items() if "console" in (svc.get("networks") or ()))
    assert members == ["console", "core"]
    # without the profile's variables the core opens no listener
    assert Settings.from_env(environment(load(env)["services"]["core"])).console_port is None
