"""Runs the edge router's Workers-runtime tests (components/edge_worker, `npm test`).

The router is JavaScript and is tested in a real Workers runtime (workerd via
Miniflare) by node's test runner; this test makes the README's one test command
cover it and fails when any of those tests fails.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

WORKER_DIR = Path(__file__).resolve().parents[2] / "components" / "edge_worker"


def test_edge_router_in_workers_runtime() -> None:
    node = shutil.which("node")
    assert node, "node is required for the edge router tests (Node.js 18+)"
    assert (WORKER_DIR / "node_modules" / "miniflare").is_dir(), (
        f"run `npm ci` in {WORKER_DIR} first (.ci/run does this)"
    )
    env = dict(os.environ, PYTHON=sys.executable, NO_COLOR="1")
    proc = subprocess.run(
        [node, "--test", "--test-timeout=60000", "--test-reporter=spec", "test/"],
        cwd=WORKER_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"edge router tests failed:\n{output}"
    # Guard against a run that executed nothing.
    assert "ℹ fail 0" in output and "ℹ pass 0" not in output, output
