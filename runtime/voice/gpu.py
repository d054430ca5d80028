"""The GPU fleet as the voice core sees it: where its node is, warm or cold, and how to wake it.

Where: fixed URLs (``UNAMENTIS_GPU_{LLM,STT,TTS}_URL``, e.g. a self-hosted box), or — in a deployed
stack, where nodes come and go with Spot — discovered through the AWS API: the InService, Healthy
instances of the Auto Scaling group ``UNAMENTIS_GPU_ASG_NAME`` and their private IPs, re-read at
most every ``gpu_probe_seconds``; the node servers listen on the ports ``gpu_nodes/bootstrap.py``
starts them on. Warm = the node's Ollama answers ``GET /api/tags`` within a second (probed at most every
``gpu_probe_seconds``). Cold + a request → set the Auto Scaling group's desired capacity to 1 through
the AWS API (aiobotocore) at most once per probe interval, and let the caller use external APIs
meanwhile. Sleeping is the node agent's job (it scales itself in when idle); ``sleep()`` exists for
the admin route.

The nodes' agents report to ``POST /api/gpu/nodes/{instance_id}/events`` (``node_event``): a
``drain`` (Spot interruption, rebalance, scale-in, lifetime) takes that node out of use at once —
new turns go to external providers, and discovery skips it until it is gone — instead of waiting
for its calls to fail; ``state`` transitions are kept for the admin view; ``scale_to_zero`` sets
the group's desired capacity to 0 (agents configured with ``--dormant-action core``); ``health``
carries the node's GPU utilisation and memory (``runtime.voice.gpu_usage``).
"""
from __future__ import annotations

import asyncio
import logging
import time

import httpx

from runtime.ttl_cache import MISSING, TtlCache

from .gpu_usage import METRIC_NAMESPACE, GpuUsage, metric_data, parse_report

log = logging.getLogger("unamentis.voice.gpu")

# The ports the GPU node software listens on (gpu_nodes/bootstrap.py MODEL_PORTS; a test keeps the two
# equal — the container image ships runtime/ only).
NODE_PORTS = {"llm": 11434, "tts": 8880, "stt": 11401}
NODE_EVENT_TYPES = ("state", "drain", "scale_to_zero", "health")
# A draining node is gone within minutes (Spot gives 2); forget it after this so the map stays small.
DRAIN_MEMORY_SECONDS = 900.0
MAX_NODES_REMEMBERED = 256


def node_urls(address: str) -> dict[str, str]:
    """The provider base URLs of a node at ``address``: Ollama's root, the speech servers' ``/v1``."""
    return {"llm": f"http://{address}:{NODE_PORTS['llm']}",
            "stt": f"http://{address}:{NODE_PORTS['stt']}/v1",
            "tts": f"http://{address}:{NODE_PORTS['tts']}/v1"}


