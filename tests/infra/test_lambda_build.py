"""The Lambda build: reproducible zips, and every handler served from the built artifacts alone
(API Gateway HTTP API v2 events as in tunnel mode, ALB events as in ALB mode)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from components import lambda_build as lb
from runtime.route_table import LAMBDA_SERVICES

REPO = Path(__file__).resolve().parents[2]


def test_code_zip_is_byte_identical_across_builds(tmp_path):
    a = lb.build_code_zip(tmp_path / "a")
    # Touch every source file: timestamps must not reach the archive.
    for p in lb.code_entries().values():
        os.utime(p, None)
    b = lb.build_code_zip(tmp_path / "b")
    assert a.sha256 == b.sha256 and a.source_code_hash == b.source_code_hash
    assert Path(a.path).read_bytes() == Path(b.path).read_bytes()
    assert Path(a.path).name == f"code-{a.sha256[:16]}.zip"


def test_code_zip_content_and_metadata(tmp_path):
    art = lb.build_code_zip(tmp_path)
    with zipfile.ZipFile(art.path) as zf:
        infos = zf.infolist()
    names = [i.filename for i in infos]
    assert names == sorted(names)
    assert "runtime/__init__.py" in names and "runtime/route_table.py" in names
    # Bytecode for the Lambda interpreter only, one per shipped source, with no build-host path in it.
    pycs = [n for n in names if n.endswith(".pyc")]
    if art.bytecode is None:
        assert pycs == []
    else:
        assert art.bytecode == lb.LAMBDA_PYTHON_VERSION
        tag = "cpython-" + lb.LAMBDA_PYTHON_VERSION.replace(".", "")
        assert pycs and all(n.split("/")[-2] == "__pycache__" and n.endswith(f".{tag}.pyc") for n in pycs)
        sources = {n for n in names if n.endswith(".py")}
        assert {n.replace("/__pycache__", "").replace(f".{tag}.pyc", ".py") for n in pycs} == sources
        with zipfile.ZipFile(art.path) as zf:
            assert not any(str(REPO).encode() in zf.read(n) for n in pycs)
    assert "runtime/Dockerfile" not in names
    assert all(i.date_time == lb.FIXED_DATE_TIME for i in infos)
    assert all((i.external_attr >> 16) & 0o777 in (0o644, 0o755) for i in infos)


def test_deterministic_zip_ignores_mtime_and_order_but_not_content(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "b.txt").write_text("b")
    (src / "a.txt").write_text("a")
    first = lb.zip_bytes({"a.txt": src / "a.txt", "b.txt": src / "b.txt"})
    time.sleep(0.01)
    os.utime(src / "a.txt", (1_000_000, 1_000_000))
    second = lb.zip_bytes({"b.txt": src / "b.txt", "a.txt": src / "a.txt"})
    assert first == second
    (src / "a.txt").write_text("changed")
    assert lb.zip_bytes({"a.txt": src / "a.txt", "b.txt": src / "b.txt"}) != first


def test_unzipped_size_limit_names_the_largest_packages(tmp_path):
    (tmp_path / "big.bin").write_bytes(b"x" * 3000)
    (tmp_path / "small.py").write_bytes(b"y" * 10)
    entries = {"python/numpy/big.bin": tmp_path / "big.bin", "python/tiny/small.py": tmp_path / "small.py"}
    assert lb.check_unzipped_size(entries, limit=5000) == 3010
    with pytest.raises(lb.BuildError, match=r"largest: numpy"):
        lb.check_unzipped_size(entries, limit=2000)


def test_layer_key_tracks_what_decides_the_content():
    req = "starlette>=1.10\n# comment\nasyncpg\n"
    k = lb.layer_key(req, "lambda", "3.12", lb.LAMBDA_PLATFORMS)
    assert k == lb.layer_key("starlette>=1.10\nasyncpg\n\n", "lambda", "3.12", lb.LAMBDA_PLATFORMS)
    assert k != lb.layer_key(req + "httpx\n", "lambda", "3.12", lb.LAMBDA_PLATFORMS)
    assert k != lb.layer_key(req, "lambda", "3.13", lb.LAMBDA_PLATFORMS)
    assert k != lb.layer_key(req, "host", "3.12", ())


def test_lambda_pip_command_targets_arm64_python312(tmp_path):
    cmd = lb.pip_command(lb.REQUIREMENTS, tmp_path, "lambda")
    assert "--only-binary=:all:" in cmd
    assert cmd[cmd.index("--python-version") + 1] == "3.12"
    plats = [cmd[i + 1] for i, a in enumerate(cmd) if a == "--platform"]
    assert plats == ["manylinux2014_aarch64", "manylinux_2_28_aarch64"]
    assert cmd[cmd.index("--target") + 1] == str(tmp_path)


def test_offline_layer_is_a_labelled_placeholder(tmp_path):
    req = tmp_path / "requirements.txt"
    req.write_text("nonexistent-package-for-test==1.0\n")
    art = lb.resolve_layer(tmp_path, req, offline=True)
    assert art.placeholder
    with zipfile.ZipFile(art.path) as zf:
        assert zf.namelist() == ["python/UNBUILT_LAYER_PLACEHOLDER.txt"]


def test_cli_code_only_prints_manifest(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "components.lambda_build", "--code-only", "--out", str(tmp_path)],
                          cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads(proc.stdout)
    assert Path(manifest["code"]["path"]).is_file()
    assert manifest["code"]["sha256"] == lb.build_code_zip(tmp_path).sha256


def test_cli_reports_missing_requirements(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "components.lambda_build", "--layer-only",
                           "--requirements", str(tmp_path / "missing.txt"), "--out", str(tmp_path)],
                          cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and "does not exist" in proc.stderr


# ------------------------------------------------------------------ handlers from the zip alone

_SERVE_ONE = r"""
import json, sys
task, opt, service, secret = sys.argv[1:5]
# Only the stdlib, the function code and the layer, in the order Lambda uses.
sys.path[:] = [task, opt] + [p for p in sys.path if "site-packages" not in p and p not in ("", ".")]
import importlib
mod = importlib.import_module(f"runtime.handlers.{service}")
assert mod.__file__.startswith(task), mod.__file__

