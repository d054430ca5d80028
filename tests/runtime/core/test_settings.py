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
