"""Enrolment: the node's key and request, and the checks before a certificate is installed."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import typer
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from typer.testing import CliRunner

import node.commands.enroll  # noqa: F401  (registers the command)
from counterflow.errors import ConfigError
from counterflow.tls import PARTNER_URI_PREFIX, load_certificate, partner_id_of
from hub.pki.authority import CertificateAuthority
from node.commands._apps import node_app
from node.enroll import create_request, install_certificate, request_fingerprint

PASSPHRASE = b"correct horse battery staple"
NOW = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


@pytest.fixture
def authority(tmp_path: Path) -> CertificateAuthority:
    return CertificateAuthority.init(tmp_path / "ca", PASSPHRASE, now=NOW)


def _ca_pem(authority: CertificateAuthority) -> bytes:
    return authority.cert_path.read_bytes()


def test_request_names_the_partner_and_key_is_private(tmp_path: Path) -> None:
    csr_path = create_request("bank-one", tmp_path / "tls")
    assert csr_path == tmp_path / "tls" / "partner.csr"
    csr = x509.load_pem_x509_csr(csr_path.read_bytes())
    assert csr.is_signature_valid
    assert csr.subject.rfc4514_string() == "CN=bank-one"
    san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert list(san) == [x509.UniformResourceIdentifier(PARTNER_URI_PREFIX + "bank-one")]
    key_path = tmp_path / "tls" / "partner.key"
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    key = serialization.load_pem_private_key(key_path.read_bytes(), None)
    assert key.public_key() == csr.public_key()


def test_request_refuses_to_replace_a_key_unless_forced(tmp_path: Path) -> None:
    create_request("bank-one", tmp_path)
    before = (tmp_path / "partner.key").read_bytes()
    with pytest.raises(ConfigError, match="already exists"):
        create_request("bank-one", tmp_path)
    assert (tmp_path / "partner.key").read_bytes() == before
    create_request("bank-one", tmp_path, force=True)
    assert (tmp_path / "partner.key").read_bytes() != before


def test_request_refuses_a_bad_partner_id(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="partner id"):
        create_request("Bank One", tmp_path)
    assert not (tmp_path / "partner.key").exists()


def test_enrol_sign_install_round_trip(authority: CertificateAuthority, tmp_path: Path) -> None:
    tls = tmp_path / "tls"
    csr = create_request("bank-one", tls)
    cert_pem = authority.sign_request(csr.read_bytes(), now=NOW)
    files = install_certificate(cert_pem, tls, _ca_pem(authority), now=NOW, partner_id="bank-one")
    assert files.cert.read_bytes() == cert_pem
    assert files.ca.read_bytes() == _ca_pem(authority)
    assert partner_id_of(load_certificate(files.cert)) == "bank-one"


def test_install_refuses_a_certificate_for_another_key(
    authority: CertificateAuthority, tmp_path: Path
) -> None:
    create_request("bank-one", tmp_path / "tls")
    other = create_request("bank-one", tmp_path / "elsewhere")
    cert_pem = authority.sign_request(other.read_bytes(), now=NOW)
    with pytest.raises(ConfigError, match="issued for another key"):
        install_certificate(cert_pem, tmp_path / "tls", _ca_pem(authority), now=NOW)
    assert not (tmp_path / "tls" / "partner.crt").exists()


def test_install_refuses_a_certificate_from_another_ca(
    authority: CertificateAuthority, tmp_path: Path
) -> None:
    other = CertificateAuthority.init(tmp_path / "other", PASSPHRASE, "Other CA", now=NOW)
    csr = create_request("bank-one", tmp_path / "tls")
    cert_pem = other.sign_request(csr.read_bytes(), now=NOW)
    with pytest.raises(ConfigError, match="not issued by the given CA"):
        install_certificate(cert_pem, tmp_path / "tls", _ca_pem(authority), now=NOW)
    assert not (tmp_path / "tls" / "ca.crt").exists()


def test_install_refuses_a_ca_with_the_same_name_but_another_key(
    authority: CertificateAuthority, tmp_path: Path
) -> None:
    impostor = CertificateAuthority.init(tmp_path / "impostor", PASSPHRASE, now=NOW)
    csr = create_request("bank-one", tmp_path / "tls")
    cert_pem = authority.sign_request(csr.read_bytes(), now=NOW)
    with pytest.raises(ConfigError, match="not issued by the given CA"):
        install_certificate(cert_pem, tmp_path / "tls", _ca_pem(impostor), now=NOW)


def test_install_refuses_an_expired_certificate(
    authority: CertificateAuthority, tmp_path: Path
) -> None:
    csr = create_request("bank-one", tmp_path / "tls")
    cert_pem = authority.sign_request(csr.read_bytes(), days=10, now=NOW)
    with pytest.raises(ConfigError, match="expired"):
        install_certificate(
            cert_pem, tmp_path / "tls", _ca_pem(authority), now=NOW + timedelta(days=11)
        )


def test_install_refuses_another_partners_certificate(
    authority: CertificateAuthority, tmp_path: Path
) -> None:
    csr = create_request("bank-one", tmp_path / "tls")
    cert_pem = authority.sign_request(csr.read_bytes(), now=NOW)
    with pytest.raises(ConfigError, match="this node is 'bank-two'"):
        install_certificate(
            cert_pem, tmp_path / "tls", _ca_pem(authority), now=NOW, partner_id="bank-two"
        )


def test_install_refuses_a_world_readable_key(
    authority: CertificateAuthority, tmp_path: Path
) -> None:
    csr = create_request("bank-one", tmp_path / "tls")
    cert_pem = authority.sign_request(csr.read_bytes(), now=NOW)
    (tmp_path / "tls" / "partner.key").chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        install_certificate(cert_pem, tmp_path / "tls", _ca_pem(authority), now=NOW)


# -- the command --------------------------------------------------------------


def _app() -> typer.Typer:
    app = typer.Typer()
    app.add_typer(node_app, name="node")
    return app


def _run(args: list[str]) -> tuple[int, str]:
    result = CliRunner().invoke(_app(), args)
    return result.exit_code, result.stdout


def test_enroll_command_round_trip(authority: CertificateAuthority, tmp_path: Path) -> None:
    home = tmp_path / "node"
    code, out = _run(["node", "enroll", "bank-one", "--home", str(home), "--format", "json"])
    assert code == 0, out
    request = json.loads(out)
    csr_pem = Path(request["csr"]).read_bytes()
    assert request["csr"] == str(home / "tls" / "partner.csr")
    assert request["sha256"] == request_fingerprint(csr_pem)
    assert "PRIVATE" not in out

    signed = tmp_path / "signed.crt"
    signed.write_bytes(authority.sign_request(csr_pem))
    code, out = _run(
        [
            "node",
            "enroll",
            "--install",
            str(signed),
            "--ca",
            str(authority.cert_path),
            "--home",
            str(home),
            "--format",
            "json",
        ]
    )
    assert code == 0, out
    assert json.loads(out)["partner_id"] == "bank-one"
    assert (home / "tls" / "partner.crt").read_bytes() == signed.read_bytes()
    assert (home / "tls" / "ca.crt").read_bytes() == authority.cert_path.read_bytes()


def test_enroll_command_uses_the_partner_id_of_node_toml(tmp_path: Path) -> None:
    (tmp_path / "node.toml").write_text('partner_id = "ngo-two"\n')
    code, out = _run(["node", "enroll", "--home", str(tmp_path), "--format", "json"])
    assert code == 0, out
    assert json.loads(out)["partner_id"] == "ngo-two"
    code, out = _run(["node", "enroll", "bank-one", "--home", str(tmp_path), "--format", "json"])
    assert code == 1
    assert "not 'bank-one'" in json.loads(out)["error"]["message"]


def test_enroll_command_needs_a_partner_id(tmp_path: Path) -> None:
    code, out = _run(["node", "enroll", "--home", str(tmp_path), "--format", "json"])
    assert code == 1
    assert "PARTNER_ID" in json.loads(out)["error"]["message"]


def test_install_needs_the_ca_too(tmp_path: Path) -> None:
    code, out = _run(
        ["node", "enroll", "--install", "x.crt", "--home", str(tmp_path), "--format", "json"]
    )
    assert code == 1
    assert json.loads(out)["error"]["code"] == "INVALID_CONFIG"


def test_renewal_requests_a_certificate_for_the_existing_key(
    authority: CertificateAuthority, tmp_path: Path
) -> None:
    tls = tmp_path / "tls"
    first = create_request("bank-one", tls)
    install_certificate(
        authority.sign_request(first.read_bytes(), now=NOW), tls, _ca_pem(authority)
    )
    key_before = (tls / "partner.key").read_bytes()
    renewed = create_request("bank-one", tls, renew=True)
    assert (tls / "partner.key").read_bytes() == key_before
    cert_pem = authority.sign_request(renewed.read_bytes(), now=NOW + timedelta(days=300))
    install_certificate(cert_pem, tls, _ca_pem(authority), now=NOW + timedelta(days=300))
    assert (tls / "partner.crt").read_bytes() == cert_pem


def test_renewal_without_a_key_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="partner key not found"):
        create_request("bank-one", tmp_path, renew=True)
