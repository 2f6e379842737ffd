"""A throw-away PKI for tests: one CA, a hub, partners, and the certificates that must fail.

Plain functions, no pytest: integration tests call `build_test_pki(tmp_path, [...])`
from their own fixtures. Everything is generated (never committed) and takes
a few milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from counterflow.tls import TlsFiles
from hub.pki.authority import DEFAULT_DAYS, CertificateAuthority

TEST_PASSPHRASE = b"counterflow test passphrase"
HUB_HOSTS = ["localhost", "127.0.0.1"]


@dataclass(frozen=True)
class TestPki:
    """Paths of every generated file; `ca_cert` is the one CA the hub and nodes trust."""

    __test__ = False  # not a test class, whatever pytest thinks of the name

    root: Path
    ca_dir: Path
    ca_cert: Path
    passphrase: bytes
    hub: TlsFiles
    partners: dict[str, TlsFiles]
    # "bank-alpha" certified by another CA, trusting the real CA (so it reaches the hub).
    foreign: TlsFiles
    foreign_ca_cert: Path
    expired_id: str
    expired: TlsFiles
    revoked_id: str
    revoked: TlsFiles
    revoked_serials: list[int]
    crl: Path

    def authority(self) -> CertificateAuthority:
        """The CA itself, to issue or revoke more during a test."""
        return CertificateAuthority.load(self.ca_dir, self.passphrase)


def build_test_pki(
    root: Path,
    partners: list[str],
    *,
    expired_id: str = "expired-partner",
    revoked_id: str = "revoked-partner",
    foreign_id: str = "bank-alpha",
) -> TestPki:
    """Build the PKI under `root`. `revoked_id` must not be in `partners` (all its certs go)."""
    if revoked_id in partners:
        raise ValueError(f"{revoked_id!r} is revoked; it cannot also be a working partner")
    authority = CertificateAuthority.init(root / "ca", TEST_PASSPHRASE)
    hub_dir = root / "hub"
    hub_cert, hub_key = authority.issue_hub(HUB_HOSTS, hub_dir)
    issued = {pid: _partner(authority, pid, root / "partners" / pid) for pid in partners}
    expired = _partner(authority, expired_id, root / "expired", now=_expired_yesterday())
    revoked = _partner(authority, revoked_id, root / "revoked")
    revoked_serials = authority.revoke(revoked_id, "key_compromise")
    foreign_ca = CertificateAuthority.init(root / "foreign-ca", TEST_PASSPHRASE, "Foreign CA")
    foreign_cert, foreign_key = foreign_ca.issue_partner(foreign_id, root / "foreign")
    return TestPki(
        root=root,
        ca_dir=authority.ca_dir,
        ca_cert=authority.cert_path,
        passphrase=TEST_PASSPHRASE,
        hub=TlsFiles(cert=hub_cert, key=hub_key, ca=authority.copy_ca_certificate(hub_dir)),
        partners=issued,
        foreign=TlsFiles(cert=foreign_cert, key=foreign_key, ca=authority.cert_path),
        foreign_ca_cert=foreign_ca.cert_path,
        expired_id=expired_id,
        expired=expired,
        revoked_id=revoked_id,
        revoked=revoked,
        revoked_serials=revoked_serials,
        crl=authority.crl_path,
    )


def _partner(
    authority: CertificateAuthority, partner_id: str, out: Path, now: datetime | None = None
) -> TlsFiles:
    cert, key = authority.issue_partner(partner_id, out, now=now)
    return TlsFiles(cert=cert, key=key, ca=authority.copy_ca_certificate(out))


def _expired_yesterday() -> datetime:
    """Issued DEFAULT_DAYS + 1 days ago, so its not_after was one day ago."""
    return datetime.now(UTC) - timedelta(days=DEFAULT_DAYS + 1)
