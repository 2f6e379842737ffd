"""`counterflow node enroll`: make this node's key and request, or install the certificate.

Two steps with the hub operator in between: `node enroll PARTNER_ID` writes
tls/partner.key (stays here) and tls/partner.csr (sent to the operator, who runs
`counterflow ca sign`); `node enroll --install CERT --ca CA.crt` checks and
installs what comes back.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated

import typer
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from counterflow.cli_support import FORMAT_OPTION, OutputFormat, emit_json, exits_on_error, stdout
from counterflow.errors import ConfigError
from counterflow.tls import load_certificate, partner_id_of, read_pem
from node.commands._apps import node_app
from node.commands._common import Config, Home, settings_for
from node.enroll import create_request, install_certificate, request_fingerprint
from node.settings import NodeSettings


@node_app.command("enroll")
def enroll(
    *,
    partner_id: Annotated[
        str | None, typer.Argument(help="this partner's id (default: partner_id in node.toml)")
    ] = None,
    install: Annotated[
        Path | None, typer.Option("--install", help="install this signed certificate")
    ] = None,
    ca: Annotated[
        Path | None, typer.Option("--ca", help="the CA certificate sent with it (with --install)")
    ] = None,
    renew: Annotated[
        bool, typer.Option("--renew", help="new request for the existing key (renewal)")
    ] = False,
    force: Annotated[
        bool,
        typer.Option("--force", help="replace an existing key (its certificate stops working)"),
    ] = False,
    home: Home = Path("."),
    config: Config = None,
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Create this node's key and signing request, or install the signed certificate."""
    with exits_on_error(fmt):
        settings = settings_for(home, config)
        if install is None and ca is None:
            if renew and force:
                raise ConfigError("--renew keeps the key and --force replaces it: choose one")
            _request(settings, _partner_id(partner_id, settings), renew, force, fmt)
            return
        if install is None or ca is None:
            raise ConfigError("--install and --ca go together: the certificate and its CA")
        _install(settings, install, ca, partner_id or settings.partner_id or None, fmt)


def _partner_id(given: str | None, settings: NodeSettings) -> str:
    configured = settings.partner_id
    if given and configured and given != configured:
        raise ConfigError(f"node.toml says this node is {configured!r}, not {given!r}")
    chosen = given or configured
    if not chosen:
        raise ConfigError("give PARTNER_ID, or set partner_id in node.toml (counterflow node init)")
    return chosen


def _request(
    settings: NodeSettings, partner_id: str, renew: bool, force: bool, fmt: OutputFormat
) -> None:
    files = settings.tls_files()
    csr = create_request(partner_id, files.key.parent, renew=renew, force=force, files=files)
    digest = request_fingerprint(csr.read_bytes())
    if fmt is OutputFormat.JSON:
        emit_json(
            {"partner_id": partner_id, "key": str(files.key), "csr": str(csr), "sha256": digest}
        )
        return
    console = stdout()
    made = "kept" if renew else "created"
    console.print(f"{made} {files.key} (0600): it stays on this machine, never send it")
    console.print(f"send {csr} to the hub operator; it holds no secret")
    console.print(f"read them its fingerprint by phone: sha256 {digest}")
    console.print(
        "then install what they return: counterflow node enroll --install CERT --ca CA.crt"
    )


def _install(
    settings: NodeSettings, cert: Path, ca: Path, partner_id: str | None, fmt: OutputFormat
) -> None:
    files = settings.tls_files()
    ca_pem = read_pem(ca, "CA certificate")
    install_certificate(
        read_pem(cert, "certificate"), files.key.parent, ca_pem, files=files, partner_id=partner_id
    )
    certificate = load_certificate(files.cert)
    ca_digest = hashlib.sha256(
        x509.load_pem_x509_certificate(ca_pem).public_bytes(serialization.Encoding.DER)
    ).hexdigest()
    result = {
        "partner_id": partner_id_of(certificate),
        "cert": str(files.cert),
        "ca": str(files.ca),
        "not_after": certificate.not_valid_after_utc.isoformat(),
        "ca_sha256": ca_digest,
    }
    if fmt is OutputFormat.JSON:
        emit_json(result)
        return
    console = stdout()
    console.print(
        f"installed {files.cert} for partner {result['partner_id']} "
        f"(valid until {certificate.not_valid_after_utc:%Y-%m-%d}) and {files.ca}"
    )
    console.print(f"CA sha256 {ca_digest}: check it with the hub operator")
