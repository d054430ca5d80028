"""Settings.from_env: names, parsing, clear errors, no secrets in repr."""
from __future__ import annotations

import pytest

from runtime.settings import ConfigError, Settings, parse_version


def test_defaults_and_exact_names():
    s = Settings.from_env(
        {
            "DATABASE_URL": "postgresql://app:pw@db/x",
            "UNAMENTIS_ORIGIN_SECRET": "s" * 32,
            "REDIS_URL": "redis://127.0.0.1:6379/0",
            "UNAMENTIS_CORS_ORIGINS": "https://a.example.com, http://localhost:3000",
            "UNAMENTIS_MIN_CLIENT_VERSION": "ios=1.4,android=1.3.2",
            "UNAMENTIS_RATE_LIMIT_TOKEN": "100/1m",
            "UNAMENTIS_RATE_LIMIT_IP": "0",
        }
    )
    assert s.database_url == "postgresql://app:pw@db/x"
    assert s.database_admin_url == s.database_url  # single-role default
    assert s.origin_secret == "s" * 32 and s.redis_url.startswith("redis://")
    assert s.cors_origins == ("https://a.example.com", "http://localhost:3000")
    assert s.min_client_versions == {"ios": (1, 4), "android": (1, 3, 2)}
    assert s.rate_limit_token == (100, 60.0) and s.rate_limit_ip == (0, 1.0)
    assert s.client_auth == "token" and s.db_mode == "pool"
    assert Settings.from_env({"AWS_LAMBDA_FUNCTION_NAME": "f"}).db_mode == "single"
    assert Settings.from_env({"UNAMENTIS_MIN_CLIENT_VERSION": "2.0"}).min_client_versions == {
        "ios": (2, 0), "android": (2, 0), "web": (2, 0)
    }


@pytest.mark.parametrize(
    "env, name",
    [
        ({"UNAMENTIS_CORS_ORIGINS": "*"}, "UNAMENTIS_CORS_ORIGINS"),
        ({"UNAMENTIS_CORS_ORIGINS": "https://a.example.com/path"}, "UNAMENTIS_CORS_ORIGINS"),
        ({"UNAMENTIS_ORIGIN_SECRET": "short"}, "UNAMENTIS_ORIGIN_SECRET"),
        ({"UNAMENTIS_RATE_LIMIT_USER": "lots"}, "UNAMENTIS_RATE_LIMIT_USER"),
        ({"UNAMENTIS_CLIENT_AUTH": "none"}, "UNAMENTIS_CLIENT_AUTH"),
        ({"UNAMENTIS_DB_POOL_MAX": "zero"}, "UNAMENTIS_DB_POOL_MAX"),
        ({"UNAMENTIS_MIN_CLIENT_VERSION": "desktop=1.0"}, "UNAMENTIS_MIN_CLIENT_VERSION"),
        ({"UNAMENTIS_MIN_CLIENT_VERSION": "ios=latest"}, "UNAMENTIS_MIN_CLIENT_VERSION"),
        ({"UNAMENTIS_ACCESS_LOG": "maybe"}, "UNAMENTIS_ACCESS_LOG"),
        ({"UNAMENTIS_APP_ROLE": "App Role"}, "UNAMENTIS_APP_ROLE"),
        ({"UNAMENTIS_LOG_LEVEL": "LOUD"}, "UNAMENTIS_LOG_LEVEL"),
    ],
)
def test_bad_values_name_the_variable(env, name):
    with pytest.raises(ConfigError, match=name):
        Settings.from_env(env)


def test_repr_hides_secrets():
    s = Settings.from_env(
        {"DATABASE_URL": "postgresql://app:hunter2@db/x", "UNAMENTIS_ORIGIN_SECRET": "topsecret-" * 3,
         "UNAMENTIS_APP_ROLE_PASSWORD": "pw-xyz"}
    )
    text = repr(s)
    assert "hunter2" not in text and "topsecret" not in text and "pw-xyz" not in text


def test_missing_database_url_says_how_to_fix():
    with pytest.raises(ConfigError, match="DATABASE_URL is not set"):
        Settings().require_database_url()


def test_parse_version():
    assert parse_version("v1.2.3") == (1, 2, 3)
    assert parse_version("2.0.1 (57)") == (2, 0, 1)
    assert parse_version("1.4-beta") == (1, 4)
    with pytest.raises(ValueError):
        parse_version("beta")


