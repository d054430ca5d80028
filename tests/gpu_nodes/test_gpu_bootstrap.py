"""The rendered user data: valid cloud-config (cloud-init's own validator), under EC2's size limit,
reproducible, consistent with the agent's settings, and a bootstrap script that really runs."""
from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

from gpu_nodes.agent.config import ConfigError, load_config
from gpu_nodes.bootstrap import (
    USER_DATA_LIMIT,
    agent_archive,
    derive_thresholds,
    env_values,
    render_user_data,
    user_data_files,
)

ARGS = dict(
    region="us-east-1",
    model_bucket="unamentis-beta-models",
    core_url="https://api.unamentis.org",
    asg_name="unamentis-beta-gpu",
    lifecycle_hook_name="drain",
    idle_minutes=15,
    max_lifetime_hours=12,
    core_token_parameter="/unamentis/beta/gpu-node-token",
    core_access_client_id="0123abcd.access",
    core_access_secret_parameter="/unamentis/beta/gpu-access-secret",
)
SCHEMA = Path("/usr/lib/python3/dist-packages/cloudinit/config/schemas/schema-cloud-config-v1.json")


def _cloud_init() -> str:
    exe = shutil.which("cloud-init")
    assert exe, "cloud-init is not installed: `apt-get install cloud-init` (.ci/run does it)"
    return exe


