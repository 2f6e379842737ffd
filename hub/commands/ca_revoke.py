"""`counterflow ca revoke`: withdraw a partner's certificates and publish the CRL."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from counterflow.cli_support import FORMAT_OPTION, OutputFormat, emit_json, exits_on_error, stdout
from counterflow.passphrase import PassphraseEnv, PassphraseFile
from hub.commands._apps import ca_app
from hub.commands.ca_init import CaDir, load_ca
from hub.pki.authority import copy_file_atomic


@ca_app.command("revoke")
def ca_revoke(
    *,
    partner_id: Annotated[str, typer.Argument(help="the partner whose certificates to revoke")],
    reason: Annotated[
        str, typer.Option("--reason", help="e.g. key_compromise, affiliation_changed, superseded")
    ] = "unspecified",
    crl_out: Annotated[
        Path | None,
        typer.Option("--crl-out", help="also copy the CRL here (the hub's tls/crl.pem)"),
    ] = None,
    ca_dir: CaDir = Path("ca"),
    passphrase_file: PassphraseFile = None,
    passphrase_env: PassphraseEnv = None,
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Revoke every live certificate of PARTNER_ID; the hub refuses them once it has the CRL."""
    with exits_on_error(fmt):
        authority = load_ca(ca_dir, passphrase_file, passphrase_env)
        serials = authority.revoke(partner_id, reason)
        copied = copy_file_atomic(authority.crl_path, crl_out) if crl_out else None
    if fmt is OutputFormat.JSON:
        emit_json(
            {
                "partner_id": partner_id,
                "revoked": [str(s) for s in serials],
                "crl": str(authority.crl_path),
                "crl_copy": str(copied) if copied else None,
            }
        )
        return
    console = stdout()
    if serials:
        console.print(f"revoked {partner_id}: serials " + ", ".join(str(s) for s in serials))
    else:
        console.print(f"{partner_id} had no live certificate; the CRL was re-published")
    console.print(f"CRL: {copied or authority.crl_path}")
    if copied is None:
        console.print("copy it to the hub's tls/crl.pem; the hub picks it up without a restart")
