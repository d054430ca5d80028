"""A throwaway PostgreSQL cluster for `python -m runtime dev` when no DATABASE_URL is given.

Uses the installed server binaries (``initdb`` / ``pg_ctl`` from ``/usr/lib/postgresql/<v>/bin``,
``pg_config --bindir`` or ``PATH``): a fresh data directory in a temporary folder, trust auth,
listening on 127.0.0.1 only at a free port, its socket inside the data directory (no clash with a
system cluster), stopped and deleted on exit. PostgreSQL refuses to run as root, so as root the
binaries run as the ``postgres`` system user (present wherever the Debian/Ubuntu packages are).
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path


class LocalPostgresError(RuntimeError):
    """The local cluster cannot be created or started; the message says what to install or set."""


def find_bindir() -> Path:
    candidates: list[Path] = []
    for found in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True):
        candidates.append(Path(found))
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=True, timeout=10)
            candidates.append(Path(out.stdout.strip()))
        except (subprocess.SubprocessError, OSError):
            pass
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(os.path.realpath(initdb)).parent)
    for candidate in candidates:
        if (candidate / "initdb").exists() and (candidate / "pg_ctl").exists():
            return candidate
    raise LocalPostgresError(
        "no PostgreSQL server binaries (initdb, pg_ctl) found; install PostgreSQL "
        "(e.g. `apt-get install postgresql`) or set DATABASE_URL to an existing database"
    )


def _version_key(path: str) -> tuple[int, ...]:
    version = Path(path).parent.name
    return tuple(int(part) for part in version.split(".") if part.isdigit()) or (0,)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LocalPostgres:
    bindir: Path
    root: Path
    port: int
    run_as: str | None

    @property
    def datadir(self) -> Path:
        return self.root / "data"

    def dsn(self, database: str = "postgres", user: str = "postgres", password: str | None = None) -> str:
        auth = f"{user}:{password}@" if password else f"{user}@"
        return f"postgresql://{auth}127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str, timeout: float = 120) -> None:
        try:
            subprocess.run(
                [str(a) for a in args],
                check=True,
                capture_output=True,
                text=True,
                timeout=timeout,
                user=self.run_as,
                cwd=str(self.root),
            )
        except subprocess.CalledProcessError as exc:
            raise LocalPostgresError(f"{Path(args[0]).name} failed: {exc.stderr.strip() or exc.stdout.strip()}") from exc

    @classmethod
    def start(cls, base_dir: str | None = None) -> "LocalPostgres":
        bindir = find_bindir()
        run_as = None
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                raise LocalPostgresError(
                    "running as root and there is no 'postgres' system user to run PostgreSQL as; "
                    "run `dev` as a normal user or set DATABASE_URL"
                ) from None
            run_as = "postgres"
        root = Path(tempfile.mkdtemp(prefix="unamentis-pg-", dir=base_dir))
        if run_as:
            entry = pwd.getpwnam(run_as)
            os.chown(root, entry.pw_uid, entry.pw_gid)
        cluster = cls(bindir=bindir, root=root, port=_free_port(), run_as=run_as)
        try:
            cluster._run(
                bindir / "initdb", "-D", cluster.datadir, "-U", "postgres", "-A", "trust", "-E", "UTF8",
                "--no-sync", "--locale=C",
            )
            options = f"-p {cluster.port} -k {cluster.datadir} -c listen_addresses=127.0.0.1 -c fsync=off"
            cluster._run(
                bindir / "pg_ctl", "-D", cluster.datadir, "-o", options, "-l", cluster.root / "server.log",
                "-w", "-t", "60", "start",
            )
        except BaseException:
            shutil.rmtree(root, ignore_errors=True)
            raise
        return cluster

    def stop(self) -> None:
        try:
            self._run(self.bindir / "pg_ctl", "-D", self.datadir, "-m", "fast", "-w", "stop", timeout=60)
        except (LocalPostgresError, subprocess.SubprocessError, OSError):
            pass  # already stopped; the directory goes anyway
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
