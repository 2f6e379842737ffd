"""`counterflow ca issue-partner`: key and certificate made at the CA, for demos.

In production a node makes its own key (`counterflow node enroll`) and the
operator signs its request (`counterflow ca sign`), so no private key travels.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from counterflow.cli_support import FORMAT_OPTION, OutputFormat, emit_json, exits_on_error, stdout
from counterflow.passphrase import PassphraseEnv, PassphraseFile
from hub.commands._apps import ca_app
from hub.commands.ca_init import CaDir, Days, load_ca
from hub.pki.authority import DEFAULT_DAYS


@ca_app.command("issue-partner")
def ca_issue_partner(
    *,
    partner_id: Annotated[str, typer.Argument(help="the partner id, as in its agreement")],
    out: Annotated[
        Path, typer.Option("--out", help="directory for partner.crt, partner.key, ca.crt")
    ],
    days: Days = DEFAULT_DAYS,
    force: Annotated[bool, typer.Option("--force", help="replace partner.key in --out")] = False,
    ca_dir: CaDir = Path("ca"),
    passphrase_file: PassphraseFile = None,
    passphrase_env: PassphraseEnv = None,
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Demo shortcut: create a partner's key and certificate here (prefer node enroll)."""
    with exits_on_error(fmt):
        authority = load_ca(ca_dir, passphrase_file, passphrase_env)
        cert, key = authority.issue_partner(partner_id, out, days, force=force)
        ca_cert = authority.copy_ca_certificate(out)
    if fmt is OutputFormat.JSON:
        emit_json(
            {"partner_id": partner_id, "cert": str(cert), "key": str(key), "ca": str(ca_cert)}
        )
        return
    stdout().print(f"wrote {cert}, {key} (0600) and {ca_cert} for partner {partner_id}")
