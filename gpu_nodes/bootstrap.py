"""Cloud-init user data for a GPU node, rendered by the Pulumi program (`GpuFleet`'s launch template).

What a node does at boot (the scripts are `gpu-node-stage0.sh` and `gpu-node-bootstrap.sh` beside
this file):

0. stage 0 (in the user data) unpacks a boot kit — the agent's own AWS client
   (`gpu_nodes/agent/{http,imds,aws,aws_cli}.py`, see :func:`boot_kit`), because the ECS
   GPU-optimised AMI has no AWS CLI — and with it fetches the node agent from the stack bucket (a
   content-addressed tar whose SHA-256 is in the user data, see :func:`agent_archive`), checks
   it, and runs the rest of the bootstrap that the archive carries;
1. starts the agent under systemd, so a Spot notice that arrives while models download is
   already handled;
2. restores the model cache from ``s3://<bucket>/<cache_prefix>/`` (Ollama's model store and the
   Hugging Face hub cache of the speech servers);
3. starts the model servers as containers with the GPU: Ollama on 11434, a speaches server for TTS
   on 8880 and one for Whisper STT on 11401 (OpenAI-compatible APIs);
4. pulls from the public registries only the models the cache did not have, and writes those back
   to the bucket so the next node boots from the cache.
If the agent cannot be installed the node removes itself from the ASG (desired capacity - 1): a node
without its agent would never drain or scale to zero.

The agent lives in the bucket, not in the user data, because EC2 caps user data at 16 KB.
"""
from __future__ import annotations

import ast
import base64
import bz2
import hashlib
import io
import re
import shlex
import tarfile
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Mapping, Optional, Sequence, Union

import yaml

from gpu_nodes.agent.idle import MODES, Thresholds

USER_DATA_LIMIT = 16384  # bytes, before base64 (EC2 RunInstances / launch templates)
AGENT_PORT = 11400
MODEL_PORTS = {"ollama": 11434, "tts": 8880, "stt": 11401}
# Version-pinned images (a tag that names a release, or better a digest: `name@sha256:...`).
DEFAULT_IMAGES: Mapping[str, str] = {
    "ollama": "docker.io/ollama/ollama:0.12.3",
    "tts": "ghcr.io/speaches-ai/speaches:0.8.3-cuda",
    "stt": "ghcr.io/speaches-ai/speaches:0.8.3-cuda",
}
DEFAULT_OLLAMA_MODELS = ("llama3.2:3b",)
DEFAULT_TTS_MODEL = "speaches-ai/Kokoro-82M-v1.0-ONNX"
DEFAULT_STT_MODEL = "Systran/faster-distil-whisper-small.en"
DEFAULT_CACHE_PREFIX = "gpu-cache"
# The agent archive lives beside the model cache, not in it: only the GPU nodes may write the
# cache, while the deploy uploads the agent (whose hash the user data pins).
AGENT_PREFIX = "gpu-agent"

_PACKAGE = Path(__file__).resolve().parent
_SCRIPT = _PACKAGE / "gpu-node-bootstrap.sh"
_STAGE0 = _PACKAGE / "gpu-node-stage0.sh"
# What stage 0 needs to call S3, SSM and Auto Scaling: the agent's own client, nothing else.
_BOOT_KIT = ("__init__.py", "agent/__init__.py", "agent/http.py", "agent/imds.py", "agent/aws.py",
             "agent/aws_cli.py", "agent/model_cache.py")
_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d{1,2}$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_NAME = re.compile(r"^[A-Za-z0-9/][A-Za-z0-9._:/@+-]{0,254}$")  # ASG/hook/model/parameter names
_PREFIX = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,199}$")
_IMAGE = re.compile(r"^[a-z0-9][a-z0-9._/:-]*(:[A-Za-z0-9._-]{1,128})?(@sha256:[0-9a-f]{64})?$")


@dataclass(frozen=True)
class AgentArchive:
    """The agent package as a reproducible tar: upload `data` to `s3://<bucket>/<key>`."""

    key: str
    data: bytes
    sha256: str


def _without_docs(source: str) -> str:
    """`source` less its docstrings and full-line comments (the boot kit must fit the user data).

    Only whole lines go, found with `ast`, so the code left is the code that was tested."""
    lines = source.splitlines(keepends=True)
    drop: set = set()
    for node in ast.walk(ast.parse(source)):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) \
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str) \
                and len(body) > 1:
            drop.update(range(body[0].lineno - 1, body[0].end_lineno or body[0].lineno))
    return "".join(line for i, line in enumerate(lines)
                   if i not in drop and not line.lstrip().startswith("#"))


