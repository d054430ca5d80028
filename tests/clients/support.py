"""Helpers shared by the client-contract tests (iOS and web).

- ``schema_validator(app, name)``: a Draft 2020-12 validator for ``runtime/api_schemas/<app>/<name>.json``; the
  schemas of one app can ``$ref`` each other by file name (``"umcf_document.json#/$defs/node"``).
- ``assert_answer(response, app, schema, status=200)``: the status the app requires, then the body
  against the app's schema (``schema=None``: the app reads only the status); a 5xx raises
  ``ServerError``, which no ``xfail(...)`` mark accepts (those expect an ``AssertionError``).
- ``caller`` (fixture): the runtime on the module's shared database, a fresh tenant and its beta
  token; ``await caller.user()`` registers and signs in a user as the web client does.
- ``open_caller`` (fixture factory): the same runtime with ``client_auth="open"`` (no token needed).
"""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator, ValidationError
from jsonschema.exceptions import best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from runtime.api_schemas import DIRECTORY as SCHEMAS
from tests.runtime.conftest import make_client

BASE_URI = "https://schemas.unamentis.test/"
PASSWORD = "Correct-Horse-42"
JWT_SECRET = "client-contract-secret-" + "z" * 40


# ------------------------------------------------------------------------------------- schemas
class ServerError(Exception):
    """A 5xx answer: never an expected failure (``xfail`` marks accept only ``AssertionError``)."""


@lru_cache(maxsize=None)
def _registry(app: str) -> Registry:
    resources = []
    for path in sorted((SCHEMAS / app).glob("*.json")):
        contents = {**json.loads(path.read_text()), "$id": f"{BASE_URI}{app}/{path.name}"}
        resources.append((contents["$id"], Resource.from_contents(contents, default_specification=DRAFT202012)))
    return Registry().with_resources(resources)


@lru_cache(maxsize=None)
def schema_validator(app: str, name: str) -> Draft202012Validator:
    registry = _registry(app)
    schema = registry[f"{BASE_URI}{app}/{name}.json"].contents
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, registry=registry)


def schema_errors(app: str, name: str, document: Any) -> list[str]:
    """Every place ``document`` breaks the schema, as ``path: message`` lines."""
    errors = sorted(schema_validator(app, name).iter_errors(document), key=lambda e: list(e.absolute_path))
    return [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message[:300]}" for e in map(_leaf, errors)]


def _leaf(error: ValidationError) -> ValidationError:
    """For anyOf/oneOf, the most relevant failure inside the closest branch (not the whole document)."""
    while error.context:
        deepest = max(len(e.absolute_path) for e in error.context)
        error = best_match(e for e in error.context if len(e.absolute_path) == deepest)
    return error


def assert_answer(response: httpx.Response, app: str, schema: str | None, status: int | tuple[int, ...] = 200) -> Any:
    """The status the app accepts, then the JSON body against the app's schema; returns the body."""
    accepted = status if isinstance(status, tuple) else (status,)
    if response.status_code >= 500:
        raise ServerError(f"{response.request.method} {response.request.url.path}: {response.status_code} {response.text[:500]}")
    assert response.status_code in accepted, f"{response.request.method} {response.request.url.path}: " \
        f"the app needs {accepted}, got {response.status_code}: {response.text[:500]}"
    if schema is None or response.status_code not in (200, 201):
        return None
    body = response.json()
    problems = schema_errors(app, schema, body)
    assert not problems, f"answer does not decode as {app}/{schema}:\n" + "\n".join(problems[:20])
    return body


# ------------------------------------------------------------------------------------- callers
# The import sources the clients browse: a catalog of open courses with their UMCF documents beside it.
CATALOG = Path(__file__).parent / "catalogs" / "open-courses.json"


