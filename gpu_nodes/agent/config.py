"""The agent's settings: every flag also reads `GPU_AGENT_<FLAG>` from the environment (flag wins).

Bad values stop the agent before it starts, with a message naming the flag, its variable and the fix.
"""
from __future__ import annotations

import argparse
import urllib.parse
from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from .idle import MODES, Thresholds

ENV_PREFIX = "GPU_AGENT_"
DORMANT_ACTIONS = ("core", "asg", "none")


class ConfigError(Exception):
    pass


@dataclass(frozen=True)
class AgentConfig:
    imds_url: str
    imds_timeout: float
    ollama_url: Optional[str]
    tts_url: Optional[str]
    stt_url: Optional[str]
    core_url: Optional[str]
    core_token: Optional[str]
    core_access_client: Optional[Tuple[str, str]]
    poll_interval: float
    idle_mode: str
    thresholds: Optional[Thresholds]
    dormant_action: str
    listen_host: str
    listen_port: int
    region: Optional[str]
    asg_name: Optional[str]
    lifecycle_hook: Optional[str]
    aws_endpoint_url: Optional[str]
    drain_timeout: float
    drain_quiet: float
    drain_command: Optional[str]
    max_lifetime: Optional[float]
    rebalance_grace: float
    nvidia_smi: str
    health_report_interval: float
    instance_id: Optional[str]
    log_level: str


# (flag, default, help). Flags whose default is None are optional.
_OPTIONS: Tuple[Tuple[str, Optional[str], str], ...] = (
    ("imds-url", "http://169.254.169.254", "instance metadata service base URL"),
    ("imds-timeout", "2", "seconds per IMDS request"),
    ("ollama-url", "http://127.0.0.1:11434", "Ollama base URL ('none' to skip)"),
    ("tts-url", "http://127.0.0.1:8880", "TTS server (speaches API) base URL ('none' to skip)"),
    ("stt-url", "http://127.0.0.1:11401", "STT server (speaches API) base URL ('none' to skip)"),
    ("core-url", None, "voice core GPU base URL, e.g. https://api.example.org/api/gpu"),
    ("core-token", None, "bearer token the core expects from GPU nodes (prefer the env variable)"),
    ("core-access-client-id", None, "Cloudflare Access service token id for the core URL"),
    ("core-access-client-secret", None, "Cloudflare Access service token secret (prefer the env variable)"),
    ("poll-interval", "5", "seconds between IMDS polls and model-server observations"),
    ("idle-mode", "balanced", "preset thresholds: " + ", ".join(MODES)),
    ("warm-after", None, "seconds idle before WARM (overrides the mode)"),
    ("cool-after", None, "seconds idle before COOL: speech models unloaded"),
    ("cold-after", None, "seconds idle before COLD: Ollama models unloaded"),
    ("dormant-after", None, "seconds idle before DORMANT: scale to zero requested"),
    ("dormant-action", "core", "how DORMANT scales to zero: core | asg (self-terminate, decrementing) | none"),
    ("listen", "0.0.0.0:11400", "host:port of the health endpoint"),
    ("region", None, "AWS region (needed for the Auto Scaling calls)"),
    ("asg-name", None, "Auto Scaling group of this node"),
    ("lifecycle-hook", None, "termination lifecycle hook to complete after a drain"),
    ("aws-endpoint-url", None, "Auto Scaling API endpoint override (tests, VPC endpoints)"),
    ("drain-timeout", "90", "longest drain before the lifecycle action is completed anyway"),
    ("drain-quiet", "10", "seconds without model activity that count as drained"),
    ("drain-command", None, "shell command run once on a notice to stop accepting work"),
    ("max-lifetime", None, "seconds after which the node drains and removes itself (a cost ceiling)"),
    ("rebalance-grace", "600", "seconds the ASG gets to replace a node after a rebalance recommendation"),
    ("nvidia-smi", "nvidia-smi", "nvidia-smi executable"),
    ("health-report-interval", "60", "seconds between health reports (GPU utilisation and memory) to the core"),
    ("instance-id", None, "this node's instance id (default: from IMDS)"),
    ("log-level", "INFO", "DEBUG | INFO | WARNING | ERROR"),
)


def env_name(flag: str) -> str:
    return ENV_PREFIX + flag.upper().replace("-", "_")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m gpu_nodes.agent",
        description="UnaMentis GPU node agent: Spot interruption drain, idle scale-to-zero, health. "
        f"Every flag can also be set with {ENV_PREFIX}<FLAG> (e.g. {env_name('core-url')}).",
    )
    for flag, default, help_text in _OPTIONS:
        shown = f" (env {env_name(flag)}; default {default})" if default is not None else f" (env {env_name(flag)})"
        p.add_argument(f"--{flag}", dest=flag.replace("-", "_"), default=None, help=help_text + shown)
    return p


def _url(flag: str, value: Optional[str], *, optional: bool) -> Optional[str]:
    if value is None or (optional and value.strip().lower() in ("", "none", "off")):
        return None
    parts = urllib.parse.urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"--{flag} ({env_name(flag)}): {value!r} is not an http(s) URL; give e.g. http://127.0.0.1:11434")
    return value.strip().rstrip("/")


def _seconds(flag: str, value: Optional[str], *, positive: bool = True) -> Optional[float]:
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        raise ConfigError(f"--{flag} ({env_name(flag)}): {value!r} is not a number of seconds") from None
    if number != number or number < 0 or (positive and number == 0):
        raise ConfigError(f"--{flag} ({env_name(flag)}): must be {'> 0' if positive else '>= 0'} seconds, got {value}")
    return number


