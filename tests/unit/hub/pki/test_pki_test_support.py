"""The test PKI factory other suites build on: each certificate is what its name says."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from support.pki import build_test_pki

from counterflow.tls import load_certificate, partner_id_of
from hub.pki.crl import RevocationList


def test_factory_builds_every_case(tmp_path: Path) -> None:
    pki = build_test_pki(tmp_path, ["bank-one", "ngo-two"], expired_id="bank-one")
    ca = load_certificate(pki.ca_cert)
    for files in [*pki.partners.values(), pki.expired, pki.revoked, pki.hub]:
        load_certificate(files.cert).verify_directly_issued_by(ca)
    assert sorted(pki.partners) == ["bank-one", "ngo-two"]
    assert partner_id_of(load_certificate(pki.foreign.cert)) == "bank-alpha"
    assert pki.foreign.ca == pki.ca_cert
    with pytest.raises(ValueError):
        load_certificate(pki.foreign.cert).verify_directly_issued_by(ca)
    expired = load_certificate(pki.expired.cert)
    assert partner_id_of(expired) == "bank-one"
    assert expired.not_valid_after_utc < datetime.now(UTC)
    revoked = load_certificate(pki.revoked.cert)
    crl = RevocationList.load(pki.crl, ca)
    assert crl.is_revoked(revoked.serial_number)
    assert pki.revoked_serials == [revoked.serial_number]
    assert not crl.is_revoked(load_certificate(pki.partners["bank-one"].cert).serial_number)


def test_factory_refuses_a_revoked_id_among_working_partners(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="revoked"):
        build_test_pki(tmp_path, ["revoked-partner"])
