"""Fixtures for the GPU node tests: loopback protocol peers and a running agent wired to them."""
from __future__ import annotations

import logging
from typing import Any, Callable, Iterator, List

import pytest

from gpu_nodes.agent.aws import AutoScalingClient, CredentialSource
from gpu_nodes.agent.core import CoreClient
from gpu_nodes.agent.health import HealthServer
from gpu_nodes.agent.idle import Thresholds
from gpu_nodes.agent.imds import Imds
from gpu_nodes.agent.model_servers import OllamaServer, SpeachesServer
from gpu_nodes.agent.node import Agent
from gpu_peers import FakeAutoScaling, FakeCore, FakeImds, FakeOllama, FakeSpeaches


@pytest.fixture
def imds() -> Iterator[FakeImds]:
    s = FakeImds()
    yield s
    s.close()


@pytest.fixture
def ollama() -> Iterator[FakeOllama]:
    s = FakeOllama()
    yield s
    s.close()


@pytest.fixture
def tts() -> Iterator[FakeSpeaches]:
    s = FakeSpeaches("speaches-ai/Kokoro-82M-v1.0-ONNX")
    yield s
    s.close()


@pytest.fixture
def stt() -> Iterator[FakeSpeaches]:
    s = FakeSpeaches("Systran/faster-whisper-small")
    yield s
    s.close()


@pytest.fixture
def core() -> Iterator[FakeCore]:
    s = FakeCore()
    yield s
    s.close()


@pytest.fixture
def autoscaling() -> Iterator[FakeAutoScaling]:
    s = FakeAutoScaling()
    yield s
    s.close()


@pytest.fixture
def make_agent(imds, ollama, tts, stt, core, autoscaling) -> Iterator[Callable[..., Any]]:
    """Build and start an agent (and its health endpoint) against the loopback peers."""
    started: List[Any] = []

    def build(**overrides: Any):
        imds_client = Imds(imds.url, timeout=overrides.pop("imds_timeout", 0.5))
        kwargs = dict(
            imds=imds_client,
            core=CoreClient(core.url, "unknown", token="node-token", timeout=1.0),
            asg=AutoScalingClient("us-east-1", CredentialSource(imds_client, environ={}).get, endpoint_url=autoscaling.url),
            ollama=OllamaServer(ollama.url),
            speech=[SpeachesServer("tts", tts.url), SpeachesServer("stt", stt.url)],
            thresholds=Thresholds(60, 120, 180, 240),
            poll_interval=0.1,
            asg_name="unamentis-beta-gpu",
            lifecycle_hook="unamentis-beta-gpu-drain",
            drain_timeout=10.0,
            drain_quiet=0.3,
            nvidia_smi="nvidia-smi-not-installed-here",
        )
        kwargs.update(overrides)
        agent = Agent(**kwargs)
        server = HealthServer(agent, "127.0.0.1", 0)
        server.start()
        agent.start()
        agent.health_url = "http://127.0.0.1:%d" % server.address[1]
        started.append((agent, server))
        return agent

    yield build
    for agent, server in started:
        agent.stop(timeout=2)
        server.stop()


@pytest.fixture(autouse=True)
def _quiet_agent_logs(caplog):
    caplog.set_level(logging.INFO, logger="gpu_agent")
