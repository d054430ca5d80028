"""Object storage: curriculum assets, TTS cache overflow, anything binary the runtime keeps.

One small interface, two backends:

* ``file:///path`` — a directory on local disk (the local default ``./.dev/storage``), used by
  ``python -m runtime dev`` and self-hosters with one machine. Writes are atomic (temp file + rename)
  so a reader never sees half an object.
* ``s3://bucket/optional/prefix`` — any S3-compatible store through aiobotocore: AWS S3, Cloudflare R2,
  MinIO. R2 and MinIO need path-style addressing and must not receive the newer default
  ``x-amz-checksum-*`` trailers, so both are configurable (``UNAMENTIS_S3_FORCE_PATH_STYLE``,
  ``UNAMENTIS_S3_CHECKSUMS=when_required``) and default to the compatible choice whenever a custom
  endpoint is set.

Environment (read by :meth:`StorageConfig.from_env`):

=================================== ===========================================================
``UNAMENTIS_STORAGE_URL``            ``file:///abs/path`` or ``s3://bucket[/prefix]`` (default ``file://./.dev/storage``)
``UNAMENTIS_S3_ENDPOINT_URL``        custom endpoint (R2: ``https://<account>.r2.cloudflarestorage.com``, MinIO, moto)
``UNAMENTIS_S3_REGION``              region (default ``us-east-1``; R2 wants ``auto``)
``UNAMENTIS_S3_ACCESS_KEY_ID``       static credentials (omit to use the task / Lambda role)
``UNAMENTIS_S3_SECRET_ACCESS_KEY``
``UNAMENTIS_S3_FORCE_PATH_STYLE``    ``true``/``false`` (default: true when an endpoint is set)
``UNAMENTIS_S3_CHECKSUMS``           ``when_required`` or ``when_supported`` (default: when_required with an endpoint)
=================================== ===========================================================

Keys are ``/``-separated relative paths of safe characters; anything that could escape the root or
the prefix (``..``, a leading ``/``, backslashes, control characters) is refused with
:class:`StorageKeyError` (a ``ValueError``) before any I/O happens.
"""
from __future__ import annotations

import asyncio
import contextlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Protocol, runtime_checkable
from urllib.parse import unquote, urlsplit

from runtime.validation import parse_bool

MAX_KEY_LENGTH = 1024
_SEGMENT = re.compile(r"^[A-Za-z0-9._=+@,-]{1,255}$")


class StorageKeyError(ValueError):
    """A key that is not a safe relative object path."""


class StorageConfigError(ValueError):
    """Storage settings that cannot work; the message names the variable and the fix."""


def check_key(key: str) -> str:
    """Return ``key`` if it is a safe relative object key, else raise :class:`StorageKeyError`."""
    if not isinstance(key, str) or not key:
        raise StorageKeyError("storage key must be a non-empty string")
    if len(key) > MAX_KEY_LENGTH:
        raise StorageKeyError(f"storage key longer than {MAX_KEY_LENGTH} characters")
    for segment in key.split("/"):
        if segment in ("", ".", "..") or not _SEGMENT.match(segment):
            raise StorageKeyError(f"unsafe storage key segment {segment!r} in {key!r}")
    return key


@runtime_checkable
class ObjectStore(Protocol):
    async def get(self, key: str) -> bytes | None: ...
    async def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None: ...
    async def delete(self, key: str) -> None: ...
    async def exists(self, key: str) -> bool: ...
    async def aclose(self) -> None: ...