def test_user_data_is_valid_cloud_config_for_cloud_init(tmp_path):
    path = tmp_path / "user-data"
    path.write_text(render_user_data(**ARGS))
    out = subprocess.run([_cloud_init(), "schema", "--config-file", str(path)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Valid cloud-config" in out.stdout + out.stderr


def test_cloud_init_rejects_broken_user_data(tmp_path):
    """The validator used above is not a rubber stamp: a wrong shape fails it."""
    doc = yaml.safe_load(render_user_data(**ARGS))
    doc["write_files"][0]["permissions"] = 600  # an int where cloud-init wants an octal string
    doc["runcmd"] = "not-a-list"
    path = tmp_path / "user-data"
    path.write_text("#cloud-config\n" + yaml.safe_dump(doc))
    out = subprocess.run([_cloud_init(), "schema", "--config-file", str(path)], capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "runcmd" in out.stdout + out.stderr


def test_every_top_level_key_is_a_cloud_init_module_key():
    """cloud-init ignores unknown keys silently; a typo would mean a node that never bootstraps."""
    schema = json.loads(SCHEMA.read_text())
    known = set()
    for part in schema["allOf"]:
        ref = part["$ref"].split("/")[-1]
        known |= set(schema["$defs"][ref].get("properties", {}))
    doc = yaml.safe_load(render_user_data(**ARGS))
    assert set(doc) <= known, set(doc) - known
    assert render_user_data(**ARGS).startswith("#cloud-config\n")


def test_user_data_is_small_and_reproducible():
    a, b = render_user_data(**ARGS), render_user_data(**ARGS)
    assert a == b
    assert len(a.encode()) < USER_DATA_LIMIT
    # Many models still fit.
    many = render_user_data(**{**ARGS, "ollama_models": [f"model-{i}:7b" for i in range(40)]})
    assert len(many.encode()) < USER_DATA_LIMIT


def test_agent_settings_in_user_data_are_a_valid_agent_config():
    files = user_data_files(render_user_data(**ARGS))
    env = env_values(files["/etc/unamentis/gpu-agent.env"])
    assert env["GPU_AGENT_CORE_ACCESS_CLIENT_ID"] == "0123abcd.access"
    with pytest.raises(ConfigError):  # the secret half comes from SSM at boot (secret env file)
        load_config([], env)
    cfg = load_config([], {**env, "GPU_AGENT_CORE_ACCESS_CLIENT_SECRET": "s"})
    assert cfg.core_url == "https://api.unamentis.org/api/gpu"
    assert (cfg.region, cfg.asg_name, cfg.lifecycle_hook) == ("us-east-1", "unamentis-beta-gpu", "drain")
    assert cfg.thresholds == derive_thresholds(15) and cfg.thresholds.dormant == 900
    assert cfg.max_lifetime == 12 * 3600 and cfg.listen_port == 11400
    assert cfg.drain_command == "/opt/unamentis/bin/gpu-node-stop-accepting"
    assert cfg.core_token is None  # the token is read from SSM at boot, never put in user data

    plain = {k: v for k, v in ARGS.items() if not k.startswith("core_access")}
    explicit = env_values(user_data_files(render_user_data(
        **{**plain, "idle_thresholds": {"warm": 60, "cool": 120, "cold": 240, "dormant": 480}}))["/etc/unamentis/gpu-agent.env"])
    assert load_config([], explicit).thresholds.as_dict() == {"warm": 60, "cool": 120, "cold": 240, "dormant": 480}
    mode = env_values(user_data_files(render_user_data(**{**plain, "idle_mode": "power_saver"}))["/etc/unamentis/gpu-agent.env"])
    assert load_config([], mode).idle_mode == "power_saver"


def test_agent_archive_is_reproducible_complete_and_referenced_by_hash(tmp_path):
    a, b = agent_archive(), agent_archive()
    assert a == b and a.sha256 == hashlib.sha256(a.data).hexdigest()
    assert a.key == f"gpu-cache/agent/gpu-agent-{a.sha256[:16]}.tar"
    node_env = env_values(user_data_files(render_user_data(**ARGS))["/etc/unamentis/gpu-node.env"])
    assert node_env["AGENT_KEY"] == a.key and node_env["AGENT_SHA256"] == a.sha256
    with tarfile.open(fileobj=io.BytesIO(a.data)) as tar:
        names = tar.getnames()
        tar.extractall(tmp_path)
    assert "gpu_nodes/agent/__main__.py" in names and "gpu_nodes/bootstrap.py" not in names
    # The archive alone runs the agent (what the node's systemd unit does).
    out = subprocess.run([sys.executable, "-m", "gpu_nodes.agent", "--help"], cwd=tmp_path,
                         env={"PATH": os.environ["PATH"], "PYTHONPATH": str(tmp_path)}, capture_output=True, text=True)
    assert out.returncode == 0 and "--imds-url" in out.stdout


@pytest.mark.parametrize("change, message", [
    ({"region": "US East"}, "region"),
    ({"model_bucket": "Bad_Bucket"}, "model_bucket"),
    ({"core_url": "api.unamentis.org"}, "core_url"),
    ({"asg_name": "x; rm -rf /"}, "asg_name"),
    ({"ollama_models": ["llama3.2:3b", "$(curl evil)"]}, "ollama_models"),
    ({"ollama_models": []}, "ollama_models"),
    ({"images": {"ollama": "ollama/ollama:latest"}}, "not pinned"),
    ({"images": {"tts": "ghcr.io/speaches-ai/speaches"}}, "not pinned"),
    ({"images": {"llm": "x:1"}}, "unknown roles"),
    ({"idle_thresholds": {"warm": 10, "cool": 5, "cold": 20, "dormant": 30}}, "strictly increasing"),
    ({"idle_thresholds": {"warm": 10}}, "idle_thresholds"),
    ({"idle_mode": "turbo"}, "idle_mode"),
    ({"idle_minutes": 0}, "idle_minutes"),
    ({"dormant_action": "shutdown"}, "dormant_action"),
    ({"max_lifetime_hours": -1}, "max_lifetime_hours"),
    ({"cache_prefix": "../etc"}, "cache_prefix"),
    ({"core_access_secret_parameter": None}, "go together"),
])
def test_bad_parameters_fail_with_the_parameter_named(change, message):
    with pytest.raises(ValueError, match=message.replace("$", r"\$")):
        render_user_data(**{**ARGS, **change})


def test_pinned_digests_are_accepted():
    digest = "ollama/ollama@sha256:" + "a" * 64
    env = env_values(user_data_files(render_user_data(**{**ARGS, "images": {"ollama": digest}}))["/etc/unamentis/gpu-node.env"])
    assert env["OLLAMA_IMAGE"] == digest


# ---- the bootstrap script, run for real in a scratch root with stand-ins for aws/docker/curl ---------

STUBS = {
    "aws": r'''
import os, shutil, sys
args = [a for a in sys.argv[1:] if a != "--only-show-errors"]
open(os.environ["FAKE_LOG"], "a").write("aws " + " ".join(args) + "\n")
if "--region" in args:
    i = args.index("--region"); del args[i:i + 2]
def local(p):
    return os.path.join(os.environ["FAKE_S3"], p[len("s3://"):]) if p.startswith("s3://") else p
if args[:2] == ["s3", "cp"]:
    src, dst = local(args[2]), local(args[3])
    if not os.path.isfile(src): sys.exit("fatal error: An error occurred (404) when calling HeadObject")
    os.makedirs(os.path.dirname(dst), exist_ok=True); shutil.copyfile(src, dst)
elif args[:2] == ["s3", "sync"]:
    src, dst = local(args[2]), local(args[3])
    if os.path.isdir(src): shutil.copytree(src, dst, dirs_exist_ok=True)
elif args[:2] == ["ssm", "get-parameter"]:
    print("ssm-value-of-" + args[args.index("--name") + 1].rsplit("/", 1)[-1])
elif args[0] == "autoscaling":
    pass
else:
    sys.exit("unexpected aws call")
''',
    "docker": r'''
import os, sys
args = sys.argv[1:]
open(os.environ["FAKE_LOG"], "a").write("docker " + " ".join(args) + "\n")
store = os.path.join(os.environ["UNAMENTIS_ROOT"], "var/lib/unamentis/ollama")
if args[:3] == ["exec", "ollama", "ollama"]:
    marker = os.path.join(store, args[4].replace(":", "_"))
    if args[3] == "show": sys.exit(0 if os.path.exists(marker) else 1)
    if args[3] == "pull": open(marker, "w").write("weights")
''',
    "curl": r'''
import os, sys
args = sys.argv[1:]
url = [a for a in args if a.startswith("http")][-1]
if url.endswith("/api/token"): print("imds-token", end="")
elif url.endswith("/instance-id"): print("i-0abc1234def567890", end="")
elif "/v1/models/" in url:  # a speaches release with the /v1/models download route
    hf = os.path.join(os.environ["UNAMENTIS_ROOT"], "var/lib/unamentis/hf")
    marker = os.path.join(hf, url.split("/v1/models/", 1)[1].replace("/", "--"))
    if os.path.exists(marker): print("201", end="")
    else:
        open(marker, "w").write("weights"); print("200", end="")
''',
    "systemctl": 'import os, sys; open(os.environ["FAKE_LOG"], "a").write("systemctl " + " ".join(sys.argv[1:]) + "\\n")',
    "shutdown": 'import os, sys; open(os.environ["FAKE_LOG"], "a").write("shutdown\\n")',
}


def _scratch_node(tmp_path: Path, archive_data: bytes) -> dict:
    root, s3, bin_dir = tmp_path / "root", tmp_path / "s3", tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in STUBS.items():
        (bin_dir / name).write_text(f"#!{sys.executable}\n{body}")
        (bin_dir / name).chmod(0o755)
    files = user_data_files(render_user_data(**ARGS))
    for path, content in files.items():
        target = root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
    archive = agent_archive()
    (s3 / ARGS["model_bucket"] / archive.key).parent.mkdir(parents=True)
    (s3 / ARGS["model_bucket"] / archive.key).write_bytes(archive_data)
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "UNAMENTIS_ROOT": str(root),
           "FAKE_S3": str(s3), "FAKE_LOG": str(tmp_path / "calls.log")}
    return {"root": root, "s3": s3 / ARGS["model_bucket"], "env": env, "log": tmp_path / "calls.log",
            "script": root / "opt/unamentis/bin/gpu-node-bootstrap"}


def _run(node: dict) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(node["script"])], env=node["env"], capture_output=True, text=True, timeout=60)


