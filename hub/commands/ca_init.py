"""`counterflow ca init`: create the hub operator's certificate authority.

Also holds the options every `ca` command shares: the CA key never sits
unencrypted on disk, so each command asks for the passphrase again.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated

import typer
from cryptography.hazmat.primitives import serialization

from counterflow.cli_support import FORMAT_OPTION, OutputFormat, emit_json, exits_on_error, stdout
from counterflow.passphrase import PassphraseEnv, PassphraseFile, read_passphrase
from hub.commands._apps import ca_app
from hub.pki.authority import DEFAULT_NAME, CertificateAuthority

CaDir = Annotated[Path, typer.Option("--ca-dir", help="the CA directory")]
Days = Annotated[int, typer.Option("--days", min=1, help="validity in days")]


def load_ca(ca_dir: Path, file: Path | None, env: str | None) -> CertificateAuthority:
    return CertificateAuthority.load(ca_dir, read_passphrase(file, env, prompt="CA passphrase"))


def fingerprint(authority: CertificateAuthority) -> str:
    """What partners compare, out of band, before trusting ca.crt."""
    der = authority.certificate.public_bytes(serialization.Encoding.DER)
    return hashlib.sha256(der).hexdigest()


@ca_app.command("init")
def ca_init(
    *,
    ca_dir: CaDir = Path("ca"),
    name: Annotated[
        str, typer.Option("--name", help="the CA certificate's common name")
    ] = DEFAULT_NAME,
    passphrase_file: PassphraseFile = None,
    passphrase_env: PassphraseEnv = None,
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Create a CA: an encrypted key, a 10-year certificate and an empty CRL."""
    with exits_on_error(fmt):
        passphrase = read_passphrase(
            passphrase_file, passphrase_env, prompt="New CA passphrase", confirm=True
        )
        authority = CertificateAuthority.init(ca_dir, passphrase, name)
    not_after = authority.certificate.not_valid_after_utc
    if fmt is OutputFormat.JSON:
        emit_json(
            {
                "ca_dir": str(ca_dir),
                "ca_cert": str(authority.cert_path),
                "crl": str(authority.crl_path),
                "not_after": not_after.isoformat(),
                "sha256": fingerprint(authority),
            }
        )
        return
    out = stdout()
    out.print(f"created CA in {ca_dir} (valid until {not_after:%Y-%m-%d})")
    out.print(f"CA certificate: {authority.cert_path}  sha256 {fingerprint(authority)}")
    out.print("Keep ca.key and its passphrase offline; give partners ca.crt and its fingerprint.")
