"""Check the node's own certificate before blaming the hub.

A hub that refuses a client certificate looks, at the client, exactly like a hub
that is down (UNAVAILABLE): checking our own material first turns the common
mistakes (expired, wrong key, other CA) into errors that name the problem.
"""

from __future__ import annotations

import datetime as dt

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from counterflow.errors import ConfigError
from counterflow.tls import TlsFiles, load_certificate, partner_id_of, read_pem


def check_own_certificate(files: TlsFiles, partner_id: str, now: dt.datetime | None = None) -> None:
    cert = load_certificate(files.cert, "partner certificate")
    ca = load_certificate(files.ca, "CA certificate")
    moment = now or dt.datetime.now(dt.UTC)
    if cert.not_valid_after_utc < moment:
        raise ConfigError(
            f"partner certificate expired on {cert.not_valid_after_utc:%Y-%m-%d}: {files.cert}; "
            "ask the hub operator for a new one (counterflow node enroll)"
        )
    if cert.not_valid_before_utc > moment:
        raise ConfigError(f"partner certificate is not valid before {cert.not_valid_before_utc}")
    named = partner_id_of(cert)
    if partner_id and named != partner_id:
        raise ConfigError(f"certificate names partner {named!r}, but this node is {partner_id!r}")
    _check_key_matches(cert, files)
    _check_issued_by(cert, ca, files)


def _check_key_matches(cert: x509.Certificate, files: TlsFiles) -> None:
    try:
        key = serialization.load_pem_private_key(read_pem(files.key, "partner key"), None)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"partner key could not be read: {files.key}: {exc}") from None
    fmt = serialization.PublicFormat.SubjectPublicKeyInfo
    enc = serialization.Encoding.DER
    if key.public_key().public_bytes(enc, fmt) != cert.public_key().public_bytes(enc, fmt):
        raise ConfigError(f"partner key {files.key} does not belong to certificate {files.cert}")


def _check_issued_by(cert: x509.Certificate, ca: x509.Certificate, files: TlsFiles) -> None:
    public = ca.public_key()
    try:
        if not isinstance(public, ec.EllipticCurvePublicKey):
            raise ConfigError(f"CA certificate {files.ca} does not hold an EC key")
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, Exception) as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(
            f"partner certificate {files.cert} was not issued by the CA in {files.ca}"
        ) from None