def load_config(argv: Optional[Sequence[str]] = None, environ: Optional[Mapping[str, str]] = None) -> AgentConfig:
    import os

    env = os.environ if environ is None else environ
    args = vars(build_parser().parse_args(list(argv) if argv is not None else None))
    raw: Dict[str, Optional[str]] = {}
    for flag, default, _ in _OPTIONS:
        value = args[flag.replace("-", "_")]
        if value is None:
            value = env.get(env_name(flag)) or default
        raw[flag] = value

    mode = (raw["idle-mode"] or "").strip()
    if mode not in MODES:
        raise ConfigError(f"--idle-mode ({env_name('idle-mode')}): {mode!r} is not one of {', '.join(MODES)}")
    base = MODES[mode]
    overrides = {k: _seconds(f"{k}-after", raw[f"{k}-after"]) for k in ("warm", "cool", "cold", "dormant")}
    thresholds: Optional[Thresholds] = base
    if any(v is not None for v in overrides.values()):
        start = base or MODES["balanced"]
        assert start is not None
        values = {k: (v if v is not None else float(getattr(start, k))) for k, v in overrides.items()}
        try:
            thresholds = Thresholds(**values)
        except ValueError as exc:
            raise ConfigError(
                f"--warm-after/--cool-after/--cold-after/--dormant-after: {exc} (mode {mode} fills the ones not given)"
            ) from None

    dormant_action = (raw["dormant-action"] or "").strip()
    if dormant_action not in DORMANT_ACTIONS:
        raise ConfigError(f"--dormant-action ({env_name('dormant-action')}): {dormant_action!r} is not one of {', '.join(DORMANT_ACTIONS)}")
    core_url = _url("core-url", raw["core-url"], optional=True)
    if dormant_action == "core" and thresholds is not None and core_url is None:
        raise ConfigError(
            f"--dormant-action core needs --core-url ({env_name('core-url')}); set it, or use --dormant-action asg|none"
        )
    region = (raw["region"] or "").strip() or None
    asg_name = (raw["asg-name"] or "").strip() or None
    hook = (raw["lifecycle-hook"] or "").strip() or None
    if hook and not asg_name:
        raise ConfigError(f"--lifecycle-hook needs --asg-name ({env_name('asg-name')})")
    max_lifetime = _seconds("max-lifetime", raw["max-lifetime"])
    if (hook or dormant_action == "asg" or max_lifetime) and not region:
        raise ConfigError(f"the Auto Scaling calls need --region ({env_name('region')}), e.g. us-east-1")

    listen = (raw["listen"] or "").strip()
    host, _, port_text = listen.rpartition(":")
    try:
        port = int(port_text)
        if not 0 <= port <= 65535 or not host:
            raise ValueError
    except ValueError:
        raise ConfigError(f"--listen ({env_name('listen')}): {listen!r} is not host:port, e.g. 0.0.0.0:11400") from None

    access_id = (raw["core-access-client-id"] or "").strip()
    access_secret = (raw["core-access-client-secret"] or "").strip()
    if bool(access_id) != bool(access_secret):
        raise ConfigError(
            f"--core-access-client-id and --core-access-client-secret ({env_name('core-access-client-id')}, "
            f"{env_name('core-access-client-secret')}) go together: set both or neither"
        )

    level = (raw["log-level"] or "INFO").upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError(f"--log-level ({env_name('log-level')}): {level!r} is not DEBUG, INFO, WARNING or ERROR")

    poll = _seconds("poll-interval", raw["poll-interval"])
    drain_timeout = _seconds("drain-timeout", raw["drain-timeout"])
    drain_quiet = _seconds("drain-quiet", raw["drain-quiet"], positive=False)
    imds_timeout = _seconds("imds-timeout", raw["imds-timeout"])
    rebalance_grace = _seconds("rebalance-grace", raw["rebalance-grace"])
    assert rebalance_grace is not None
    health_report = _seconds("health-report-interval", raw["health-report-interval"])
    assert health_report is not None
    assert poll is not None and drain_timeout is not None and drain_quiet is not None and imds_timeout is not None
    return AgentConfig(
        imds_url=_url("imds-url", raw["imds-url"], optional=False) or "",
        imds_timeout=imds_timeout,
        ollama_url=_url("ollama-url", raw["ollama-url"], optional=True),
        tts_url=_url("tts-url", raw["tts-url"], optional=True),
        stt_url=_url("stt-url", raw["stt-url"], optional=True),
        core_url=core_url,
        core_token=(raw["core-token"] or "").strip() or None,
        core_access_client=(access_id, access_secret) if access_id else None,
        poll_interval=poll,
        idle_mode=mode,
        thresholds=thresholds,
        dormant_action=dormant_action,
        listen_host=host.strip("[]"),
        listen_port=port,
        region=region,
        asg_name=asg_name,
        lifecycle_hook=hook,
        aws_endpoint_url=_url("aws-endpoint-url", raw["aws-endpoint-url"], optional=True),
        drain_timeout=drain_timeout,
        drain_quiet=drain_quiet,
        drain_command=(raw["drain-command"] or "").strip() or None,
        max_lifetime=max_lifetime,
        rebalance_grace=rebalance_grace,
        nvidia_smi=raw["nvidia-smi"] or "nvidia-smi",
        health_report_interval=health_report,
        instance_id=(raw["instance-id"] or "").strip() or None,
        log_level=level,
    )


def describe(cfg: AgentConfig) -> List[str]:
    """One line per setting for the start-up log (the token never appears)."""
    out = []
    for key, value in vars(cfg).items():
        if key in ("core_token", "core_access_client"):
            value = "(set)" if value else None
        out.append(f"{key}={value}")
    return out
