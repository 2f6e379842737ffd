"""A throwaway PostgreSQL server for the storage contract tests.

Started once per test session from the distribution's binaries (initdb and
pg_ctl on PATH or under /usr/lib/postgresql/*/bin), listening on a free
loopback port with password authentication and a socket directory only its
owner can enter. PostgreSQL refuses to run as root, so under root the cluster
runs as the `postgres` system user.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
from sqlalchemy import URL, make_url

INSTALL_COMMAND = "apt-get install -y postgresql"
SERVICE_USER = "postgres"
_TIMEOUT_S = 120


@dataclass(frozen=True)
class Binaries:
    initdb: Path
    pg_ctl: Path


def find_binaries() -> Binaries | None:
    """initdb and pg_ctl from PATH, else the newest /usr/lib/postgresql/<version>/bin."""
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if initdb and pg_ctl:
        return Binaries(Path(initdb), Path(pg_ctl))
    versions = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda path: int(Path(path).parent.name) if Path(path).parent.name.isdigit() else 0,
        reverse=True,
    )
    for directory in map(Path, versions):
        if (directory / "initdb").is_file() and (directory / "pg_ctl").is_file():
            return Binaries(directory / "initdb", directory / "pg_ctl")
    return None


@contextlib.contextmanager
def throwaway_server(binaries: Binaries) -> Iterator[str]:
    """Yield a postgresql+psycopg URL to a fresh database; stop and delete the cluster after."""
    as_root = os.geteuid() == 0
    owner = _service_user() if as_root else None
    prefix = ["runuser", "-u", SERVICE_USER, "--"] if as_root else []
    root = Path(tempfile.mkdtemp(prefix="counterflow-pg-"))
    try:
        if owner is not None:
            os.chown(root, owner.pw_uid, owner.pw_gid)
        password = secrets.token_urlsafe(24)
        _initdb(binaries, prefix, root, password, owner)
        port = _start(binaries, prefix, root)
        try:
            server = URL.create(
                "postgresql+psycopg",
                username=SERVICE_USER,
                password=password,
                host="127.0.0.1",
                port=port,
                database="postgres",
            )
            name = create_database(server.render_as_string(hide_password=False), "counterflow")
            yield server.set(database=name).render_as_string(hide_password=False)
        finally:
            _run([*prefix, str(binaries.pg_ctl), "-D", str(root / "data"), "-m", "fast", "stop"])
    finally:
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def scratch_database(server_url: str) -> Iterator[str]:
    """A uniquely named database on the server of `server_url`, dropped afterwards."""
    name = create_database(server_url, "cf_test")
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with _admin(server_url) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def create_database(server_url: str, prefix: str) -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:16]}"
    with _admin(server_url) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name


def _admin(server_url: str) -> psycopg.Connection[tuple[object, ...]]:
    url = make_url(server_url).set(drivername="postgresql")
    return psycopg.connect(url.render_as_string(hide_password=False), autocommit=True)


def _service_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(SERVICE_USER)
    except KeyError:
        _run(["useradd", "--system", SERVICE_USER])
        return pwd.getpwnam(SERVICE_USER)


def _initdb(
    binaries: Binaries,
    prefix: list[str],
    root: Path,
    password: str,
    owner: pwd.struct_passwd | None,
) -> None:
    password_file = root / "password"
    password_file.write_text(password + "\n")
    password_file.chmod(0o600)
    if owner is not None:
        os.chown(password_file, owner.pw_uid, owner.pw_gid)
    _run(
        [
            *prefix,
            str(binaries.initdb),
            "-D",
            str(root / "data"),
            "-U",
            SERVICE_USER,
            "--pwfile",
            str(password_file),
            "--auth-host=scram-sha-256",
            "--auth-local=peer",
            "--encoding=UTF8",
            "--no-locale",
            "--no-sync",
        ]
    )
    password_file.unlink()


def _start(binaries: Binaries, prefix: list[str], root: Path) -> int:
    """Start on a free port; retry if another process takes the port first."""
    for _ in range(3):
        port = _free_port()
        options = (
            f"-c listen_addresses=127.0.0.1 -p {port} -k {root} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        started = subprocess.run(
            [
                *prefix,
                str(binaries.pg_ctl),
                "-D",
                str(root / "data"),
                "-l",
                str(root / "server.log"),
                "-o",
                options,
                "-w",
                "-t",
                "60",
                "start",
            ],
            capture_output=True,
            text=True,
            timeout=_TIMEOUT_S,
            check=False,
        )
        if started.returncode == 0:
            return port
    log = (
        (root / "server.log").read_text(errors="replace") if (root / "server.log").exists() else ""
    )
    raise RuntimeError(f"PostgreSQL did not start: {started.stderr.strip()}\n{log[-2000:]}")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _run(argv: list[str]) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=_TIMEOUT_S, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {done.stderr.strip()}")
