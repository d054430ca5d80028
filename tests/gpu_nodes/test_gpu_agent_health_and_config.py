"""The health endpoint's content and input errors, GPU memory, the config's errors, the small parsers."""
from __future__ import annotations

import datetime
import stat
import subprocess
import sys

import httpx
import pytest

from gpu_nodes.agent.aws import Credentials, CredentialSource, sign_v4
from gpu_nodes.agent.config import ConfigError, load_config
from gpu_nodes.agent.gpu import gpu_status
from gpu_nodes.agent.idle import MODES, Thresholds
from gpu_nodes.agent.model_servers import parse_go_time
from gpu_peers import go_time, wait_for

AUTH = {"Authorization": "Bearer node-token"}


def test_health_reports_state_models_gpu_and_last_activity(make_agent, ollama, tmp_path):
    smi = tmp_path / "nvidia-smi"
    smi.write_text("#!/bin/sh\necho '0, Tesla T4, 5321, 15360, 37'\n")
    smi.chmod(smi.stat().st_mode | stat.S_IEXEC)
    agent = make_agent(nvidia_smi=str(smi))
    httpx.post(ollama.url + "/api/generate", json={"model": "llama3.2:3b", "prompt": "hi"})
    wait_for(lambda: agent.loaded_models.get("ollama"), 3)
    wait_for(lambda: agent.health()["last_activity_source"].startswith("ollama"), 3)
    h = httpx.get(agent.health_url + "/health").json()
    assert h["state"] == "ACTIVE" and h["draining"] is False
    assert h["loaded_models"]["ollama"][0]["name"] == "llama3.2:3b"
    assert h["gpu"] == {
        "available": True,
        "gpus": [{"index": 0, "name": "Tesla T4", "memory_used_mib": 5321, "memory_total_mib": 15360, "utilization_percent": 37}],
        "memory_used_mib": 5321,
        "memory_total_mib": 15360,
    }
    assert datetime.datetime.strptime(h["last_activity"], "%Y-%m-%dT%H:%M:%SZ")
    assert h["model_servers"]["ollama"]["ok"] is True and h["instance_id"] == "i-0abc1234def567890"


def test_gpu_memory_unavailable_without_nvidia_smi(tmp_path):
    assert gpu_status(str(tmp_path / "nvidia-smi")) == {"available": False, "reason": f"{tmp_path / 'nvidia-smi'} not found"}
    broken = tmp_path / "smi-broken"
    broken.write_text("#!/bin/sh\necho 'NVIDIA-SMI has failed' >&2\nexit 9\n")
    broken.chmod(0o755)
    status = gpu_status(str(broken))
    assert status["available"] is False and "exited 9" in status["reason"]


