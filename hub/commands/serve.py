"""`counterflow hub serve`: run the hub until SIGINT/SIGTERM."""

from __future__ import annotations

import gc
import json
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

import typer

from counterflow.cli_support import exits_on_error, stderr
from hub.commands._apps import hub_app
from hub.commands._common import (
    CONFIG_OPTION,
    DATABASE_OPTION,
    POLICIES_OPTION,
    settings_from_flags,
)
from hub.policy.registry import PolicyRegistry
from hub.server import build_server
from hub.storage.engine import open_storage


@hub_app.command("serve")
def serve(
    config: Path | None = CONFIG_OPTION,
    listen: str | None = typer.Option(None, "--listen", help="host:port (default 127.0.0.1:7443)"),
    database_url: str | None = DATABASE_OPTION,
    policies: Path | None = POLICIES_OPTION,
    cert: Path | None = typer.Option(None, "--cert", help="hub certificate (PEM)"),
    key: Path | None = typer.Option(None, "--key", help="hub private key (PEM)"),
    ca: Path | None = typer.Option(None, "--ca", help="CA certificate partners are issued by"),
    crl: Path | None = typer.Option(None, "--crl", help="CRL written by `counterflow ca revoke`"),
    insecure: bool = typer.Option(
        False, "--insecure", help="DEVELOPMENT ONLY: plaintext, no partner authentication"
    ),
    ready_file: Path | None = typer.Option(
        None, "--ready-file", help="write {'port': N} here once listening (for scripts)"
    ),
) -> None:
    """Serve partners over mTLS gRPC, enforcing each partner's agreement."""
    tls = {k: v for k, v in {"cert": cert, "key": key, "ca": ca, "crl": crl}.items() if v}
    settings = settings_from_flags(
        config,
        listen=listen,
        database_url=database_url,
        policies_dir=policies,
        insecure=insecure or None,
        tls=tls or None,
    )
    if settings.insecure:
        stderr().print(
            "[bold red]WARNING: --insecure: plaintext gRPC and NO partner authentication.[/]"
        )
    with exits_on_error():
        registry = PolicyRegistry(settings.policies_dir)
        hub = build_server(settings, storage=open_storage(settings.database_url), registry=registry)
    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    hub.server.start()
    # Long-lived objects built at start-up never need collecting again (x1.17 on ingest).
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)
    if ready_file is not None:
        staging = ready_file.with_name(ready_file.name + ".tmp")
        staging.write_text(json.dumps({"port": hub.port}))
        staging.replace(ready_file)
    sys.stderr.write(
        f"counterflow hub listening on port {hub.port} with {len(registry.current())} agreements\n"
    )
    sys.stderr.flush()
    stop.wait()
    hub.stop()
