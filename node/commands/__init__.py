"""Node commands: `counterflow node ...`."""

from __future__ import annotations

import typer

from node.commands import (  # noqa: F401  (each module registers its command)
    amlsim_split,
    enroll,
    ingest,
    init,
    key,
    preview,
    push,
    status,
)
from node.commands._apps import key_app, node_app


def register(root: typer.Typer) -> None:
    node_app.add_typer(key_app, name="key")
    root.add_typer(node_app, name="node")
