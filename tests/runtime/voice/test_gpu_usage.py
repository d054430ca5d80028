"""GPU utilisation, node → core → admin API → CloudWatch metric: the real agent reads a fake
``nvidia-smi`` on PATH and reports with its health; the core keeps the figures per node (on every
task, through the event bus), ``/api/admin/gpu`` shows them, and the receiving task publishes the
metric the stack's alarm watches (moto's CloudWatch; botocore validates the call's shape)."""
from __future__ import annotations

import asyncio
import os
import stat
from datetime import datetime, timedelta, timezone

import pytest

from gpu_nodes.agent.core import CoreClient
from gpu_nodes.agent.gpu import gpu_status
from gpu_nodes.agent.imds import Imds
from gpu_nodes.agent.node import Agent
from runtime.voice.config import VoiceSettings
from runtime.voice.core import voice_core
from runtime.voice.gpu_usage import METRIC_DIMENSION, METRIC_NAMESPACE, UTILIZATION_METRIC, GpuUsage, parse_report
from tests.runtime.conftest import make_client
from tests.runtime.content.conftest import JWT_SECRET, bearer, sign_in_admin

NODE_TOKEN = "node-token-0123456789abcdef0123"
INSTANCE = "i-0a1b2c3d4e5f60718"
ASG = "gpu-usage-fleet"


@pytest.fixture
def fake_nvidia_smi(tmp_path, monkeypatch):
    """An ``nvidia-smi`` on PATH that prints what ``figures`` holds (one CSV line per GPU)."""
    figures = tmp_path / "figures.csv"
    figures.write_text("0, NVIDIA A10G, 18000, 23028, 87\n1, NVIDIA A10G, 6000, 23028, 40\n")
    script = tmp_path / "bin" / "nvidia-smi"
    script.parent.mkdir()
    script.write_text(f"#!/bin/sh\ncat {figures}\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{script.parent}{os.pathsep}{os.environ['PATH']}")
    return figures


def test_the_agent_reads_utilisation_and_memory_from_nvidia_smi(fake_nvidia_smi):
    status = gpu_status()
    assert status["available"] and [g["utilization_percent"] for g in status["gpus"]] == [87, 40]
    assert (status["memory_used_mib"], status["memory_total_mib"]) == (24000, 46056)
    report = parse_report({"gpu": status})
    assert report["utilization_percent"] == 63.5 and report["memory_percent"] == 52.1


def test_usage_keeps_a_bounded_window_per_node():
    now = [1000.0]
    usage = GpuUsage(clock=lambda: now[0])
    for util in (90, 85, 95):
        usage.record(INSTANCE, {"available": True, "utilization_percent": util, "memory_percent": 50.0})
        now[0] += 60
    now[0] = 1000.0 + 930  # the first sample (at 1000) has left the 15-minute window, the others not
    s = usage.summary()[INSTANCE]
    assert (s["utilization_percent"], s["utilization_avg_percent"], s["utilization_max_percent"], s["samples"]) == (95, 90.0, 95, 2)
    usage.record("i-00000000000000001", {"available": False, "reason": "nvidia-smi not found"})
    assert usage.summary()["i-00000000000000001"]["available"] is False
    now[0] += 3601  # neither node has reported for an hour: both are gone from the view
    assert usage.summary() == {}


async def test_node_report_reaches_every_core_task_the_admin_api_and_cloudwatch(
        fake_nvidia_smi, make_app, tenant, database, moto_endpoint, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    vs = VoiceSettings(llm_provider="openai", llm_url="http://127.0.0.1:9/v1", gpu_node_token=NODE_TOKEN,
                       gpu_asg_name=ASG, aws_region="us-east-1", aws_endpoint_url=moto_endpoint)
    first, second = (make_app(["voice", "auth"], voice=vs, jwt_secret=JWT_SECRET) for _ in range(2))
    tenant_id, beta = await tenant()
    async with make_client(first) as a, make_client(second) as b:
        other = voice_core(second.state.ctx)
        async with other.ctx.events.subscribe():
            pass  # the other task's listener is up before the node reports
        # The real agent, its core client pointed at the first task (through the test client's transport).
        agent = Agent(imds=Imds("http://127.0.0.1:9"), core=CoreClient("http://unused", INSTANCE, token=NODE_TOKEN),
                      asg=None, ollama=None, thresholds=None, instance_id=INSTANCE)
        sent: list[dict] = []
        agent.core.send = lambda kind, payload: sent.append({"type": kind, **payload}) or True  # type: ignore[method-assign]
        assert agent.report_health_once()
        r = await a.post(f"/api/gpu/nodes/{INSTANCE}/events", headers=bearer(NODE_TOKEN), json=sent[-1])
        assert r.status_code == 202, r.text
        assert r.json()["usage"]["utilization_percent"] == 63.5

        admin = bearer(await sign_in_admin(a, database, tenant_id, beta))
        shown = (await a.get("/api/admin/gpu", headers=admin)).json()["gpu"]["usage"][INSTANCE]
        assert (shown["utilization_percent"], shown["memory_used_mib"], shown["memory_total_mib"]) == (63.5, 24000, 46056)
        assert [g["utilization_percent"] for g in shown["gpus"]] == [87, 40] and shown["state"] == "ACTIVE"

        for _ in range(100):  # NOTIFY → the other task's listener
            if INSTANCE in other.gpu.usage.summary():
                break
            await asyncio.sleep(0.05)
        on_b = (await b.get("/api/admin/gpu", headers=admin)).json()["gpu"]["usage"][INSTANCE]
        assert on_b["utilization_percent"] == 63.5 and on_b["samples"] == 1
        assert voice_core(first.state.ctx).gpu.usage.summary()[INSTANCE]["samples"] == 1  # its own event not counted twice

        core = voice_core(first.state.ctx)
        for _ in range(200):
            if not core.gpu._metric_tasks:
                break
            await asyncio.sleep(0.05)
        assert core.gpu.metric_error is None

        # Bad reports are refused with a 4xx naming the problem; nothing is recorded.
        for body, code in (({"type": "health", "gpu": "busy"}, 400),
                           ({"type": "health", "gpu": {"available": True, "gpus": [{"utilization_percent": 150}]}}, 400),
                           ({"type": "health", "gpu": {"available": True, "gpus": []}}, 400)):
            r = await a.post(f"/api/gpu/nodes/{INSTANCE}/events", headers=bearer(NODE_TOKEN), json=body)
            assert r.status_code == code and r.json()["error"] == "invalid_gpu_report", r.text
        assert core.gpu.usage.summary()[INSTANCE]["samples"] == 1

    from aiobotocore.session import get_session

    async with get_session().create_client("cloudwatch", region_name="us-east-1", endpoint_url=moto_endpoint) as cw:
        now = datetime.now(timezone.utc)
        stats = await cw.get_metric_statistics(
            Namespace=METRIC_NAMESPACE, MetricName=UTILIZATION_METRIC, Dimensions=[{"Name": METRIC_DIMENSION, "Value": ASG}],
            StartTime=now - timedelta(minutes=10), EndTime=now + timedelta(minutes=1), Period=300, Statistics=["Average"])
    assert [p["Average"] for p in stats["Datapoints"]] == [63.5]