# --- the declaration: SETTINGS and env_vars --------------------------------------------------------


def _value(settings: Settings, record):
    """The parsed value of one declared setting inside a Settings."""
    if record.section == "voice":
        return getattr(settings.voice, record.field)
    if record.section == "storage":
        return getattr(settings.storage, record.field.split("_", 1)[1])
    return getattr(settings, record.field)


ROUND_TRIP = dict(
    database_url="postgresql://app:pw@db/x",
    database_admin_url="postgresql://owner:pw@db/x",
    app_role="uma_app",
    db_mode="single",
    db_pool_min=2,
    db_pool_max=7,
    db_connect_timeout=2.5,
    db_statement_timeout_ms=0,
    origin_secret="o" * 32,
    cors_origins=("https://a.example.com", "http://localhost:3000"),
    min_client_versions={"ios": (1, 4), "android": (1, 3, 2)},
    max_body_bytes=4096,
    client_auth="open",
    rate_limit_token=(100, 60.0),
    rate_limit_user=(5, 1.5),
    rate_limit_ip=(0, 1.0),
    rate_limit_leases=False,
    jwt_secret="j" * 40,
    registration="closed",
    auth_cache_seconds=0.0,
    cf_access_team_domain="team.cloudflareaccess.com",
    cf_access_aud="aud-tag",
    rate_limit_register=(10, 3600.0),
    budget_user_daily_usd=0.25,
    storage_url="s3://bucket/prefix",
    s3_endpoint_url="https://acct.r2.cloudflarestorage.com",
    s3_region="auto",
    s3_access_key_id="AK",
    s3_secret_access_key="SK",
    s3_force_path_style=False,
    s3_checksums="when_supported",
    telemetry_retention_days=7,
    server_name="core-1",
    log_level="DEBUG",
    access_log=False,
    stt_provider="groq",
    stt_api_key="k",
    llm_temperature=0.2,
    gpu_node_token="n" * 24,
    aws_region="eu-west-1",
    ws_ping_seconds=10.0,
    job_workers=0,
)


def test_env_vars_round_trips_through_from_env():
    from runtime.settings import SETTINGS, env_vars

    env = env_vars(**ROUND_TRIP)
    assert all(isinstance(text, str) for text in env.values())
    assert env["UNAMENTIS_RATE_LIMIT_USER"] == "5/1.5" and env["UNAMENTIS_CORS_ORIGINS"] == "https://a.example.com,http://localhost:3000"
    settings = Settings.from_env(env)
    by_field = {s.field: s for s in SETTINGS}
    for name, value in ROUND_TRIP.items():
        assert _value(settings, by_field[name]) == value, name


def test_env_vars_defaults_round_trip_and_unknown_names_fail():
    from runtime.settings import SETTINGS, env_vars

    # Compose's variables are declared for the README but read by compose.yaml, not by Settings
    plain = {s.field: s.default for s in SETTINGS if s.env_default is None and s.default is not None and s.section != "compose"}
    settings = Settings.from_env(env_vars(**plain))
    for record in SETTINGS:
        if record.field in plain:
            assert _value(settings, record) == record.default, record.field
    with pytest.raises(ValueError, match="db_pool_maximum"):
        env_vars(db_pool_maximum=3)
    with pytest.raises(ConfigError, match="UNAMENTIS_RATE_LIMIT_IP"):
        env_vars(rate_limit_ip="lots")


def test_env_vars_passes_other_objects_through():
    from runtime.settings import env_vars

    class Output:  # stands for a pulumi.Output: not a plain value, so not encoded
        pass

    out = Output()
    assert env_vars(database_url=out, jwt_issuer="https://api.example.org", origin_secret=None) == {
        "DATABASE_URL": out, "UNAMENTIS_JWT_ISSUER": "https://api.example.org"}


def test_every_setting_is_declared_once():
    from runtime.settings import SETTINGS

    assert len({s.env for s in SETTINGS}) == len(SETTINGS) and len({s.field for s in SETTINGS}) == len(SETTINGS)
    assert {s.field for s in SETTINGS if s.secret} >= {
        "database_url", "database_admin_url", "app_role_password", "origin_secret", "jwt_secret",
        "s3_secret_access_key", "stt_api_key", "llm_api_key", "tts_api_key", "gpu_node_token"}