def app_overrides(tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    """Filesystem storage in a temp dir, a JWT secret, rate limits out of the way of fast tests."""
    from runtime.storage import StorageConfig

    overrides.setdefault("storage", StorageConfig(url=f"file://{tmp_path / 'storage'}"))
    overrides.setdefault("jwt_secret", JWT_SECRET)
    for name in ("rate_limit_token", "rate_limit_ip", "rate_limit_user"):
        overrides.setdefault(name, (100_000, 60.0))
    overrides.setdefault("rate_limit_login", (1000, 60.0))
    overrides.setdefault("rate_limit_register", (1000, 60.0))
    overrides.setdefault("import_catalogs", (str(CATALOG),))
    return overrides


def web_device(kind: str = "web") -> dict[str, str]:
    """The ``device`` object the web client's ``getDeviceInfo()`` sends."""
    return {"fingerprint": uuid.uuid4().hex * 2, "name": "Chrome on Linux", "type": kind, "model": "Chrome",
            "os_version": "120", "app_version": "1.0.0"}


@dataclass
class Caller:
    """An HTTP client on the runtime, the tenant's beta token, and helpers to act as the apps do."""

    client: httpx.AsyncClient
    beta: str
    tenant_id: str
    database: Any
    signed_in: dict[str, Any] = field(default_factory=dict)

    @property
    def beta_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.beta}"}

    async def register(self, email: str | None = None, *, headers: dict[str, str] | None = None) -> httpx.Response:
        """``POST /api/auth/register`` with the web client's body (``headers`` default: the beta token)."""
        email = email or f"web-{uuid.uuid4().hex[:10]}@example.com"
        body = {"email": email, "password": PASSWORD, "display_name": "Web Tester", "device": web_device()}
        return await self.client.post("/api/auth/register", json=body,
                                      headers=self.beta_headers if headers is None else headers)

    async def user(self, *, role: str | None = None) -> dict[str, Any]:
        """A registered, signed-in user: the ``AuthResponse`` plus ``email`` and ``headers``."""
        email = f"web-{uuid.uuid4().hex[:10]}@example.com"
        if role is not None:
            await self._insert_user(email, role)
            response = await self.client.post("/api/auth/login", headers=self.beta_headers,
                                              json={"email": email, "password": PASSWORD, "device": web_device()})
        else:
            response = await self.register(email)
        assert response.status_code in (200, 201), response.text
        auth = response.json()
        return {**auth, "email": email, "headers": {"Authorization": f"Bearer {auth['tokens']['access_token']}"}}

    async def slug(self) -> str:
        owner = await self.database.owner()
        try:
            return await owner.fetchval("select slug from tenants where id = $1", uuid.UUID(self.tenant_id))
        finally:
            await owner.close()

    async def _insert_user(self, email: str, role: str) -> None:
        from runtime.auth.passwords import hash_password

        owner = await self.database.owner()
        try:
            await owner.execute(
                "insert into users (tenant_id, email, password_hash, display_name, role) values ($1, $2, $3, 'Admin', $4)",
                uuid.UUID(self.tenant_id), email, hash_password(PASSWORD), role)
        finally:
            await owner.close()


@pytest.fixture
async def caller(make_app, shared_database, tenant, tmp_path):
    """The whole runtime on the module's database, with a tenant of its own and its beta token."""
    tenant_id, beta = await tenant(database=shared_database)
    app = make_app(database=shared_database, **app_overrides(tmp_path))
    async with make_client(app) as client:
        yield Caller(client, beta, tenant_id, shared_database)


@pytest.fixture
async def open_caller(make_app, shared_database, tmp_path):
    """``await open_caller(**overrides)`` -> a client on the runtime with ``client_auth="open"`` and
    the active open tenant it needs (a fresh slug per test); closed at teardown."""
    from contextlib import AsyncExitStack

    from runtime.tenants import create_tenant

    stack = AsyncExitStack()

    async def factory(**overrides: Any) -> httpx.AsyncClient:
        slug = f"lan-{uuid.uuid4().hex[:10]}"
        owner = await shared_database.owner()
        try:
            await create_tenant(owner, slug)
        finally:
            await owner.close()
        app = make_app(database=shared_database, **app_overrides(tmp_path, client_auth="open", open_tenant=slug, **overrides))
        return await stack.enter_async_context(make_client(app))

    yield factory
    await stack.aclose()


def xfail(reason: str) -> Any:
    """A strict expected failure: the test must fail today with an assertion (a wrong status or shape,
    as documented in ``reason``); a 5xx (``ServerError``) or any other error still fails the run."""
    return pytest.mark.xfail(strict=True, raises=AssertionError, reason=reason)
