"""`counterflow ca sign`: certify a partner node's signing request."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated

import typer
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from counterflow.cli_support import FORMAT_OPTION, OutputFormat, emit_json, exits_on_error, stdout
from counterflow.passphrase import PassphraseEnv, PassphraseFile
from counterflow.tls import partner_id_of, read_pem
from hub.commands._apps import ca_app
from hub.commands.ca_init import CaDir, Days, load_ca
from hub.pki.authority import DEFAULT_DAYS, parse_request, write_atomic


@ca_app.command("sign")
def ca_sign(
    *,
    request: Annotated[Path, typer.Argument(help="the node's partner.csr")],
    out: Annotated[Path, typer.Option("--out", help="where to write the certificate")],
    days: Days = DEFAULT_DAYS,
    ca_dir: CaDir = Path("ca"),
    passphrase_file: PassphraseFile = None,
    passphrase_env: PassphraseEnv = None,
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Sign a partner's request; only its partner id is used. Confirm the fingerprint first."""
    with exits_on_error(fmt):
        csr_pem = read_pem(request, "signing request")
        der = parse_request(csr_pem).public_bytes(serialization.Encoding.DER)
        authority = load_ca(ca_dir, passphrase_file, passphrase_env)
        cert_pem = authority.sign_request(csr_pem, days)
        write_atomic(out, cert_pem)
    certificate = x509.load_pem_x509_certificate(cert_pem)
    partner_id = partner_id_of(certificate)
    digest = hashlib.sha256(der).hexdigest()
    not_after = certificate.not_valid_after_utc
    if fmt is OutputFormat.JSON:
        emit_json(
            {
                "partner_id": partner_id,
                "serial": str(certificate.serial_number),
                "not_after": not_after.isoformat(),
                "request_sha256": digest,
                "cert": str(out),
                "ca_cert": str(authority.cert_path),
            }
        )
        return
    console = stdout()
    console.print(
        f"signed {partner_id} (serial {certificate.serial_number}, until {not_after:%Y-%m-%d}): "
        f"wrote {out}"
    )
    console.print(f"request sha256 {digest}: it must match what the partner reads to you")
    console.print(f"send {out} and {authority.cert_path} back to the partner")
