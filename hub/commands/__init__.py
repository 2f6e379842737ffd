"""Hub commands: `counterflow hub ...`, `counterflow ca ...`, `counterflow policy ...`."""

from __future__ import annotations

import typer

from hub.commands import (  # noqa: F401  (each module registers its command)
    ca_init,
    ca_issue_hub,
    ca_issue_partner,
    ca_revoke,
    ca_sign,
    policy_check,
    serve,
    summary,
)
from hub.commands._apps import ca_app, hub_app, policy_app


def register(root: typer.Typer) -> None:
    root.add_typer(hub_app, name="hub")
    root.add_typer(ca_app, name="ca")
    root.add_typer(policy_app, name="policy")