class GpuFleet:
    def __init__(self, vs, http: httpx.AsyncClient):
        self.vs, self.http = vs, http
        self.fixed = {kind: url for kind, url in (("llm", vs.gpu_llm_url), ("stt", vs.gpu_stt_url),
                                                  ("tts", vs.gpu_tts_url)) if url}
        self.discovering = not self.fixed and bool(vs.gpu_asg_name)
        self.configured = bool(self.fixed) or self.discovering
        self.address: str | None = None  # the discovered node's private IP
        self.instance_id: str | None = None  # … and its instance id
        self.draining = TtlCache(DRAIN_MEMORY_SECONDS, MAX_NODES_REMEMBERED)  # instance ids with a drain notice
        self.node_states: dict[str, dict] = {}  # instance id -> its agent's last state event
        self.warm = False
        self.checked_at = 0.0
        self.last_wake_at = 0.0
        self.wake_count = 0
        self.last_error: str | None = None
        self._probe_lock = asyncio.Lock()
        self._wake_task: asyncio.Task | None = None
        self.usage = GpuUsage()  # GPU utilisation and memory per node, from the agents' health reports
        self.metric_error: str | None = None
        self._metric_tasks: set[asyncio.Task] = set()

    def urls(self) -> dict[str, str]:
        """Provider base URLs by kind (llm, stt, tts) of the node to use now; empty when none is known."""
        if self.fixed:
            return self.fixed
        return node_urls(self.address) if self.address else {}

    def _probe_url(self) -> str | None:
        urls = self.urls()
        if "llm" in urls:
            return urls["llm"].rstrip("/") + "/api/tags"
        base = urls.get("stt") or urls.get("tts")
        return base.rstrip("/") + "/models" if base else None

    async def discover(self) -> str | None:
        """The private IP of an InService, Healthy instance of the fleet's group (None when it has none)."""
        from aiobotocore.session import get_session  # only a deployed fleet uses the AWS API; heavy to import

        session = get_session()
        kw = {"region_name": self.vs.aws_region, "endpoint_url": self.vs.aws_endpoint_url}
        async with session.create_client("autoscaling", **kw) as asg:
            groups = (await asg.describe_auto_scaling_groups(
                AutoScalingGroupNames=[self.vs.gpu_asg_name]))["AutoScalingGroups"]
        draining = self._draining_ids()
        ids = sorted(i["InstanceId"] for g in groups for i in g.get("Instances", [])
                     if i.get("LifecycleState") == "InService" and i.get("HealthStatus") == "Healthy"
                     and i["InstanceId"] not in draining)
        if not ids:
            self.instance_id = None
            return None
        async with session.create_client("ec2", **kw) as ec2:
            reservations = (await ec2.describe_instances(InstanceIds=ids))["Reservations"]
        addresses = {i["InstanceId"]: i.get("PrivateIpAddress") for r in reservations for i in r["Instances"]
                     if i.get("State", {}).get("Name") == "running"}
        # Stay on the node in use while it serves; else the first by instance id (stable across tasks).
        live = [i for i in ids if addresses.get(i)]
        chosen = self.instance_id if self.instance_id in live else (live[0] if live else None)
        self.instance_id = chosen
        return addresses[chosen] if chosen else None

    async def is_warm(self) -> bool:
        if not self.configured:
            return False
        if time.monotonic() - self.checked_at < self.vs.gpu_probe_seconds:
            return self.warm
        async with self._probe_lock:
            if time.monotonic() - self.checked_at >= self.vs.gpu_probe_seconds:
                self.warm = False
                try:
                    if self.discovering:
                        self.address = await self.discover()
                    # A fixed node that announced its drain stays out of use until the notice expires.
                    url = self._probe_url() if self.discovering or not self._draining_ids() else None
                    if url:
                        r = await self.http.get(url, timeout=1.0)
                        self.warm = r.status_code < 500
                except httpx.HTTPError:
                    pass
                except Exception as exc:  # AWS errors must never break a voice turn: treat as cold
                    self.last_error = f"{type(exc).__name__}: {exc}"
                    log.warning("gpu node discovery failed: %s", self.last_error)
                self.checked_at = time.monotonic()
        return self.warm

    def _draining_ids(self) -> set[str]:
        return set(self.draining.live_keys())

    async def node_event(self, instance_id: str, kind: str, body: dict) -> dict:
        """Act on one event of a node's agent (see the module docstring); returns what was done."""
        if kind == "drain":
            if self.draining.get(instance_id) is not MISSING and instance_id != self.instance_id:
                return {"action": "already_draining"}  # e.g. this task's own drain, back from the bus
            self.draining.put(instance_id, True)
            in_use = not self.discovering or instance_id == self.instance_id
            if in_use:
                # New turns go to external providers now; with discovery, the next turn looks for
                # another node (this one is skipped) instead of waiting a probe interval.
                self.warm = False
                self.checked_at = 0.0 if self.discovering else time.monotonic()
                if self.discovering:
                    self.address = self.instance_id = None
            log.warning("gpu node draining", extra={"instance_id": instance_id, "in_use": in_use,
                                                     "notice": body.get("notice")})
            return {"action": "node_out_of_use" if in_use else "node_skipped_by_discovery"}
        if kind == "health":
            report = parse_report(body)
            self.record_usage(instance_id, report, body.get("state"), publish=True)
            keep = ("available", "utilization_percent", "memory_used_mib", "memory_total_mib", "memory_percent")
            return {"action": "recorded", "usage": {k: report.get(k) for k in keep}}
        if kind == "state":
            if len(self.node_states) >= MAX_NODES_REMEMBERED and instance_id not in self.node_states:
                self.node_states.pop(next(iter(self.node_states)))
            self.node_states[instance_id] = {k: body.get(k) for k in ("from", "to", "reason", "loaded_models")}
            return {"action": "recorded"}
        # scale_to_zero: the node has been idle to DORMANT and asks the core to shrink the group
        if not self.vs.gpu_asg_name:
            return {"action": "none", "reason": "no Auto Scaling group is configured"}
        await self.sleep()
        return {"action": "desired_capacity_0", "error": self.last_error}

    def record_usage(self, instance_id: str, report: dict, state: object, publish: bool = False) -> None:
        """Keep a node's GPU figures; ``publish``: also send them to CloudWatch (the task that received
        the report does, the others only keep them for their admin view)."""
        self.usage.record(instance_id, report, str(state)[:40] if isinstance(state, str) else None)
        if publish and self.vs.gpu_asg_name and report.get("available"):
            task = asyncio.create_task(self._put_metrics(report))
            self._metric_tasks.add(task)
            task.add_done_callback(self._metric_tasks.discard)

    async def _put_metrics(self, report: dict) -> None:
        from aiobotocore.session import get_session  # only a deployed fleet uses the AWS API; heavy to import

        data = metric_data(report, self.vs.gpu_asg_name, time.time())
        if not data:
            return
        try:
            async with get_session().create_client("cloudwatch", region_name=self.vs.aws_region,
                                                   endpoint_url=self.vs.aws_endpoint_url) as cloudwatch:
                await cloudwatch.put_metric_data(Namespace=METRIC_NAMESPACE, MetricData=data)
            self.metric_error = None
        except Exception as exc:  # a lost data point must never break the node's report
            self.metric_error = f"{type(exc).__name__}: {exc}"
            log.warning("gpu utilisation metric not published: %s", self.metric_error)

    def mark_failed(self) -> None:
        """A provider call on the fleet failed: treat it as cold until the next probe."""
        self.warm, self.checked_at = False, time.monotonic()

    async def ensure_waking(self) -> None:
        """Cold fleet: start waking it in the background (bounded to once per probe interval)."""
        if not self.vs.gpu_asg_name or (self._wake_task and not self._wake_task.done()):
            return
        if time.monotonic() - self.last_wake_at < max(self.vs.gpu_probe_seconds, 30.0) and self.wake_count:
            return
        self.last_wake_at = time.monotonic()
        self._wake_task = asyncio.create_task(self._set_capacity(1))

    async def _set_capacity(self, desired: int) -> None:
        from aiobotocore.session import get_session  # only a deployed fleet uses the AWS API; heavy to import

        try:
            async with get_session().create_client("autoscaling", region_name=self.vs.aws_region,
                                                   endpoint_url=self.vs.aws_endpoint_url) as asg:
                await asg.set_desired_capacity(AutoScalingGroupName=self.vs.gpu_asg_name,
                                               DesiredCapacity=desired, HonorCooldown=False)
            self.wake_count += desired > 0
            self.last_error = None
            log.info("gpu fleet desired capacity set", extra={"asg": self.vs.gpu_asg_name, "desired": desired})
        except Exception as exc:  # AWS errors must never break a voice turn
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.warning("gpu fleet scaling failed: %s", self.last_error)

    async def wake(self) -> None:
        await self._set_capacity(1)

    async def sleep(self) -> None:
        await self._set_capacity(0)

    def snapshot(self) -> dict:
        return {"configured": self.configured, "warm": self.warm, "asg_name": self.vs.gpu_asg_name,
                "node": self.address if self.discovering else None,
                "instance_id": self.instance_id if self.discovering else None,
                "draining": sorted(self._draining_ids()),
                "node_states": dict(self.node_states),
                "wake_requests": self.wake_count, "last_error": self.last_error,
                "usage": self.usage.summary(), "metric_error": self.metric_error,
                "checked_seconds_ago": round(time.monotonic() - self.checked_at, 1) if self.checked_at else None}

    async def aclose(self) -> None:
        if self._wake_task and not self._wake_task.done():
            self._wake_task.cancel()
        for task in list(self._metric_tasks):
            task.cancel()
