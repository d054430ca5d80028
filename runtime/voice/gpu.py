"""The GPU fleet as the voice core sees it: warm or cold, and how to wake it.

Warm = the node's Ollama answers ``GET /api/tags`` within a second (probed at most every
``gpu_probe_seconds``). Cold + a request → set the Auto Scaling group's desired capacity to 1 through
the AWS API (aiobotocore) at most once per probe interval, and let the caller use external APIs
meanwhile. Sleeping is the node agent's job (it scales itself in when idle); ``sleep()`` exists for
the admin route.
"""
from __future__ import annotations

import asyncio
import logging
import time

import httpx

log = logging.getLogger("unamentis.voice.gpu")


class GpuFleet:
    def __init__(self, vs, http: httpx.AsyncClient):
        self.vs, self.http = vs, http
        self.configured = bool(vs.gpu_llm_url or vs.gpu_stt_url or vs.gpu_tts_url)
        self.warm = False
        self.checked_at = 0.0
        self.last_wake_at = 0.0
        self.wake_count = 0
        self.last_error: str | None = None
        self._probe_lock = asyncio.Lock()
        self._wake_task: asyncio.Task | None = None

    def _probe_url(self) -> str | None:
        if self.vs.gpu_llm_url:
            return self.vs.gpu_llm_url.rstrip("/") + "/api/tags"
        base = self.vs.gpu_stt_url or self.vs.gpu_tts_url
        return base.rstrip("/") + "/models" if base else None

    async def is_warm(self) -> bool:
        if not self.configured:
            return False
        if time.monotonic() - self.checked_at < self.vs.gpu_probe_seconds:
            return self.warm
        async with self._probe_lock:
            if time.monotonic() - self.checked_at >= self.vs.gpu_probe_seconds:
                try:
                    r = await self.http.get(self._probe_url(), timeout=1.0)
                    self.warm = r.status_code < 500
                except httpx.HTTPError:
                    self.warm = False
                self.checked_at = time.monotonic()
        return self.warm

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
        from aiobotocore.session import get_session

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
                "wake_requests": self.wake_count, "last_error": self.last_error,
                "checked_seconds_ago": round(time.monotonic() - self.checked_at, 1) if self.checked_at else None}

    async def aclose(self) -> None:
        if self._wake_task and not self._wake_task.done():
            self._wake_task.cancel()
