"""The `counterflow ca ...` commands, end to end through Typer."""

from __future__ import annotations

import hashlib
import json
import stat
from pathlib import Path

import pytest
import typer
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from typer.testing import CliRunner

import hub.commands.ca_init
import hub.commands.ca_issue_hub
import hub.commands.ca_issue_partner
import hub.commands.ca_revoke
import hub.commands.ca_sign  # noqa: F401  (registers the command)
from counterflow.tls import PARTNER_URI_PREFIX, load_certificate, partner_id_of
from hub.commands._apps import ca_app
from hub.pki.crl import RevocationList

PASSPHRASE = "correct horse battery staple"
ENV = {"CF_TEST_CA_PASSPHRASE": PASSPHRASE}


def _app() -> typer.Typer:
    app = typer.Typer()
    app.add_typer(ca_app, name="ca")
    return app


def _run(args: list[str], **kwargs: object) -> tuple[int, str]:
    result = CliRunner().invoke(_app(), args, env=ENV, **kwargs)  # type: ignore[arg-type]
    return result.exit_code, result.stdout


def _json(args: list[str]) -> dict[str, object]:
    code, out = _run([*args, "--format", "json"])
    assert code == 0, out
    data: dict[str, object] = json.loads(out)
    return data


@pytest.fixture
def ca_dir(tmp_path: Path) -> Path:
    target = tmp_path / "ca"
    _json(["ca", "init", "--ca-dir", str(target), "--passphrase-env", "CF_TEST_CA_PASSPHRASE"])
    return target


def _with_ca(ca_dir: Path) -> list[str]:
    return ["--ca-dir", str(ca_dir), "--passphrase-env", "CF_TEST_CA_PASSPHRASE"]


def test_init_prints_the_certificate_fingerprint(tmp_path: Path) -> None:
    passphrase_file = tmp_path / "passphrase"
    passphrase_file.write_text(PASSPHRASE + "\n")
    data = _json(
        [
            "ca",
            "init",
            "--ca-dir",
            str(tmp_path / "ca"),
            "--name",
            "Test CA",
            "--passphrase-file",
            str(passphrase_file),
        ]
    )
    cert = load_certificate(tmp_path / "ca" / "ca.crt")
    assert data["sha256"] == cert.fingerprint(hashes.SHA256()).hex()
    assert cert.subject.rfc4514_string() == "CN=Test CA"


def test_init_prompts_with_confirmation(tmp_path: Path) -> None:
    code, _ = _run(
        ["ca", "init", "--ca-dir", str(tmp_path / "ca")], input=f"{PASSPHRASE}\n{PASSPHRASE}\n"
    )
    assert code == 0
    code, _ = _run(
        [
            "ca",
            "issue-partner",
            "bank-one",
            "--out",
            str(tmp_path / "p"),
            "--ca-dir",
            str(tmp_path / "ca"),
        ],
        input=f"{PASSPHRASE}\n",
    )
    assert code == 0


def test_init_twice_fails_with_a_coded_error(ca_dir: Path) -> None:
    code, out = _run(["ca", "init", *_with_ca(ca_dir), "--format", "json"])
    assert code == 1
    assert json.loads(out)["error"]["code"] == "INVALID_CONFIG"


def test_both_passphrase_sources_are_refused(tmp_path: Path) -> None:
    code, out = _run(
        [
            "ca",
            "init",
            "--ca-dir",
            str(tmp_path / "ca"),
            "--passphrase-file",
            "x",
            "--passphrase-env",
            "CF_TEST_CA_PASSPHRASE",
            "--format",
            "json",
        ]
    )
    assert code == 1
    assert "not both" in json.loads(out)["error"]["message"]


def test_unset_passphrase_variable_is_refused(tmp_path: Path) -> None:
    code, out = _run(
        [
            "ca",
            "init",
            "--ca-dir",
            str(tmp_path / "ca"),
            "--passphrase-env",
            "CF_TEST_UNSET",
            "--format",
            "json",
        ]
    )
    assert code == 1
    assert "CF_TEST_UNSET is not set" in json.loads(out)["error"]["message"]


