"""The AWS calls a GPU node makes, signed with SigV4 by hand (no boto3 and no AWS CLI on the node:
the ECS GPU-optimised Amazon Linux 2023 AMI ships neither).

Auto Scaling: `CompleteLifecycleAction` (after a drain, so the ASG terminates this node without
waiting for the hook's timeout) and `TerminateInstanceInAutoScalingGroup` with
`ShouldDecrementDesiredCapacity=true` (the node removes itself). S3: `GetObject`, `ListObjectsV2`
and `PutObject`, streamed to and from files (the agent archive and the model cache). SSM:
`GetParameter` with decryption (the node token). The bootstrap reaches them through
`python3 -m gpu_nodes.agent.aws_cli`. Credentials come from the environment or the instance
profile through IMDS.
"""
from __future__ import annotations

import datetime
import hashlib
import hmac
import json
import logging
import os
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Callable, Dict, Optional, Tuple

from .http import TransportError, request
from .imds import Imds, ImdsError

log = logging.getLogger("gpu_agent.aws")

AUTOSCALING_API_VERSION = "2011-01-01"


class AwsError(Exception):
    def __init__(self, code: str, message: str, status: int = 0):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


@dataclass(frozen=True)
class Credentials:
    access_key: str
    secret_key: str
    token: Optional[str] = None
    expires_at: Optional[float] = None  # epoch seconds


def _parse_aws_time(value: str) -> float:
    # IMDS gives e.g. "2026-11-26T06:12:34Z"; Python 3.9's fromisoformat does not take the "Z".
    return datetime.datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc).timestamp()


class CredentialSource:
    """Environment credentials if set, else the instance profile's, refreshed 5 minutes early."""

    def __init__(self, imds: Optional[Imds], environ: Optional[Dict[str, str]] = None):
        self._imds = imds
        self._environ = os.environ if environ is None else environ
        self._cached: Optional[Credentials] = None
        self._lock = threading.Lock()

    def get(self) -> Credentials:
        env = self._environ
        if env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"):
            return Credentials(env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], env.get("AWS_SESSION_TOKEN"))
        with self._lock:
            cached = self._cached
            if cached and (cached.expires_at is None or cached.expires_at - 300 > time.time()):
                return cached
            if self._imds is None:
                raise AwsError("NoCredentials", "no AWS credentials in the environment and no IMDS to ask")
            try:
                data = self._imds.role_credentials()
            except ImdsError as exc:
                raise AwsError("NoCredentials", str(exc)) from exc
            expires = None
            if data.get("Expiration"):
                try:
                    expires = _parse_aws_time(str(data["Expiration"]))
                except ValueError:
                    expires = None
            self._cached = Credentials(data["AccessKeyId"], data["SecretAccessKey"], data.get("Token"), expires)
            return self._cached


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


def _canonical_host(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    default = {"http": 80, "https": 443}.get(parts.scheme)
    host = parts.hostname or ""
    if parts.port and parts.port != default:
        return f"{host}:{parts.port}"
    return host


def sign_v4(
    method: str,
    url: str,
    headers: Dict[str, str],
    body: bytes,
    *,
    region: str,
    service: str,
    credentials: Credentials,
    now: Optional[datetime.datetime] = None,
    payload_hash: Optional[str] = None,
) -> Dict[str, str]:
    """Headers with SigV4 `Authorization` added (AWS General Reference, "Signature Version 4").

    Every header passed in is signed, so what is sent is exactly what was signed. `payload_hash`
    (S3's `UNSIGNED-PAYLOAD` for a streamed body) replaces the hash of `body`.
    """
    now = now or datetime.datetime.now(datetime.timezone.utc)
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    date = amz_date[:8]
    out = dict(headers)
    out["Host"] = _canonical_host(url)
    out["X-Amz-Date"] = amz_date
    if credentials.token:
        out["X-Amz-Security-Token"] = credentials.token
    parts = urllib.parse.urlsplit(url)
    # S3 keys are encoded once (the path arrives already percent-encoded by the caller).
    canonical_uri = parts.path or "/"
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    canonical_query = "&".join(
        f"{urllib.parse.quote(k, safe='-_.~')}={urllib.parse.quote(v, safe='-_.~')}" for k, v in sorted(query)
    )
    lowered = sorted((k.lower(), " ".join(str(v).split())) for k, v in out.items())
    canonical_headers = "".join(f"{k}:{v}\n" for k, v in lowered)
    signed_headers = ";".join(k for k, _ in lowered)
    payload_hash = payload_hash or hashlib.sha256(body).hexdigest()
    canonical_request = "\n".join(
        [method.upper(), canonical_uri, canonical_query, canonical_headers, signed_headers, payload_hash]
    )
    scope = f"{date}/{region}/{service}/aws4_request"
    string_to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical_request.encode("utf-8")).hexdigest()]
    )
    key = _hmac(("AWS4" + credentials.secret_key).encode("utf-8"), date)
    for part in (region, service, "aws4_request"):
        key = _hmac(key, part)
    signature = hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    out["Authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={credentials.access_key}/{scope}, "
        f"SignedHeaders={signed_headers}, Signature={signature}"
    )
    return out


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _parse_error(body: bytes) -> Tuple[str, str]:
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return "UnknownError", body[:200].decode("utf-8", "replace")
    code = message = ""
    for el in root.iter():
        if _local(el.tag) == "Code" and not code:
            code = (el.text or "").strip()
        elif _local(el.tag) == "Message" and not message:
            message = (el.text or "").strip()
    return code or "UnknownError", message