def _tar(files: Sequence[Path], strip_docs: bool = False) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in files:
            data = path.read_bytes()
            if strip_docs and path.suffix == ".py":
                data = _without_docs(data.decode("utf-8")).encode("utf-8")
            info = tarfile.TarInfo(str(path.relative_to(_PACKAGE.parent)))
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            tar.addfile(info, io.BytesIO(data))
    return raw.getvalue()


def boot_kit() -> bytes:
    """The boot kit stage 0 unpacks: a bzip2 tar of the agent's AWS client (about 8 KB).

    bzip2, not gzip: its encoder has not changed in over a decade, so every machine that runs
    `pulumi up` renders the same bytes (zlib forks such as zlib-ng compress differently)."""
    return bz2.compress(_tar([_PACKAGE / f for f in _BOOT_KIT], strip_docs=True), 9)


def agent_archive(agent_prefix: str = AGENT_PREFIX) -> AgentArchive:
    """`gpu_nodes/__init__.py`, `gpu_nodes/agent/*.py` and the bootstrap script, byte-identical
    for identical sources.

    The key contains the hash, so a changed agent is a new object and a new user data (new launch
    template version), and an unchanged one changes nothing on `pulumi up`.
    """
    files = [_PACKAGE / "__init__.py", _SCRIPT] + sorted((_PACKAGE / "agent").glob("*.py"))
    data = _tar(files)
    # Uncompressed on purpose: zlib builds differ in their output, and the hash must not depend on
    # the machine that runs `pulumi up` (else every deploy from another laptop changes the fleet).
    digest = hashlib.sha256(data).hexdigest()
    return AgentArchive(f"{_prefix(agent_prefix)}/gpu-agent-{digest[:16]}.tar", data, digest)


def derive_thresholds(idle_minutes: float) -> Thresholds:
    """WARM at 30 s (or sooner), COOL at 1/3, COLD at 2/3 and DORMANT at `idle_minutes`."""
    if not idle_minutes or idle_minutes <= 0:
        raise ValueError(f"idle_minutes must be > 0, got {idle_minutes!r}")
    dormant = float(idle_minutes) * 60
    return Thresholds(min(30.0, dormant / 6), dormant / 3, dormant * 2 / 3, dormant)


def _prefix(value: str) -> str:
    value = value.strip("/")
    if not _PREFIX.match(value) or ".." in value:
        raise ValueError(f"cache_prefix {value!r}: use letters, digits, '.', '_', '-' and '/', e.g. 'gpu-cache'")
    return value


def _check(name: str, value: object, pattern: "re.Pattern[str]", example: str) -> str:
    if not isinstance(value, str) or not pattern.match(value):
        raise ValueError(f"{name} {value!r} is not valid; expected something like {example!r}")
    return value


def _check_image(role: str, image: str) -> str:
    _check(f"images[{role!r}]", image, _IMAGE, DEFAULT_IMAGES.get(role, "repo/name:1.2.3"))
    name = image.split("@", 1)[0]
    tag = name.rsplit(":", 1)[1] if ":" in name.rsplit("/", 1)[-1] else None
    if "@sha256:" not in image and (tag is None or tag in ("latest", "main", "master", "stable", "nightly")):
        raise ValueError(
            f"images[{role!r}] {image!r} is not pinned: give a release tag or a digest, e.g. {DEFAULT_IMAGES[role]!r}"
        )
    return image


def _core_url(value: str) -> str:
    parts = urllib.parse.urlsplit(value or "")
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise ValueError(f"core_url {value!r} must be the core's base URL, e.g. 'https://api.example.org'")
    return value.rstrip("/")


def _env_file(values: Mapping[str, str], *, shell: bool) -> str:
    lines = []
    for key, value in values.items():
        # Every value was validated to plain characters; quoting keeps that true for the shell too.
        lines.append(f"{key}={shlex.quote(value) if shell else value}")
    return "\n".join(lines) + "\n"


class _LiteralDumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_LiteralDumper.add_representer(str, _str)


