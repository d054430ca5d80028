"""A rehearsal of the Compose install without Docker: the exact commands and environments of the
`migrate` and `core` services (from compose.yaml, `${VAR}` resolved from an env file written by
`python -m runtime secrets init`), run as real local processes through the image's ENTRYPOINT.

Only what a container network provides is swapped: the hostnames `postgres` and `minio` become
loopback (PostgreSQL on 127.0.0.1:5432 with a fresh database and fresh roles this test creates and
drops; a moto server standing in for MinIO, its bucket made as `minio-init` would), and the core's
listening port becomes a free one (this machine is shared). The database names and roles come from
the env file, made unique per run, as an operator may edit them.

At the end the core is stopped by the Helm chart's own preStop script (pointed at this process
instead of a container's PID 1), with a voice socket open: the drain tells it to reconnect (1001).
"""
from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import asyncpg
import boto3
import httpx
import pytest

from websockets.exceptions import ConnectionClosed

from runtime.selfhost_secrets import parse_env_file
from tests.deploy.compose_tools import ROOT, dockerfile_entrypoint, environment, load
from tests.runtime.conftest import SERVER_DSN, _dsn_for, free_port


def _chart_prestop_script() -> str:
    import helm_python as helm
    import yaml

    with helm.Chart.load(ROOT / "deploy" / "helm" / "unamentis") as chart:
        rendered = chart.render(name="unamentis", namespace="school", is_install=True)
    core = next(doc for doc in yaml.safe_load_all(rendered["unamentis/templates/core.yaml"])
                if doc and doc["kind"] == "Deployment")
    command = core["spec"]["template"]["spec"]["containers"][0]["lifecycle"]["preStop"]["exec"]["command"]
    assert command[:2] == ["/bin/sh", "-c"]
    return command[2]


def _swap_hosts(env: dict[str, str], moto: str) -> dict[str, str]:
    pg_host = _dsn_host()
    swapped = {}
    for key, value in env.items():
        value = value.replace("@postgres:5432/", f"@{pg_host}/").replace("http://minio:9000", moto)
        swapped[key] = value
    return swapped


def _dsn_host() -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(SERVER_DSN)
    return f"{parts.hostname or '127.0.0.1'}:{parts.port or 5432}"


def _process_env(service_env: dict[str, str], tmp: Path) -> dict[str, str]:
    # A container starts from the image's environment, not the host's: keep only what a process needs.
    base = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "PYTHONPATH")}
    env = {**base, **service_env}
    # compose gives the read-only containers HOME=/tmp, a tmpfs: here a private temporary directory
    assert env["HOME"] == "/tmp" and env["XDG_CACHE_HOME"] == "/tmp/.cache"
    env["HOME"] = str(tmp)
    env["XDG_CACHE_HOME"] = str(tmp / ".cache")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _argv(command: list[str]) -> list[str]:
    entry = dockerfile_entrypoint()
    assert entry[:3] == ["python", "-m", "runtime"], entry
    return [sys.executable, *entry[1:], *command]


def _run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(_argv(command), cwd=ROOT, env=env, capture_output=True, text=True, timeout=90)


