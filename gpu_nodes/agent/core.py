"""Events from the node to the voice core (`--core-url`, e.g. https://api.example.org/api/gpu).

Every event is `POST {core_url}/nodes/{instance_id}/events` with a JSON body
`{"type": ..., "instance_id": ..., "at": <epoch seconds>, ...}` and, when a node token is
configured, `Authorization: Bearer <token>`; with a Cloudflare Access service token also
`CF-Access-Client-Id` / `CF-Access-Client-Secret`, so the call passes an Access-protected
`/api/admin/*` at the edge. Types:

- `state`: an idle state transition (`from`, `to`, `reason`, `loaded_models`);
- `drain`: this node is going away (`notice`: kind/action/time): route new sessions elsewhere and
  move live ones to external providers;
- `scale_to_zero`: the node has been DORMANT (`idle_seconds`): set the fleet's desired capacity to
  its floor.

Any 2xx is an acknowledgement.
"""
from __future__ import annotations

import logging
import time
import urllib.parse
from typing import Any, Dict, Optional, Tuple

from .http import TransportError, request

log = logging.getLogger("gpu_agent.core")


class CoreClient:
    def __init__(
        self,
        base_url: Optional[str],
        instance_id: str,
        *,
        token: Optional[str] = None,
        access_client: Optional[Tuple[str, str]] = None,
        timeout: float = 3.0,
    ):
        self.base_url = base_url.rstrip("/") if base_url else None
        self.instance_id = instance_id
        self.token = token
        self.access_client = access_client
        self.timeout = timeout

    @property
    def configured(self) -> bool:
        return self.base_url is not None

    def send(self, event_type: str, payload: Dict[str, Any]) -> bool:
        """POST one event; True when the core acknowledged it (2xx). Never raises."""
        if not self.base_url:
            log.warning("no --core-url: %s event not sent", event_type)
            return False
        body = {"type": event_type, "instance_id": self.instance_id, "at": time.time()}
        body.update(payload)
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        if self.access_client:
            headers["CF-Access-Client-Id"], headers["CF-Access-Client-Secret"] = self.access_client
        url = f"{self.base_url}/nodes/{urllib.parse.quote(self.instance_id, safe='')}/events"
        try:
            resp = request("POST", url, json_body=body, headers=headers, timeout=self.timeout)
        except TransportError as exc:
            log.warning("core %s event failed: %s", event_type, exc)
            return False
        if 200 <= resp.status < 300:
            return True
        log.warning("core answered %s to the %s event: %s", resp.status, event_type, resp.text()[:200])
        return False
