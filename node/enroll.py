"""Enrolment: the node makes its own key and asks the hub operator's CA to certify it.

The private key is created here and never leaves the node; the signing request
(CSR) carries only the public key and the partner id, so it can travel by
e-mail. Before a returned certificate is installed it must match our key and
chain to the CA we were given, so a mix-up fails here rather than as an opaque
handshake error later.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from counterflow.errors import ConfigError
from counterflow.tls import (
    PARTNER_URI_PREFIX,
    TlsFiles,
    check_partner_id,
    partner_id_of,
)
from node.keyring import read_secret, store_secret


def default_files(tls_dir: Path) -> TlsFiles:
    return TlsFiles(
        cert=tls_dir / "partner.crt", key=tls_dir / "partner.key", ca=tls_dir / "ca.crt"
    )


def request_path(files: TlsFiles) -> Path:
    """The CSR sits next to the key it was made from."""
    return files.key.with_suffix(".csr")


def create_request(
    partner_id: str,
    tls_dir: Path,
    *,
    force: bool = False,
    renew: bool = False,
    files: TlsFiles | None = None,
) -> Path:
    """Write a CSR naming `partner_id` (and the node's key, 0600); returns the CSR's path.

    An existing key is kept: `renew` makes a new request for it (no downtime
    while the operator signs), `force` replaces it, which stops the current
    certificate from working until the new one is installed.
    """
    check_partner_id(partner_id)
    files = files or default_files(tls_dir)
    key = _existing_key(files.key) if renew else _new_key(files.key, force)
    target = request_path(files)
    csr = _build_request(partner_id, key)
    _write_public(target, csr.public_bytes(serialization.Encoding.PEM))
    return target


def _new_key(path: Path, force: bool) -> ec.EllipticCurvePrivateKey:
    key = ec.generate_private_key(ec.SECP256R1())
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    try:
        store_secret(path, key_pem, replace=force)
    except FileExistsError:
        raise ConfigError(
            f"{path} already exists; pass --renew to request a certificate for it, or --force "
            "to replace it (the certificate issued for the old key then stops working)"
        ) from None
    return key


def _existing_key(path: Path) -> ec.EllipticCurvePrivateKey:
    key = _load_key(path)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ConfigError(f"partner key {path} is not an EC key; enrol with --force for a new one")
    return key


def _load_key(path: Path) -> PrivateKeyTypes:
    try:
        return serialization.load_pem_private_key(read_secret(path, "partner key"), None)
    except (ValueError, TypeError):
        raise ConfigError(f"partner key {path} could not be read") from None


def _build_request(
    partner_id: str, key: ec.EllipticCurvePrivateKey
) -> x509.CertificateSigningRequest:
    uri = x509.UniformResourceIdentifier(PARTNER_URI_PREFIX + partner_id)
    return (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, partner_id)]))
        .add_extension(x509.SubjectAlternativeName([uri]), critical=False)
        .sign(key, hashes.SHA256())
    )


def request_fingerprint(csr_pem: bytes) -> str:
    """SHA-256 of the CSR, for the operator to confirm by phone that the file was not swapped."""
    try:
        der = x509.load_pem_x509_csr(csr_pem).public_bytes(serialization.Encoding.DER)
    except ValueError:
        raise ConfigError("the signing request could not be parsed") from None
    return hashlib.sha256(der).hexdigest()


def install_certificate(
    cert_pem: bytes,
    tls_dir: Path,
    ca_pem: bytes,
    *,
    files: TlsFiles | None = None,
    partner_id: str | None = None,
    now: datetime | None = None,
) -> TlsFiles:
    """Check the certificate against our key and the CA, then write partner.crt and ca.crt."""
    files = files or default_files(tls_dir)
    certificate = _parse_certificate(cert_pem, "the certificate")
    authority = _parse_certificate(ca_pem, "the CA certificate")
    _check_our_key(certificate, files.key)
    _check_issued_by(certificate, authority)
    _check_partner(certificate, partner_id)
    _check_current(certificate, now or datetime.now(UTC))
    _write_public(files.ca, authority.public_bytes(serialization.Encoding.PEM))
    _write_public(files.cert, certificate.public_bytes(serialization.Encoding.PEM))
    return files


def _parse_certificate(pem: bytes, what: str) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(pem)
    except ValueError:
        raise ConfigError(f"{what} is not a PEM certificate") from None


def _check_our_key(certificate: x509.Certificate, key_path: Path) -> None:
    key = _load_key(key_path)
    if key.public_key() != certificate.public_key():
        raise ConfigError(
            f"the certificate was issued for another key, not for {key_path}; "
            "was it made from this node's signing request?"
        )


def _check_issued_by(certificate: x509.Certificate, authority: x509.Certificate) -> None:
    try:
        constraints = authority.extensions.get_extension_for_class(x509.BasicConstraints).value
        certificate.verify_directly_issued_by(authority)
    except (x509.ExtensionNotFound, ValueError, TypeError, InvalidSignature):
        raise ConfigError(
            "the certificate was not issued by the given CA certificate "
            f"({authority.subject.rfc4514_string()})"
        ) from None
    if not constraints.ca:
        raise ConfigError("the given CA certificate is not a CA")


def _check_partner(certificate: x509.Certificate, expected: str | None) -> None:
    found = partner_id_of(certificate)
    if found is None:
        raise ConfigError("the certificate is not a partner certificate (no partner id)")
    if expected and found != expected:
        raise ConfigError(f"the certificate is for partner {found!r}, this node is {expected!r}")
    try:
        usage = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        usage = x509.ExtendedKeyUsage([])
    if ExtendedKeyUsageOID.CLIENT_AUTH not in usage:
        raise ConfigError("the certificate is not valid for client authentication")


def _check_current(certificate: x509.Certificate, now: datetime) -> None:
    if now >= certificate.not_valid_after_utc:
        raise ConfigError(f"the certificate expired on {certificate.not_valid_after_utc:%Y-%m-%d}")


def _write_public(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(temp, 0o644)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