def test_bootstrap_pulls_what_the_cache_lacks_and_writes_it_back(tmp_path):
    node = _scratch_node(tmp_path, agent_archive().data)
    out = _run(node)
    assert out.returncode == 0, out.stdout + out.stderr
    calls = node["log"].read_text()
    root = node["root"]
    # Agent first: extracted, its secret from SSM (0600), started by systemd before any model work.
    assert (root / "opt/unamentis/agent/gpu_nodes/agent/__main__.py").is_file()
    secret = root / "etc/unamentis/gpu-agent-secret.env"
    assert secret.read_text() == ("GPU_AGENT_CORE_TOKEN=ssm-value-of-gpu-node-token\n"
                                  "GPU_AGENT_CORE_ACCESS_CLIENT_SECRET=ssm-value-of-gpu-access-secret\n")
    assert secret.stat().st_mode & 0o077 == 0
    agent_env = {**env_values((root / "etc/unamentis/gpu-agent.env").read_text()), **env_values(secret.read_text())}
    cfg = load_config([], agent_env)  # what systemd hands the agent is a valid configuration
    assert cfg.core_token == "ssm-value-of-gpu-node-token"
    assert cfg.core_access_client == ("0123abcd.access", "ssm-value-of-gpu-access-secret")
    assert calls.index("systemctl enable --now unamentis-gpu-agent.service") < calls.index("docker pull")
    # Servers started with the GPU on the model ports, Ollama keeping models until the agent unloads them.
    assert "docker run -d --name ollama --restart unless-stopped --gpus all -p 11434:11434" in calls
    assert "OLLAMA_KEEP_ALIVE=24h" in calls
    assert "-p 8880:8000" in calls and "-p 11401:8000" in calls
    # Empty cache: registries, then write-back to the bucket for the next node.
    assert "docker exec ollama ollama pull llama3.2:3b" in calls
    assert "/var/lib/unamentis/ollama/ s3://unamentis-beta-models/gpu-cache/ollama/" in calls
    assert (node["s3"] / "gpu-cache/ollama/llama3.2_3b").is_file()
    assert (node["s3"] / "gpu-cache/hf/Systran--faster-distil-whisper-small.en").is_file()
    assert (node["s3"] / "gpu-cache/hf/speaches-ai--Kokoro-82M-v1.0-ONNX").is_file()
    assert "ready:" in (root / "var/log/unamentis-gpu-bootstrap.log").read_text()


