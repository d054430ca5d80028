"""Reproducible Lambda artifacts: the code zip of ``runtime/`` and a dependency layer.

Two artifacts, both byte-identical when their inputs are unchanged (fixed timestamps and permissions,
sorted entries, no build-host bytecode caches), so an unchanged build never redeploys a function:

* **code zip** — the ``runtime/`` package, handler strings ``runtime.handlers.<service>.handler``.
  Built from the working tree in well under a second; the Pulumi program builds it at plan/up time.

Both ship **precompiled bytecode for the Lambda interpreter** (``__pycache__/*.cpython-312.pyc``,
``unchecked-hash`` mode, source paths relative to the archive): Lambda's code directory is read-only,
so without it every cold start compiles every imported module again — measured by
``bench/cold_start.py`` at roughly twice the import time. Bytecode is compiled by a Python of the
target version (``UNAMENTIS_LAMBDA_PYTHON``, ``python3.12`` on PATH, or a pyenv 3.12); that output is
deterministic for a given interpreter. Without such a Python the build ships sources only and says so
(``bytecode: null`` in the manifest).
* **dependency layer** — ``pip install --platform manylinux2014_aarch64 --platform manylinux_2_28_aarch64
  --only-binary=:all: --python-version 3.12 --implementation cp --target python/`` of
  ``runtime/requirements.txt``, zipped under ``python/`` (the path the Lambda Python runtime puts on
  ``sys.path``). The second platform tag admits wheels that need glibc 2.28 (the Python 3.12 Lambda
  runtime is Amazon Linux 2023 with glibc 2.34); pip prefers the newest compatible wheel.
  It needs PyPI, so it is cached under ``build/lambda/`` by a key over everything that decides its
  content (requirements text, platform tags, Python version, builder version). ``pulumi up`` builds
  it when the cache is missing; the offline ``plan`` never touches the network and, when the layer
  was not built beforehand, uses a clearly labelled placeholder archive (see
  :func:`resolve_layer`).

CLI::

    python -m components.lambda_build            # code zip + layer for Lambda (arm64, 3.12)
    python -m components.lambda_build --code-only
    python -m components.lambda_build --target host   # a layer for this machine (tests, local checks)

It prints one JSON manifest (paths, sha256 hex, base64 sha256 for ``source_code_hash``).
"""
from __future__ import annotations

import argparse
import base64
import glob
import hashlib
import io
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
RUNTIME_DIR = REPO_ROOT / "runtime"
REQUIREMENTS = RUNTIME_DIR / "requirements.txt"
DEFAULT_BUILD_DIR = REPO_ROOT / "build" / "lambda"

# Bump when the layout or selection rules below change, so cached layers are rebuilt.
BUILDER_VERSION = "2"  # 2: layers ship precompiled bytecode
LAMBDA_PYTHON_VERSION = "3.12"
LAMBDA_PLATFORMS = ("manylinux2014_aarch64", "manylinux_2_28_aarch64")
# 1980-01-01 is the earliest timestamp a zip entry can hold; any fixed value makes builds stable.
FIXED_DATE_TIME = (1980, 1, 1, 0, 0, 0)
# Never shipped: bytecode caches differ per build; console scripts carry the build host's shebang.
_EXCLUDED_DIRS = {"__pycache__", ".pytest_cache", ".mypy_cache"}
_EXCLUDED_SUFFIXES = (".pyc", ".pyo")
# Files of runtime/ that only the container image needs.
# Lambda's limit for code + layers unzipped is 250 MB; keep 10 MB for the function's own code.
LAYER_UNZIPPED_LIMIT = 240 * 1000 * 1000
_CODE_EXCLUDED_FILES = {"Dockerfile", "Dockerfile.dockerignore"}


class BuildError(RuntimeError):
    """A build step failed; the message says which and how to fix it."""


@dataclass(frozen=True)
class Artifact:
    path: str
    sha256: str  # hex
    source_code_hash: str  # base64 sha256, the form aws.lambda_.Function.source_code_hash takes
    size_bytes: int
    placeholder: bool = False
    bytecode: str | None = None  # the Python version the shipped bytecode is for, None when sources only


