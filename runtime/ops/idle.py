"""Idle states and power modes as the Operations Console shows them.

The GPU node agent runs the real idle manager (``gpu_nodes/agent/idle.py``): ACTIVE → WARM → COOL →
COLD → DORMANT by the seconds since its last use, with thresholds per power mode. The built-in modes
below are the agent's (a test keeps the two tables equal: the core's image ships ``runtime/`` only);
a tenant adds its own as power profiles. Where no node answers, the status is computed here from the
tenant's last paid AI call, with the same thresholds.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from runtime.errors import InvalidField

STATES = ("active", "warm", "cool", "cold", "dormant")
THRESHOLD_NAMES = ("warm", "cool", "cold", "dormant")

# id -> (name, description, thresholds in seconds or None when idle management is off)
BUILTIN_MODES: dict[str, tuple[str, str, tuple[float, float, float, float] | None]] = {
    "performance": ("Performance", "Idle management off: models stay loaded and nodes stay up.", None),
    "balanced": ("Balanced", "Unload after minutes, sleep after two hours.", (30, 300, 1800, 7200)),
    "power_saver": ("Power saver", "Unload quickly and sleep after half an hour.", (10, 60, 300, 1800)),
    "development": ("Development", "Quick turnarounds while building.", (60, 180, 600, 3600)),
    "presentation": ("Presentation", "Stay responsive through a session.", (300, 900, 3600, 7200)),
    "scale_to_zero": ("Scale to zero", "A Spot GPU node idle for ten minutes removes itself.", (30, 120, 300, 600)),
}
DEFAULT_MODE = "balanced"


@dataclass(frozen=True)
class Mode:
    id: str
    name: str
    description: str
    thresholds: dict[str, float] | None
    enabled: bool
    builtin: bool

    def as_console(self) -> dict[str, Any]:
        # The console draws the four thresholds of every mode; a mode without idle management has none to
        # draw, so it shows zeros with enabled = false.
        thresholds = self.thresholds or {name: 0 for name in THRESHOLD_NAMES}
        return {"id": self.id, "name": self.name, "description": self.description, "thresholds": thresholds,
                "enabled": self.enabled, "is_builtin": self.builtin, "is_custom": not self.builtin}


def builtin_modes() -> dict[str, Mode]:
    return {mode_id: Mode(mode_id, name, description,
                          dict(zip(THRESHOLD_NAMES, values)) if values else None, values is not None, True)
            for mode_id, (name, description, values) in BUILTIN_MODES.items()}


def checked_thresholds(value: Any, base: dict[str, float] | None = None) -> dict[str, float]:
    """Thresholds from a request (merged over ``base`` for a partial update): four positive numbers of
    seconds, strictly increasing warm < cool < cold < dormant (what the node agent accepts)."""
    if not isinstance(value, dict):
        raise InvalidField("'thresholds' must be an object {warm, cool, cold, dormant} of seconds.")
    merged = dict(base or {})
    for name in THRESHOLD_NAMES:
        raw = value.get(name, merged.get(name))
        if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not 0 < raw <= 7 * 86400:
            raise InvalidField(f"'thresholds.{name}' must be a number of seconds between 1 and 604800.")
        merged[name] = float(raw)
    values = [merged[n] for n in THRESHOLD_NAMES]
    if values != sorted(set(values)):
        raise InvalidField("thresholds must increase strictly: warm < cool < cold < dormant.")
    return {n: merged[n] for n in THRESHOLD_NAMES}


def state_for(idle_seconds: float, thresholds: dict[str, float] | None) -> str:
    if not thresholds:
        return "active"
    state = "active"
    for name in THRESHOLD_NAMES:
        if idle_seconds >= thresholds[name]:
            state = name
    return state


def next_state(idle_seconds: float, thresholds: dict[str, float] | None) -> dict[str, Any] | None:
    if not thresholds:
        return None
    for name in THRESHOLD_NAMES:
        if idle_seconds < thresholds[name]:
            return {"state": name, "seconds_remaining": round(thresholds[name] - idle_seconds, 1)}
    return None


def status(*, mode: Mode, last_activity: dt.datetime, activity_type: str, now: dt.datetime,
           keep_awake_until: dt.datetime | None, forced_state: str | None, forced_at: dt.datetime | None,
           timeout_seconds: int | None, models_loaded: int, node: dict[str, Any] | None) -> dict[str, Any]:
    """The idle status both apps read: the console's IdleStatus and Android's, in one object.

    ``node`` is a GPU node agent's ``/health`` when one answered: its state and idle time are the
    fleet's real ones. Otherwise the state follows from ``last_activity``; a keep-awake window holds it
    at active, and a forced state holds until the next activity."""
    thresholds = mode.thresholds
    keep_awake = max(0.0, (keep_awake_until - now).total_seconds()) if keep_awake_until else 0.0
    if node is not None:
        idle_seconds = float((node.get("idle") or {}).get("idle_seconds") or 0.0)
        state = str(node.get("state") or "ACTIVE").lower()
        activity_type = str(node.get("last_activity_source") or activity_type)
        last_activity = now - dt.timedelta(seconds=idle_seconds)
        thresholds = (node.get("idle") or {}).get("thresholds") or thresholds
    else:
        idle_seconds = max(0.0, (now - last_activity).total_seconds())
        state = state_for(idle_seconds, thresholds)
        if forced_state and forced_at and forced_at >= last_activity:
            state = forced_state
    if keep_awake > 0:
        state = "active"
    state = state if state in STATES else "active"
    upcoming = next_state(idle_seconds, thresholds) if keep_awake == 0 else None
    return {
        # the Operations Console's IdleStatus
        "enabled": mode.enabled and thresholds is not None,
        "current_state": state,
        "current_mode": mode.id,
        "seconds_idle": round(idle_seconds, 1),
        "last_activity_type": activity_type,
        "last_activity_time": last_activity.timestamp(),
        "thresholds": thresholds or {name: 0 for name in THRESHOLD_NAMES},
        "keep_awake_remaining": round(keep_awake, 1),
        "next_state_in": upcoming,
        # Android's IdleStatus
        "is_idle": state != "active",
        "idle_since": last_activity.isoformat() if state != "active" else None,
        "timeout_seconds": int(timeout_seconds or (thresholds or {}).get("dormant") or 0),
        "models_loaded": models_loaded,
    }