def render_user_data(
    *,
    region: str,
    model_bucket: str,
    core_url: str,
    asg_name: str,
    lifecycle_hook_name: Optional[str] = "drain",
    idle_minutes: Optional[float] = 15,
    idle_thresholds: Optional[Mapping[str, float]] = None,
    idle_mode: Optional[str] = None,
    dormant_action: str = "core",
    ollama_models: Sequence[str] = DEFAULT_OLLAMA_MODELS,
    tts_model: str = DEFAULT_TTS_MODEL,
    stt_model: str = DEFAULT_STT_MODEL,
    images: Optional[Mapping[str, str]] = None,
    max_lifetime_hours: Optional[float] = 12,
    core_token_parameter: Optional[str] = None,
    core_access_client_id: Optional[str] = None,
    core_access_secret_parameter: Optional[str] = None,
    cache_prefix: str = DEFAULT_CACHE_PREFIX,
    cache_write_back: bool = True,
    poll_interval_s: float = 5.0,
    drain_timeout_s: float = 90.0,
) -> str:
    """The `#cloud-config` user data (a str; the launch template base64-encodes it).

    Parameters (keyword-only; every value is validated and a bad one raises ``ValueError`` naming it):

    - ``region``: AWS region of the fleet (``us-east-1``).
    - ``model_bucket``: the stack's S3 bucket **name** for the model cache and the agent archive.
      The program must upload :func:`agent_archive` to it (``aws.s3.BucketObjectv2(key=...,
      content_base64=...)``); the node role needs ``s3:GetObject`` on ``<cache_prefix>/*``,
      ``s3:ListBucket``, and ``s3:PutObject`` on ``<cache_prefix>/*`` when ``cache_write_back``.
    - ``core_url``: the core's base URL (``https://api.example.org``); the agent posts its events
      to ``<core_url>/api/gpu/nodes/<instance-id>/events`` (the node token, not Cloudflare Access).
    - ``asg_name`` / ``lifecycle_hook_name``: the fleet's ASG and its termination hook (``None``:
      no hook to complete). The node role needs ``autoscaling:CompleteLifecycleAction`` and
      ``autoscaling:TerminateInstanceInAutoScalingGroup`` on the ASG.
    - Idle thresholds, in order of precedence: ``idle_thresholds`` (seconds, keys ``warm``,
      ``cool``, ``cold``, ``dormant``), ``idle_mode`` (one of the agent's modes: balanced,
      power_saver, development, presentation, scale_to_zero, performance = never idle), else
      ``idle_minutes`` (DORMANT after that long, see :func:`derive_thresholds`; default 15).
    - ``dormant_action``: ``core`` (ask the core to scale the fleet down), ``asg`` (the node
      terminates itself, decrementing desired capacity) or ``none``.
    - ``ollama_models``, ``tts_model``, ``stt_model``: models to have ready (cache first).
    - ``images``: ``{"ollama": ..., "tts": ..., "stt": ...}`` pinned images (tag or digest;
      ``latest`` is refused); missing roles use :data:`DEFAULT_IMAGES`.
    - ``max_lifetime_hours``: the agent drains and removes the node after this long (``None``: never).
    - ``core_token_parameter``: an SSM SecureString name holding the bearer token the core expects
      from nodes (read at boot; the node role needs ``ssm:GetParameter`` + ``kms:Decrypt``). The
      token itself never goes into user data.
    - ``core_access_client_id`` / ``core_access_secret_parameter``: a Cloudflare Access service
      token (its id, and the SSM SecureString holding its secret) for when ``/api/admin/*`` is behind
      Access at the edge; both or neither.
    - ``cache_prefix``, ``cache_write_back``, ``poll_interval_s``, ``drain_timeout_s``: as named.
    """
    _check("region", region, _REGION, "us-east-1")
    _check("model_bucket", model_bucket, _BUCKET, "unamentis-beta-models")
    _check("asg_name", asg_name, _NAME, "unamentis-beta-gpu")
    if lifecycle_hook_name is not None:
        _check("lifecycle_hook_name", lifecycle_hook_name, _NAME, "drain")
    core = _core_url(core_url)
    prefix = _prefix(cache_prefix)
    if dormant_action not in ("core", "asg", "none"):
        raise ValueError(f"dormant_action {dormant_action!r} must be 'core', 'asg' or 'none'")
    models = list(ollama_models)
    if not models:
        raise ValueError("ollama_models is empty; name at least one model, e.g. 'llama3.2:3b'")
    for m in models:
        _check("ollama_models[]", m, _NAME, "llama3.2:3b")
    _check("tts_model", tts_model, _NAME, DEFAULT_TTS_MODEL)
    _check("stt_model", stt_model, _NAME, DEFAULT_STT_MODEL)
    if core_token_parameter is not None:
        _check("core_token_parameter", core_token_parameter, _NAME, "/unamentis/beta/gpu-node-token")
    if (core_access_client_id is None) != (core_access_secret_parameter is None):
        raise ValueError("core_access_client_id and core_access_secret_parameter go together: give both or neither")
    if core_access_client_id is not None:
        _check("core_access_client_id", core_access_client_id, _NAME, "0123abcd.access")
        _check("core_access_secret_parameter", core_access_secret_parameter, _NAME, "/unamentis/beta/gpu-access-secret")
    unknown = set(images or {}) - set(DEFAULT_IMAGES)
    if unknown:
        raise ValueError(f"images has unknown roles {sorted(unknown)}; use {sorted(DEFAULT_IMAGES)}")
    chosen = {role: _check_image(role, (images or {}).get(role, default)) for role, default in DEFAULT_IMAGES.items()}
    for name, value, low in (("poll_interval_s", poll_interval_s, 0.5), ("drain_timeout_s", drain_timeout_s, 5)):
        if not isinstance(value, (int, float)) or not low <= value <= 600:
            raise ValueError(f"{name} must be between {low} and 600 seconds, got {value!r}")
    if max_lifetime_hours is not None and not (isinstance(max_lifetime_hours, (int, float)) and max_lifetime_hours > 0):
        raise ValueError(f"max_lifetime_hours must be > 0 hours or None, got {max_lifetime_hours!r}")

    agent_env: Dict[str, str] = {}
    t: Optional[Thresholds]  # None: the mode turns idle management off
    if idle_thresholds is not None:
        missing = {"warm", "cool", "cold", "dormant"} - set(idle_thresholds)
        if missing:
            raise ValueError(f"idle_thresholds lacks {sorted(missing)}; give warm, cool, cold and dormant in seconds")
        t = Thresholds(**{k: float(idle_thresholds[k]) for k in ("warm", "cool", "cold", "dormant")})
        mode = "balanced"
    elif idle_mode is not None:
        if idle_mode not in MODES:
            raise ValueError(f"idle_mode {idle_mode!r} is not one of {', '.join(MODES)}")
        t, mode = MODES[idle_mode], idle_mode
    else:
        t, mode = derive_thresholds(float(idle_minutes or 0)), "balanced"
    agent_env["GPU_AGENT_IDLE_MODE"] = mode
    if t is not None and idle_mode is None:
        for key in ("warm", "cool", "cold", "dormant"):
            agent_env[f"GPU_AGENT_{key.upper()}_AFTER"] = f"{getattr(t, key):g}"

    archive = agent_archive()
    ports = ",".join(str(p) for p in MODEL_PORTS.values())
    agent_env.update({
        "GPU_AGENT_CORE_URL": f"{core}/api/gpu",
        "GPU_AGENT_REGION": region,
        "GPU_AGENT_ASG_NAME": asg_name,
        "GPU_AGENT_DORMANT_ACTION": dormant_action,
        "GPU_AGENT_POLL_INTERVAL": f"{poll_interval_s:g}",
        "GPU_AGENT_DRAIN_TIMEOUT": f"{drain_timeout_s:g}",
        "GPU_AGENT_LISTEN": f"0.0.0.0:{AGENT_PORT}",
        "GPU_AGENT_OLLAMA_URL": f"http://127.0.0.1:{MODEL_PORTS['ollama']}",
        "GPU_AGENT_TTS_URL": f"http://127.0.0.1:{MODEL_PORTS['tts']}",
        "GPU_AGENT_STT_URL": f"http://127.0.0.1:{MODEL_PORTS['stt']}",
        "GPU_AGENT_DRAIN_COMMAND": "/opt/unamentis/bin/gpu-node-stop-accepting",
    })
    if lifecycle_hook_name:
        agent_env["GPU_AGENT_LIFECYCLE_HOOK"] = lifecycle_hook_name
    if core_access_client_id:
        agent_env["GPU_AGENT_CORE_ACCESS_CLIENT_ID"] = core_access_client_id
    if max_lifetime_hours:
        agent_env["GPU_AGENT_MAX_LIFETIME"] = f"{float(max_lifetime_hours) * 3600:g}"

    node_env = {
        "REGION": region,
        "MODEL_BUCKET": model_bucket,
        "CACHE_PREFIX": prefix,
        "AGENT_KEY": archive.key,
        "AGENT_SHA256": archive.sha256,
        "ASG_NAME": asg_name,
        "OLLAMA_IMAGE": chosen["ollama"],
        "TTS_IMAGE": chosen["tts"],
        "STT_IMAGE": chosen["stt"],
        "OLLAMA_MODELS": " ".join(models),
        "TTS_MODEL": tts_model,
        "STT_MODEL": stt_model,
        "OLLAMA_PORT": str(MODEL_PORTS["ollama"]),
        "TTS_PORT": str(MODEL_PORTS["tts"]),
        "STT_PORT": str(MODEL_PORTS["stt"]),
        "MODEL_PORTS": ports,
        "CACHE_WRITE_BACK": "1" if cache_write_back else "0",
        "CORE_TOKEN_PARAMETER": core_token_parameter or "",
        "CORE_ACCESS_SECRET_PARAMETER": core_access_secret_parameter or "",
    }
    stop_accepting = (
        "#!/bin/sh\n"
        "# Run by the agent on a notice: refuse NEW connections to the model ports (live ones finish).\n"
        "set -e\n"
        f"iptables -I DOCKER-USER -p tcp -m conntrack --ctstate NEW -m multiport --ctorigdstport {ports} "
        "-j REJECT --reject-with tcp-reset\n"
    )
    unit = (
        "[Unit]\n"
        "Description=UnaMentis GPU node agent (Spot drain, idle scale-to-zero, health)\n"
        "After=network-online.target docker.service\n"
        "Wants=network-online.target\n\n"
        "[Service]\n"
        "Environment=PYTHONPATH=/opt/unamentis/agent\n"
        "EnvironmentFile=/etc/unamentis/gpu-agent.env\n"
        "EnvironmentFile=-/etc/unamentis/gpu-agent-secret.env\n"
        "ExecStart=/usr/bin/python3 -m gpu_nodes.agent\n"
        "Restart=always\n"
        "RestartSec=2\n\n"
        "[Install]\n"
        "WantedBy=multi-user.target\n"
    )
    document = {
        "write_files": [
            {"path": "/etc/unamentis/gpu-node.env", "owner": "root:root", "permissions": "0600",
             "content": _env_file(node_env, shell=True)},
            {"path": "/etc/unamentis/gpu-agent.env", "owner": "root:root", "permissions": "0600",
             "content": _env_file(agent_env, shell=False)},
            {"path": "/opt/unamentis/bin/gpu-node-stop-accepting", "owner": "root:root", "permissions": "0755",
             "content": stop_accepting},
            {"path": "/etc/systemd/system/unamentis-gpu-agent.service", "owner": "root:root",
             "permissions": "0644", "content": unit},
            {"path": "/opt/unamentis/boot-kit.tar.bz2", "owner": "root:root", "permissions": "0644",
             "encoding": "b64", "content": base64.b64encode(boot_kit()).decode("ascii")},
            {"path": "/opt/unamentis/bin/gpu-node-bootstrap", "owner": "root:root", "permissions": "0755",
             "content": _STAGE0.read_text()},
        ],
        "runcmd": [["/opt/unamentis/bin/gpu-node-bootstrap"]],
        "final_message": "UnaMentis GPU node bootstrap finished after $UPTIME s",
    }
    text = "#cloud-config\n" + yaml.dump(document, Dumper=_LiteralDumper, sort_keys=False, width=1000)
    size = len(text.encode("utf-8"))
    if size > USER_DATA_LIMIT:
        raise ValueError(f"user data is {size} bytes, over EC2's {USER_DATA_LIMIT}: fewer models or shorter names")
    return text


def user_data_files(user_data: str) -> Dict[str, Union[str, bytes]]:
    """`write_files` of rendered user data as {path: content} (for tests and `plan` displays);
    base64 files (the boot kit) as bytes."""
    doc = yaml.safe_load(user_data)
    return {f["path"]: base64.b64decode(f["content"]) if f.get("encoding") == "b64" else f["content"]
            for f in doc.get("write_files", [])}


def env_values(content: str) -> Dict[str, str]:
    """KEY=value lines (shell-quoted or plain) back into a dict."""
    out = {}
    for line in content.splitlines():
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            parts = shlex.split(value) if value else [""]
            out[key] = parts[0] if parts else ""
    return out


__all__ = (
    "render_user_data", "agent_archive", "boot_kit", "AgentArchive", "AGENT_PREFIX", "derive_thresholds", "DEFAULT_IMAGES",
    "USER_DATA_LIMIT", "AGENT_PORT", "MODEL_PORTS", "user_data_files", "env_values",
)