def _digest(path: Path) -> tuple[str, str]:
    h = hashlib.sha256(path.read_bytes()).digest()
    return h.hex(), base64.b64encode(h).decode()


def _artifact(path: Path, placeholder: bool = False, bytecode: str | None = None) -> Artifact:
    hexd, b64 = _digest(path)
    return Artifact(str(path), hexd, b64, path.stat().st_size, placeholder, bytecode)


def find_python(version: str) -> str | None:
    """An interpreter of ``version`` (e.g. "3.12") to compile bytecode with, or None."""
    if f"{sys.version_info.major}.{sys.version_info.minor}" == version:
        return sys.executable
    explicit = os.environ.get("UNAMENTIS_LAMBDA_PYTHON")
    candidates = [explicit] if explicit else []
    candidates.append(shutil.which(f"python{version}"))
    pyenv_root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    candidates += sorted(glob.glob(os.path.join(pyenv_root, "versions", f"{version}.*", "bin", f"python{version}")))
    for cand in candidates:
        if not cand or not os.access(cand, os.X_OK):
            continue
        probe = subprocess.run([cand, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                               capture_output=True, text=True)
        if probe.returncode == 0 and probe.stdout.strip() == version:
            return cand
    return None


def with_bytecode(entries: dict[str, Path], workdir: Path, version: str) -> tuple[dict[str, Path], str | None]:
    """``entries`` plus the bytecode of every ``.py`` among them, compiled by a ``version`` Python.

    The sources are copied to ``workdir`` under their archive names and compiled there with
    ``-d`` = the archive-relative directory, so no build-host path reaches the bytecode."""
    python = find_python(version)
    if python is None:
        print(f"warning: no Python {version} found to precompile bytecode; shipping sources only "
              "(set UNAMENTIS_LAMBDA_PYTHON)", file=sys.stderr)
        return entries, None
    for name, src in entries.items():
        dest = workdir / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)
    for top in sorted({name.split("/", 1)[0] for name in entries}):
        if not (workdir / top).is_dir():
            continue
        proc = subprocess.run(
            [python, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash",
             "-d", top, str(workdir / top)],
            capture_output=True, text=True,
        )
        if proc.returncode != 0:
            # A file that does not compile (e.g. a package's py2 test data) keeps its source only.
            print(f"warning: compileall reported errors under {top}: {proc.stdout.strip()[-500:]}", file=sys.stderr)
    tag = f"cpython-{version.replace('.', '')}"
    compiled = dict(entries)
    for pyc in workdir.rglob(f"*.{tag}.pyc"):
        compiled[pyc.relative_to(workdir).as_posix()] = pyc
    return compiled, version


def _walk(root: Path, skip_top: frozenset[str] = frozenset()) -> list[Path]:
    files: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = Path(dirpath).relative_to(root)
        dirnames[:] = [
            d for d in dirnames
            if d not in _EXCLUDED_DIRS and not (rel_dir == Path(".") and d in skip_top)
        ]
        for f in filenames:
            if f.endswith(_EXCLUDED_SUFFIXES):
                continue
            files.append(Path(dirpath) / f)
    return files


def deterministic_zip(entries: dict[str, Path | bytes], out: Path) -> Path:
    """Write ``{archive name: source file}`` as a zip whose bytes depend only on the file contents.

    Sorted names, a fixed timestamp, Unix mode 0644 (0755 when the source is executable), a fixed
    creator system and compression level. Written to a temp file and renamed, so a reader never sees
    a half-written archive.
    """
    return _write_atomically(zip_bytes(entries), out)


