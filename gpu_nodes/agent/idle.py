"""Idle management: ACTIVE → WARM → COOL → COLD → DORMANT from the time since the last real use.

Each state's actions run once per idle period (entering it, or on the next tick if they failed)
and never again until activity resets the node to ACTIVE. A state skipped by a long gap still runs
its actions, in order. An action that finds its model in use records activity instead.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Callable, Deque, Dict, Optional, Sequence, Tuple

log = logging.getLogger("gpu_agent.idle")

STATES: Tuple[str, ...] = ("ACTIVE", "WARM", "COOL", "COLD", "DORMANT")


@dataclass(frozen=True)
class Thresholds:
    """Seconds without activity before each state; all four strictly increasing."""

    warm: float
    cool: float
    cold: float
    dormant: float

    def __post_init__(self) -> None:
        values = (self.warm, self.cool, self.cold, self.dormant)
        if any(v <= 0 for v in values) or list(values) != sorted(set(values)):
            raise ValueError(
                f"idle thresholds must be positive and strictly increasing warm < cool < cold < dormant, got {values}"
            )

    def state_for(self, idle_seconds: float) -> str:
        if idle_seconds >= self.dormant:
            return "DORMANT"
        if idle_seconds >= self.cold:
            return "COLD"
        if idle_seconds >= self.cool:
            return "COOL"
        if idle_seconds >= self.warm:
            return "WARM"
        return "ACTIVE"

    def as_dict(self) -> Dict[str, float]:
        return {"warm": self.warm, "cool": self.cool, "cold": self.cold, "dormant": self.dormant}


# The power modes (seconds) of the UnaMentis server this platform replaces, under the names its
# operators know, plus `scale_to_zero` for a pay-per-hour Spot GPU: a node
# idle for ten minutes asks to be removed. `performance` turns idle management off.
MODES: Dict[str, Optional[Thresholds]] = {
    "performance": None,
    "balanced": Thresholds(30, 300, 1800, 7200),
    "power_saver": Thresholds(10, 60, 300, 1800),
    "development": Thresholds(60, 180, 600, 3600),
    "presentation": Thresholds(300, 900, 3600, 7200),
    "scale_to_zero": Thresholds(30, 120, 300, 600),
}


class InUse(Exception):
    """Raised by an action that found its model busy: that is activity, not a failure."""


@dataclass(frozen=True)
class Action:
    name: str
    state: str  # the state whose entry runs it
    run: Callable[[], object]


class IdleManager:
    def __init__(
        self,
        thresholds: Optional[Thresholds],
        actions: Sequence[Action] = (),
        *,
        clock: Callable[[], float] = time.time,
        on_transition: Optional[Callable[[Dict[str, object]], None]] = None,
    ):
        for a in actions:
            if a.state not in STATES[1:]:
                raise ValueError(f"action {a.name}: unknown state {a.state}")
        self.thresholds = thresholds
        self._actions = list(actions)
        self._clock = clock
        self._on_transition = on_transition
        self._lock = threading.Lock()
        self._state = "ACTIVE"
        self._last_activity = clock()
        self._last_source = "agent start"
        self._generation = 0  # bumped by activity, so an action racing a request is not marked done
        self._done: set = set()
        self._paused = False
        self._awake_until = 0.0  # keep-awake: no idle time counts before this
        self.history: Deque[Dict[str, object]] = deque(maxlen=100)
        self.action_log: Deque[Dict[str, object]] = deque(maxlen=100)

    @property
    def state(self) -> str:
        return self._state

    @property
    def enabled(self) -> bool:
        return self.thresholds is not None

    def snapshot(self) -> Dict[str, object]:
        with self._lock:
            now = self._clock()
            return {
                "state": self._state,
                "enabled": self.enabled,
                "paused": self._paused,
                "last_activity": self._last_activity,
                "last_activity_source": self._last_source,
                "idle_seconds": round(max(0.0, now - max(self._last_activity, min(self._awake_until, now))), 3),
                "thresholds": self.thresholds.as_dict() if self.thresholds else None,
                "actions_done": sorted(self._done),
                "keep_awake_remaining": round(max(0.0, self._awake_until - now), 1),
            }

    # ---- control from the core (the Operations Console's idle settings) -------------------
    def set_thresholds(self, thresholds: Optional[Thresholds]) -> None:
        """A new power mode; None turns idle management off. The next tick moves to the state the idle
        time calls for under it."""
        with self._lock:
            self.thresholds = thresholds

    def keep_awake(self, seconds: float) -> None:
        """Stay ACTIVE for ``seconds`` (0 ends a keep-awake): idle time counts from the window's end."""
        if seconds > 0:
            self.record_activity("keep awake")
        with self._lock:
            self._awake_until = self._clock() + seconds if seconds > 0 else 0.0

    def force(self, state: str) -> None:
        """Move to ``state`` now, as if the node had been idle just long enough for it; its actions and
        those of the states before it run on the next tick. ACTIVE is activity."""
        if state not in STATES:
            raise ValueError(f"unknown state {state}; one of {', '.join(STATES)}")
        if state == "ACTIVE":
            self.record_activity("forced active")
            return
        if self.thresholds is None:
            raise ValueError("idle management is off in this mode: there is no idle state to force")
        with self._lock:
            self._awake_until = 0.0
            self._last_activity = self._clock() - getattr(self.thresholds, state.lower())
            self._last_source = f"forced {state}"

    def pause(self) -> None:
        """Stop idle transitions (a draining node must not unload or ask to scale to zero)."""
        with self._lock:
            self._paused = True

    def _transition(self, new: str, reason: str) -> Optional[Dict[str, object]]:
        old = self._state
        if old == new:
            return None
        self._state = new
        event = {"from": old, "to": new, "reason": reason, "at": self._clock()}
        self.history.append(event)
        log.info("idle state %s -> %s (%s)", old, new, reason)
        return event

    def record_activity(self, source: str) -> None:
        with self._lock:
            self._last_activity = self._clock()
            self._last_source = source
            self._generation += 1
            self._done.clear()
            event = self._transition("ACTIVE", f"activity: {source}")
        if event and self._on_transition:
            self._on_transition(event)

    def tick(self) -> None:
        """Move to the state the idle time calls for and run whatever actions are still due."""
        if self.thresholds is None:
            return
        with self._lock:
            if self._paused:
                return
            now = self._clock()
            idle = now - max(self._last_activity, min(self._awake_until, now))
            target = self.thresholds.state_for(idle)
            events = []
            # Step through every state on the way (a late tick still reports each one, in order).
            while STATES.index(target) > STATES.index(self._state):
                event = self._transition(STATES[STATES.index(self._state) + 1], f"idle {idle:.1f}s")
                if event:
                    events.append(event)
            depth = STATES.index(self._state)
            due = [a for a in self._actions if STATES.index(a.state) <= depth and a.name not in self._done]
            generation = self._generation
        if self._on_transition:
            for event in events:
                self._on_transition(event)
        for action in sorted(due, key=lambda a: STATES.index(a.state)):
            try:
                result = action.run()
            except InUse as exc:
                self.record_activity(str(exc) or action.name)
                return
            except Exception as exc:  # a failed unload is retried next tick; it must not stop the agent
                log.warning("idle action %s failed: %s", action.name, exc)
                self.action_log.append({"action": action.name, "ok": False, "error": str(exc), "at": self._clock()})
                continue
            with self._lock:
                if self._generation != generation:
                    return  # a request arrived meanwhile: the node is ACTIVE again, nothing is "done"
                self._done.add(action.name)
            self.action_log.append({"action": action.name, "ok": True, "result": result, "at": self._clock()})
