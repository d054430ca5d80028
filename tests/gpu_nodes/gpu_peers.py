"""Loopback servers speaking the protocols the GPU agent talks: IMDSv2, Ollama, speaches, the core,
and the Auto Scaling Query API (whose SigV4 signatures are checked with botocore's own signer)."""
from __future__ import annotations

import datetime
import json
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, List, Optional, Tuple


class Loopback:
    """A threaded HTTP server on 127.0.0.1 whose requests go to `handle(method, path, headers, body)`."""

    def __init__(self, handle: Callable[[str, str, Dict[str, str], bytes], Tuple[int, Dict[str, str], bytes]]):
        outer = handle

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a: Any) -> None:
                pass

            def _do(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status, headers, out = outer(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                if status == 0:  # simulate a peer that never answers: drop the connection
                    self.close_connection = True
                    return
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            do_GET = do_PUT = do_POST = do_DELETE = _do

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _json(status: int, data: Any) -> Tuple[int, Dict[str, str], bytes]:
    return status, {"Content-Type": "application/json"}, json.dumps(data).encode()


class FakeImds:
    """IMDSv2: token PUT with a TTL header, then token-guarded GETs; 404 where AWS has nothing."""

    def __init__(self, instance_id: str = "i-0abc1234def567890"):
        self.instance_id = instance_id
        self.instance_action: Optional[Dict[str, Any]] = None
        self.rebalance: Optional[Dict[str, Any]] = None
        self.lifecycle_state = "InService"
        self.fault: Optional[str] = None  # None | "500" | "hang" | "garbage-token" | "401"
        self.hang_seconds = 3.0
        self.tokens: List[str] = []
        self.requests: List[Tuple[str, str]] = []
        self.credentials = {
            "Code": "Success",
            "AccessKeyId": "ASIATESTKEY",
            "SecretAccessKey": "imds-secret",
            "Token": "imds-session-token",
            "Expiration": (datetime.datetime.utcnow() + datetime.timedelta(hours=6)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        self.server = Loopback(self.handle)
        self.url = self.server.url

    def handle(self, method: str, path: str, headers: Dict[str, str], body: bytes):
        self.requests.append((method, path))
        if self.fault == "hang":
            time.sleep(self.hang_seconds)
            return 0, {}, b""
        if self.fault == "500":
            return 500, {}, b"internal error"
        if method == "PUT" and path == "/latest/api/token":
            if "x-aws-ec2-metadata-token-ttl-seconds" not in headers:
                return 400, {}, b"missing ttl"
            token = "garbage" if self.fault == "garbage-token" else uuid.uuid4().hex
            self.tokens.append(token)
            return 200, {"Content-Type": "text/plain"}, token.encode()
        if method != "GET":
            return 405, {}, b""
        token = headers.get("x-aws-ec2-metadata-token")
        if self.fault == "401" or not token or token not in self.tokens or token == "garbage":
            return 401, {}, b""
        meta = path[len("/latest/meta-data/"):] if path.startswith("/latest/meta-data/") else None
        if meta == "spot/instance-action":
            return (200, {}, json.dumps(self.instance_action).encode()) if self.instance_action else (404, {}, b"")
        if meta == "events/recommendations/rebalance":
            return (200, {}, json.dumps(self.rebalance).encode()) if self.rebalance else (404, {}, b"")
        if meta == "autoscaling/target-lifecycle-state":
            return 200, {}, self.lifecycle_state.encode()
        if meta == "instance-id":
            return 200, {}, self.instance_id.encode()
        if meta == "iam/security-credentials/":
            return 200, {}, b"unamentis-gpu-node"
        if meta == "iam/security-credentials/unamentis-gpu-node":
            return 200, {}, json.dumps(self.credentials).encode()
        return 404, {}, b""

    def close(self) -> None:
        self.server.close()


def go_time(epoch: float) -> str:
    """Format like Ollama (Go RFC 3339 with nanoseconds and the local offset, here -07:00)."""
    tz = datetime.timezone(datetime.timedelta(hours=-7))
    dt = datetime.datetime.fromtimestamp(epoch, tz)
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + f".{int((epoch % 1) * 1e9):09d}" + "-07:00"


class FakeOllama:
    """`/api/ps`, and `/api/generate` that loads a model (keep_alive default 5 min) or unloads it (0)."""

    def __init__(self, keep_alive: float = 300.0):
        self.keep_alive = keep_alive
        self.loaded: Dict[str, float] = {}  # name -> expires_at epoch
        self.unloads: Dict[str, int] = {}
        self.lock = threading.Lock()
        self.server = Loopback(self.handle)
        self.url = self.server.url

    def handle(self, method: str, path: str, headers: Dict[str, str], body: bytes):
        if method == "GET" and path == "/api/ps":
            with self.lock:
                models = [
                    {"name": n, "model": n, "size": 5_000_000_000, "size_vram": 4_800_000_000,
                     "digest": "sha256:" + "ab" * 32, "expires_at": go_time(exp)}
                    for n, exp in sorted(self.loaded.items())
                ]
            return _json(200, {"models": models})
        if method == "POST" and path == "/api/generate":
            req = json.loads(body or b"{}")
            name = req.get("model")
            if not name:
                return _json(400, {"error": "model is required"})
            with self.lock:
                if req.get("keep_alive") == 0 and not req.get("prompt"):
                    self.unloads[name] = self.unloads.get(name, 0) + 1
                    self.loaded.pop(name, None)
                    return _json(200, {"model": name, "response": "", "done": True, "done_reason": "unload"})
                self.loaded[name] = time.time() + self.keep_alive
            return _json(200, {"model": name, "response": "Photosynthesis turns light into sugar.", "done": True})
        return _json(404, {"error": "not found"})

    def close(self) -> None:
        self.server.close()


class FakeSpeaches:
    """speaches: `/api/ps`, `DELETE /api/ps/{model}` (409 while busy), speech/transcription routes load models."""

    def __init__(self, model: str):
        self.model = model
        self.loaded: List[str] = []
        self.unloads: Dict[str, int] = {}
        self.busy = False
        self.server = Loopback(self.handle)
        self.url = self.server.url

    def handle(self, method: str, path: str, headers: Dict[str, str], body: bytes):
        if method == "GET" and path == "/api/ps":
            return _json(200, {"models": list(self.loaded)})
        if method == "DELETE" and path.startswith("/api/ps/"):
            model = urllib.parse.unquote(path[len("/api/ps/"):])
            if model not in self.loaded:
                return 404, {}, b"Model not found"
            if self.busy:
                return 409, {}, b"Model is in use"
            self.unloads[model] = self.unloads.get(model, 0) + 1
            self.loaded.remove(model)
            return 204, {}, b""
        if method == "POST" and path in ("/v1/audio/speech", "/v1/audio/transcriptions"):
            if self.model not in self.loaded:
                self.loaded.append(self.model)
            return 200, {"Content-Type": "audio/wav"}, b"RIFF" + b"\0" * 40
        return 404, {}, b""

    def close(self) -> None:
        self.server.close()


class FakeCore:
    """The voice core's GPU node events endpoint; records every event with its arrival time."""

    def __init__(self, token: Optional[str] = "node-token"):
        self.token = token
        self.access: Optional[Tuple[str, str]] = None  # a Cloudflare Access service token to require
        self.events: List[Dict[str, Any]] = []
        self.status = 200
        self.server = Loopback(self.handle)
        self.url = self.server.url + "/api/gpu"

    def handle(self, method: str, path: str, headers: Dict[str, str], body: bytes):
        parts = path.split("/")
        if method != "POST" or path.count("/") != 5 or not path.startswith("/api/gpu/nodes/") or parts[-1] != "events":
            return _json(404, {"error": "no route"})
        if self.token and headers.get("authorization") != f"Bearer {self.token}":
            return _json(401, {"error": "bad node token"})
        if self.access and (headers.get("cf-access-client-id"), headers.get("cf-access-client-secret")) != self.access:
            return _json(403, {"error": "Access denied"})
        if self.status != 200:
            return _json(self.status, {"error": "core unavailable"})
        event = json.loads(body)
        event["_path_instance"] = parts[-2]
        event["_received"] = time.monotonic()
        self.events.append(event)
        return _json(200, {"ok": True})

    def of_type(self, kind: str) -> List[Dict[str, Any]]:
        return [e for e in self.events if e.get("type") == kind]

    def close(self) -> None:
        self.server.close()


class FakeAutoScaling:
    """The Auto Scaling Query API for the two actions the agent uses; rejects a bad SigV4 signature."""

    def __init__(self, region: str = "us-east-1", secrets: Optional[Dict[str, str]] = None):
        self.region = region
        self.secrets = secrets or {"ASIATESTKEY": "imds-secret"}
        self.calls: List[Dict[str, str]] = []
        self.signed_headers: List[str] = []
        self.fail_next: List[Tuple[str, str, str]] = []  # (action, code, message) answered before succeeding
        self.server = Loopback(self.handle)
        self.url = self.server.url

    def _signature_ok(self, path: str, headers: Dict[str, str], body: bytes) -> bool:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials

        auth = headers.get("authorization", "")
        try:
            cred = auth.split("Credential=")[1].split(",")[0]
            signed = auth.split("SignedHeaders=")[1].split(",")[0].split(";")
            signature = auth.split("Signature=")[1].strip()
        except IndexError:
            return False
        key_id, date, region, service, _ = cred.split("/")
        if key_id not in self.secrets or region != self.region or service != "autoscaling":
            return False
        req = AWSRequest(method="POST", url=self.url + path, data=body,
                         headers={h: headers[h] for h in signed if h in headers})
        req.context["timestamp"] = headers.get("x-amz-date", "")
        signer = SigV4Auth(Credentials(key_id, self.secrets[key_id], headers.get("x-amz-security-token")), service, region)
        canonical = signer.canonical_request(req)
        expected = signer.signature(signer.string_to_sign(req, canonical), req)
        self.signed_headers = signed
        return expected == signature

    def handle(self, method: str, path: str, headers: Dict[str, str], body: bytes):
        if not self._signature_ok(path, headers, body):
            return 403, {"Content-Type": "text/xml"}, (
                b"<ErrorResponse><Error><Type>Sender</Type><Code>SignatureDoesNotMatch</Code>"
                b"<Message>The request signature we calculated does not match</Message></Error></ErrorResponse>")
        params = dict(urllib.parse.parse_qsl(body.decode()))
        params["_security_token"] = headers.get("x-amz-security-token", "")
        self.calls.append(params)
        if self.fail_next and self.fail_next[0][0] == params.get("Action"):
            _, code, message = self.fail_next.pop(0)
            xml = (f'<ErrorResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/"><Error><Type>Sender</Type>'
                   f"<Code>{code}</Code><Message>{message}</Message></Error><RequestId>r</RequestId></ErrorResponse>")
            return 400, {"Content-Type": "text/xml"}, xml.encode()
        action = params.get("Action", "")
        xml = (f'<{action}Response xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/"><{action}Result/>'
               f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata></{action}Response>")
        return 200, {"Content-Type": "text/xml"}, xml.encode()

    def close(self) -> None:
        self.server.close()


def wait_for(predicate: Callable[[], Any], timeout: float, step: float = 0.02) -> Any:
    """Poll until predicate() is truthy; returns it, or raises AssertionError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"condition not met within {timeout}s")
