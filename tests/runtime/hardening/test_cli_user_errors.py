"""User errors of the command-line tools: one clear line on stderr, exit 2, never a traceback."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from runtime.handlers.adapter import lambda_handler
from runtime.isolation import IsolationError

ROOT = Path(__file__).resolve().parents[3]


def run(*args: str, **env: str) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if not k.startswith(("UNAMENTIS_", "DATABASE_URL"))}
    return subprocess.run([sys.executable, *args], cwd=ROOT, env={**full, **env}, capture_output=True, text=True, timeout=120)


def assert_user_error(result: subprocess.CompletedProcess, *needles: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    for needle in needles:
        assert needle in result.stderr, result.stderr[-2000:]


def test_serve_refuses_a_malformed_database_url():
    assert_user_error(run("-m", "runtime", "serve", DATABASE_URL="notaurl"), "DATABASE_URL", "postgresql://")


def test_serve_refuses_an_unreachable_database():
    result = run("-m", "runtime", "serve", "--port", "1", DATABASE_URL="postgresql://nobody@127.0.0.1:1/none",
                 UNAMENTIS_DB_CONNECT_TIMEOUT="1")
    assert_user_error(result, "cannot connect to the database")


def test_serve_refuses_a_role_that_bypasses_rls_outside_dev(database):
    result = run("-m", "runtime", "serve", "--port", "1", DATABASE_URL=database.owner_dsn, UNAMENTIS_ENV="beta")
    assert_user_error(result, "TENANT ISOLATION IS NOT ENFORCED", "UNAMENTIS_INSECURE_ALLOW_RLS_BYPASS")


def test_lambda_init_refuses_a_role_that_bypasses_rls(database):
    with pytest.raises(IsolationError):
        lambda_handler("health", database.settings(database_url=database.owner_dsn, environment="beta"))
    handler = lambda_handler("health", database.settings(environment="beta"))  # the runtime role: fine
    handler.loop.run_until_complete(handler.app.state.ctx.aclose())
    handler.loop.close()


def test_dev_on_a_taken_port_says_so_before_anything_else():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run("-m", "runtime", "dev", "--port", str(port))
    assert_user_error(result, f"127.0.0.1:{port}", "--port")
    assert result.stdout == ""


def test_plan_of_a_missing_stack_lists_the_stacks():
    assert_user_error(run("-m", "components.plan", "nosuch"), "no stack file", "beta", "prod", "customer")


def test_plan_into_a_closed_pipe_is_quiet():
    reader = subprocess.Popen([sys.executable, "-m", "components.plan", "prod", "--json"], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert reader.stdout is not None and reader.stderr is not None
    reader.stdout.read(10)  # what `| head -c 10` takes
    reader.stdout.close()
    stderr = reader.stderr.read().decode()
    assert reader.wait(timeout=120) in (0, 1), stderr
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr, stderr
