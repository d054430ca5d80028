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

from gpu_nodes.agent.aws import Credentials, S3Client
from gpu_nodes.agent.config import ConfigError, load_config
from gpu_nodes.agent.model_cache import MANIFEST, content_address, sync_down, sync_up
from gpu_nodes.bootstrap import (
    USER_DATA_LIMIT,
    agent_archive,
    derive_thresholds,
    env_values,
    render_user_data,
    user_data_files,
)
from tests.runtime.conftest import free_port

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


def test_nothing_at_boot_calls_an_aws_cli():
    """The ECS GPU-optimised AMI has no AWS CLI: every AWS call goes through the agent's client."""
    import re

    files = user_data_files(render_user_data(**ARGS))
    scripts = [files["/opt/unamentis/bin/gpu-node-bootstrap"],
               (Path(__file__).resolve().parents[2] / "gpu_nodes/gpu-node-bootstrap.sh").read_text()]
    for text in scripts:
        code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
        assert not re.search(r"(^|[\s;|&(])aws\s", code), "an `aws` command in the boot scripts"
        assert "gpu_nodes.agent.aws_cli" in code
    with tarfile.open(fileobj=io.BytesIO(__import__("bz2").decompress(files["/opt/unamentis/boot-kit.tar.bz2"]))) as tar:
        assert set(tar.getnames()) == {"gpu_nodes/__init__.py", "gpu_nodes/agent/__init__.py", "gpu_nodes/agent/http.py",
                                       "gpu_nodes/agent/imds.py", "gpu_nodes/agent/aws.py", "gpu_nodes/agent/aws_cli.py",
                                       "gpu_nodes/agent/model_cache.py"}


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
    assert a.key == f"gpu-agent/gpu-agent-{a.sha256[:16]}.tar"  # beside the model cache, not in it
    node_env = env_values(user_data_files(render_user_data(**ARGS))["/etc/unamentis/gpu-node.env"])
    assert node_env["AGENT_KEY"] == a.key and node_env["AGENT_SHA256"] == a.sha256
    with tarfile.open(fileobj=io.BytesIO(a.data)) as tar:
        names = tar.getnames()
        tar.extractall(tmp_path)
    assert "gpu_nodes/agent/__main__.py" in names and "gpu_nodes/bootstrap.py" not in names
    assert "gpu_nodes/gpu-node-bootstrap.sh" in names  # stage 0 runs the rest of the bootstrap from it
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


# ---- the bootstrap, run for real in a scratch root: AWS is a loopback moto server reached with the
# agent's own client (no `aws` on PATH, as on the GPU AMI), credentials come from a loopback IMDS,
# and `docker`, `curl` and `systemctl` are stand-ins (systemctl starts the real agent) -------------