def _write_atomically(data: bytes, out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    # Unique temp name: parallel builds (tests, plan) may write the same artifact at once.
    fd, tmp = tempfile.mkstemp(prefix=out.name + ".", suffix=".tmp", dir=out.parent)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.chmod(tmp, 0o644)
    os.replace(tmp, out)
    return out


def zip_bytes(entries: dict[str, Path | bytes]) -> bytes:
    """The deterministic zip of ``entries`` (a source file, or the content itself) as bytes."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for name in sorted(entries):
            src = entries[name]
            info = zipfile.ZipInfo(name, date_time=FIXED_DATE_TIME)
            info.create_system = 3  # Unix, so external_attr carries the mode on every host
            if isinstance(src, bytes):
                executable, data = False, src
            else:
                executable, data = bool(src.stat().st_mode & stat.S_IXUSR), src.read_bytes()
            info.external_attr = ((0o755 if executable else 0o644) | stat.S_IFREG) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
    return buf.getvalue()


def code_entries(runtime_dir: Path = RUNTIME_DIR) -> dict[str, Path]:
    """The archive entries of the code zip: ``runtime/<...>`` for every shipped file."""
    if not (runtime_dir / "__init__.py").is_file():
        raise BuildError(f"{runtime_dir} is not the runtime package (no __init__.py)")
    entries: dict[str, Path] = {}
    for f in _walk(runtime_dir):
        rel = f.relative_to(runtime_dir)
        if len(rel.parts) == 1 and rel.name in _CODE_EXCLUDED_FILES:
            continue
        entries[(Path(runtime_dir.name) / rel).as_posix()] = f
    return entries


def build_code_zip(build_dir: Path = DEFAULT_BUILD_DIR, runtime_dir: Path = RUNTIME_DIR,
                   python_version: str = LAMBDA_PYTHON_VERSION) -> Artifact:
    """Zip the runtime package with its bytecode for ``python_version``; the file name carries the
    content hash (content-addressed)."""
    with tempfile.TemporaryDirectory(prefix="uma-code-") as tmp:
        entries, bytecode = with_bytecode(code_entries(runtime_dir), Path(tmp), python_version)
        data = zip_bytes(entries)
    final = build_dir / f"code-{hashlib.sha256(data).hexdigest()[:16]}.zip"
    if not final.is_file():
        _write_atomically(data, final)
    return _artifact(final, bytecode=bytecode)


def check_unzipped_size(entries: dict[str, Path], limit: int = LAYER_UNZIPPED_LIMIT) -> int:
    """Lambda refuses a function whose code and layers exceed 250 MB unzipped: fail the build
    early, naming the largest top-level packages."""
    sizes: dict[str, int] = {}
    for name, path in entries.items():
        top = name.split("/")[1] if name.count("/") > 1 else name
        sizes[top] = sizes.get(top, 0) + path.stat().st_size
    total = sum(sizes.values())
    if total > limit:
        biggest = ", ".join(f"{k} {v / 1e6:.1f} MB" for k, v in sorted(sizes.items(), key=lambda kv: -kv[1])[:5])
        raise BuildError(f"the layer is {total / 1e6:.1f} MB unzipped, over the {limit / 1e6:.0f} MB Lambda "
                         f"allows for code + layers (largest: {biggest}); trim runtime/requirements.txt")
    return total


def layer_key(requirements_text: str, target: str, python_version: str, platforms: tuple[str, ...]) -> str:
    """Cache key over everything that decides the layer's content."""
    norm = "\n".join(
        line.strip() for line in requirements_text.splitlines()
        if line.strip() and not line.strip().startswith("#")
    )
    blob = json.dumps(
        {"req": norm, "target": target, "py": python_version, "platforms": list(platforms),
         "builder": BUILDER_VERSION},
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _layer_params(target: str) -> tuple[str, tuple[str, ...]]:
    if target == "lambda":
        return LAMBDA_PYTHON_VERSION, LAMBDA_PLATFORMS
    if target == "host":
        return f"{sys.version_info.major}.{sys.version_info.minor}", ()
    raise BuildError(f"unknown layer target {target!r}: use 'lambda' or 'host'")


def layer_path(build_dir: Path = DEFAULT_BUILD_DIR, requirements: Path = REQUIREMENTS,
               target: str = "lambda") -> Path:
    py, platforms = _layer_params(target)
    key = layer_key(requirements.read_text(), target, py, platforms)
    return build_dir / f"layer-{target}-{key}.zip"


def pip_command(requirements: Path, dest: Path, target: str) -> list[str]:
    py, platforms = _layer_params(target)
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
           "--no-compile", "--target", str(dest), "-r", str(requirements)]
    if target == "lambda":
        for p in platforms:
            cmd += ["--platform", p]
        cmd += ["--only-binary=:all:", "--python-version", py, "--implementation", "cp"]
    return cmd


def build_layer(build_dir: Path = DEFAULT_BUILD_DIR, requirements: Path = REQUIREMENTS,
                target: str = "lambda", force: bool = False) -> Artifact:
    """Install the requirements for ``target`` and zip them under ``python/``; cached by key."""
    out = layer_path(build_dir, requirements, target)
    if out.is_file() and not force:
        return _artifact(out)
    with tempfile.TemporaryDirectory(prefix="uma-layer-") as tmp:
        site = Path(tmp) / "python"
        cmd = pip_command(requirements, site, target)
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise BuildError(
                "pip could not build the Lambda layer (it needs PyPI access and a wheel of every "
                f"requirement for {target}):\n{proc.stderr.strip()[-2000:]}"
            )
        entries = {
            (Path("python") / f.relative_to(site)).as_posix(): f
            for f in _walk(site, skip_top=frozenset({"bin"}))
        }
        py, _platforms = _layer_params(target)
        entries, bytecode = with_bytecode(entries, Path(tmp) / "compiled", py)
        check_unzipped_size(entries)
        deterministic_zip(entries, out)
    return _artifact(out, bytecode=bytecode)


def resolve_layer(build_dir: Path = DEFAULT_BUILD_DIR, requirements: Path = REQUIREMENTS,
                  offline: bool = False) -> Artifact:
    """The Lambda layer for the program: the cached build, else build it, else (offline) a placeholder.

    ``offline`` is true under the mock engine (the ``plan`` command and tests): the network is never
    used, and a missing layer becomes a tiny archive flagged ``placeholder=True``; the program labels
    the layer resource with it so the plan output says the layer was not built.
    """
    cached = layer_path(build_dir, requirements, "lambda")
    if cached.is_file():
        return _artifact(cached)
    if not offline:
        return build_layer(build_dir, requirements, "lambda")
    note = (b"PLACEHOLDER: the dependency layer was not built. Run `python -m components.lambda_build` "
            b"(needs PyPI) before `pulumi up`, or let `pulumi up` build it.\n")
    ph = deterministic_zip({"python/UNBUILT_LAYER_PLACEHOLDER.txt": note}, build_dir / "layer-placeholder.zip")
    return _artifact(ph, placeholder=True)


def program_artifacts(offline: bool) -> tuple[Artifact, Artifact]:
    """(code zip, dependency layer) for a deploy: the code is rebuilt (byte-identical when nothing
    changed), the layer comes from `resolve_layer` (a placeholder when `offline` and not built)."""
    return build_code_zip(), resolve_layer(offline=offline)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m components.lambda_build", description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_BUILD_DIR, help="build directory (default build/lambda)")
    ap.add_argument("--target", choices=("lambda", "host"), default="lambda",
                    help="layer platform: lambda = arm64 Python 3.12 (default); host = this interpreter")
    ap.add_argument("--requirements", type=Path, default=REQUIREMENTS)
    only = ap.add_mutually_exclusive_group()
    only.add_argument("--code-only", action="store_true")
    only.add_argument("--layer-only", action="store_true")
    ap.add_argument("--force", action="store_true", help="rebuild the layer even if cached")
    args = ap.parse_args(argv)
    manifest: dict[str, object] = {}
    try:
        if not args.layer_only:
            manifest["code"] = asdict(build_code_zip(args.out))
        if not args.code_only:
            if not args.requirements.is_file():
                raise BuildError(f"requirements file {args.requirements} does not exist")
            manifest["layer"] = asdict(build_layer(args.out, args.requirements, args.target, args.force))
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(manifest, indent=2))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
