"""`python -m gpu_nodes.agent`: see `--help`; every flag also reads GPU_AGENT_<FLAG>."""
from __future__ import annotations

import logging
import signal
import sys
import time
from typing import Optional, Sequence

from .aws import AutoScalingClient, CredentialSource
from .config import AgentConfig, ConfigError, describe, load_config
from .core import CoreClient
from .health import HealthServer
from .imds import Imds
from .model_servers import OllamaServer, SpeachesServer
from .node import Agent


def boot_time() -> Optional[float]:
    """When this machine booted (so a restarted agent keeps counting the node's lifetime)."""
    try:
        with open("/proc/uptime") as f:
            return time.time() - float(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def build_agent(cfg: AgentConfig) -> Agent:
    imds = Imds(cfg.imds_url, timeout=cfg.imds_timeout)
    asg = None
    if cfg.region and (cfg.lifecycle_hook or cfg.dormant_action == "asg" or cfg.max_lifetime):
        asg = AutoScalingClient(cfg.region, CredentialSource(imds).get, endpoint_url=cfg.aws_endpoint_url)
    speech = [SpeachesServer(name, url) for name, url in (("tts", cfg.tts_url), ("stt", cfg.stt_url)) if url]
    return Agent(
        imds=imds,
        core=CoreClient(
            cfg.core_url, cfg.instance_id or "unknown", token=cfg.core_token, access_client=cfg.core_access_client
        ),
        asg=asg,
        ollama=OllamaServer(cfg.ollama_url) if cfg.ollama_url else None,
        speech=speech,
        thresholds=cfg.thresholds,
        idle_mode=cfg.idle_mode,
        dormant_action=cfg.dormant_action,
        poll_interval=cfg.poll_interval,
        asg_name=cfg.asg_name,
        lifecycle_hook=cfg.lifecycle_hook,
        drain_timeout=cfg.drain_timeout,
        drain_quiet=cfg.drain_quiet,
        drain_command=cfg.drain_command,
        max_lifetime=cfg.max_lifetime,
        rebalance_grace=cfg.rebalance_grace,
        launched_at=boot_time(),
        nvidia_smi=cfg.nvidia_smi,
        health_report_interval=cfg.health_report_interval,
        instance_id=cfg.instance_id,
    )


def main(argv: Optional[Sequence[str]] = None) -> int:
    try:
        cfg = load_config(argv)
    except ConfigError as exc:
        print(f"gpu agent: configuration error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=cfg.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log = logging.getLogger("gpu_agent")
    for line in describe(cfg):
        log.info("config %s", line)
    agent = build_agent(cfg)
    try:
        server = HealthServer(agent, cfg.listen_host, cfg.listen_port)
    except OSError as exc:
        print(f"gpu agent: cannot listen on {cfg.listen_host}:{cfg.listen_port}: {exc}", file=sys.stderr)
        return 2
    server.start()
    log.info("health endpoint on %s:%s", *server.address)
    agent.start()

    def _stop(signum: int, _frame: object) -> None:
        log.info("signal %s: stopping", signum)
        agent.stop(timeout=0)

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    agent.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
