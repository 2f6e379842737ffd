"""The certificate revocation list: built by the CA, read by the hub on every call.

TLS alone cannot refuse a revoked partner (gRPC's handshake does not consult a
CRL), so the hub's interceptor asks a `CrlWatcher` whether the caller's serial
is revoked. The watcher fails closed: once a CRL path is configured, a missing
or unreadable file is an error on every call, never "nothing is revoked".
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from counterflow.errors import ConfigError
from counterflow.tls import read_pem

CRL_LIFETIME = timedelta(days=7)


@dataclass(frozen=True)
class Revocation:
    serial: int
    revoked_at: datetime
    reason: x509.ReasonFlags = x509.ReasonFlags.unspecified


def build_crl(
    issuer_key: ec.EllipticCurvePrivateKey,
    issuer_cert: x509.Certificate,
    revocations: Iterable[Revocation],
    *,
    number: int,
    now: datetime,
) -> x509.CertificateRevocationList:
    """A CRL valid for CRL_LIFETIME; the CA rewrites it on every revocation."""
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer_cert.subject)
        .last_update(now)
        .next_update(now + CRL_LIFETIME)
        .add_extension(x509.CRLNumber(number), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    )
    for revocation in revocations:
        builder = builder.add_revoked_certificate(_revoked_entry(revocation))
    return builder.sign(issuer_key, hashes.SHA256())


def _revoked_entry(revocation: Revocation) -> x509.RevokedCertificate:
    entry = (
        x509.RevokedCertificateBuilder()
        .serial_number(revocation.serial)
        .revocation_date(revocation.revoked_at)
    )
    # RFC 5280 5.3.1: the reason code "unspecified" SHOULD be absent.
    if revocation.reason is not x509.ReasonFlags.unspecified:
        entry = entry.add_extension(x509.CRLReason(revocation.reason), critical=False)
    return entry.build()


def crl_number(crl: x509.CertificateRevocationList) -> int:
    try:
        return crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    except x509.ExtensionNotFound:
        return 0


@dataclass(frozen=True)
class RevocationList:
    """The revoked serials of one CRL; immutable, so it can be shared across threads."""

    serials: frozenset[int]
    last_update: datetime | None = None
    next_update: datetime | None = None

    @classmethod
    def empty(cls) -> RevocationList:
        return cls(frozenset())

    @classmethod
    def load(cls, path: Path, issuer: x509.Certificate | None = None) -> RevocationList:
        """Read a PEM CRL; with `issuer`, refuse one the CA did not sign."""
        crl = parse_crl(read_pem(path, "CRL"), str(path))
        if issuer is not None:
            _check_signed_by(crl, issuer, path)
        return cls(
            serials=frozenset(entry.serial_number for entry in crl),
            last_update=crl.last_update_utc,
            next_update=crl.next_update_utc,
        )

    def is_revoked(self, serial: int) -> bool:
        return serial in self.serials

    def is_stale(self, now: datetime) -> bool:
        """Past next_update: the CA operator should re-publish (`counterflow ca revoke`)."""
        return self.next_update is not None and now >= self.next_update


def parse_crl(data: bytes, source: str) -> x509.CertificateRevocationList:
    try:
        return x509.load_pem_x509_crl(data)
    except ValueError as exc:
        raise ConfigError(f"CRL could not be parsed: {source}: {exc}") from None


def _check_signed_by(
    crl: x509.CertificateRevocationList, issuer: x509.Certificate, path: Path
) -> None:
    public_key = issuer.public_key()
    signed = isinstance(public_key, ec.EllipticCurvePublicKey) and crl.is_signature_valid(
        public_key
    )
    if crl.issuer != issuer.subject or not signed:
        raise ConfigError(f"CRL {path} was not signed by the CA {issuer.subject.rfc4514_string()}")


class CrlWatcher:
    """The current RevocationList, re-read whenever the CRL file is replaced or changed.

    With `path` None no CRL is configured and nothing is revoked. Otherwise the
    file must exist from construction on; a failed re-read raises and is retried
    on the next call, so a half-copied file never silently un-revokes anyone.
    """

    def __init__(self, path: Path | None, issuer: x509.Certificate | None = None) -> None:
        self._path = path
        self._issuer = issuer
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._current = RevocationList.empty()
        self.current()

    @property
    def path(self) -> Path | None:
        return self._path

    def current(self) -> RevocationList:
        if self._path is None:
            return self._current
        with self._lock:
            stamp = _file_stamp(self._path)
            if stamp != self._stamp:
                self._current = RevocationList.load(self._path, self._issuer)
                self._stamp = stamp
            return self._current


def _file_stamp(path: Path) -> tuple[int, int, int]:
    """Inode, mtime and size: os.replace changes the inode, an in-place edit the rest."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise ConfigError(f"CRL not found: {path}") from None
    except PermissionError:
        raise ConfigError(f"CRL is not readable: {path}") from None
    return (info.st_ino, info.st_mtime_ns, info.st_size)