@pytest.fixture
def rehearsal_env(tmp_path: Path):
    env_file = tmp_path / ".env"
    made = subprocess.run([sys.executable, "-m", "runtime", "secrets", "init", str(env_file)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    values = parse_env_file(env_file.read_text())
    suffix = uuid.uuid4().hex[:10]
    values.update(POSTGRES_DB=f"uma_compose_{suffix}", POSTGRES_USER=f"uma_owner_{suffix}",
                  UNAMENTIS_APP_ROLE=f"uma_app_{suffix}")
    admin_dsn = SERVER_DSN

    async def setup() -> None:
        # what the postgres image does on first start: POSTGRES_USER (a superuser there) owns POSTGRES_DB
        conn = await asyncpg.connect(admin_dsn)
        try:
            await conn.execute(f'create role "{values["POSTGRES_USER"]}" login superuser password '
                               f"'{values['POSTGRES_PASSWORD']}'")
            await conn.execute(f'create database "{values["POSTGRES_DB"]}" owner "{values["POSTGRES_USER"]}"')
        finally:
            await conn.close()

    async def teardown() -> None:
        conn = await asyncpg.connect(admin_dsn)
        try:
            await conn.execute(
                "select pg_terminate_backend(pid) from pg_stat_activity where datname = $1", values["POSTGRES_DB"])
            await conn.execute(f'drop database if exists "{values["POSTGRES_DB"]}"')
            await conn.execute(f'drop role if exists "{values["UNAMENTIS_APP_ROLE"]}"')
            await conn.execute(f'drop role if exists "{values["POSTGRES_USER"]}"')
        finally:
            await conn.close()

    asyncio.run(setup())
    try:
        yield values
    finally:
        asyncio.run(teardown())


def test_compose_services_migrate_serve_and_answer_an_authenticated_request(
    rehearsal_env: dict[str, str], moto_endpoint: str, tmp_path: Path
) -> None:
    compose = load(rehearsal_env)
    migrate_service, core_service = compose["services"]["migrate"], compose["services"]["core"]
    migrate_env = _process_env(_swap_hosts(environment(migrate_service), moto_endpoint), tmp_path)
    core_env = _process_env(_swap_hosts(environment(core_service), moto_endpoint), tmp_path)
    assert "postgres:5432" not in " ".join(core_env.values()) and "minio:9000" not in " ".join(core_env.values())

    # minio-init's part: the bucket (moto accepts the runtime's generated keys)
    boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1",
                 aws_access_key_id=rehearsal_env["UNAMENTIS_S3_ACCESS_KEY_ID"],
                 aws_secret_access_key=rehearsal_env["UNAMENTIS_S3_SECRET_ACCESS_KEY"]
                 ).create_bucket(Bucket=rehearsal_env["UNAMENTIS_BUCKET"])

    # 1. migrate (depends_on: postgres healthy) — as the owner, creating the runtime role
    result = _run(migrate_service["command"], migrate_env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "migration(s) applied" in result.stdout

    async def role_attrs() -> asyncpg.Record:
        conn = await asyncpg.connect(_dsn_for(rehearsal_env["POSTGRES_DB"]))
        try:
            return await conn.fetchrow(
                "select rolsuper, rolbypassrls, rolcanlogin, "
                "  (select tableowner from pg_tables where tablename = 'tenants') as owner "
                "from pg_roles where rolname = $1", rehearsal_env["UNAMENTIS_APP_ROLE"])
        finally:
            await conn.close()

    attrs = asyncio.run(role_attrs())
    assert attrs["rolcanlogin"] and not attrs["rolsuper"] and not attrs["rolbypassrls"]
    assert attrs["owner"] == rehearsal_env["POSTGRES_USER"] != rehearsal_env["UNAMENTIS_APP_ROLE"]

    # 2. the core (depends_on: migrate completed) with its exact command, on a free port
    command = list(core_service["command"])
    port = free_port()
    command[command.index("--port") + 1] = str(port)
    log = (tmp_path / "core.log").open("w")
    hook = None
    core = subprocess.Popen(_argv(command), cwd=ROOT, env=core_env, stdout=log, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            assert core.poll() is None, (tmp_path / "core.log").read_text()[-3000:]
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "core did not become healthy"
            time.sleep(0.3)

        # 3. a tenant and a token, as `docker compose run --rm migrate admin …` would (owner's env)
        created = _run(["admin", "tenant", "create", "school"], migrate_env)
        assert created.returncode == 0, created.stderr
        issued = _run(["admin", "token", "issue", "--tenant", "school", "--name", "rehearsal"], migrate_env)
        assert issued.returncode == 0, issued.stderr
        token = issued.stdout.strip().splitlines()[-1]
        assert token.startswith("uma_beta_")

        # 4. an authenticated route answers 200, without a token 401
        answer = httpx.get(f"{base}/api/curricula", headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert answer.status_code == 200, answer.text
        assert "curricula" in answer.json()
        assert httpx.get(f"{base}/api/curricula", timeout=10).status_code == 401

        # 5. stop it the way the Helm chart's preStop hook does (its script, with this process's pid
        #    for the container's PID 1): an open voice socket is told to reconnect (1001), the process
        #    exits, and the hook returns well inside the grace period
        from websockets.sync.client import connect

        script = _chart_prestop_script().replace("kill -TERM 1;", f"kill -TERM {core.pid};").replace(
            "kill -0 1 ", f"kill -0 {core.pid} ")
        assert f"kill -TERM {core.pid};" in script and "kill -TERM 1;" not in script
        with connect(f"ws://127.0.0.1:{port}/ws/audio?token={token}", open_timeout=10) as ws:
            assert json.loads(ws.recv(timeout=10))["type"] == "session"
            started = time.monotonic()
            hook = subprocess.Popen(["/bin/sh", "-c", script])
            events = []
            try:
                while True:
                    events.append(json.loads(ws.recv(timeout=30)))
            except ConnectionClosed as closed:
                assert closed.rcvd is not None and closed.rcvd.code == 1001, closed
            assert any(e.get("type") == "error" and e.get("code") == "server_draining" for e in events), events
        # reaped here (in a pod, PID 1's exit ends the container); uvicorn re-raises SIGTERM after its
        # graceful shutdown, so the status is "terminated by SIGTERM"
        assert core.wait(timeout=60) in (0, -signal.SIGTERM)
        assert hook.wait(timeout=10) == 0
        assert time.monotonic() - started < 60
    finally:
        if hook is not None and hook.poll() is None:
            hook.kill()
            hook.wait()
        if core.poll() is None:
            core.send_signal(signal.SIGTERM)  # what `docker compose stop` sends (stop_signal)
        try:
            core.wait(timeout=30)
        except subprocess.TimeoutExpired:
            core.kill()
            core.wait()
        log.close()
    text = (tmp_path / "core.log").read_text()
    assert "TENANT ISOLATION IS NOT ENFORCED" not in text, text[-3000:]