def event(headers):
    return {"version": "2.0", "routeKey": f"ANY /api/{service}/{{proxy+}}", "rawPath": "/api/health",
            "rawQueryString": "", "headers": {"host": "fn.example.org", "user-agent": "lambda-build-test", **headers},
            "requestContext": {"accountId": "123456789012", "apiId": "abc123", "domainName": "fn.example.org",
                               "domainPrefix": "fn", "http": {"method": "GET", "path": "/api/health",
                               "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "lambda-build-test"},
                               "requestId": "req-1", "routeKey": "ANY /api/{proxy+}", "stage": "$default",
                               "time": "26/Nov/2026:00:00:00 +0000", "timeEpoch": 1795651200000},
            "isBase64Encoded": False}

class Ctx:
    function_name = f"uma-test-{service}"
    aws_request_id = "req-1"
    invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:uma-test-{service}"
    memory_limit_in_mb = 512
    def get_remaining_time_in_millis(self):
        return 10_000

def alb_event(headers):
    # ALB target groups are created with lambda_multi_value_headers_enabled=True
    return {"requestContext": {"elb": {"targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/uma-test/0123456789abcdef"}},
            "httpMethod": "GET", "path": "/api/health", "multiValueQueryStringParameters": {},
            "multiValueHeaders": {"host": ["api.example.org"], "user-agent": ["lambda-build-test"],
                                  **{k: [v] for k, v in headers.items()}},
            "body": "", "isBase64Encoded": False}

ok = mod.handler(event({"x-origin-secret": secret}), Ctx())
denied = mod.handler(event({}), Ctx())
alb_ok = mod.handler(alb_event({"x-origin-secret": secret}), Ctx())
print(json.dumps({"ok": ok, "denied": denied, "alb_ok": alb_ok, "loaded_from": sorted({m.__file__.split("/site-packages/")[0]
      for m in list(sys.modules.values()) if getattr(m, "__file__", None) and "site-packages" in m.__file__})}))
"""


@pytest.fixture(scope="module")
def lambda_dirs(tmp_path_factory):
    """The code zip and a host-platform layer, extracted as Lambda does (/var/task, /opt/python)."""
    handlers = sorted(p.stem for p in (REPO / "runtime" / "handlers").glob("*.py") if p.stem != "__init__")
    if not handlers:
        pytest.skip("runtime/handlers/ has no handler modules yet (runtime core engineer)")
    out = REPO / "build" / "lambda"
    code = lb.build_code_zip(tmp_path_factory.mktemp("code"))
    layer = lb.build_layer(out, lb.REQUIREMENTS, target="host")  # cached by requirements hash
    root = tmp_path_factory.mktemp("lambda")
    task, opt = root / "task", root / "opt"
    zipfile.ZipFile(code.path).extractall(task)
    zipfile.ZipFile(layer.path).extractall(opt)
    return task, opt / "python"


@pytest.mark.parametrize("service", LAMBDA_SERVICES)
def test_handler_serves_a_request_from_the_built_artifacts(lambda_dirs, service, tmp_path):
    task, opt = lambda_dirs
    secret = "origin-secret-for-the-lambda-build-test"
    env = {"PATH": os.environ.get("PATH", ""), "AWS_LAMBDA_FUNCTION_NAME": f"uma-test-{service}",
           "AWS_REGION": "us-east-1", "UNAMENTIS_ORIGIN_SECRET": secret, "UNAMENTIS_ENV": "test",
           "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/unused", "UNAMENTIS_JWT_SECRET": "x" * 48,
           "HOME": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-I", "-S", "-c", _SERVE_ONE, str(task), str(opt), service, secret],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["ok"]["statusCode"] == 200, result["ok"]
    assert json.loads(result["ok"]["body"])["status"] == "healthy"
    assert result["denied"]["statusCode"] == 403, result["denied"]
    # the same handler behind an ALB target group (ALB mode)
    assert result["alb_ok"]["statusCode"] == 200, result["alb_ok"]
    assert json.loads(result["alb_ok"]["body"])["status"] == "healthy"
    # Nothing came from the host's site-packages.
    assert result["loaded_from"] == []
