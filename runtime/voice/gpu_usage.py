"""GPU utilisation and memory per node, from the health reports of the nodes' agents: the right-sizing
signal (sustained high utilisation means the next scaling phase is due).

An agent posts ``{"type": "health", "gpu": <nvidia-smi summary>, ...}`` to the core every minute or
so; ``GpuUsage`` keeps each node's recent samples (``WINDOW_SECONDS``) and summarises them for the
admin view (``/api/admin/gpu``). The task that receives a report also publishes it as the CloudWatch
metric ``METRIC_NAMESPACE``/``UTILIZATION_METRIC`` (dimension: the fleet's Auto Scaling group), on
which the stack's alarm fires when utilisation stays above 80 %.
"""
from __future__ import annotations

import time
from collections import OrderedDict, deque
from datetime import datetime, timezone
from typing import Any, Callable

from runtime.errors import ApiError

METRIC_NAMESPACE = "UnaMentis/GPU"
UTILIZATION_METRIC = "GPUUtilization"
MEMORY_METRIC = "GPUMemoryUtilization"
METRIC_DIMENSION = "AutoScalingGroupName"
WINDOW_SECONDS = 900.0  # what the admin view averages over (the alarm's 15 minutes)
MAX_SAMPLES = 120  # per node: a report a minute fills it in two hours; older ones fall out
MAX_NODES = 256
FORGET_AFTER_SECONDS = 3600.0  # a node silent this long is gone (Spot): it leaves the admin view
MAX_GPUS = 16


def _number(value: Any, where: str, low: float, high: float) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise ApiError(400, "invalid_gpu_report", f"{where} must be a number from {low:g} to {high:g}")
    return float(value)


def parse_report(body: dict) -> dict:
    """The GPU part of a health report (the agent's ``gpu_status``), checked; 400 for a bad one."""
    gpu = body.get("gpu")
    if not isinstance(gpu, dict):
        raise ApiError(400, "invalid_gpu_report", "a health report carries 'gpu', an object (the agent's GPU status)")
    if not gpu.get("available"):
        return {"available": False, "reason": str(gpu.get("reason") or "no GPU reported")[:200]}
    gpus = gpu.get("gpus")
    if not isinstance(gpus, list) or not 0 < len(gpus) <= MAX_GPUS:
        raise ApiError(400, "invalid_gpu_report", f"'gpu.gpus' must list 1 to {MAX_GPUS} GPUs")
    out: list[dict[str, Any]] = []
    for i, g in enumerate(gpus):
        if not isinstance(g, dict):
            raise ApiError(400, "invalid_gpu_report", f"gpu.gpus[{i}] must be an object")
        out.append({"index": i, "name": str(g.get("name") or "")[:100],
                    "utilization_percent": _number(g.get("utilization_percent"), f"gpu.gpus[{i}].utilization_percent", 0, 100),
                    "memory_used_mib": _number(g.get("memory_used_mib"), f"gpu.gpus[{i}].memory_used_mib", 0, 1e7) or 0.0,
                    "memory_total_mib": _number(g.get("memory_total_mib"), f"gpu.gpus[{i}].memory_total_mib", 0, 1e7) or 0.0})
    utils: list[float] = [g["utilization_percent"] for g in out if g["utilization_percent"] is not None]
    used: float = sum(g["memory_used_mib"] for g in out)
    total: float = sum(g["memory_total_mib"] for g in out)
    return {"available": True, "gpus": out,
            "utilization_percent": round(sum(utils) / len(utils), 1) if utils else None,
            "memory_used_mib": used, "memory_total_mib": total,
            "memory_percent": round(100 * used / total, 1) if total else None}


class GpuUsage:
    """Recent GPU samples per node (bounded in nodes and samples)."""

    def __init__(self, clock: Callable[[], float] = time.time):
        self._clock = clock
        self._nodes: OrderedDict[str, dict] = OrderedDict()

    def record(self, instance_id: str, report: dict, state: str | None = None) -> None:
        node = self._nodes.pop(instance_id, None) or {"samples": deque(maxlen=MAX_SAMPLES)}
        self._nodes[instance_id] = node  # most recently heard last; the oldest node falls out first
        while len(self._nodes) > MAX_NODES:
            self._nodes.popitem(last=False)
        now = self._clock()
        node.update(last=report, state=state, reported_at=now)
        if report.get("available"):
            node["samples"].append((now, report.get("utilization_percent"), report.get("memory_percent")))

    def summary(self) -> dict[str, dict]:
        """Per node: the last report, and the average and peak utilisation over ``WINDOW_SECONDS``."""
        now = self._clock()
        for gone in [i for i, node in self._nodes.items() if now - node["reported_at"] > FORGET_AFTER_SECONDS]:
            del self._nodes[gone]
        out = {}
        for instance_id, node in self._nodes.items():
            recent = [s for s in node["samples"] if now - s[0] <= WINDOW_SECONDS]
            utils = [u for _, u, _m in recent if u is not None]
            last = node["last"]
            out[instance_id] = {
                "available": last.get("available", False),
                "reason": last.get("reason"),
                "state": node.get("state"),
                "utilization_percent": last.get("utilization_percent"),
                "utilization_avg_percent": round(sum(utils) / len(utils), 1) if utils else None,
                "utilization_max_percent": max(utils) if utils else None,
                "memory_used_mib": last.get("memory_used_mib"),
                "memory_total_mib": last.get("memory_total_mib"),
                "memory_percent": last.get("memory_percent"),
                "gpus": last.get("gpus", []),
                "samples": len(recent),
                "window_seconds": WINDOW_SECONDS,
                "reported_seconds_ago": round(now - node["reported_at"], 1),
            }
        return out


def metric_data(report: dict, asg_name: str, at: float) -> list[dict]:
    """``PutMetricData``'s ``MetricData`` for one node's report (nothing when it had no GPU figures)."""
    stamp = datetime.fromtimestamp(at, tz=timezone.utc)
    dims = [{"Name": METRIC_DIMENSION, "Value": asg_name}]
    out = []
    for name, key in ((UTILIZATION_METRIC, "utilization_percent"), (MEMORY_METRIC, "memory_percent")):
        if report.get(key) is not None:
            out.append({"MetricName": name, "Dimensions": dims, "Timestamp": stamp, "Value": float(report[key]),
                        "Unit": "Percent"})
    return out