STUBS = {
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
elif url.endswith("/instance-id"): print(os.environ.get("FAKE_INSTANCE_ID", "i-0abc1234def567890"), end="")
elif "/v1/models/" in url:  # a speaches release with the /v1/models download route
    hf = os.path.join(os.environ["UNAMENTIS_ROOT"], "var/lib/unamentis/hf")
    marker = os.path.join(hf, url.split("/v1/models/", 1)[1].replace("/", "--"))
    if os.path.exists(marker): print("201", end="")
    else:
        open(marker, "w").write("weights"); print("200", end="")
''',
    # `systemctl enable --now unamentis-gpu-agent.service` starts the real agent the way the unit
    # does (its two env files, PYTHONPATH=/opt/unamentis/agent), on a loopback port.
    "systemctl": r'''
import os, subprocess, sys
open(os.environ["FAKE_LOG"], "a").write("systemctl " + " ".join(sys.argv[1:]) + "\n")
if sys.argv[1:3] == ["enable", "--now"]:
    root = os.environ["UNAMENTIS_ROOT"]
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": root + "/opt/unamentis/agent"}
    for f in ("etc/unamentis/gpu-agent.env", "etc/unamentis/gpu-agent-secret.env"):
        for line in open(os.path.join(root, f)).read().splitlines():
            k, _, v = line.partition("=")
            env[k] = v
    env.update(GPU_AGENT_LISTEN="127.0.0.1:" + os.environ["FAKE_AGENT_PORT"],
               GPU_AGENT_IMDS_URL=os.environ["UNAMENTIS_IMDS_URL"], GPU_AGENT_CORE_URL="http://127.0.0.1:9/api/gpu",
               GPU_AGENT_OLLAMA_URL="none", GPU_AGENT_TTS_URL="none", GPU_AGENT_STT_URL="none")
    p = subprocess.Popen(["python3", "-m", "gpu_nodes.agent"], env=env, start_new_session=True,
                         stdout=open(os.environ["FAKE_LOG"] + ".agent", "w"), stderr=subprocess.STDOUT)
    open(os.environ["FAKE_LOG"] + ".pid", "w").write(str(p.pid))
''',
    "shutdown": 'import os, sys; open(os.environ["FAKE_LOG"], "a").write("shutdown\\n")',
}


@pytest.fixture(scope="module")
def moto():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def _boto(moto: str, service: str):
    import boto3

    return boto3.client(service, region_name="us-east-1", endpoint_url=moto,
                        aws_access_key_id="test", aws_secret_access_key="test")


def _scratch_node(tmp_path: Path, archive_data: bytes, moto: str, imds) -> dict:
    import urllib.request

    urllib.request.urlopen(urllib.request.Request(f"{moto}/moto-api/reset", method="POST")).read()
    root, bin_dir = tmp_path / "root", tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in STUBS.items():
        (bin_dir / name).write_text(f"#!{sys.executable}\n{body}")
        (bin_dir / name).chmod(0o755)
    (bin_dir / "python3").symlink_to(sys.executable)
    files = user_data_files(render_user_data(**ARGS))
    for path, content in files.items():
        target = root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content) if isinstance(content, bytes) else target.write_text(content)
    bucket = ARGS["model_bucket"]
    s3 = _boto(moto, "s3")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key=agent_archive().key, Body=archive_data)
    ssm = _boto(moto, "ssm")
    for name in (ARGS["core_token_parameter"], ARGS["core_access_secret_parameter"]):
        ssm.put_parameter(Name=name, Type="SecureString", Value="ssm-value-of-" + name.rsplit("/", 1)[-1])
    path = f"{bin_dir}:/usr/bin:/bin"
    assert shutil.which("aws", path=path) is None  # as on the ECS GPU-optimised AMI
    env = {"PATH": path, "UNAMENTIS_ROOT": str(root), "UNAMENTIS_IMDS_URL": imds.url,
           "UNAMENTIS_AWS_ENDPOINT_URL": moto, "FAKE_LOG": str(tmp_path / "calls.log"),
           "FAKE_AGENT_PORT": str(free_port())}
    return {"root": root, "s3": s3, "bucket": bucket, "env": env, "log": tmp_path / "calls.log",
            "script": root / "opt/unamentis/bin/gpu-node-bootstrap"}


def _run(node: dict) -> subprocess.CompletedProcess:
    node["log"].touch()
    return subprocess.run(["bash", str(node["script"])], env=node["env"], capture_output=True, text=True, timeout=90)


@pytest.fixture
def stop_agents():
    pid_files: list = []
    yield pid_files
    import signal

    for f in pid_files:
        if f.exists():
            try:
                os.kill(int(f.read_text()), signal.SIGTERM)
            except ProcessLookupError:
                pass


def _keys(node: dict, prefix: str) -> set:
    return {o["Key"] for o in node["s3"].list_objects_v2(Bucket=node["bucket"], Prefix=prefix).get("Contents", [])}


def test_bootstrap_without_an_aws_cli_starts_the_agent_and_fills_the_cache(tmp_path, moto, imds, stop_agents):
    import urllib.request

    node = _scratch_node(tmp_path, agent_archive().data, moto, imds)
    stop_agents.append(Path(str(node["log"]) + ".pid"))
    out = _run(node)
    assert out.returncode == 0, out.stdout + out.stderr + node["root"].joinpath("var/log/unamentis-gpu-bootstrap.log").read_text()
    calls = node["log"].read_text()
    root = node["root"]
    # Agent first: fetched from S3 by the boot kit, extracted, its secrets from SSM (0600), started
    # by systemd before any model work.
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
    # The agent really runs: its health endpoint answers, with its credentials from IMDS.
    health = None
    for _ in range(100):
        try:
            health = json.loads(urllib.request.urlopen(
                f"http://127.0.0.1:{node['env']['FAKE_AGENT_PORT']}/health", timeout=1).read())
            break
        except OSError:
            import time
            time.sleep(0.1)
    assert health is not None and health["state"] and health["draining"] is False, health
    # The boot kit fetched its credentials from IMDS (the instance profile), not the environment.
    assert ("GET", "/latest/meta-data/iam/security-credentials/") in imds.requests \
        or any(p.startswith("/latest/meta-data/iam/security-credentials") for _, p in imds.requests)
    # Servers started with the GPU on the model ports, Ollama keeping models until the agent unloads them.
    assert "docker run -d --name ollama --restart unless-stopped --gpus all -p 11434:11434" in calls
    assert "OLLAMA_KEEP_ALIVE=24h" in calls
    assert "-p 8880:8000" in calls and "-p 11401:8000" in calls
    # Empty cache: registries, then write-back to the bucket for the next node.
    assert "docker exec ollama ollama pull llama3.2:3b" in calls
    assert _keys(node, "gpu-cache/ollama/") == {"gpu-cache/ollama/llama3.2_3b", "gpu-cache/ollama/" + MANIFEST}
    assert _keys(node, "gpu-cache/hf/") == {"gpu-cache/hf/Systran--faster-distil-whisper-small.en",
                                             "gpu-cache/hf/speaches-ai--Kokoro-82M-v1.0-ONNX", "gpu-cache/hf/" + MANIFEST}
    # The manifest records what was written, so the next node can check it.
    manifest = json.loads(node["s3"].get_object(Bucket=node["bucket"], Key="gpu-cache/ollama/" + MANIFEST)["Body"].read())
    assert manifest["files"]["llama3.2_3b"] == {"sha256": hashlib.sha256(b"weights").hexdigest(), "size": 7}
    assert "ready:" in (root / "var/log/unamentis-gpu-bootstrap.log").read_text()


def _cache(node: dict, prefix: str, files: dict, *, manifest: dict | None = None) -> None:
    """Put a cache as a node's write-back leaves it: the files, then their digest manifest."""
    for rel, body in files.items():
        node["s3"].put_object(Bucket=node["bucket"], Key=f"{prefix}/{rel}", Body=body)
    recorded = {rel: {"sha256": hashlib.sha256(body).hexdigest(), "size": len(body)} for rel, body in files.items()}
    node["s3"].put_object(Bucket=node["bucket"], Key=f"{prefix}/{MANIFEST}",
                          Body=json.dumps({"version": 1, "files": manifest if manifest is not None else recorded}).encode())


def test_bootstrap_with_a_tampered_cache_loads_nothing_unchecked(tmp_path, moto, imds, stop_agents):
    """Bytes changed in the bucket after a node cached them, or files no node recorded, are not loaded:
    the registry fills the gap (and the write-back records the good bytes again)."""
    node = _scratch_node(tmp_path, agent_archive().data, moto, imds)
    stop_agents.append(Path(str(node["log"]) + ".pid"))
    _cache(node, "gpu-cache/ollama", {"llama3.2_3b": b"weights"})
    node["s3"].put_object(Bucket=node["bucket"], Key="gpu-cache/ollama/llama3.2_3b", Body=b"evil!!!")  # same size
    _cache(node, "gpu-cache/hf", {"Systran--faster-distil-whisper-small.en": b"weights"}, manifest={})
    out = _run(node)
    assert out.returncode == 0, out.stdout + out.stderr
    calls, log = node["log"].read_text(), (node["root"] / "var/log/unamentis-gpu-bootstrap.log").read_text()
    assert "docker exec ollama ollama pull llama3.2:3b" in calls
    assert (node["root"] / "var/lib/unamentis/ollama/llama3.2_3b").read_text() == "weights"
    assert "1 rejected (digest mismatch)" in log + out.stdout + out.stderr
    assert "1 skipped (no recorded digest)" in log + out.stdout + out.stderr
    assert (node["root"] / "var/lib/unamentis/hf/Systran--faster-distil-whisper-small.en").read_text() == "weights"


def test_bootstrap_from_a_warm_cache_touches_no_registry_for_models(tmp_path, moto, imds, stop_agents):
    node = _scratch_node(tmp_path, agent_archive().data, moto, imds)
    stop_agents.append(Path(str(node["log"]) + ".pid"))
    _cache(node, "gpu-cache/ollama", {"llama3.2_3b": b"weights"})
    _cache(node, "gpu-cache/hf", {m: b"weights" for m in ("Systran--faster-distil-whisper-small.en",
                                                           "speaches-ai--Kokoro-82M-v1.0-ONNX")})
    out = _run(node)
    assert out.returncode == 0, out.stdout + out.stderr
    calls = node["log"].read_text()
    assert "ollama pull" not in calls
    assert "0 file(s) uploaded" not in calls  # no write-back was even attempted
    assert (node["root"] / "var/lib/unamentis/ollama/llama3.2_3b").read_text() == "weights"
    assert "s3-sync-up" not in (node["root"] / "var/log/unamentis-gpu-bootstrap.log").read_text()


def test_bootstrap_with_a_tampered_agent_removes_the_node(tmp_path, moto, imds):
    node = _scratch_node(tmp_path, agent_archive().data + b"tampered", moto, imds)
    # A real group in the loopback Auto Scaling API, with this node in it.
    ec2, asg = _boto(moto, "ec2"), _boto(moto, "autoscaling")
    ami = ec2.describe_images()["Images"][0]["ImageId"]
    ec2.create_launch_template(LaunchTemplateName="gpu-lt", LaunchTemplateData={"ImageId": ami, "InstanceType": "g4dn.xlarge"})
    asg.create_auto_scaling_group(AutoScalingGroupName=ARGS["asg_name"], LaunchTemplate={"LaunchTemplateName": "gpu-lt"},
                                  MinSize=0, MaxSize=2, DesiredCapacity=1, AvailabilityZones=["us-east-1a"])
    group = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[ARGS["asg_name"]])["AutoScalingGroups"][0]
    node["env"]["FAKE_INSTANCE_ID"] = group["Instances"][0]["InstanceId"]
    out = _run(node)
    assert out.returncode == 1
    calls = node["log"].read_text()
    assert "systemctl" not in calls and "docker" not in calls and "shutdown" not in calls
    assert "checksum mismatch" in (node["root"] / "var/log/unamentis-gpu-bootstrap.log").read_text()
    group = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[ARGS["asg_name"]])["AutoScalingGroups"][0]
    assert group["DesiredCapacity"] == 0  # removed itself and lowered desired capacity: no relaunch loop


# ---- the model cache's digests, against the loopback S3
def test_content_addressed_names():
    digest = "a" * 64
    assert content_address(f"models/blobs/sha256-{digest}") == digest  # Ollama
    assert content_address(f"models--org--m/blobs/{digest}") == digest  # Hugging Face hub, large files
    assert content_address(f"models--org--m/snapshots/main/{digest}") is None
    assert content_address("manifests/registry.ollama.ai/library/llama3.2/3b") is None


def test_model_cache_round_trip_and_blob_checks(tmp_path, moto):
    import urllib.request

    urllib.request.urlopen(urllib.request.Request(f"{moto}/moto-api/reset", method="POST")).read()
    boto = _boto(moto, "s3")
    boto.create_bucket(Bucket="cache")
    s3 = S3Client("us-east-1", lambda: Credentials("test", "test"), endpoint_url=moto)
    weights = b"model weights"
    good = "sha256-" + hashlib.sha256(weights).hexdigest()
    src = tmp_path / "src"
    (src / "blobs").mkdir(parents=True)
    (src / "blobs" / good).write_bytes(weights)
    (src / "manifests").mkdir()
    (src / "manifests" / "m").write_text('{"layers": []}')
    assert sync_up(s3, str(src), "cache", "gpu-cache/ollama") == 2
    restored = sync_down(s3, "cache", "gpu-cache/ollama", str(tmp_path / "a"))
    assert (restored.downloaded, restored.rejected, restored.unverified) == (2, 0, 0)
    assert (tmp_path / "a" / "manifests" / "m").read_text() == '{"layers": []}'
    # A blob whose bytes do not hash to its own name is refused even when the manifest lists it,
    # and without any manifest only blobs that check against their names are loaded.
    liar = "sha256-" + "0" * 64
    boto.put_object(Bucket="cache", Key=f"gpu-cache/ollama/blobs/{liar}", Body=weights)
    boto.delete_object(Bucket="cache", Key=f"gpu-cache/ollama/{MANIFEST}")
    restored = sync_down(s3, "cache", "gpu-cache/ollama", str(tmp_path / "b"))
    assert (restored.downloaded, restored.rejected, restored.unverified) == (1, 1, 1)
    assert (tmp_path / "b" / "blobs" / good).read_bytes() == weights
    assert not (tmp_path / "b" / "blobs" / liar).exists()
    assert not (tmp_path / "b" / "manifests" / "m").exists()
    # Already on disk with the right digest: not downloaded again.
    again = sync_down(s3, "cache", "gpu-cache/ollama", str(tmp_path / "b"))
    assert (again.downloaded, again.kept) == (0, 1)