def test_wrong_passphrase_exits_1(ca_dir: Path, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong"
    wrong.write_text("a different passphrase\n")
    code, out = _run(
        [
            "ca",
            "issue-partner",
            "bank-one",
            "--out",
            str(tmp_path / "p"),
            "--ca-dir",
            str(ca_dir),
            "--passphrase-file",
            str(wrong),
            "--format",
            "json",
        ]
    )
    assert code == 1
    assert json.loads(out)["error"]["message"] == "wrong CA passphrase"


def test_issue_hub_writes_pair_and_ca(ca_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "tls"
    data = _json(
        [
            "ca",
            "issue-hub",
            "--host",
            "hub.example.org",
            "--host",
            "10.0.0.5",
            "--out",
            str(out),
            *_with_ca(ca_dir),
        ]
    )
    assert data["hosts"] == ["hub.example.org", "10.0.0.5"]
    assert (out / "ca.crt").read_bytes() == (ca_dir / "ca.crt").read_bytes()
    assert stat.S_IMODE((out / "hub.key").stat().st_mode) == 0o600
    san = load_certificate(out / "hub.crt").extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    )
    assert san.value.get_values_for_type(x509.DNSName) == ["hub.example.org"]


def test_issue_partner_writes_pair_and_ca(ca_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "bank"
    data = _json(["ca", "issue-partner", "bank-one", "--out", str(out), *_with_ca(ca_dir)])
    assert data["partner_id"] == "bank-one"
    assert partner_id_of(load_certificate(out / "partner.crt")) == "bank-one"
    assert (out / "ca.crt").exists()
    assert stat.S_IMODE((out / "partner.key").stat().st_mode) == 0o600


def test_sign_reports_partner_serial_and_request_fingerprint(ca_dir: Path, tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bank-one")]))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.UniformResourceIdentifier(PARTNER_URI_PREFIX + "bank-one")]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    request = tmp_path / "partner.csr"
    request.write_bytes(csr.public_bytes(serialization.Encoding.PEM))
    out = tmp_path / "partner.crt"
    data = _json(["ca", "sign", str(request), "--out", str(out), "--days", "30", *_with_ca(ca_dir)])
    cert = load_certificate(out)
    assert data["partner_id"] == "bank-one"
    assert data["serial"] == str(cert.serial_number)
    expected = hashlib.sha256(csr.public_bytes(serialization.Encoding.DER)).hexdigest()
    assert data["request_sha256"] == expected
    assert cert.public_key() == key.public_key()


def test_sign_refuses_a_bad_request_without_asking_for_the_passphrase(
    ca_dir: Path, tmp_path: Path
) -> None:
    request = tmp_path / "bad.csr"
    request.write_text("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n")
    result = CliRunner().invoke(
        _app(),
        [
            "ca",
            "sign",
            str(request),
            "--out",
            str(tmp_path / "x.crt"),
            "--ca-dir",
            str(ca_dir),
            "--format",
            "json",
        ],
    )
    assert result.exit_code == 1
    error = json.loads(result.stdout)["error"]
    assert error["code"] == "INVALID_REQUEST"
    assert "could not be parsed" in error["message"]
    assert "passphrase" not in result.stderr
    assert not (tmp_path / "x.crt").exists()


def test_revoke_prints_serials_and_copies_the_crl(ca_dir: Path, tmp_path: Path) -> None:
    _json(["ca", "issue-partner", "bank-one", "--out", str(tmp_path / "p"), *_with_ca(ca_dir)])
    serial = load_certificate(tmp_path / "p" / "partner.crt").serial_number
    copy = tmp_path / "hub-tls" / "crl.pem"
    data = _json(
        [
            "ca",
            "revoke",
            "bank-one",
            "--reason",
            "superseded",
            "--crl-out",
            str(copy),
            *_with_ca(ca_dir),
        ]
    )
    assert data["revoked"] == [str(serial)]
    assert copy.read_bytes() == (ca_dir / "crl.pem").read_bytes()
    assert RevocationList.load(copy).is_revoked(serial)


def test_revoke_text_output(ca_dir: Path, tmp_path: Path) -> None:
    _json(["ca", "issue-partner", "bank-one", "--out", str(tmp_path / "p"), *_with_ca(ca_dir)])
    code, out = _run(["ca", "revoke", "bank-one", *_with_ca(ca_dir)])
    assert code == 0
    assert "revoked bank-one" in out
    assert "tls/crl.pem" in out
