"""`counterflow ca issue-hub`: the hub's own server certificate."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from counterflow.cli_support import FORMAT_OPTION, OutputFormat, emit_json, exits_on_error, stdout
from counterflow.passphrase import PassphraseEnv, PassphraseFile
from hub.commands._apps import ca_app
from hub.commands.ca_init import CaDir, Days, load_ca
from hub.pki.authority import DEFAULT_DAYS


@ca_app.command("issue-hub")
def ca_issue_hub(
    *,
    hosts: Annotated[
        list[str], typer.Option("--host", help="a DNS name or IP address nodes dial (repeatable)")
    ],
    out: Annotated[Path, typer.Option("--out", help="directory for hub.crt, hub.key, ca.crt")],
    days: Days = DEFAULT_DAYS,
    force: Annotated[bool, typer.Option("--force", help="replace hub.key in --out")] = False,
    ca_dir: CaDir = Path("ca"),
    passphrase_file: PassphraseFile = None,
    passphrase_env: PassphraseEnv = None,
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Issue the hub's TLS server certificate and key."""
    with exits_on_error(fmt):
        authority = load_ca(ca_dir, passphrase_file, passphrase_env)
        cert, key = authority.issue_hub(hosts, out, days, force=force)
        ca_cert = authority.copy_ca_certificate(out)
    if fmt is OutputFormat.JSON:
        emit_json({"cert": str(cert), "key": str(key), "ca": str(ca_cert), "hosts": hosts})
        return
    stdout().print(f"wrote {cert}, {key} (0600) and {ca_cert} for {', '.join(hosts)}")
