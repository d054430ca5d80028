"""The runtime's environment as the deploy program builds it: names, encodings and secrecy come
from the runtime's own declarations (runtime.settings), not from strings written here."""
from __future__ import annotations

import pulumi
import pytest

from components import mocks
from components.runtime_env import APP_ROLE, provider_settings, runtime_environment
from runtime.settings import SETTINGS, Settings

BY_ENV = {s.env: s for s in SETTINGS}


def _env(**kw):
    """Built inside a Pulumi run (secrets are Outputs, which need the engine's event loop)."""
    out = {}
    mocks.record(lambda: out.update(env=_build(**kw)))
    return out["env"]


def _build(**kw):
    base = dict(env="beta", region="us-east-1", api_host="api.example.org", registration="invite",
                min_client_version="1.2.0", rate_limits_per_minute=(120, 90, 100), cors_origins=(),
                database_url="postgresql://a", jwt_secret="j", app_role_password="p",
                storage_url="s3://bucket/", s3_region="us-east-1")
    return runtime_environment(**{**base, **kw})


def test_plain_values_are_what_the_runtime_parses_back():
    env = _env(cors_origins=("https://app.example.org",))
    plain = dict(env.shared.plain)
    assert plain == {
        "UNAMENTIS_ENV": "beta", "UNAMENTIS_AWS_REGION": "us-east-1", "UNAMENTIS_REGISTRATION": "beta_token",
        "UNAMENTIS_MIN_CLIENT_VERSION": "1.2.0", "UNAMENTIS_JWT_ISSUER": "https://api.example.org",
        "UNAMENTIS_RATE_LIMIT_TOKEN": "120/60", "UNAMENTIS_RATE_LIMIT_USER": "90/60",
        "UNAMENTIS_RATE_LIMIT_IP": "100/60", "UNAMENTIS_STORAGE_URL": "s3://bucket/",
        "UNAMENTIS_S3_REGION": "us-east-1", "UNAMENTIS_CORS_ORIGINS": "https://app.example.org",
        "UNAMENTIS_APP_ROLE": APP_ROLE,
    }
    s = Settings.from_env({**plain, "DATABASE_URL": "postgresql://u:p@h/db", "UNAMENTIS_JWT_SECRET": "x" * 40})
    assert (s.rate_limit_user, s.registration, s.cors_origins) == ((90, 60.0), "beta_token", ("https://app.example.org",))


def test_secrets_follow_the_runtimes_secret_flag_and_stay_secret():
    env = _env(origin_secret="o", owner_database_url="postgresql://owner", gpu_node_token="t",
               gpu_asg_name="uma-beta-gpu", provider_keys={"groq": "g", "deepgram": "d"})
    for part in (env.shared, env.core_only):
        assert all(not BY_ENV[k].secret for k in part.plain)
        assert all(BY_ENV[k].secret and isinstance(v, pulumi.Output) for k, v in part.secret.items())
    assert set(env.shared.secret) == {"DATABASE_URL", "UNAMENTIS_JWT_SECRET", "UNAMENTIS_ORIGIN_SECRET"}
    assert dict(env.core_only.plain) == {"UNAMENTIS_LLM_PROVIDER": "groq", "UNAMENTIS_STT_PROVIDER": "groq",
                                         "UNAMENTIS_TTS_PROVIDER": "deepgram",
                                         "UNAMENTIS_GPU_ASG_NAME": "uma-beta-gpu", "UNAMENTIS_DB_POOL_MAX": "5"}
    assert set(env.core_only.secret) == {"UNAMENTIS_LLM_API_KEY", "UNAMENTIS_STT_API_KEY", "UNAMENTIS_TTS_API_KEY",
                                         "UNAMENTIS_APP_ROLE_PASSWORD", "UNAMENTIS_DATABASE_ADMIN_URL",
                                         "UNAMENTIS_GPU_NODE_TOKEN"}


def test_unset_values_leave_the_runtime_default_and_providers_fall_back():
    env = _env()
    assert "UNAMENTIS_CORS_ORIGINS" not in env.shared.plain and "UNAMENTIS_SQS_QUEUE_URL" not in env.shared.plain
    assert provider_settings({"openai": "k"}) == {"llm_provider": "openai", "llm_api_key": "k", "stt_provider": "openai",
                                                  "stt_api_key": "k", "tts_provider": "openai", "tts_api_key": "k"}
    assert provider_settings({}) == {}


def test_a_bad_value_fails_in_the_program_not_at_boot():
    with pytest.raises(Exception, match="UNAMENTIS_MIN_CLIENT_VERSION"):
        _build(min_client_version="one")
