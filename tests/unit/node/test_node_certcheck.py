"""The node checks its own certificate first, so common mistakes are named, not "unavailable"."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509
from support.pki import TestPki, build_test_pki

from counterflow.errors import ConfigError, ErrorCode
from counterflow.tls import TlsFiles
from node.certcheck import check_own_certificate


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPki:
    return build_test_pki(tmp_path_factory.mktemp("pki"), ["bank-alpha", "ngo-beta"])


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _problem(files: TlsFiles, partner_id: str, now: dt.datetime | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        check_own_certificate(files, partner_id, now=now)
    assert caught.value.code is ErrorCode.INVALID_CONFIG
    return caught.value


def test_a_good_certificate_passes(pki: TestPki) -> None:
    check_own_certificate(pki.partners["bank-alpha"], "bank-alpha")
    check_own_certificate(pki.partners["bank-alpha"], "")  # no id configured: any partner


def test_an_expired_certificate_is_named(pki: TestPki) -> None:
    error = _problem(pki.expired, pki.expired_id)
    expiry = _cert(pki.expired.cert).not_valid_after_utc
    assert f"partner certificate expired on {expiry:%Y-%m-%d}" in error.message
    assert str(pki.expired.cert) in error.message
    assert "counterflow node enroll" in error.message


def test_expiry_is_judged_at_the_given_moment(pki: TestPki) -> None:
    files = pki.partners["bank-alpha"]
    cert = _cert(files.cert)
    check_own_certificate(files, "bank-alpha", now=cert.not_valid_after_utc)
    later = cert.not_valid_after_utc + dt.timedelta(seconds=1)
    assert "expired on" in _problem(files, "bank-alpha", now=later).message
    earlier = cert.not_valid_before_utc - dt.timedelta(seconds=1)
    assert "is not valid before" in _problem(files, "bank-alpha", now=earlier).message


def test_a_key_of_another_certificate_is_named(pki: TestPki) -> None:
    alpha, beta = pki.partners["bank-alpha"], pki.partners["ngo-beta"]
    mixed = TlsFiles(cert=alpha.cert, key=beta.key, ca=alpha.ca)
    error = _problem(mixed, "bank-alpha")
    assert error.message == f"partner key {beta.key} does not belong to certificate {alpha.cert}"


def test_a_certificate_from_another_ca_is_named(pki: TestPki) -> None:
    error = _problem(pki.foreign, "bank-alpha")
    assert error.message == (
        f"partner certificate {pki.foreign.cert} was not issued by the CA in {pki.foreign.ca}"
    )


def test_trusting_another_ca_is_named(pki: TestPki) -> None:
    alpha = pki.partners["bank-alpha"]
    wrong_ca = TlsFiles(cert=alpha.cert, key=alpha.key, ca=pki.foreign_ca_cert)
    assert "was not issued by the CA in" in _problem(wrong_ca, "bank-alpha").message


def test_a_certificate_of_another_partner_is_named(pki: TestPki) -> None:
    error = _problem(pki.partners["ngo-beta"], "bank-alpha")
    assert error.message == "certificate names partner 'ngo-beta', but this node is 'bank-alpha'"


def test_an_unreadable_key_is_named(pki: TestPki, tmp_path: Path) -> None:
    alpha = pki.partners["bank-alpha"]
    bad_key = tmp_path / "partner.key"
    bad_key.write_text("-----BEGIN PRIVATE KEY-----\nnot base64\n-----END PRIVATE KEY-----\n")
    error = _problem(TlsFiles(cert=alpha.cert, key=bad_key, ca=alpha.ca), "bank-alpha")
    assert error.message.startswith(f"partner key could not be read: {bad_key}")


def test_missing_files_are_named(pki: TestPki, tmp_path: Path) -> None:
    alpha = pki.partners["bank-alpha"]
    absent = tmp_path / "absent.crt"
    error = _problem(TlsFiles(cert=absent, key=alpha.key, ca=alpha.ca), "bank-alpha")
    assert error.message == f"partner certificate not found: {absent}"
    error = _problem(TlsFiles(cert=alpha.cert, key=alpha.key, ca=absent), "bank-alpha")
    assert error.message == f"CA certificate not found: {absent}"
