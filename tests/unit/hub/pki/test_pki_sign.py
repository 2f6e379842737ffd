"""Signing a node's request: only the partner id is taken from it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from counterflow.errors import CounterflowError, ErrorCode
from counterflow.tls import PARTNER_URI_PREFIX, partner_id_of
from hub.pki.authority import CertificateAuthority

PASSPHRASE = b"correct horse battery staple"
NOW = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


@pytest.fixture
def authority(tmp_path: Path) -> CertificateAuthority:
    return CertificateAuthority.init(tmp_path / "ca", PASSPHRASE, now=NOW)


def _request(
    common_name: str,
    uris: list[str],
    *,
    key: ec.EllipticCurvePrivateKey | None = None,
    extra: bool = False,
) -> bytes:
    key = key or ec.generate_private_key(ec.SECP256R1())
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if extra:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Evil Corp"))
    names: list[x509.GeneralName] = [x509.UniformResourceIdentifier(u) for u in uris]
    if extra:
        names.append(x509.DNSName("hub.example.org"))
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attributes))
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    if extra:
        builder = builder.add_extension(
            x509.BasicConstraints(ca=True, path_length=None), critical=True
        ).add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def _refused(authority: CertificateAuthority, csr: bytes, match: str) -> None:
    with pytest.raises(CounterflowError, match=match) as caught:
        authority.sign_request(csr, now=NOW)
    assert caught.value.code is ErrorCode.INVALID_REQUEST


def test_signed_certificate_is_a_partner_certificate_for_the_request_key(
    authority: CertificateAuthority,
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = authority.sign_request(
        _request("bank-one", [PARTNER_URI_PREFIX + "bank-one"], key=key), days=90, now=NOW
    )
    cert = x509.load_pem_x509_certificate(pem)
    assert partner_id_of(cert) == "bank-one"
    assert cert.public_key() == key.public_key()
    assert cert.not_valid_after_utc == NOW + timedelta(days=90)
    cert.verify_directly_issued_by(authority.certificate)
    assert [e.subject for e in authority.issued()] == ["bank-one"]


def test_signing_ignores_every_extra_the_request_asks_for(
    authority: CertificateAuthority,
) -> None:
    csr = _request("bank-one", [PARTNER_URI_PREFIX + "bank-one"], extra=True)
    cert = x509.load_pem_x509_certificate(authority.sign_request(csr, now=NOW))
    assert cert.subject.rfc4514_string() == "CN=bank-one"
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert list(san) == [x509.UniformResourceIdentifier(PARTNER_URI_PREFIX + "bank-one")]
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


@pytest.mark.parametrize("common_name", ["Bank One", "-bank", "x", "bank_one", "hub.example.org"])
def test_request_with_a_bad_partner_id_is_refused(
    authority: CertificateAuthority, common_name: str
) -> None:
    _refused(authority, _request(common_name, [PARTNER_URI_PREFIX + common_name]), "partner id")


@pytest.mark.parametrize(
    "uris",
    [
        [],
        [PARTNER_URI_PREFIX + "bank-two"],
        [PARTNER_URI_PREFIX + "bank-one", PARTNER_URI_PREFIX + "bank-two"],
    ],
)
def test_request_whose_partner_uri_disagrees_is_refused(
    authority: CertificateAuthority, uris: list[str]
) -> None:
    _refused(authority, _request("bank-one", uris), "only partner URI")


def test_tampered_request_is_refused(authority: CertificateAuthority) -> None:
    csr = x509.load_pem_x509_csr(_request("bank-one", [PARTNER_URI_PREFIX + "bank-one"]))
    der = csr.public_bytes(serialization.Encoding.DER).replace(b"bank-one", b"bank-two")
    tampered = x509.load_der_x509_csr(der).public_bytes(serialization.Encoding.PEM)
    _refused(authority, tampered, "signature does not verify")
    assert authority.issued() == []


def test_request_with_another_curve_is_refused(authority: CertificateAuthority) -> None:
    key = ec.generate_private_key(ec.SECP384R1())
    csr = _request("bank-one", [PARTNER_URI_PREFIX + "bank-one"], key=key)
    _refused(authority, csr, "P-256")


def test_garbage_is_refused(authority: CertificateAuthority) -> None:
    _refused(authority, b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n", "could not be parsed")
