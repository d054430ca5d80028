"""`python -m runtime dev` on a machine without DATABASE_URL: throwaway cluster, token, serve, clean up."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.runtime.conftest import free_port
from runtime.localpg import LocalPostgresError, find_bindir

ROOT = Path(__file__).resolve().parents[3]


def _have_server_binaries() -> bool:
    try:
        find_bindir()
        return True
    except LocalPostgresError:
        return False


@pytest.mark.skipif(not _have_server_binaries(), reason="PostgreSQL server binaries (initdb, pg_ctl) are not installed")
def test_dev_starts_a_throwaway_database_and_serves(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("UNAMENTIS_") and k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(PYTHONPATH=str(ROOT), UNAMENTIS_LOG_LEVEL="WARNING", UNAMENTIS_STORAGE_URL=f"file://{tmp_path}/storage")
    process = subprocess.Popen(
        [sys.executable, "-m", "runtime", "dev", "--port", str(port)],
        env=env, cwd=str(ROOT), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 90
        while not any(line.startswith("uma_beta_") for line in lines):
            line = process.stdout.readline()
            if not line and process.poll() is not None:
                raise AssertionError("dev exited early:\n" + "".join(lines))
            lines.append(line)
            assert time.monotonic() < deadline, "no token printed:\n" + "".join(lines)
        output = "".join(lines)
        token = next(line.strip() for line in lines if line.startswith("uma_beta_"))
        data_dir = Path(re.search(r"data in (\S+) \(deleted on exit\)", output).group(1))
        assert data_dir.exists()
        assert f"http://127.0.0.1:{port}" in output
        url = f"http://127.0.0.1:{port}"
        while True:
            try:
                health = httpx.get(f"{url}/health", timeout=1)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline and process.poll() is None, "server did not come up"
                time.sleep(0.1)
        assert health.status_code == 200
        assert httpx.get(f"{url}/api/curricula", timeout=5).status_code == 401
        ok = httpx.get(f"{url}/api/curricula", headers={"Authorization": f"Bearer {token}"}, timeout=5)
        assert ok.status_code == 200, ok.text
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    assert not data_dir.exists(), "the throwaway cluster was not deleted"
