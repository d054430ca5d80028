"""A tiny HTTP client over urllib: statuses come back as values, transport failures as one error."""
from __future__ import annotations

import http.client
import json
import socket
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any, Dict, Mapping, Optional


class TransportError(Exception):
    """The peer could not be reached or did not answer in time (no HTTP status)."""


@dataclass(frozen=True)
class Response:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))


def request(
    method: str,
    url: str,
    *,
    body: Optional[bytes] = None,
    json_body: Any = None,
    headers: Optional[Dict[str, str]] = None,
    timeout: float = 5.0,
) -> Response:
    hdrs = dict(headers or {})
    if json_body is not None:
        body = json.dumps(json_body).encode("utf-8")
        hdrs.setdefault("Content-Type", "application/json")
    req = urllib.request.Request(url, data=body, method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return Response(resp.status, dict(resp.headers.items()), resp.read())
    except urllib.error.HTTPError as exc:
        # A non-2xx status is an answer, not a transport failure: callers decide what it means.
        try:
            data = exc.read()
        except OSError:
            data = b""
        return Response(exc.code, dict(exc.headers.items()) if exc.headers else {}, data)
    except (urllib.error.URLError, http.client.HTTPException, socket.timeout, OSError) as exc:
        raise TransportError(f"{method} {url}: {exc}") from exc
