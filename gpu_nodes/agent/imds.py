"""IMDSv2 client: session token (PUT), then the metadata paths that announce this node's end.

AWS facts used (AWS documentation, read 2026-12-03:
https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/instancedata-data-retrieval.html,
https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/spot-instance-termination-notices.html,
https://docs.aws.amazon.com/autoscaling/ec2/userguide/retrieving-target-lifecycle-state-through-imds.html):
a token comes from `PUT /latest/api/token` with the TTL header; `spot/instance-action` and
`events/recommendations/rebalance` answer 404 until there is a notice; `autoscaling/target-lifecycle-state` reads `Terminated` once the ASG scales this node in.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Optional

from .http import TransportError, request

log = logging.getLogger("gpu_agent.imds")

TOKEN_TTL_SECONDS = 21600


class ImdsError(Exception):
    """IMDS answered with something other than the value or a 404 (or not at all)."""


@dataclass(frozen=True)
class Notice:
    """Why this node must drain: a Spot interruption, a rebalance recommendation or an ASG scale-in."""

    kind: str  # "spot-interruption" | "rebalance-recommendation" | "scale-in"
    action: str  # terminate | stop | hibernate | rebalance | terminate (scale-in)
    time: Optional[str]  # the reclaim / notice time as IMDS gave it
    raw: Dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> Dict[str, Any]:
        return {"kind": self.kind, "action": self.action, "time": self.time}


class Imds:
    def __init__(self, base_url: str, *, timeout: float = 2.0, clock: Callable[[], float] = time.monotonic):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._clock = clock
        self._token: Optional[str] = None
        self._token_expires = 0.0
        self._lock = threading.Lock()

    def _get_token(self) -> str:
        with self._lock:
            # Refresh a minute early so a token never expires between the check and its use.
            if self._token and self._clock() < self._token_expires - 60:
                return self._token
            resp = request(
                "PUT",
                f"{self.base_url}/latest/api/token",
                body=b"",
                headers={"X-aws-ec2-metadata-token-ttl-seconds": str(TOKEN_TTL_SECONDS)},
                timeout=self.timeout,
            )
            if resp.status != 200 or not resp.body.strip():
                raise ImdsError(f"IMDS token PUT answered {resp.status}")
            self._token = resp.text().strip()
            self._token_expires = self._clock() + TOKEN_TTL_SECONDS
            return self._token

    def get(self, path: str) -> Optional[str]:
        """The value at meta-data `path`, or None when IMDS says 404 (nothing there)."""
        for attempt in (1, 2):
            try:
                token = self._get_token()
                resp = request(
                    "GET",
                    f"{self.base_url}/latest/{path.lstrip('/')}",
                    headers={"X-aws-ec2-metadata-token": token},
                    timeout=self.timeout,
                )
            except TransportError as exc:
                raise ImdsError(str(exc)) from exc
            if resp.status == 200:
                return resp.text()
            if resp.status == 404:
                return None
            if resp.status == 401 and attempt == 1:
                # The token expired or IMDS restarted: take a new one and try once more.
                with self._lock:
                    self._token = None
                continue
            raise ImdsError(f"IMDS GET {path} answered {resp.status}")
        raise ImdsError(f"IMDS GET {path}: token refused twice")

    def _json(self, path: str) -> Optional[Dict[str, Any]]:
        text = self.get(path)
        if text is None:
            return None
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            # A 200 here means AWS has something to say even if we cannot read it: keep it raw.
            return {"_unparsed": text[:200]}
        return data

    def spot_instance_action(self) -> Optional[Notice]:
        data = self._json("meta-data/spot/instance-action")
        if data is None:
            return None
        return Notice("spot-interruption", str(data.get("action", "terminate")), data.get("time"), data)

    def rebalance_recommendation(self) -> Optional[Notice]:
        data = self._json("meta-data/events/recommendations/rebalance")
        if data is None:
            return None
        return Notice("rebalance-recommendation", "rebalance", data.get("noticeTime"), data)

    def scale_in(self) -> Optional[Notice]:
        state = self.get("meta-data/autoscaling/target-lifecycle-state")
        if state is not None and state.strip() == "Terminated":
            return Notice("scale-in", "terminate", None, {"target-lifecycle-state": "Terminated"})
        return None

    def instance_id(self) -> str:
        value = self.get("meta-data/instance-id")
        if not value:
            raise ImdsError("IMDS has no instance-id")
        return value.strip()

    def role_credentials(self) -> Dict[str, Any]:
        """The instance profile's temporary credentials (AccessKeyId, SecretAccessKey, Token, Expiration)."""
        roles = self.get("meta-data/iam/security-credentials/")
        if not roles or not roles.strip():
            raise ImdsError("this instance has no instance profile role")
        role = roles.strip().splitlines()[0].strip()
        text = self.get(f"meta-data/iam/security-credentials/{role}")
        if text is None:
            raise ImdsError(f"IMDS has no credentials for role {role}")
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ImdsError(f"IMDS credentials for {role} are not JSON") from exc
        if data.get("Code", "Success") != "Success" or "AccessKeyId" not in data:
            raise ImdsError(f"IMDS credentials for {role}: {data.get('Code')}")
        return data
