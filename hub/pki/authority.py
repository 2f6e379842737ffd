"""The hub operator's certificate authority.

A CA directory (``ca`` by default) holds::

    ca.key       the CA's EC P-256 key, encrypted with the operator's passphrase (0600)
    ca.crt       the CA certificate that the hub and every node trust
    crl.pem      the revocation list the hub re-reads whenever it changes
    issued.json  every certificate issued, and whether it was revoked

Only the partner id (the common name) is taken from a signing request: the CA
writes the subject, SAN and extended key usage itself, so a partner can neither
obtain a server certificate nor a second identity. Every file is replaced
atomically, and mutations hold a lock on the directory, so two operators running
commands at once cannot lose a record.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import ipaddress
import json
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from counterflow.errors import ConfigError, ErrorCode, InputError
from counterflow.tls import (
    PARTNER_ID_PATTERN,
    PARTNER_URI_PREFIX,
    check_partner_id,
    load_certificate,
    read_pem,
    write_private,
)
from hub.pki.crl import Revocation, build_crl, crl_number, parse_crl

CA_KEY = "ca.key"
CA_CERT = "ca.crt"
CRL_FILE = "crl.pem"
ISSUED_FILE = "issued.json"
LOCK_FILE = ".lock"
HUB_CERT, HUB_KEY = "hub.crt", "hub.key"
PARTNER_CERT, PARTNER_KEY = "partner.crt", "partner.key"

DEFAULT_NAME = "Counterflow Hub CA"
DEFAULT_DAYS = 397
CA_VALIDITY = timedelta(days=3652)
# Certificates start a little in the past so a peer whose clock lags still accepts them.
CLOCK_SKEW = timedelta(minutes=5)
# PKCS#8 encryption (BestAvailableEncryption) stretches the passphrase only weakly,
# so the passphrase itself has to carry the strength.
MIN_PASSPHRASE_CHARS = 12
_DNS_NAME = re.compile(
    r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$"
)

Kind = Literal["partner", "hub"]


@dataclass(frozen=True)
class IssuedCertificate:
    """One line of issued.json; serials are decimal strings there (JSON loses big ints)."""

    serial: int
    subject: str
    kind: Kind
    not_after: datetime
    revoked_at: datetime | None = None
    reason: str | None = None

    def to_json(self) -> dict[str, str | None]:
        return {
            "serial": str(self.serial),
            "subject": self.subject,
            "kind": self.kind,
            "not_after": self.not_after.isoformat(),
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
            "reason": self.reason,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> IssuedCertificate:
        revoked = raw.get("revoked_at")
        kind = raw["kind"]
        if kind not in ("partner", "hub"):
            raise ValueError(f"unknown kind {kind!r}")
        return cls(
            serial=int(raw["serial"]),
            subject=str(raw["subject"]),
            kind=kind,
            not_after=datetime.fromisoformat(raw["not_after"]),
            revoked_at=datetime.fromisoformat(revoked) if revoked else None,
            reason=raw.get("reason"),
        )


class CertificateAuthority:
    """A loaded CA: its directory, decrypted key and certificate."""

    def __init__(
        self, ca_dir: Path, key: ec.EllipticCurvePrivateKey, certificate: x509.Certificate
    ) -> None:
        self.ca_dir = ca_dir
        self._key = key
        self.certificate = certificate

    def __repr__(self) -> str:
        return f"CertificateAuthority({str(self.ca_dir)!r})"

    @property
    def cert_path(self) -> Path:
        return self.ca_dir / CA_CERT

    @property
    def crl_path(self) -> Path:
        return self.ca_dir / CRL_FILE

    # -- creating and opening -------------------------------------------------

    @classmethod
    def init(
        cls,
        ca_dir: Path,
        passphrase: bytes,
        name: str = DEFAULT_NAME,
        *,
        now: datetime | None = None,
    ) -> CertificateAuthority:
        """Create a new CA; never overwrites one, since that would orphan every certificate."""
        check_new_passphrase(passphrase)
        if not name.strip():
            raise ConfigError("the CA name must not be empty")
        if (ca_dir / CA_KEY).exists() or (ca_dir / CA_CERT).exists():
            raise ConfigError(f"a CA already exists in {ca_dir}; refusing to overwrite it")
        ca_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        certificate = _self_signed(key, name, _utc(now))
        pem_key = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(passphrase),
        )
        write_private(ca_dir / CA_KEY, pem_key)
        write_atomic(ca_dir / CA_CERT, _pem(certificate))
        authority = cls(ca_dir, key, certificate)
        write_atomic(ca_dir / ISSUED_FILE, b"[]\n", mode=0o600)
        authority.write_crl(now=now)
        return authority

    @classmethod
    def load(cls, ca_dir: Path, passphrase: bytes) -> CertificateAuthority:
        check_passphrase(passphrase)
        certificate = load_certificate(ca_dir / CA_CERT, "CA certificate")
        key = _decrypt_key(read_pem(ca_dir / CA_KEY, "CA key"), passphrase)
        if key.public_key() != certificate.public_key():
            raise ConfigError(f"{ca_dir / CA_KEY} does not belong to {ca_dir / CA_CERT}")
        return cls(ca_dir, key, certificate)

    # -- issuing --------------------------------------------------------------

    def issue_hub(
        self,
        hosts: list[str],
        out_dir: Path,
        days: int = DEFAULT_DAYS,
        *,
        now: datetime | None = None,
        force: bool = False,
    ) -> tuple[Path, Path]:
        """hub.crt and hub.key in out_dir, valid for every name and address in `hosts`."""
        names = host_names(hosts)
        _refuse_existing_key(out_dir / HUB_KEY, force)
        key = ec.generate_private_key(ec.SECP256R1())
        common_name = hosts[0].strip() if len(hosts[0].strip()) <= 64 else "counterflow-hub"
        builder = (
            self._leaf_builder(common_name, key.public_key(), days, _utc(now))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        )
        certificate = self._sign_and_record(builder, f"hub:{hosts[0].strip().lower()}", "hub")
        return self._write_pair(out_dir, HUB_CERT, HUB_KEY, certificate, key)

    def sign_request(
        self, csr_pem: bytes, days: int = DEFAULT_DAYS, *, now: datetime | None = None
    ) -> bytes:
        """A partner certificate for a node's request; returns the certificate as PEM."""
        request = parse_request(csr_pem)
        partner_id = requested_partner_id(request)
        public_key = _p256_key(request.public_key())
        certificate = self._issue_partner(partner_id, public_key, days, _utc(now))
        return _pem(certificate)

    def issue_partner(
        self,
        partner_id: str,
        out_dir: Path,
        days: int = DEFAULT_DAYS,
        *,
        now: datetime | None = None,
        force: bool = False,
    ) -> tuple[Path, Path]:
        """Key and certificate made here: for demos and tests, where no node enrols itself."""
        check_partner_id(partner_id)
        _refuse_existing_key(out_dir / PARTNER_KEY, force)
        key = ec.generate_private_key(ec.SECP256R1())
        certificate = self._issue_partner(partner_id, key.public_key(), days, _utc(now))
        return self._write_pair(out_dir, PARTNER_CERT, PARTNER_KEY, certificate, key)

    def copy_ca_certificate(self, out_dir: Path) -> Path:
        """Put ca.crt next to an issued pair: a certificate is useless without its anchor."""
        target = out_dir / CA_CERT
        out_dir.mkdir(parents=True, exist_ok=True)
        if target.resolve() != self.cert_path.resolve():
            write_atomic(target, _pem(self.certificate))
        return target

    # -- revoking -------------------------------------------------------------

    def revoke(
        self, partner_id: str, reason: str = "unspecified", *, now: datetime | None = None
    ) -> list[int]:
        """Revoke every live certificate of a partner and publish a new CRL.

        Returns the serials newly revoked (empty if all were revoked already; the
        CRL is re-published anyway, which also refreshes its next update).
        """
        flag = revocation_reason(reason)
        moment = _utc(now)
        with self._locked():
            issued = self.issued()
            if not any(e.kind == "partner" and e.subject == partner_id for e in issued):
                raise ConfigError(f"no certificate was issued to partner {partner_id!r}")
            serials = [
                e.serial
                for e in issued
                if e.kind == "partner" and e.subject == partner_id and e.revoked_at is None
            ]
            updated = [
                dataclasses.replace(e, revoked_at=moment, reason=flag.value)
                if e.serial in serials
                else e
                for e in issued
            ]
            self._write_issued(updated)
            self._publish_crl(updated, moment)
        return serials

    def write_crl(self, *, now: datetime | None = None) -> Path:
        """Re-publish the CRL from issued.json (run at least weekly: it expires after 7 days)."""
        with self._locked():
            self._publish_crl(self.issued(), _utc(now))
        return self.crl_path

    def issued(self) -> list[IssuedCertificate]:
        path = self.ca_dir / ISSUED_FILE
        try:
            raw = json.loads(path.read_text())
            return [IssuedCertificate.from_json(item) for item in raw]
        except FileNotFoundError:
            raise ConfigError(f"{path} is missing: the CA directory is incomplete") from None
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"{path} is corrupted: {exc}") from None

    # -- internals ------------------------------------------------------------

    def _issue_partner(
        self, partner_id: str, public_key: ec.EllipticCurvePublicKey, days: int, now: datetime
    ) -> x509.Certificate:
        uri = x509.UniformResourceIdentifier(PARTNER_URI_PREFIX + partner_id)
        builder = (
            self._leaf_builder(partner_id, public_key, days, now)
            .add_extension(x509.SubjectAlternativeName([uri]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        )
        return self._sign_and_record(builder, partner_id, "partner")

    def _leaf_builder(
        self, common_name: str, public_key: ec.EllipticCurvePublicKey, days: int, now: datetime
    ) -> x509.CertificateBuilder:
        not_after = now + timedelta(days=days)
        if days < 1:
            raise ConfigError(f"validity must be at least one day, got {days}")
        if not_after > self.certificate.not_valid_after_utc:
            raise ConfigError(
                "the certificate would outlive the CA certificate "
                f"(valid until {self.certificate.not_valid_after_utc:%Y-%m-%d}); use fewer --days"
            )
        ca_ski = self.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
        return (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(self.certificate.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - CLOCK_SKEW)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(digital_signature=True), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski.value),
                critical=False,
            )
        )

    def _sign_and_record(
        self, builder: x509.CertificateBuilder, subject: str, kind: Kind
    ) -> x509.Certificate:
        certificate = builder.sign(self._key, hashes.SHA256())
        entry = IssuedCertificate(
            serial=certificate.serial_number,
            subject=subject,
            kind=kind,
            not_after=certificate.not_valid_after_utc,
        )
        with self._locked():
            self._write_issued([*self.issued(), entry])
        return certificate

    def _write_pair(
        self,
        out_dir: Path,
        cert_name: str,
        key_name: str,
        certificate: x509.Certificate,
        key: ec.EllipticCurvePrivateKey,
    ) -> tuple[Path, Path]:
        out_dir.mkdir(parents=True, exist_ok=True)
        key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        write_private(out_dir / key_name, key_pem)
        write_atomic(out_dir / cert_name, _pem(certificate))
        return out_dir / cert_name, out_dir / key_name

    def _write_issued(self, entries: list[IssuedCertificate]) -> None:
        data = json.dumps([e.to_json() for e in entries], indent=2) + "\n"
        write_atomic(self.ca_dir / ISSUED_FILE, data.encode(), mode=0o600)

    def _publish_crl(self, entries: list[IssuedCertificate], now: datetime) -> None:
        revocations = [
            Revocation(e.serial, e.revoked_at, revocation_reason(e.reason or "unspecified"))
            for e in entries
            if e.revoked_at is not None
        ]
        crl = build_crl(
            self._key, self.certificate, revocations, number=self._next_crl_number(), now=now
        )
        write_atomic(self.crl_path, crl.public_bytes(serialization.Encoding.PEM))

    def _next_crl_number(self) -> int:
        """CRL numbers only grow (RFC 5280 5.2.3), so relying parties can spot a rollback."""
        if not self.crl_path.exists():
            return 1
        return crl_number(parse_crl(self.crl_path.read_bytes(), str(self.crl_path))) + 1

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with open(self.ca_dir / LOCK_FILE, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


# -- requests -----------------------------------------------------------------


def parse_request(csr_pem: bytes) -> x509.CertificateSigningRequest:
    """A CSR whose signature proves the requester holds the key it names."""
    try:
        request = x509.load_pem_x509_csr(csr_pem)
        signed = request.is_signature_valid
    except ValueError as exc:
        raise _bad_request(f"the signing request could not be parsed: {exc}") from None
    if not signed:
        raise _bad_request("the signing request's signature does not verify (altered in transit?)")
    return request


def requested_partner_id(request: x509.CertificateSigningRequest) -> str:
    """The CN, provided it is a valid partner id and the request's partner URI agrees."""
    names = request.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if len(names) != 1:
        raise _bad_request("the signing request must have exactly one common name")
    partner_id = str(names[0].value)
    if not PARTNER_ID_PATTERN.fullmatch(partner_id):
        raise _bad_request(
            f"common name {partner_id!r} is not a partner id (2-63 characters of a-z, 0-9 and '-')"
        )
    if _requested_partner_uris(request) != [PARTNER_URI_PREFIX + partner_id]:
        raise _bad_request(
            f"the signing request must name {PARTNER_URI_PREFIX}{partner_id} "
            "as its only partner URI"
        )
    return partner_id


def _requested_partner_uris(request: x509.CertificateSigningRequest) -> list[str]:
    try:
        san = request.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    except (ValueError, x509.DuplicateExtension) as exc:
        raise _bad_request(f"the signing request's extensions are malformed: {exc}") from None
    uris = san.get_values_for_type(x509.UniformResourceIdentifier)
    return [u for u in uris if u.startswith(PARTNER_URI_PREFIX)]


def _p256_key(public_key: object) -> ec.EllipticCurvePublicKey:
    if isinstance(public_key, ec.EllipticCurvePublicKey) and isinstance(
        public_key.curve, ec.SECP256R1
    ):
        return public_key
    raise _bad_request("the signing request's key must be an EC P-256 key")


def _bad_request(message: str) -> InputError:
    return InputError(ErrorCode.INVALID_REQUEST, message)


# -- hosts, reasons, passphrases ----------------------------------------------


def host_names(hosts: list[str]) -> list[x509.GeneralName]:
    """SAN entries for the hub: IP addresses as such, everything else a DNS name."""
    if not hosts:
        raise ConfigError("give at least one --host the nodes will dial")
    names: list[x509.GeneralName] = []
    for host in (h.strip() for h in hosts):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
            continue
        except ValueError:
            pass
        if not _DNS_NAME.match(host.lower()):
            raise ConfigError(f"--host {host!r} is neither an IP address nor a DNS name")
        names.append(x509.DNSName(host.lower()))
    return names


def revocation_reason(reason: str) -> x509.ReasonFlags:
    """Accept either spelling (key_compromise or keyCompromise)."""
    for flag in x509.ReasonFlags:
        if reason in (flag.name, flag.value) and flag is not x509.ReasonFlags.remove_from_crl:
            return flag
    choices = ", ".join(
        f.name for f in x509.ReasonFlags if f is not x509.ReasonFlags.remove_from_crl
    )
    raise ConfigError(f"unknown revocation reason {reason!r}; choose one of {choices}")


def check_passphrase(passphrase: bytes) -> None:
    if not passphrase:
        raise ConfigError("the CA passphrase must not be empty")


def check_new_passphrase(passphrase: bytes) -> None:
    check_passphrase(passphrase)
    if len(passphrase.decode("utf-8", errors="replace")) < MIN_PASSPHRASE_CHARS:
        raise ConfigError(
            f"the CA passphrase must be at least {MIN_PASSPHRASE_CHARS} characters long"
        )


# -- files and certificates ---------------------------------------------------


def _decrypt_key(pem: bytes, passphrase: bytes) -> ec.EllipticCurvePrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=passphrase)
    except TypeError:
        raise ConfigError("the CA key is not encrypted; re-create the CA") from None
    except ValueError:
        raise ConfigError("wrong CA passphrase") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ConfigError("the CA key is not an EC key")
    return key


def _self_signed(key: ec.EllipticCurvePrivateKey, name: str, now: datetime) -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name.strip())])
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(now + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(key_cert_sign=True, crl_sign=True), critical=True)
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA256())
    )


def _key_usage(
    *, digital_signature: bool = False, key_cert_sign: bool = False, crl_sign: bool = False
) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=key_cert_sign,
        crl_sign=crl_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _refuse_existing_key(path: Path, force: bool) -> None:
    if path.exists() and not force:
        raise ConfigError(f"{path} already exists; choose another --out or pass --force")


def _pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def _utc(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    if now.tzinfo is None:
        raise ValueError("`now` must be timezone-aware")
    return now.astimezone(UTC)


def write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Readers (the hub re-reading crl.pem) see the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise


def copy_file_atomic(source: Path, target: Path) -> Path:
    """Copy a public file (a CRL, a CA certificate) so readers never see it half-written."""
    write_atomic(target, source.read_bytes())
    return target
