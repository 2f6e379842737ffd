"""A real hub and real nodes for integration tests: mTLS gRPC on 127.0.0.1:0.

The hub is built by the same `build_server` the product uses; nodes are folders
laid out exactly as `counterflow node init/enroll` leave them. Plain functions,
no pytest, so tests and benchmarks can both use them.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml

from counterflow.tls import TlsFiles
from hub.policy.registry import PolicyRegistry
from hub.server import RunningHub, build_server
from hub.services.clock import fixed_clock
from hub.settings import HubSettings, HubTls
from hub.storage.engine import open_storage
from node.keyring import Keyring
from node.settings import NodeSettings, load_node_settings

# Wednesday of ISO week 2026-W47: every test's "now" at the hub.
TEST_NOW = dt.datetime(2026, 11, 18, 12, 0, tzinfo=dt.UTC)
TEST_WEEK = "2026-W47"
ALL_TYPES = ("phone", "email", "iban", "crypto", "url", "adfp")


def write_policy(
    directory: Path,
    partner_id: str,
    *,
    sector: str = "bank",
    types: Sequence[str] = ALL_TYPES,
    countries: Sequence[str] = ("GB", "NL", "NG", "RO"),
    valid_from: str = "2026-01-01",
    valid_until: str = "2027-12-31",
    status: str = "active",
    version: int = 1,
) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    doc = {
        "schema_version": 1,
        "partner_id": partner_id,
        "organisation": f"{partner_id} (test)",
        "sector": sector,
        "agreement_id": f"CF-TEST-{partner_id.upper()}",
        "version": version,
        "status": status,
        "valid_from": valid_from,
        "valid_until": valid_until,
        "purposes": ["trend_analysis"],
        "submit": {"indicator_types": list(types), "countries": list(countries)},
        "retention_days": 365,
    }
    path = directory / f"{partner_id}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def hub_settings(root: Path, tls: TlsFiles, crl: Path, database_url: str) -> HubSettings:
    return HubSettings(
        listen="127.0.0.1:0",
        database_url=database_url,
        policies_dir=root / "policies",
        tls=HubTls(cert=tls.cert, key=tls.key, ca=tls.ca, crl=crl),
        workers=8,
    )


@contextmanager
def running_hub(settings: HubSettings, now: dt.datetime = TEST_NOW) -> Iterator[RunningHub]:
    hub = build_server(
        settings,
        storage=open_storage(settings.database_url),
        registry=PolicyRegistry(settings.policies_dir),
        clock=fixed_clock(now),
    )
    hub.server.start()
    try:
        yield hub
    finally:
        hub.stop(grace=None)


def make_node(
    home: Path, partner_id: str, tls: TlsFiles, port: int, keyring: Path, **settings: object
) -> NodeSettings:
    """A node home as `node init` + `enroll` + `key import` leave it."""
    (home / "tls").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(tls.cert, home / "tls" / "partner.crt")
    shutil.copyfile(tls.key, home / "tls" / "partner.key")
    shutil.copyfile(tls.ca, home / "tls" / "ca.crt")
    os.chmod(home / "tls" / "partner.key", 0o600)
    (home / "keys").mkdir(exist_ok=True)
    shutil.copyfile(keyring, home / "keys" / "consortium.json")
    os.chmod(home / "keys" / "consortium.json", 0o600)
    lines = [
        f'partner_id = "{partner_id}"',
        f'hub = "127.0.0.1:{port}"',
        'hub_server_name = "localhost"',
        "retry_attempts = 3",
        "retry_initial_seconds = 0.05",
        "retry_max_seconds = 0.2",
    ]
    lines += [f"{k} = {json.dumps(v)}" for k, v in settings.items()]
    (home / "node.toml").write_text("\n".join(lines) + "\n")
    return load_node_settings(home)


def shared_keyring(path: Path) -> Path:
    if not path.exists():
        Keyring.create(path)
    return path


def cli(
    *args: str, env: dict[str, str] | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run the real `counterflow` command in a subprocess."""
    result = subprocess.run(
        [sys.executable, "-m", "counterflow.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"counterflow {' '.join(args)} exited {result.returncode}\n"
            f"{result.stdout}\n{result.stderr}"
        )
    return result


@dataclass
class HubProcess:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


def write_hub_config(path: Path, settings: HubSettings, listen: str) -> Path:
    tls = settings.tls
    path.write_text(
        "\n".join(
            [
                f'listen = "{listen}"',
                f'database_url = "{settings.database_url}"',
                f'policies_dir = "{settings.policies_dir}"',
                "[tls]",
                f'cert = "{tls.cert}"',
                f'key = "{tls.key}"',
                f'ca = "{tls.ca}"',
                f'crl = "{tls.crl}"',
            ]
        )
        + "\n"
    )
    return path


def start_hub_process(config: Path, log: Path, env: dict[str, str] | None = None) -> HubProcess:
    ready = config.with_suffix(".ready")
    ready.unlink(missing_ok=True)
    with log.open("ab") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "counterflow.cli",
                "hub",
                "serve",
                "--config",
                str(config),
                "--ready-file",
                str(ready),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    deadline = time.monotonic() + 60
    while not ready.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"hub did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.05)
    port = int(json.loads(ready.read_text())["port"])
    return HubProcess(process, port, log)
