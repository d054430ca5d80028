"""The agent's HTTP endpoint (the core reads it; only the core's security group reaches it).

GET  /health    → 200, JSON: state, draining, loaded models, GPU memory, last activity, IMDS status
GET  /ready     → 200 when the node takes work, 503 while draining
POST /activity  → the core reports inference it sent here: {"source": "..."} (body optional);
                  200 with the state, 409 while draining, 400 for a body that is not that JSON,
                  401 without `Authorization: Bearer <node token>` when the agent has a token
POST /idle      → the core applies the Operations Console's idle settings: {"mode", "thresholds"}
                  (null thresholds: idle management off), {"keep_awake_seconds"} (0 ends it),
                  {"state"} (force an idle state); 200 with the idle status, 400 for a change the
                  agent cannot take, 409 while draining; the same token as /activity
GET needs no token: it only reads, and only the core's security group reaches the port.
"""
from __future__ import annotations

import hmac
import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Tuple

from .node import Agent

log = logging.getLogger("gpu_agent.http")

MAX_BODY = 4096
_REFUSED = object()  # a body already answered with an error


class _Handler(BaseHTTPRequestHandler):
    agent: Agent  # set on the subclass made per server
    server_version = "unamentis-gpu-agent"
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt: str, *args: Any) -> None:  # route access logs through logging
        log.debug("%s %s", self.address_string(), fmt % args)

    def _send(self, status: int, payload: Any) -> None:
        body = json.dumps(payload, default=str).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path in ("/health", "/healthz"):
            self._send(200, self.agent.health())
        elif path == "/ready":
            if self.agent.draining:
                self._send(503, {"ready": False, "reason": "draining", "drain": self.agent.drain})
            else:
                self._send(200, {"ready": True, "state": self.agent.idle.state})
        elif path == "/activity":
            self._send(405, {"error": "use POST /activity"})
        else:
            self._send(404, {"error": f"no route {path}; try /health, /ready or POST /activity"})

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0]
        if path not in ("/activity", "/idle"):
            self._send(404 if path not in ("/health", "/healthz", "/ready") else 405, {"error": f"no POST {path}"})
            return
        token = self.agent.core.token
        if token:
            sent = self.headers.get("Authorization") or ""
            if not hmac.compare_digest(sent.encode("utf-8"), f"Bearer {token}".encode("utf-8")):
                self._send(401, {"error": "Authorization: Bearer <node token> required"})
                return
        data = self._json_body()
        if data is _REFUSED:
            return
        if path == "/idle":
            self._idle(data)
            return
        source = "core"
        if data is not None:
            if not isinstance(data, dict) or not isinstance(data.get("source", "core"), str):
                self._send(400, {"error": "body must be a JSON object whose 'source' is a string"})
                return
            source = "core: " + str(data.get("source", "request"))[:100]
        if not self.agent.record_activity(source):
            self._send(409, {"error": "draining: this node takes no new work", "drain": self.agent.drain})
            return
        self._send(200, {"state": self.agent.idle.state})

    def _json_body(self) -> Any:
        """The JSON body (None when empty), or _REFUSED after answering 400/413."""
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self._send(400, {"error": "Content-Length is not a number"})
            return _REFUSED
        if length < 0 or length > MAX_BODY:
            self._send(413, {"error": f"body larger than {MAX_BODY} bytes"})
            return _REFUSED
        raw = self.rfile.read(length) if length else b""
        if not raw.strip():
            return None
        try:
            return json.loads(raw.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            self._send(400, {"error": "body must be JSON like {\"source\": \"tts\"}"})
            return _REFUSED

    def _idle(self, data: Any) -> None:
        if not isinstance(data, dict):
            self._send(400, {"error": "body must be a JSON object: {mode, thresholds} | {keep_awake_seconds} | {state}"})
            return
        if self.agent.draining:
            self._send(409, {"error": "draining: idle settings no longer apply", "drain": self.agent.drain})
            return
        try:
            idle = self.agent.change_idle(data)
        except ValueError as exc:
            self._send(400, {"error": str(exc)})
            return
        self._send(200, {"state": self.agent.idle.state, "idle": idle})

    do_PUT = do_DELETE = do_PATCH = lambda self: self._send(405, {"error": "method not allowed"})  # noqa: E731


class HealthServer:
    def __init__(self, agent: Agent, host: str, port: int):
        handler = type("Handler", (_Handler,), {"agent": agent})
        self.httpd = ThreadingHTTPServer((host, port), handler)
        self.httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1}, name="gpu-agent-http", daemon=True
        )

    @property
    def address(self) -> Tuple[str, int]:
        host, port = self.httpd.server_address[:2]
        return str(host), int(port)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