def test_bootstrap_from_a_warm_cache_touches_no_registry_for_models(tmp_path):
    node = _scratch_node(tmp_path, agent_archive().data)
    cache = node["s3"] / "gpu-cache"
    (cache / "ollama").mkdir(parents=True)
    (cache / "ollama/llama3.2_3b").write_text("weights")
    (cache / "hf").mkdir()
    for m in ("Systran--faster-distil-whisper-small.en", "speaches-ai--Kokoro-82M-v1.0-ONNX"):
        (cache / "hf" / m).write_text("weights")
    out = _run(node)
    assert out.returncode == 0, out.stdout + out.stderr
    calls = node["log"].read_text()
    assert "ollama pull" not in calls
    assert "/var/lib/unamentis/ollama/ s3://" not in calls and "/var/lib/unamentis/hf/ s3://" not in calls
    assert (node["root"] / "var/lib/unamentis/ollama/llama3.2_3b").is_file()


def test_bootstrap_with_a_tampered_agent_removes_the_node(tmp_path):
    node = _scratch_node(tmp_path, agent_archive().data + b"tampered")
    out = _run(node)
    assert out.returncode == 1
    calls = node["log"].read_text()
    assert ("aws autoscaling terminate-instance-in-auto-scaling-group --region us-east-1 --instance-id i-0abc1234def567890 "
            "--should-decrement-desired-capacity") in calls
    assert "systemctl" not in calls and "docker" not in calls
    assert "checksum mismatch" in (node["root"] / "var/log/unamentis-gpu-bootstrap.log").read_text()