def test_health_endpoint_rejects_bad_input_with_4xx(make_agent):
    agent = make_agent()
    base = agent.health_url
    assert httpx.post(base + "/activity", content=b"{not json", headers=AUTH).status_code == 400
    assert httpx.post(base + "/activity", json=["list"], headers=AUTH).status_code == 400
    assert httpx.post(base + "/activity", json={"source": 7}, headers=AUTH).status_code == 400
    assert httpx.post(base + "/activity", content=b"x" * 5000, headers=AUTH).status_code == 413
    assert httpx.get(base + "/nope").status_code == 404
    assert httpx.get(base + "/activity").status_code == 405
    # Reporting activity takes the node token the core already has.
    assert httpx.post(base + "/activity", json={"source": "tts"}).status_code == 401
    assert httpx.post(base + "/activity", json={"source": "tts"}, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert httpx.post(base + "/activity", json={"source": "tts"}, headers=AUTH).status_code == 200
    assert httpx.delete(base + "/health").status_code == 405
    assert httpx.get(base + "/ready").json() == {"ready": True, "state": "ACTIVE"}


def test_a_server_that_is_down_shows_in_health_without_stopping_the_agent(make_agent, tts):
    tts.close()
    agent = make_agent()
    wait_for(lambda: agent.server_status.get("tts", {}).get("ok") is False, 3)
    assert agent.server_status["ollama"]["ok"] is True


def test_config_flags_env_and_errors():
    env = {"GPU_AGENT_CORE_URL": "http://core:8000/api/gpu", "GPU_AGENT_POLL_INTERVAL": "0.5",
           "GPU_AGENT_IDLE_MODE": "power_saver", "GPU_AGENT_TTS_URL": "none"}
    cfg = load_config(["--cold-after", "400", "--poll-interval", "2"], env)
    assert cfg.poll_interval == 2.0  # the flag wins over the env
    assert cfg.thresholds == Thresholds(10, 60, 400, 1800) and cfg.tts_url is None
    assert cfg.core_url == "http://core:8000/api/gpu"

    def error(argv, extra=None):
        with pytest.raises(ConfigError) as exc:
            load_config(argv, {**env, **(extra or {})})
        return str(exc.value)

    assert "--idle-mode (GPU_AGENT_IDLE_MODE)" in error(["--idle-mode", "turbo"])
    assert "strictly increasing" in error(["--warm-after", "100", "--cool-after", "50"])
    assert "--poll-interval" in error(["--poll-interval", "soon"])
    assert "--poll-interval" in error(["--poll-interval", "0"])
    assert "--ollama-url" in error(["--ollama-url", "localhost:11434"])
    assert "--listen" in error(["--listen", "11400"])
    assert "needs --core-url" in error([], {"GPU_AGENT_CORE_URL": ""})
    assert "--asg-name" in error(["--lifecycle-hook", "drain"])
    assert "--region" in error(["--lifecycle-hook", "drain", "--asg-name", "g"])
    assert "go together" in error(["--core-access-client-id", "abc.access"])
    assert load_config(["--idle-mode", "performance"], {}).thresholds is None  # no core needed then


def test_agent_cli_config_error_exits_2_with_the_flag_named():
    out = subprocess.run([sys.executable, "-m", "gpu_nodes.agent", "--idle-mode", "turbo"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 2 and "--idle-mode" in out.stderr and "Traceback" not in out.stderr


def test_go_times_parse_like_ollama_writes_them():
    t = 1795000000.123456
    assert abs(parse_go_time(go_time(t)) - t) < 1e-5
    assert parse_go_time("2026-11-26T01:02:03Z") == datetime.datetime(2026, 11, 26, 1, 2, 3, tzinfo=datetime.timezone.utc).timestamp()
    assert parse_go_time("0001-01-01T00:00:00Z") is not None
    assert parse_go_time("yesterday") is None


def test_modes_and_threshold_validation():
    assert MODES["balanced"] == Thresholds(30, 300, 1800, 7200) and MODES["performance"] is None
    assert Thresholds(1, 2, 3, 4).state_for(2.5) == "COOL"
    with pytest.raises(ValueError):
        Thresholds(1, 1, 3, 4)


def test_sigv4_matches_botocore():
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials as BotoCredentials

    now = datetime.datetime(2026, 11, 26, 1, 2, 3, tzinfo=datetime.timezone.utc)
    body = b"Action=CompleteLifecycleAction&Version=2011-01-01&InstanceId=i-1"
    url = "https://autoscaling.eu-west-1.amazonaws.com/"
    headers = sign_v4("POST", url, {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}, body,
                      region="eu-west-1", service="autoscaling", credentials=Credentials("AKID", "SECRET", "TOKEN"), now=now)
    req = AWSRequest(method="POST", url=url, data=body, headers={k: v for k, v in headers.items() if k != "Authorization"})
    req.context["timestamp"] = headers["X-Amz-Date"]
    signer = SigV4Auth(BotoCredentials("AKID", "SECRET", "TOKEN"), "autoscaling", "eu-west-1")
    expected = signer.signature(signer.string_to_sign(req, signer.canonical_request(req)), req)
    assert headers["Authorization"].endswith("Signature=" + expected)
    assert headers["Host"] == "autoscaling.eu-west-1.amazonaws.com"


def test_environment_credentials_win_over_the_instance_profile():
    creds = CredentialSource(None, environ={"AWS_ACCESS_KEY_ID": "A", "AWS_SECRET_ACCESS_KEY": "S"}).get()
    assert (creds.access_key, creds.secret_key, creds.token) == ("A", "S", None)
