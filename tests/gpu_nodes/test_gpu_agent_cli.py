"""`python -m gpu_nodes.agent` as the bootstrap starts it: settings from GPU_AGENT_* only, real HTTP."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import glob

import httpx
import pytest

from gpu_peers import wait_for

ROOT = Path(__file__).resolve().parents[2]
# Amazon Linux 2023's python3 is 3.9: run the agent with a 3.9 interpreter too where one is installed.
PY39 = sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.9*/bin/python3.9")) + glob.glob("/usr/bin/python3.9"))


@pytest.mark.parametrize("python", [sys.executable] + PY39[:1], ids=lambda p: "current" if p == sys.executable else "python3.9")
def test_agent_process_polls_drains_completes_and_stops_on_sigterm(python, imds, core, autoscaling, ollama, tts, stt):
    env = dict(os.environ)
    env.update({
        "PYTHONPATH": str(ROOT),
        "GPU_AGENT_IMDS_URL": imds.url,
        "GPU_AGENT_OLLAMA_URL": ollama.url,
        "GPU_AGENT_TTS_URL": tts.url,
        "GPU_AGENT_STT_URL": stt.url,
        "GPU_AGENT_CORE_URL": core.url,
        "GPU_AGENT_CORE_TOKEN": "node-token",
        "GPU_AGENT_POLL_INTERVAL": "0.2",
        "GPU_AGENT_IDLE_MODE": "scale_to_zero",
        "GPU_AGENT_LISTEN": "127.0.0.1:0",
        "GPU_AGENT_REGION": "us-east-1",
        "GPU_AGENT_ASG_NAME": "unamentis-beta-gpu",
        "GPU_AGENT_LIFECYCLE_HOOK": "unamentis-beta-gpu-drain",
        "GPU_AGENT_AWS_ENDPOINT_URL": autoscaling.url,
        "GPU_AGENT_DRAIN_QUIET": "0.2",
        "GPU_AGENT_NVIDIA_SMI": "nvidia-smi-absent",
    })
    for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        env.pop(k, None)  # the agent must take the instance profile's keys from IMDS
    proc = subprocess.Popen([python, "-m", "gpu_nodes.agent"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        port = None
        deadline = time.monotonic() + 15
        lines = []
        while port is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            m = re.search(r"health endpoint on 127\.0\.0\.1:(\d+)", line)
            port = int(m.group(1)) if m else None
        assert port, "".join(lines)
        assert not any("node-token" in line for line in lines), "the core token leaked into the log"
        base = f"http://127.0.0.1:{port}"
        health = httpx.get(base + "/health").json()
        assert health["instance_id"] == imds.instance_id and health["idle"]["mode"] == "scale_to_zero"
        assert health["gpu"]["available"] is False

        imds.instance_action = {"action": "terminate", "time": "2026-11-26T01:02:00Z"}
        wait_for(lambda: core.of_type("drain"), 5)
        wait_for(lambda: autoscaling.calls, 5)
        assert autoscaling.calls[0]["InstanceId"] == imds.instance_id
        assert httpx.get(base + "/ready").status_code == 503
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            assert proc.wait(timeout=10) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.stdout.close()