class AutoScalingClient:
    """The Auto Scaling Query API (form-encoded POST, XML answers) for one region."""

    def __init__(
        self,
        region: str,
        credentials: Callable[[], Credentials],
        *,
        endpoint_url: Optional[str] = None,
        timeout: float = 5.0,
    ):
        if not region:
            raise ValueError("an AWS region is required for the Auto Scaling client")
        self.region = region
        self._credentials = credentials
        suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
        self.endpoint_url = (endpoint_url or f"https://autoscaling.{region}.{suffix}").rstrip("/") + "/"
        self.timeout = timeout

    def _call(self, action: str, params: Dict[str, str]) -> bytes:
        form = {"Action": action, "Version": AUTOSCALING_API_VERSION}
        form.update(params)
        body = urllib.parse.urlencode(form).encode("utf-8")
        headers = sign_v4(
            "POST",
            self.endpoint_url,
            {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
            body,
            region=self.region,
            service="autoscaling",
            credentials=self._credentials(),
        )
        try:
            resp = request("POST", self.endpoint_url, body=body, headers=headers, timeout=self.timeout)
        except TransportError as exc:
            raise AwsError("TransportError", str(exc)) from exc
        if resp.status != 200:
            code, message = _parse_error(resp.body)
            raise AwsError(code, message, resp.status)
        return resp.body

    def complete_lifecycle_action(
        self, asg_name: str, hook_name: str, instance_id: str, result: str = "CONTINUE"
    ) -> None:
        self._call(
            "CompleteLifecycleAction",
            {
                "AutoScalingGroupName": asg_name,
                "LifecycleHookName": hook_name,
                "InstanceId": instance_id,
                "LifecycleActionResult": result,
            },
        )

    def terminate_instance(self, instance_id: str, decrement_desired: bool = True) -> None:
        self._call(
            "TerminateInstanceInAutoScalingGroup",
            {
                "InstanceId": instance_id,
                "ShouldDecrementDesiredCapacity": "true" if decrement_desired else "false",
            },
        )


def _endpoint(service: str, region: str, endpoint_url: Optional[str]) -> str:
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return (endpoint_url or f"https://{service}.{region}.{suffix}").rstrip("/")


class S3Client:
    """S3's REST API, path-style (`<endpoint>/<bucket>/<key>`), bodies streamed to and from files."""

    CHUNK = 1 << 20

    def __init__(self, region: str, credentials: Callable[[], Credentials], *,
                 endpoint_url: Optional[str] = None, timeout: float = 60.0):
        if not region:
            raise ValueError("an AWS region is required for the S3 client")
        self.region = region
        self._credentials = credentials
        self.endpoint_url = _endpoint("s3", region, endpoint_url)
        self.timeout = timeout

    def _url(self, bucket: str, key: str = "", query: str = "") -> str:
        path = f"/{bucket}/" + urllib.parse.quote(key, safe="/-_.~")
        return self.endpoint_url + path + (f"?{query}" if query else "")

    def _open(self, method: str, url: str, body=None, length: Optional[int] = None):
        headers = {"x-amz-content-sha256": "UNSIGNED-PAYLOAD"}
        if length is not None:
            headers["Content-Length"] = str(length)
            # urllib would label a body form-urlencoded, and a server that parses forms keeps nothing.
            headers["Content-Type"] = "application/octet-stream"
        signed = sign_v4(method, url, headers, b"", region=self.region, service="s3",
                         credentials=self._credentials(), payload_hash="UNSIGNED-PAYLOAD")
        req = urllib.request.Request(url, data=body, method=method, headers=signed)
        try:
            return urllib.request.urlopen(req, timeout=self.timeout)
        except urllib.error.HTTPError as exc:
            code, message = _parse_error(exc.read() or b"")
            raise AwsError(code, message or f"HTTP {exc.code}", exc.code) from None
        except (urllib.error.URLError, OSError) as exc:
            raise AwsError("TransportError", f"{method} {url}: {exc}") from exc

    def get_to_file(self, bucket: str, key: str, dest: str) -> int:
        """Download `key` to `dest` (through a temporary file, so a broken download leaves nothing)."""
        os.makedirs(os.path.dirname(os.path.abspath(dest)), exist_ok=True)
        tmp = dest + ".part"
        size = 0
        with self._open("GET", self._url(bucket, key)) as resp, open(tmp, "wb") as out:
            while True:
                chunk = resp.read(self.CHUNK)
                if not chunk:
                    break
                out.write(chunk)
                size += len(chunk)
        os.replace(tmp, dest)
        return size

    def list(self, bucket: str, prefix: str) -> Dict[str, int]:
        """{key: size} of every object under `prefix` (ListObjectsV2, all pages)."""
        out: Dict[str, int] = {}
        token: Optional[str] = None
        while True:
            q = {"list-type": "2", "prefix": prefix}
            if token:
                q["continuation-token"] = token
            query = "&".join(f"{urllib.parse.quote(k, safe='-_.~')}={urllib.parse.quote(v, safe='-_.~')}"
                             for k, v in sorted(q.items()))
            with self._open("GET", self._url(bucket, "", query)) as resp:
                root = ET.fromstring(resp.read())
            token = None
            truncated = False
            for el in root:
                tag = _local(el.tag)
                if tag == "Contents":
                    fields = {_local(c.tag): (c.text or "") for c in el}
                    out[fields.get("Key", "")] = int(fields.get("Size") or 0)
                elif tag == "NextContinuationToken":
                    token = el.text
                elif tag == "IsTruncated":
                    truncated = (el.text or "").strip() == "true"
            if not (truncated and token):
                return out

    def put_file(self, bucket: str, key: str, path: str) -> None:
        size = os.path.getsize(path)
        with open(path, "rb") as body, self._open("PUT", self._url(bucket, key), body, size) as resp:
            resp.read()


class SsmClient:
    """SSM's JSON API: `GetParameter` with decryption."""

    def __init__(self, region: str, credentials: Callable[[], Credentials], *,
                 endpoint_url: Optional[str] = None, timeout: float = 10.0):
        if not region:
            raise ValueError("an AWS region is required for the SSM client")
        self.region = region
        self._credentials = credentials
        self.endpoint_url = _endpoint("ssm", region, endpoint_url) + "/"
        self.timeout = timeout

    def get_parameter(self, name: str) -> str:
        body = json.dumps({"Name": name, "WithDecryption": True}).encode("utf-8")
        headers = sign_v4("POST", self.endpoint_url,
                          {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "AmazonSSM.GetParameter"},
                          body, region=self.region, service="ssm", credentials=self._credentials())
        try:
            resp = request("POST", self.endpoint_url, body=body, headers=headers, timeout=self.timeout)
        except TransportError as exc:
            raise AwsError("TransportError", str(exc)) from exc
        try:
            data = json.loads(resp.body.decode("utf-8") or "{}")
        except ValueError:
            data = {}
        if resp.status != 200:
            code = str(data.get("__type", "UnknownError")).rsplit("#", 1)[-1]
            raise AwsError(code, str(data.get("message") or data.get("Message") or resp.status), resp.status)
        return str(data["Parameter"]["Value"])
