"""`python -m runtime admin token issue|revoke|list` and `admin user promote`, run as real processes."""
from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

from runtime.auth.tokens import is_beta_token
from tests.runtime.auth.conftest import bearer, signup
from tests.runtime.conftest import make_client

ROOT = Path(__file__).resolve().parents[3]


def run(database, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": database.app_dsn, "UNAMENTIS_DATABASE_ADMIN_URL": database.owner_dsn,
           "UNAMENTIS_APP_ROLE": database.app_role, "UNAMENTIS_ENV": "test"}
    return subprocess.run([sys.executable, "-m", "runtime", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


async def test_issue_use_list_revoke(database, auth_app):
    slug = f"cli-{uuid.uuid4().hex[:8]}"
    assert run(database, "admin", "tenant", "create", slug).returncode == 0
    issued = run(database, "admin", "token", "issue", "--tenant", slug, "--name", "Ada Tester")
    assert issued.returncode == 0, issued.stderr
    lines = issued.stdout.strip().splitlines()
    token = lines[-1]
    assert is_beta_token(token)
    token_id = lines[0].split()[2]
    uuid.UUID(token_id)
    async with make_client(auth_app(auth_cache_seconds=0)) as client:
        assert (await client.get("/api/auth/me", headers=bearer(token))).status_code == 403  # authenticated, not a user
        listed = run(database, "admin", "token", "list", "--tenant", slug)
        assert token_id in listed.stdout and "Ada Tester" in listed.stdout and token not in listed.stdout
        revoked = run(database, "admin", "token", "revoke", token_id)
        assert revoked.returncode == 0 and "revoked" in revoked.stdout
        assert (await client.get("/api/auth/me", headers=bearer(token))).status_code == 401
    again = run(database, "admin", "token", "revoke", token_id)
    assert again.returncode == 0 and "already" in again.stdout


def test_cli_errors_are_one_line(database):
    missing = run(database, "admin", "token", "issue", "--tenant", "no-such-tenant", "--name", "x")
    assert missing.returncode == 2 and "no tenant 'no-such-tenant'" in missing.stderr and "Traceback" not in missing.stderr
    bad_id = run(database, "admin", "token", "revoke", "not-a-uuid")
    assert bad_id.returncode == 2 and "not a beta token id" in bad_id.stderr
    unknown = run(database, "admin", "token", "revoke", str(uuid.uuid4()))
    assert unknown.returncode == 2 and "no beta token" in unknown.stderr
    nobody = run(database, "admin", "user", "promote", "nobody@example.com")
    assert nobody.returncode == 2 and "no user" in nobody.stderr
    bad_rate = run(database, "admin", "token", "issue", "--tenant", "x", "--name", "y", "--rate", "lots")
    assert bad_rate.returncode == 2 and "--rate" in bad_rate.stderr


async def test_promote_makes_an_admin(database, auth_app, tenant):
    _tid, beta = await tenant()
    async with make_client(auth_app(auth_cache_seconds=0)) as client:
        user = await signup(client, beta)
        h = bearer(user["tokens"]["access_token"])
        assert (await client.get("/api/admin/health/deep", headers=h)).status_code == 403
        promoted = run(database, "admin", "user", "promote", user["email"].upper())
        assert promoted.returncode == 0, promoted.stderr
        assert (await client.get("/api/auth/me", headers=h)).json()["user"]["role"] == "admin"
        assert (await client.get("/api/admin/health/deep", headers=h)).status_code == 200  # the role is read live
