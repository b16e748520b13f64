"""A throwaway PostgreSQL server for tests and benchmarks: initdb into a temp directory, loopback only.

PostgreSQL refuses to run as root; as root, the server runs as the `postgres` system user that the
Debian package creates. Nothing is assumed running: the server starts here and stops at the end."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

SUPERUSER = "newsdigest"
REQUIRE_ENV = "NEWSDIGEST_REQUIRE_POSTGRES"  # set (CI): a missing server is a failure, not a skip


def bin_dir() -> Path | None:
    """Where initdb and pg_ctl are, or None (PostgreSQL is not installed)."""
    found = shutil.which("pg_config")
    if found:
        with contextlib.suppress(subprocess.CalledProcessError, OSError):
            path = Path(subprocess.run([found, "--bindir"], capture_output=True, text=True, check=True).stdout.strip())
            if (path / "initdb").exists():
                return path
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    if candidates:
        return Path(candidates[0]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def missing_reason() -> str | None:
    """Why the PostgreSQL tests cannot run here, or None."""
    if bin_dir() is None:
        return "PostgreSQL is not installed (no initdb): the PostgreSQL backend tests are skipped"
    if os.geteuid() == 0 and not _postgres_user():
        return "running as root and no 'postgres' user to run the server as: PostgreSQL tests skipped"
    return None


def _postgres_user() -> pwd.struct_passwd | None:
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_server(durable: bool = False, settings: dict[str, str] | None = None) -> Iterator[str]:
    """Start a server; yield the URL of its `postgres` database (superuser, trust auth on loopback). Tests run it
    without syncing to disk; `durable` keeps PostgreSQL's defaults (benchmarks); `settings`: others, by name."""
    binaries = bin_dir()
    if binaries is None:
        raise RuntimeError(missing_reason())
    root = Path(tempfile.mkdtemp(prefix="newsdigest-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        user = _postgres_user()
        if user is None:
            raise RuntimeError(missing_reason())
        os.chown(root, user.pw_uid, user.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    data, port = root / "data", _free_port()
    try:
        subprocess.run([*as_user, str(binaries / "initdb"), "-D", str(data), "-U", SUPERUSER, "--auth=trust",
                        "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync"],
                       check=True, capture_output=True)
        options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c max_connections=200"
        if not durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        options += "".join(f" -c {name}={value}" for name, value in (settings or {}).items())
        pg_ctl = [*as_user, str(binaries / "pg_ctl"), "-D", str(data)]
        start = [*pg_ctl, "-o", options, "-l", str(root / "server.log"), "-w", "-t", "60", "start"]
        subprocess.run(start, check=True, capture_output=True)
        url = f"postgresql://{SUPERUSER}@127.0.0.1:{port}/postgres"
        _controls[port] = (pg_ctl, start)
        try:
            yield url
        finally:
            _controls.pop(port, None)
            subprocess.run([*pg_ctl, "-m", "immediate", "-w", "stop"], capture_output=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)


_controls: dict[int, tuple[list[str], list[str]]] = {}  # port → (pg_ctl, its start command)


def kill(url: str) -> None:
    """Stop the server at `url` as a crash would (`-m immediate`: no checkpoint, connections cut)."""
    pg_ctl, _start = _controls[int(url.rsplit(":", 1)[1].split("/", 1)[0])]
    subprocess.run([*pg_ctl, "-m", "immediate", "-w", "stop"], check=True, capture_output=True)


def restart(url: str) -> None:
    """Start a killed server again (it recovers from its log as after a crash)."""
    _pg_ctl, start = _controls[int(url.rsplit(":", 1)[1].split("/", 1)[0])]
    subprocess.run(start, check=True, capture_output=True)


def database_url(server_url: str, name: str) -> str:
    return server_url.rsplit("/", 1)[0] + "/" + name
