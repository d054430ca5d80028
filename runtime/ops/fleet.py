"""The GPU fleet as the Operations Console controls it: its model servers as services, the Auto
Scaling group's desired capacity (through the AWS API, aiobotocore, like the voice core's
``GpuFleet``), and the node agent's HTTP endpoint (``gpu_nodes/agent/health.py``: ``GET /health``,
``POST /idle``) on the node the core uses."""
from __future__ import annotations

import logging
import time
from typing import Any
from urllib.parse import urlsplit

import httpx

from runtime.voice.gpu import NODE_PORTS, GpuFleet

log = logging.getLogger("unamentis.ops.fleet")

# The node agent's port (gpu_nodes/agent/config.py, ``--listen`` default).
AGENT_PORT = 11400
# The model servers of a GPU node, as services: id -> (name, kind in NODE_PORTS).
GPU_SERVICES: dict[str, tuple[str, str]] = {
    "ollama": ("Ollama (LLM)", "llm"),
    "whisper": ("Whisper (speech to text)", "stt"),
    "tts": ("Text to speech", "tts"),
}


class FleetError(Exception):
    """An AWS call about the fleet failed; the message says which."""


def node_host(fleet: GpuFleet) -> str | None:
    """The host of the GPU node in use: the discovered node, else the host of a fixed URL."""
    if fleet.address:
        return fleet.address
    for url in fleet.fixed.values():
        host = urlsplit(url).hostname
        if host:
            return host
    return None


async def agent_health(fleet: GpuFleet, http: httpx.AsyncClient) -> dict[str, Any] | None:
    """The node agent's ``/health`` (None when no node is known or its agent does not answer)."""
    host = node_host(fleet)
    if not host:
        return None
    try:
        response = await http.get(f"http://{host}:{AGENT_PORT}/health", timeout=1.0)
    except httpx.HTTPError:
        return None
    if response.status_code != 200:
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def loaded_models(node: dict[str, Any] | None) -> list[tuple[str, str]]:
    """(server, model) pairs the agent's ``loaded_models`` lists (``{server: [{name, ...}]}``)."""
    loaded = (node or {}).get("loaded_models") or {}
    if not isinstance(loaded, dict):
        return []
    return [(str(server), str(m.get("name"))) for server, models in loaded.items() if isinstance(models, list)
            for m in models if isinstance(m, dict) and m.get("name")]


async def push_idle(fleet: GpuFleet, http: httpx.AsyncClient, change: dict[str, Any]) -> bool:
    """Send an idle change (mode/thresholds, keep-awake, forced state) to the node's agent; False when
    no node answered (the change is stored and applies when one does)."""
    host = node_host(fleet)
    if not host:
        return False
    headers = {"Authorization": f"Bearer {fleet.vs.gpu_node_token}"} if fleet.vs.gpu_node_token else {}
    try:
        response = await http.post(f"http://{host}:{AGENT_PORT}/idle", json=change, headers=headers, timeout=2.0)
    except httpx.HTTPError as exc:
        log.warning("gpu agent idle change failed: %s", exc)
        return False
    return response.status_code == 200


def _client(fleet: GpuFleet, service: str):
    from aiobotocore.session import get_session  # only a deployed fleet uses the AWS API; heavy to import

    return get_session().create_client(service, region_name=fleet.vs.aws_region, endpoint_url=fleet.vs.aws_endpoint_url)


async def describe_group(fleet: GpuFleet) -> dict[str, Any]:
    """The Auto Scaling group's desired capacity and in-service instance ids."""
    try:
        async with _client(fleet, "autoscaling") as asg:
            groups = (await asg.describe_auto_scaling_groups(
                AutoScalingGroupNames=[fleet.vs.gpu_asg_name]))["AutoScalingGroups"]
    except Exception as exc:  # any AWS failure is reported to the admin, never a 500
        raise FleetError(f"{type(exc).__name__}: {exc}") from None
    if not groups:
        raise FleetError(f"the Auto Scaling group {fleet.vs.gpu_asg_name!r} does not exist")
    group = groups[0]
    return {"desired": int(group.get("DesiredCapacity") or 0),
            "instances": sorted(i["InstanceId"] for i in group.get("Instances", [])
                                if i.get("LifecycleState") in ("InService", "Pending", "Pending:Wait"))}


async def set_capacity(fleet: GpuFleet, desired: int) -> None:
    await (fleet.wake() if desired else fleet.sleep())
    if fleet.last_error:
        raise FleetError(fleet.last_error)


async def replace_nodes(fleet: GpuFleet, instances: list[str]) -> None:
    """Restart: terminate the group's nodes without lowering the desired capacity, so the group
    launches fresh ones (a GPU node keeps no state worth saving)."""
    try:
        async with _client(fleet, "autoscaling") as asg:
            for instance in instances:
                await asg.terminate_instance_in_auto_scaling_group(InstanceId=instance,
                                                                  ShouldDecrementDesiredCapacity=False)
    except Exception as exc:
        raise FleetError(f"{type(exc).__name__}: {exc}") from None


def service_info(service_id: str, *, desired: int | None, warm: bool, error: str | None,
                 uptime: float | None) -> dict[str, Any]:
    """Android's ServiceInfo of one GPU model server: stopped (no node wanted), starting (wanted, not
    answering yet) or running."""
    name, kind = GPU_SERVICES[service_id]
    if desired == 0:
        status = "stopped"
    elif warm:
        status = "running"
    else:
        status = "starting" if desired else "stopped"
    return {"id": service_id, "name": name, "status": status, "port": NODE_PORTS[kind],
            "uptime": int(uptime) if uptime is not None and status == "running" else None, "error": error}


def core_info(started_at: float) -> dict[str, Any]:
    return {"id": "core", "name": "UnaMentis core", "status": "running", "port": None,
            "uptime": int(time.time() - started_at), "error": None}
