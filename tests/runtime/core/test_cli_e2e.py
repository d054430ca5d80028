"""End to end with real processes: `python -m runtime serve` + the CLI, over HTTP on loopback."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.runtime.conftest import APP_PASSWORD, free_port

ROOT = Path(__file__).resolve().parents[3]


def _env(database, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("UNAMENTIS_") and k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(
        PYTHONPATH=str(ROOT),
        DATABASE_URL=database.app_dsn,
        UNAMENTIS_DATABASE_ADMIN_URL=database.owner_dsn,
        UNAMENTIS_APP_ROLE=database.app_role,
        UNAMENTIS_APP_ROLE_PASSWORD=APP_PASSWORD,
        UNAMENTIS_LOG_LEVEL="WARNING",
        **extra,
    )
    return env


def cli(database, *args: str, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "runtime", *args],
        env=_env(database, **extra), capture_output=True, text=True, timeout=60, cwd=str(ROOT),
    )


@pytest.fixture
def served(database):
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "runtime", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=_env(database), cwd=str(ROOT), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"serve did not start: {process.communicate()[1][-3000:]}")
        time.sleep(0.1)
    yield url, process
    process.terminate()
    try:
        _out, err = process.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        _out, err = process.communicate()
    served.stderr = err  # type: ignore[attr-defined]


def test_serve_with_cli_issued_beta_token(database, served):
    url, _process = served
    created = cli(database, "admin", "tenant", "create", "acme", "--name", "Acme School")
    assert created.returncode == 0, created.stderr
    duplicate = cli(database, "admin", "tenant", "create", "acme")
    assert duplicate.returncode == 2 and "already exists" in duplicate.stderr and "Traceback" not in duplicate.stderr
    issued = cli(database, "admin", "token", "issue", "--tenant", "acme", "--name", "Tess Tester")
    assert issued.returncode == 0, issued.stderr
    token = issued.stdout.strip().splitlines()[-1]
    assert token.startswith("uma_beta_")

    with httpx.Client(base_url=url, timeout=10) as http:
        health = http.get("/health")
        assert health.status_code == 200 and health.json()["status"] == "healthy"
        for path in ("/api/curricula", "/api/kb/packs", "/api/sessions", "/api/nothing"):
            denied = http.get(path)
            assert denied.status_code == 401, path
            assert denied.json()["code"] == "AUTH_REQUIRED"
            assert denied.headers["www-authenticate"].startswith("Bearer")
        ok = http.get("/api/curricula", headers={"Authorization": f"Bearer {token}"})
        assert ok.status_code == 200, ok.text
        assert "curricula" in ok.json()

        # revoke by id (the CLI lists ids, never tokens); the token stops working within 30 s
        listing = cli(database, "admin", "token", "list", "--tenant", "acme")
        assert listing.returncode == 0 and token not in listing.stdout
        token_id = next(word for line in listing.stdout.splitlines() for word in line.split() if len(word) == 36)
        revoked = cli(database, "admin", "token", "revoke", token_id)
        assert revoked.returncode == 0, revoked.stderr
        deadline = time.monotonic() + 30
        while http.get("/api/curricula", headers={"Authorization": f"Bearer {token}"}).status_code != 401:
            assert time.monotonic() < deadline, "revoked token still accepted after 30 s"
            time.sleep(0.5)

        # the 6th rapid login attempt from one IP is refused with Retry-After
        codes = []
        for _ in range(6):
            attempt = http.post("/api/auth/login", json={"email": "nobody@example.com", "password": "wrong-password",
                                                          "device": {"fingerprint": "fp-1", "type": "web"}})
            codes.append(attempt.status_code)
        assert codes[:5] == [401] * 5 and codes[5] == 429, codes
        assert int(attempt.headers["retry-after"]) >= 1


def test_cli_errors_are_one_line(database):
    missing = subprocess.run(
        [sys.executable, "-m", "runtime", "migrate"],
        env={k: v for k, v in _env(database).items() if k not in ("DATABASE_URL", "UNAMENTIS_DATABASE_ADMIN_URL")},
        capture_output=True, text=True, timeout=60, cwd=str(ROOT),
    )
    assert missing.returncode == 2
    assert missing.stderr.startswith("error: UNAMENTIS_DATABASE_ADMIN_URL") and "Traceback" not in missing.stderr
    bad_slug = cli(database, "admin", "tenant", "create", "Not A Slug!")
    assert bad_slug.returncode == 2 and "slug" in bad_slug.stderr
    check = cli(database, "migrate", "--check")
    assert check.returncode == 0 and "up to date" in check.stdout
    again = cli(database, "migrate")
    assert again.returncode == 0 and "0 migration(s) applied" in again.stdout
    no_tenant = cli(database, "admin", "token", "issue", "--tenant", "ghost", "--name", "x")
    assert no_tenant.returncode == 2 and "admin tenant create ghost" in no_tenant.stderr
