"""The model servers on this node, seen through their own APIs: what is loaded, what was used, unload.

Activity is observed, not guessed: Ollama's `GET /api/ps` moves a model's `expires_at` forward on
every request (it is "last use + keep_alive") and lists a model again once a request loads it; the
speech servers (speaches, OpenAI-compatible TTS on 8880 and Whisper STT on 11401) list a model in
`GET /api/ps` once a request loads it and refuse an unload with 409 while a request uses it.
"""
from __future__ import annotations

import datetime
import logging
import re
import urllib.parse
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

from .http import TransportError, request

log = logging.getLogger("gpu_agent.models")


class ModelServerError(Exception):
    pass


@dataclass(frozen=True)
class Observation:
    """One look at a server: what is loaded now and whether it served requests since the last look."""

    server: str
    loaded: Tuple[Dict[str, Any], ...]
    activity: bool
    reason: str = ""


_TS = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})?$")


def parse_go_time(value: str) -> Optional[float]:
    """Epoch seconds of a Go RFC 3339 time (nanosecond fractions, `Z` or an offset), else None."""
    m = _TS.match(value.strip()) if isinstance(value, str) else None
    if not m:
        return None
    base, frac, zone = m.groups()
    dt = datetime.datetime.strptime(base, "%Y-%m-%dT%H:%M:%S")
    if zone in (None, "Z"):
        tz = datetime.timezone.utc
    else:
        sign = 1 if zone[0] == "+" else -1
        tz = datetime.timezone(sign * datetime.timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])))
    seconds = dt.replace(tzinfo=tz).timestamp()
    if frac:
        seconds += float("0" + frac)
    return seconds


class OllamaServer:
    name = "ollama"

    def __init__(self, base_url: str, timeout: float = 5.0):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._last: Optional[Dict[str, Tuple[Optional[float], Any, Any]]] = None

    def _ps(self) -> List[Dict[str, Any]]:
        try:
            resp = request("GET", f"{self.base_url}/api/ps", timeout=self.timeout)
        except TransportError as exc:
            raise ModelServerError(str(exc)) from exc
        if resp.status != 200:
            raise ModelServerError(f"ollama /api/ps answered {resp.status}")
        try:
            models = resp.json().get("models") or []
        except (ValueError, AttributeError) as exc:
            raise ModelServerError("ollama /api/ps answered something that is not its JSON") from exc
        return [m for m in models if isinstance(m, dict) and (m.get("name") or m.get("model"))]

    def observe(self) -> Observation:
        models = self._ps()
        now: Dict[str, Tuple[Optional[float], Any, Any]] = {}
        for m in models:
            key = str(m.get("name") or m.get("model"))
            now[key] = (parse_go_time(m.get("expires_at", "")), m.get("size_vram", m.get("size")), m.get("digest"))
        activity, reason = False, ""
        if self._last is not None:
            for key, (expires, size, digest) in now.items():
                before = self._last.get(key)
                if before is None:
                    activity, reason = True, f"{key} loaded"
                elif (size, digest) != (before[1], before[2]):
                    activity, reason = True, f"{key} reloaded"
                # Ollama sets expiry to "end of the last request + keep_alive" (nanosecond
                # precision), so any forward move is a finished request.
                elif expires is not None and before[0] is not None and expires > before[0] + 0.001:
                    activity, reason = True, f"{key} used"
                if activity:
                    break
        self._last = now
        loaded = tuple(
            {"name": str(m.get("name") or m.get("model")), "size_vram": m.get("size_vram"), "expires_at": m.get("expires_at")}
            for m in models
        )
        return Observation(self.name, loaded, activity, reason)

    def unload_all(self) -> List[str]:
        """Unload every loaded model with `keep_alive: 0`; returns the names unloaded."""
        done = []
        for m in self._ps():
            name = str(m.get("name") or m.get("model"))
            try:
                resp = request(
                    "POST",
                    f"{self.base_url}/api/generate",
                    json_body={"model": name, "keep_alive": 0},
                    timeout=max(self.timeout, 30.0),
                )
            except TransportError as exc:
                raise ModelServerError(f"unloading {name}: {exc}") from exc
            if resp.status != 200:
                raise ModelServerError(f"unloading {name}: ollama answered {resp.status}")
            done.append(name)
        # What we unloaded must not read as "new" when a request loads it again, but must not read
        # as present either: forget it so the next load counts as activity.
        if self._last is not None:
            for name in done:
                self._last.pop(name, None)
        return done


class ModelInUse(ModelServerError):
    """The server refused to unload because a request is using the model."""


class SpeachesServer:
    """A speaches server (TTS on 8880 or STT on 11401): `GET /api/ps`, `DELETE /api/ps/{model}`."""

    def __init__(self, name: str, base_url: str, timeout: float = 5.0):
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._last: Optional[set] = None

    def _ps(self) -> List[str]:
        try:
            resp = request("GET", f"{self.base_url}/api/ps", timeout=self.timeout)
        except TransportError as exc:
            raise ModelServerError(str(exc)) from exc
        if resp.status != 200:
            raise ModelServerError(f"{self.name} /api/ps answered {resp.status}")
        try:
            models = resp.json().get("models") or []
        except (ValueError, AttributeError) as exc:
            raise ModelServerError(f"{self.name} /api/ps answered something that is not its JSON") from exc
        return [str(m) for m in models if isinstance(m, str)]

    def observe(self) -> Observation:
        models = self._ps()
        activity, reason = False, ""
        if self._last is not None:
            new = [m for m in models if m not in self._last]
            if new:
                activity, reason = True, f"{new[0]} loaded"
        self._last = set(models)
        return Observation(self.name, tuple({"name": m} for m in models), activity, reason)

    def unload_all(self) -> List[str]:
        done = []
        for model in self._ps():
            url = f"{self.base_url}/api/ps/{urllib.parse.quote(model, safe='/')}"
            try:
                resp = request("DELETE", url, timeout=max(self.timeout, 30.0))
            except TransportError as exc:
                raise ModelServerError(f"unloading {model}: {exc}") from exc
            if resp.status == 409:
                raise ModelInUse(f"{self.name} is using {model}")
            if resp.status not in (200, 204, 404):  # 404: it went away on its own meanwhile
                raise ModelServerError(f"unloading {model}: {self.name} answered {resp.status}")
            done.append(model)
        if self._last is not None:
            self._last.difference_update(done)
        return done
