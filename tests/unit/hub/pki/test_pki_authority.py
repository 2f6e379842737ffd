"""The CA: creating, opening, issuing hub and partner certificates."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from counterflow.errors import ConfigError
from counterflow.tls import PARTNER_URI_PREFIX, load_certificate, partner_id_of
from hub.pki.authority import CertificateAuthority, revocation_reason

PASSPHRASE = b"correct horse battery staple"
NOW = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


@pytest.fixture
def authority(tmp_path: Path) -> CertificateAuthority:
    return CertificateAuthority.init(tmp_path / "ca", PASSPHRASE, now=NOW)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _eku(cert: x509.Certificate) -> list[x509.ObjectIdentifier]:
    return list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)


def test_init_writes_encrypted_key_certificate_crl_and_register(
    authority: CertificateAuthority,
) -> None:
    ca_dir = authority.ca_dir
    assert b"ENCRYPTED PRIVATE KEY" in (ca_dir / "ca.key").read_bytes()
    assert _mode(ca_dir / "ca.key") == 0o600
    assert json.loads((ca_dir / "issued.json").read_text()) == []
    assert x509.load_pem_x509_crl((ca_dir / "crl.pem").read_bytes()).next_update_utc == NOW + (
        timedelta(days=7)
    )
    cert = load_certificate(ca_dir / "ca.crt")
    constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert constraints.ca
    assert cert.not_valid_after_utc - NOW == timedelta(days=3652)
    assert cert.subject.rfc4514_string() == "CN=Counterflow Hub CA"


def test_load_with_right_passphrase_gives_same_ca(authority: CertificateAuthority) -> None:
    loaded = CertificateAuthority.load(authority.ca_dir, PASSPHRASE)
    assert loaded.certificate == authority.certificate


def test_load_with_wrong_passphrase_is_refused(authority: CertificateAuthority) -> None:
    with pytest.raises(ConfigError, match="wrong CA passphrase"):
        CertificateAuthority.load(authority.ca_dir, b"not the passphrase")


def test_load_with_empty_passphrase_is_refused(authority: CertificateAuthority) -> None:
    with pytest.raises(ConfigError, match="must not be empty"):
        CertificateAuthority.load(authority.ca_dir, b"")


def test_init_refuses_to_overwrite_an_existing_ca(authority: CertificateAuthority) -> None:
    before = (authority.ca_dir / "ca.key").read_bytes()
    with pytest.raises(ConfigError, match="already exists"):
        CertificateAuthority.init(authority.ca_dir, b"another long passphrase")
    assert (authority.ca_dir / "ca.key").read_bytes() == before


@pytest.mark.parametrize("passphrase", [b"", b"short"])
def test_init_refuses_empty_or_short_passphrase(tmp_path: Path, passphrase: bytes) -> None:
    with pytest.raises(ConfigError, match="passphrase"):
        CertificateAuthority.init(tmp_path / "ca", passphrase)
    assert not (tmp_path / "ca" / "ca.key").exists()


def test_partner_certificate_names_the_partner_and_only_that(
    authority: CertificateAuthority, tmp_path: Path
) -> None:
    cert_path, key_path = authority.issue_partner("ngo-safe-harbour", tmp_path / "p", now=NOW)
    cert = load_certificate(cert_path)
    assert partner_id_of(cert) == "ngo-safe-harbour"
    assert cert.subject.rfc4514_string() == "CN=ngo-safe-harbour"
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert list(san) == [x509.UniformResourceIdentifier(PARTNER_URI_PREFIX + "ngo-safe-harbour")]
    assert _eku(cert) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert cert.not_valid_after_utc == NOW + timedelta(days=397)
    cert.verify_directly_issued_by(authority.certificate)
    assert _mode(key_path) == 0o600


def test_partner_days_and_expired_certificates(
    authority: CertificateAuthority, tmp_path: Path
) -> None:
    past = NOW - timedelta(days=40)
    cert_path, _ = authority.issue_partner("bank-one", tmp_path / "old", days=30, now=past)
    cert = load_certificate(cert_path)
    assert cert.not_valid_after_utc == past + timedelta(days=30)
    assert cert.not_valid_after_utc < NOW


def test_issue_partner_refuses_a_bad_partner_id(
    authority: CertificateAuthority, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match="partner id"):
        authority.issue_partner("Bank One", tmp_path / "p")


def test_issue_partner_keeps_an_existing_key_unless_forced(
    authority: CertificateAuthority, tmp_path: Path
) -> None:
    _, key_path = authority.issue_partner("bank-one", tmp_path / "p", now=NOW)
    before = key_path.read_bytes()
    with pytest.raises(ConfigError, match="already exists"):
        authority.issue_partner("bank-one", tmp_path / "p", now=NOW)
    assert key_path.read_bytes() == before
    authority.issue_partner("bank-one", tmp_path / "p", now=NOW, force=True)
    assert key_path.read_bytes() != before


def test_certificate_cannot_outlive_the_ca(authority: CertificateAuthority, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="outlive the CA"):
        authority.issue_partner("bank-one", tmp_path / "p", days=3700, now=NOW)


def test_hub_certificate_carries_dns_names_and_ip_addresses(
    authority: CertificateAuthority, tmp_path: Path
) -> None:
    hosts = ["hub.example.org", "localhost", "127.0.0.1", "::1"]
    cert_path, key_path = authority.issue_hub(hosts, tmp_path / "hub", now=NOW)
    cert = load_certificate(cert_path)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["hub.example.org", "localhost"]
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1", "::1"]
    assert _eku(cert) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert partner_id_of(cert) is None
    assert cert.not_valid_after_utc == NOW + timedelta(days=397)
    assert _mode(key_path) == 0o600


@pytest.mark.parametrize("hosts", [[], ["bad host"], ["under_score.example"]])
def test_hub_certificate_refuses_bad_hosts(
    authority: CertificateAuthority, tmp_path: Path, hosts: list[str]
) -> None:
    with pytest.raises(ConfigError, match="host"):
        authority.issue_hub(hosts, tmp_path / "hub")


def test_issued_register_lists_every_certificate(
    authority: CertificateAuthority, tmp_path: Path
) -> None:
    hub_cert, _ = authority.issue_hub(["hub.example.org"], tmp_path / "hub", now=NOW)
    partner_cert, _ = authority.issue_partner("bank-one", tmp_path / "p", now=NOW)
    raw = json.loads((authority.ca_dir / "issued.json").read_text())
    assert [(r["subject"], r["kind"], r["revoked_at"]) for r in raw] == [
        ("hub:hub.example.org", "hub", None),
        ("bank-one", "partner", None),
    ]
    assert raw[1]["serial"] == str(load_certificate(partner_cert).serial_number)
    assert raw[0]["serial"] == str(load_certificate(hub_cert).serial_number)
    assert datetime.fromisoformat(raw[1]["not_after"]) == NOW + timedelta(days=397)


def test_copy_ca_certificate(authority: CertificateAuthority, tmp_path: Path) -> None:
    target = authority.copy_ca_certificate(tmp_path / "bundle")
    assert target.read_bytes() == authority.cert_path.read_bytes()


@pytest.mark.parametrize(
    ("given", "flag"),
    [
        ("key_compromise", x509.ReasonFlags.key_compromise),
        ("keyCompromise", x509.ReasonFlags.key_compromise),
        ("unspecified", x509.ReasonFlags.unspecified),
    ],
)
def test_revocation_reason_accepts_both_spellings(given: str, flag: x509.ReasonFlags) -> None:
    assert revocation_reason(given) is flag


@pytest.mark.parametrize("given", ["stolen", "remove_from_crl"])
def test_revocation_reason_refuses_others(given: str) -> None:
    with pytest.raises(ConfigError, match="unknown revocation reason"):
        revocation_reason(given)
