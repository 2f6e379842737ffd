"""Revocation: the register, the CRL the CA publishes, and the hub's view of it."""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from counterflow.errors import ConfigError
from counterflow.tls import load_certificate
from hub.pki.authority import CertificateAuthority
from hub.pki.crl import CrlWatcher, RevocationList

PASSPHRASE = b"correct horse battery staple"
NOW = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
LATER = NOW + timedelta(days=3)


@pytest.fixture
def authority(tmp_path: Path) -> CertificateAuthority:
    return CertificateAuthority.init(tmp_path / "ca", PASSPHRASE, now=NOW)


def _serial(authority: CertificateAuthority, partner_id: str, out: Path) -> int:
    cert_path, _ = authority.issue_partner(partner_id, out, now=NOW)
    return load_certificate(cert_path).serial_number


def test_revoke_updates_register_crl_and_revocation_list(
    authority: CertificateAuthority, tmp_path: Path
) -> None:
    first = _serial(authority, "bank-one", tmp_path / "a")
    second = _serial(authority, "bank-one", tmp_path / "b")
    other = _serial(authority, "ngo-two", tmp_path / "c")

    revoked = authority.revoke("bank-one", "key_compromise", now=LATER)

    assert sorted(revoked) == sorted([first, second])
    raw = {r["serial"]: r for r in json.loads((authority.ca_dir / "issued.json").read_text())}
    assert datetime.fromisoformat(raw[str(first)]["revoked_at"]) == LATER
    assert raw[str(first)]["reason"] == "keyCompromise"
    assert raw[str(other)]["revoked_at"] is None
    crl = x509.load_pem_x509_crl(authority.crl_path.read_bytes())
    entry = crl.get_revoked_certificate_by_serial_number(first)
    assert entry is not None
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason is (
        x509.ReasonFlags.key_compromise
    )
    assert crl.next_update_utc == LATER + timedelta(days=7)
    ca_key = authority.certificate.public_key()
    assert isinstance(ca_key, ec.EllipticCurvePublicKey)
    assert crl.is_signature_valid(ca_key)
    revocations = RevocationList.load(authority.crl_path, authority.certificate)
    assert revocations.is_revoked(first)
    assert revocations.is_revoked(second)
    assert not revocations.is_revoked(other)


def test_revoking_again_revokes_nothing_new_but_republishes(
    authority: CertificateAuthority, tmp_path: Path
) -> None:
    serial = _serial(authority, "bank-one", tmp_path / "a")
    assert authority.revoke("bank-one", now=NOW) == [serial]
    number = _crl_number(authority.crl_path)
    assert authority.revoke("bank-one", now=LATER) == []
    assert _crl_number(authority.crl_path) == number + 1
    assert RevocationList.load(authority.crl_path).is_revoked(serial)


def _crl_number(path: Path) -> int:
    crl = x509.load_pem_x509_crl(path.read_bytes())
    return crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number


def test_revoking_an_unknown_partner_is_an_error(authority: CertificateAuthority) -> None:
    with pytest.raises(ConfigError, match="no certificate was issued to partner 'bank-nine'"):
        authority.revoke("bank-nine")


def test_hub_certificates_are_not_revoked_by_partner_id(
    authority: CertificateAuthority, tmp_path: Path
) -> None:
    authority.issue_hub(["localhost"], tmp_path / "hub", now=NOW)
    with pytest.raises(ConfigError, match="no certificate"):
        authority.revoke("localhost")


def test_unspecified_reason_is_left_out_of_the_entry(
    authority: CertificateAuthority, tmp_path: Path
) -> None:
    serial = _serial(authority, "bank-one", tmp_path / "a")
    authority.revoke("bank-one", now=NOW)
    entry = x509.load_pem_x509_crl(
        authority.crl_path.read_bytes()
    ).get_revoked_certificate_by_serial_number(serial)
    assert entry is not None
    with pytest.raises(x509.ExtensionNotFound):
        entry.extensions.get_extension_for_class(x509.CRLReason)


def test_write_crl_refreshes_next_update(authority: CertificateAuthority) -> None:
    authority.write_crl(now=LATER)
    revocations = RevocationList.load(authority.crl_path)
    assert revocations.next_update == LATER + timedelta(days=7)
    assert not revocations.is_stale(LATER + timedelta(days=6))
    assert revocations.is_stale(LATER + timedelta(days=7))


def test_crl_from_another_ca_is_refused(authority: CertificateAuthority, tmp_path: Path) -> None:
    other = CertificateAuthority.init(tmp_path / "other", PASSPHRASE, "Other CA", now=NOW)
    with pytest.raises(ConfigError, match="not signed by the CA"):
        RevocationList.load(other.crl_path, authority.certificate)


def test_unreadable_crls_are_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="CRL not found"):
        RevocationList.load(tmp_path / "missing.pem")
    bad = tmp_path / "bad.pem"
    bad.write_bytes(b"-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n")
    with pytest.raises(ConfigError, match="could not be parsed"):
        RevocationList.load(bad)


def test_watcher_without_a_path_revokes_nothing() -> None:
    watcher = CrlWatcher(None)
    assert not watcher.current().is_revoked(1)


def test_watcher_with_a_missing_file_fails_at_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="CRL not found"):
        CrlWatcher(tmp_path / "crl.pem")


def test_watcher_picks_up_a_new_crl_file(authority: CertificateAuthority, tmp_path: Path) -> None:
    serial = _serial(authority, "bank-one", tmp_path / "a")
    published = tmp_path / "hub" / "crl.pem"
    published.parent.mkdir()
    shutil.copy(authority.crl_path, published)
    watcher = CrlWatcher(published, authority.certificate)
    before = watcher.current()
    assert not before.is_revoked(serial)
    assert watcher.current() is before  # unchanged file: not re-read

    authority.revoke("bank-one", now=LATER)
    temp = published.with_suffix(".tmp")
    shutil.copy(authority.crl_path, temp)
    os.replace(temp, published)

    assert watcher.current().is_revoked(serial)


def test_watcher_fails_closed_when_the_file_disappears(
    authority: CertificateAuthority, tmp_path: Path
) -> None:
    published = tmp_path / "crl.pem"
    shutil.copy(authority.crl_path, published)
    watcher = CrlWatcher(published)
    published.unlink()
    with pytest.raises(ConfigError, match="CRL not found"):
        watcher.current()
    shutil.copy(authority.crl_path, published)
    assert not watcher.current().is_revoked(1)
