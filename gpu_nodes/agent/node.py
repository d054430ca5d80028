"""The agent itself: wires IMDS, the model servers, the core and Auto Scaling into three loops.

- the notice loop polls IMDS every `poll_interval` and starts the drain on the first notice;
- the idle loop observes the model servers (activity, loaded models) and ticks the idle manager;
- the drain (once): readiness off, tell the core, stop accepting (the drain command), wait until
  the model servers are quiet (or the drain timeout), complete the ASG lifecycle action. A node
  past `max_lifetime` drains the same way, then removes itself from the ASG (desired - 1); so
  does one the ASG has not replaced within `rebalance_grace` of a rebalance recommendation.
No failure of a peer stops a loop: errors are logged, counted and shown on the health endpoint.
"""
from __future__ import annotations

import logging
import queue
import socket
import subprocess
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Sequence

from .aws import AutoScalingClient, AwsError
from .core import CoreClient
from .gpu import gpu_status
from .idle import Action, IdleManager, InUse, Thresholds
from .imds import Imds, ImdsError, Notice
from .model_servers import ModelInUse, ModelServerError, OllamaServer, SpeachesServer

log = logging.getLogger("gpu_agent")


def _iso(epoch: Optional[float]) -> Optional[str]:
    if epoch is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


class Agent:
    def __init__(
        self,
        *,
        imds: Imds,
        core: CoreClient,
        asg: Optional[AutoScalingClient],
        ollama: Optional[OllamaServer],
        speech: Sequence[SpeachesServer] = (),
        thresholds: Optional[Thresholds],
        idle_mode: str = "custom",
        dormant_action: str = "core",
        poll_interval: float = 5.0,
        asg_name: Optional[str] = None,
        lifecycle_hook: Optional[str] = None,
        drain_timeout: float = 90.0,
        drain_quiet: float = 10.0,
        drain_command: Optional[str] = None,
        max_lifetime: Optional[float] = None,
        rebalance_grace: float = 600.0,
        launched_at: Optional[float] = None,
        nvidia_smi: str = "nvidia-smi",
        health_report_interval: float = 60.0,
        instance_id: Optional[str] = None,
        clock: Callable[[], float] = time.time,
    ):
        self.imds = imds
        self.core = core
        self.asg = asg
        self.ollama = ollama
        self.speech = list(speech)
        self.idle_mode = idle_mode
        self.dormant_action = dormant_action
        self.poll_interval = poll_interval
        self.asg_name = asg_name
        self.lifecycle_hook = lifecycle_hook
        self.drain_timeout = drain_timeout
        self.drain_quiet = drain_quiet
        self.drain_command = drain_command
        self.max_lifetime = max_lifetime
        self.rebalance_grace = rebalance_grace
        self.nvidia_smi = nvidia_smi
        self.health_report_interval = health_report_interval
        self._clock = clock
        self._instance_id = instance_id
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: List[threading.Thread] = []
        self._state_events: "queue.Queue[Dict[str, Any]]" = queue.Queue(maxsize=1000)
        self.started_at = clock()
        self.launched_at = launched_at if launched_at is not None else self.started_at
        self.loaded_models: Dict[str, List[Dict[str, Any]]] = {}
        self.server_status: Dict[str, Dict[str, Any]] = {}
        self.imds_status: Dict[str, Any] = {"ok": None, "errors": 0, "last_error": None, "last_poll": None}
        self.last_model_activity = self.started_at
        self.draining = False
        self.drain: Dict[str, Any] = {}
        actions = []
        if self.speech:
            actions.append(Action("unload_speech_models", "COOL", self._unload_speech))
        if self.ollama:
            actions.append(Action("unload_ollama_models", "COLD", self._unload_ollama))
        if dormant_action != "none":
            actions.append(Action("scale_to_zero", "DORMANT", self._scale_to_zero))
        self.idle = IdleManager(thresholds, actions, clock=clock, on_transition=self._report_transition)

    # ---- identity -------------------------------------------------------------------------
    def instance_id(self) -> Optional[str]:
        if self._instance_id is None:
            try:
                self._instance_id = self.imds.instance_id()
                self.core.instance_id = self._instance_id
            except ImdsError as exc:
                log.warning("instance id not known yet: %s", exc)
        return self._instance_id

    # ---- idle actions ---------------------------------------------------------------------
    def _unload_speech(self) -> Dict[str, List[str]]:
        out: Dict[str, List[str]] = {}
        for server in self.speech:
            try:
                out[server.name] = server.unload_all()
            except ModelInUse as exc:
                raise InUse(str(exc)) from exc
        return out

    def _unload_ollama(self) -> Dict[str, List[str]]:
        assert self.ollama is not None
        return {"ollama": self.ollama.unload_all()}

    def _scale_to_zero(self) -> str:
        snap = self.idle.snapshot()
        if self.dormant_action == "core":
            if not self._send_core("scale_to_zero", {"idle_seconds": snap["idle_seconds"], "state": snap["state"]}):
                raise RuntimeError("the core did not acknowledge scale_to_zero")
            return "asked the core"
        instance = self.instance_id()
        if self.asg is None or instance is None:
            raise RuntimeError("no Auto Scaling client or instance id to terminate this node with")
        self.asg.terminate_instance(instance, decrement_desired=True)
        return "TerminateInstanceInAutoScalingGroup (decrement desired)"

    def _send_core(self, event_type: str, payload: Dict[str, Any]) -> bool:
        self.instance_id()  # events name the node; IMDS may not have answered at start
        return self.core.send(event_type, payload)

    def _report_transition(self, event: Dict[str, object]) -> None:
        # Best effort: the core also learns the state from /health; a lost event is not retried.
        # One sender thread keeps the events in order and off the idle loop.
        payload = dict(event)
        payload["loaded_models"] = self.loaded_models
        try:
            self._state_events.put_nowait(payload)
        except queue.Full:  # the core has been unreachable for a long time: drop, /health has it
            log.warning("state event dropped (queue full): %s -> %s", event.get("from"), event.get("to"))

    def _state_event_loop(self) -> None:
        while not self._stop.is_set():
            try:
                payload = self._state_events.get(timeout=5)
            except queue.Empty:
                continue
            if payload is None:  # stop() wakes the loop
                return
            self._send_core("state", payload)

    def report_health_once(self) -> bool:
        """Send the core this node's GPU utilisation and memory with its state (the core keeps them
        per node for the admin view and the right-sizing metric)."""
        return self._send_core("health", {"state": self.idle.state, "draining": self.draining,
                                          "gpu": gpu_status(self.nvidia_smi)})

    def _health_report_loop(self) -> None:
        while not self._stop.wait(self.health_report_interval):
            try:
                self.report_health_once()
            except Exception:
                log.exception("health report error")

    # ---- activity -------------------------------------------------------------------------
    def record_activity(self, source: str) -> bool:
        """Activity reported from outside (the core). False while draining: no new work is taken."""
        if self.draining:
            return False
        self.last_model_activity = self._clock()
        self.idle.record_activity(source)
        return True

    def change_idle(self, change: Dict[str, Any]) -> Dict[str, Any]:
        """Apply an idle change the core sends (``POST /idle``): ``mode`` with ``thresholds`` (an object
        of four seconds, or null for no idle management), ``keep_awake_seconds``, ``state``. Raises
        ValueError with a message for a change it cannot take."""
        if "mode" in change or "thresholds" in change:
            raw = change.get("thresholds")
            if raw is not None and not isinstance(raw, dict):
                raise ValueError("thresholds must be an object {warm, cool, cold, dormant} or null")
            try:
                thresholds = Thresholds(**{k: float(raw[k]) for k in ("warm", "cool", "cold", "dormant")}) if raw else None
            except (KeyError, TypeError):
                raise ValueError("thresholds needs warm, cool, cold and dormant as numbers") from None
            mode = change.get("mode") or "custom"
            if not isinstance(mode, str) or len(mode) > 64:
                raise ValueError("mode must be a short string")
            self.idle.set_thresholds(thresholds)
            self.idle_mode = mode
        if "keep_awake_seconds" in change:
            seconds = change["keep_awake_seconds"]
            if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 <= seconds <= 86400:
                raise ValueError("keep_awake_seconds must be a number from 0 to 86400")
            self.idle.keep_awake(float(seconds))
        if "state" in change:
            if not isinstance(change["state"], str):
                raise ValueError("state must be one of active, warm, cool, cold, dormant")
            self.idle.force(change["state"].upper())
        return self.health()["idle"]

    def observe_once(self) -> None:
        servers: List[Any] = ([self.ollama] if self.ollama else []) + self.speech
        for server in servers:
            try:
                obs = server.observe()
            except ModelServerError as exc:
                self.server_status[server.name] = {"ok": False, "error": str(exc), "checked_at": self._clock()}
                continue
            self.server_status[server.name] = {"ok": True, "error": None, "checked_at": self._clock()}
            self.loaded_models[server.name] = list(obs.loaded)
            if obs.activity:
                self.last_model_activity = self._clock()
                self.idle.record_activity(f"{server.name}: {obs.reason}")

    # ---- notices --------------------------------------------------------------------------
    def check_notices_once(self) -> Optional[Notice]:
        for probe in (self.imds.spot_instance_action, self.imds.rebalance_recommendation, self.imds.scale_in):
            try:
                notice = probe()
            except ImdsError as exc:
                self.imds_status.update(ok=False, last_error=str(exc), errors=self.imds_status["errors"] + 1)
                log.warning("IMDS poll failed: %s", exc)
                return None
            if notice is not None:
                self.imds_status.update(ok=True, last_poll=self._clock())
                return notice
        self.imds_status.update(ok=True, last_poll=self._clock())
        if self.max_lifetime and self._clock() - self.launched_at >= self.max_lifetime:
            return Notice("max-lifetime", "terminate", _iso(self.launched_at + self.max_lifetime))
        return None

    def begin_drain(self, notice: Notice) -> bool:
        with self._lock:
            if self.draining:
                return False
            self.draining = True
            self.drain = {
                "notice": notice.as_dict(),
                "started_at": self._clock(),
                "core_acknowledged": False,
                "stopped_accepting": False,
                "quiet": False,
                "lifecycle": "not configured" if not (self.asg and self.lifecycle_hook) else "pending",
                "finished_at": None,
            }
        log.warning("drain: %s (%s, time %s)", notice.kind, notice.action, notice.time)
        self.idle.pause()
        t = threading.Thread(target=self._drain, args=(notice,), name="gpu-agent-drain", daemon=True)
        self._threads.append(t)
        t.start()
        return True

    def _drain(self, notice: Notice) -> None:
        deadline = self.drain["started_at"] + self.drain_timeout
        payload = {"notice": notice.as_dict(), "loaded_models": self.loaded_models}
        self.drain["core_acknowledged"] = self._send_core("drain", payload)
        self._stop_accepting()
        step = min(1.0, self.poll_interval)
        while not self._stop.is_set():
            if not self.drain["core_acknowledged"]:
                self.drain["core_acknowledged"] = self._send_core("drain", payload)
            quiet = self._clock() - self.last_model_activity >= self.drain_quiet
            self.drain["quiet"] = quiet
            if (self.drain["core_acknowledged"] and quiet) or self._clock() >= deadline:
                break
            self._stop.wait(step)
        if notice.kind == "max-lifetime":
            self._terminate_self()
        if self.asg and self.lifecycle_hook:
            if notice.kind == "rebalance-recommendation":
                # Capacity rebalancing should replace this node and then terminate it; if the ASG
                # does not within the grace period, a drained node would bill for nothing.
                if not self._complete_lifecycle(until=self._clock() + self.rebalance_grace):
                    self._terminate_self()
                    self._complete_lifecycle()
            else:
                self._complete_lifecycle()
        self.drain["finished_at"] = self._clock()

    def _terminate_self(self) -> None:
        # Nobody else will end this node: ask the ASG to, lowering desired capacity so it is not
        # replaced (the core wakes a fresh node if learners still need one).
        while not self._stop.is_set():
            instance = self.instance_id()
            if self.asg is not None and instance is not None:
                try:
                    self.asg.terminate_instance(instance, decrement_desired=True)
                    self.drain["terminated"] = True
                    return
                except AwsError as exc:
                    self.drain["terminated"] = f"retrying: {exc}"
                    log.warning("TerminateInstanceInAutoScalingGroup failed: %s", exc)
            self._stop.wait(self.poll_interval)

    def _stop_accepting(self) -> None:
        if not self.drain_command:
            self.drain["stopped_accepting"] = True  # readiness is already 503 and /activity refuses
            return
        try:
            proc = subprocess.run(["/bin/sh", "-c", self.drain_command], capture_output=True, text=True, timeout=30)
            self.drain["stopped_accepting"] = proc.returncode == 0
            if proc.returncode != 0:
                log.error("drain command exited %s: %s", proc.returncode, proc.stderr.strip()[:300])
        except (OSError, subprocess.TimeoutExpired) as exc:
            log.error("drain command failed: %s", exc)

    def _complete_lifecycle(self, until: Optional[float] = None) -> bool:
        assert self.asg is not None and self.lifecycle_hook and self.asg_name
        # Retried until it works, the deadline passes or the node is gone: after a rebalance
        # recommendation the ASG may only later put this node into Terminating:Wait
        # ("No active Lifecycle Action found").
        while not self._stop.is_set() and (until is None or self._clock() < until):
            instance = self.instance_id()
            if instance is not None:
                try:
                    self.asg.complete_lifecycle_action(self.asg_name, self.lifecycle_hook, instance, "CONTINUE")
                    self.drain["lifecycle"] = "completed"
                    log.warning("lifecycle action completed for %s", instance)
                    return True
                except AwsError as exc:
                    self.drain["lifecycle"] = f"retrying: {exc}"
                    log.warning("CompleteLifecycleAction failed: %s", exc)
            self._stop.wait(self.poll_interval)
        return False

    # ---- loops ----------------------------------------------------------------------------
    def _notice_loop(self) -> None:
        while not self._stop.is_set() and not self.draining:
            try:
                notice = self.check_notices_once()
                if notice is not None:
                    self.begin_drain(notice)
            except Exception:  # never let a surprise end the one loop that saves live sessions
                log.exception("notice loop error")
            self._stop.wait(self.poll_interval)

    def _idle_loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.observe_once()
                self.idle.tick()
            except Exception:
                log.exception("idle loop error")
            self._stop.wait(self.poll_interval)

    def start(self) -> None:
        self.instance_id()
        loops = (
            ("gpu-agent-notices", self._notice_loop),
            ("gpu-agent-idle", self._idle_loop),
            ("gpu-agent-events", self._state_event_loop),
            ("gpu-agent-health", self._health_report_loop),
        )
        for name, target in loops:
            t = threading.Thread(target=target, name=name, daemon=True)
            self._threads.append(t)
            t.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        try:
            self._state_events.put_nowait(None)  # type: ignore[arg-type]
        except queue.Full:
            pass
        for t in list(self._threads):
            t.join(timeout)

    def wait(self) -> None:
        while not self._stop.wait(3600):
            pass

    # ---- health ---------------------------------------------------------------------------
    def health(self) -> Dict[str, Any]:
        snap = self.idle.snapshot()
        return {
            "instance_id": self._instance_id or socket.gethostname(),
            "state": snap["state"],
            "draining": self.draining,
            "accepting": not self.draining,
            "drain": self.drain or None,
            "idle": {
                "mode": self.idle_mode,
                "enabled": snap["enabled"],
                "thresholds": snap["thresholds"],
                "idle_seconds": snap["idle_seconds"],
                "actions_done": snap["actions_done"],
                "keep_awake_remaining": snap["keep_awake_remaining"],
                "dormant_action": self.dormant_action,
            },
            "last_activity": _iso(snap["last_activity"]),  # type: ignore[arg-type]
            "last_activity_source": snap["last_activity_source"],
            "loaded_models": self.loaded_models,
            "model_servers": self.server_status,
            "gpu": gpu_status(self.nvidia_smi),
            "imds": dict(self.imds_status),
            "transitions": list(self.idle.history)[-20:],
            "actions": list(self.idle.action_log)[-20:],
            "uptime_seconds": round(self._clock() - self.started_at, 1),
        }