class FileStore:
    """Objects as files under ``root``. Content types are not kept (callers store them in the DB)."""

    def __init__(self, root: str | os.PathLike[str]):
        self.root = Path(root).resolve()

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*check_key(key).split("/"))

    async def get(self, key: str) -> bytes | None:
        path = self._path(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None

    async def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        path = self._path(key)
        await asyncio.to_thread(self._write_atomic, path, bytes(data))

    @staticmethod
    def _write_atomic(path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    async def delete(self, key: str) -> None:
        path = self._path(key)
        with contextlib.suppress(FileNotFoundError, IsADirectoryError, NotADirectoryError):
            await asyncio.to_thread(path.unlink)

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self._path(key).is_file)

    async def aclose(self) -> None:
        return None


class S3Store:
    """Objects in an S3-compatible bucket. The aiobotocore client opens on first use (cheap cold start)."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        force_path_style: bool = False,
        checksums: str = "when_supported",
    ):
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.endpoint_url = endpoint_url
        self.region = region
        self._access_key_id = access_key_id
        self._secret_access_key = secret_access_key
        self.force_path_style = force_path_style
        self.checksums = checksums
        self._client = None
        self._stack: contextlib.AsyncExitStack | None = None
        self._lock = asyncio.Lock()

    def _object_key(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    async def _get_client(self):
        if self._client is not None:
            return self._client
        async with self._lock:
            if self._client is None:
                # Imported here: aiobotocore and botocore add a lot to a cold start, and the filesystem
                # store and most Lambdas never need them.
                from aiobotocore.config import AioConfig
                from aiobotocore.session import get_session

                config = AioConfig(
                    s3={"addressing_style": "path" if self.force_path_style else "auto"},
                    request_checksum_calculation=self.checksums,
                    response_checksum_validation=self.checksums,
                    retries={"max_attempts": 3, "mode": "standard"},
                    connect_timeout=5,
                    read_timeout=30,
                )
                stack = contextlib.AsyncExitStack()
                client = await stack.enter_async_context(
                    get_session().create_client(
                        "s3",
                        region_name=self.region,
                        endpoint_url=self.endpoint_url,
                        aws_access_key_id=self._access_key_id,
                        aws_secret_access_key=self._secret_access_key,
                        config=config,
                    )
                )
                self._stack, self._client = stack, client
        return self._client

    @staticmethod
    def _is_missing(exc: Exception) -> bool:
        response = getattr(exc, "response", None) or {}
        code = str(response.get("Error", {}).get("Code", ""))
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return code in ("NoSuchKey", "404", "NotFound") or status == 404

    async def get(self, key: str) -> bytes | None:
        from botocore.exceptions import ClientError  # loaded with the client above, so free here

        client = await self._get_client()
        try:
            response = await client.get_object(Bucket=self.bucket, Key=self._object_key(key))
        except ClientError as exc:
            if self._is_missing(exc):
                return None
            raise
        async with response["Body"] as body:
            return await body.read()

    async def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        client = await self._get_client()
        await client.put_object(
            Bucket=self.bucket, Key=self._object_key(key), Body=bytes(data), ContentType=content_type
        )

    async def delete(self, key: str) -> None:
        client = await self._get_client()
        await client.delete_object(Bucket=self.bucket, Key=self._object_key(key))

    async def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError  # loaded with the client above, so free here

        client = await self._get_client()
        try:
            await client.head_object(Bucket=self.bucket, Key=self._object_key(key))
        except ClientError as exc:
            if self._is_missing(exc):
                return False
            raise
        return True

    async def aclose(self) -> None:
        stack, self._stack, self._client = self._stack, None, None
        if stack is not None:
            await stack.aclose()


def _truthy(value: str, name: str) -> bool:
    parsed = parse_bool(value)
    if parsed is not None:
        return parsed
    raise StorageConfigError(f"{name}={value!r} is not a boolean; use true or false")


@dataclass(frozen=True)
class StorageConfig:
    url: str = "file://./.dev/storage"
    endpoint_url: str | None = None
    region: str = "us-east-1"
    access_key_id: str | None = None
    secret_access_key: str | None = None
    force_path_style: bool | None = None
    checksums: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> "StorageConfig":
        path_style = env.get("UNAMENTIS_S3_FORCE_PATH_STYLE")
        checksums = env.get("UNAMENTIS_S3_CHECKSUMS") or None
        if checksums is not None and checksums not in ("when_required", "when_supported"):
            raise StorageConfigError(
                f"UNAMENTIS_S3_CHECKSUMS={checksums!r} is invalid; use when_required (R2, MinIO) or when_supported"
            )
        config = cls(
            url=env.get("UNAMENTIS_STORAGE_URL") or cls.url,
            endpoint_url=env.get("UNAMENTIS_S3_ENDPOINT_URL") or None,
            region=env.get("UNAMENTIS_S3_REGION") or "us-east-1",
            access_key_id=env.get("UNAMENTIS_S3_ACCESS_KEY_ID") or None,
            secret_access_key=env.get("UNAMENTIS_S3_SECRET_ACCESS_KEY") or None,
            force_path_style=_truthy(path_style, "UNAMENTIS_S3_FORCE_PATH_STYLE") if path_style else None,
            checksums=checksums,
        )
        config.validate()
        return config

    def validate(self) -> None:
        scheme = urlsplit(self.url).scheme
        if scheme not in ("file", "s3"):
            raise StorageConfigError(
                f"UNAMENTIS_STORAGE_URL={self.url!r} is not supported; use file:///path or s3://bucket/prefix"
            )
        if scheme == "s3" and not urlsplit(self.url).netloc:
            raise StorageConfigError("UNAMENTIS_STORAGE_URL=s3://… needs a bucket name, e.g. s3://my-bucket/assets")
        if bool(self.access_key_id) != bool(self.secret_access_key):
            raise StorageConfigError(
                "set both UNAMENTIS_S3_ACCESS_KEY_ID and UNAMENTIS_S3_SECRET_ACCESS_KEY, or neither (role credentials)"
            )


def open_store(config: StorageConfig | str) -> ObjectStore:
    """Build the backend named by ``config.url`` (no I/O happens until the first call)."""
    if isinstance(config, str):
        config = StorageConfig(url=config)
    config.validate()
    parts = urlsplit(config.url)
    if parts.scheme == "file":
        # file:///abs/path -> /abs/path; file://./rel -> ./rel (relative to the working directory)
        raw = unquote((parts.netloc or "") + parts.path) if parts.netloc in ("", ".", "..") else None
        if raw is None:
            raise StorageConfigError(f"UNAMENTIS_STORAGE_URL={config.url!r}: use file:///absolute/path or file://./relative")
        return FileStore(raw or ".")
    custom = config.endpoint_url is not None
    return S3Store(
        parts.netloc,
        parts.path,
        endpoint_url=config.endpoint_url,
        region=config.region,
        access_key_id=config.access_key_id,
        secret_access_key=config.secret_access_key,
        force_path_style=custom if config.force_path_style is None else config.force_path_style,
        checksums=config.checksums or ("when_required" if custom else "when_supported"),
    )
