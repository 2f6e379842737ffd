"""TLS material on disk, gRPC credentials, and who is on the other end of a call.

A partner certificate carries the partner id twice, as its common name and as a
URI SAN ``urn:counterflow:partner:<id>``; nothing else about the partner (sector,
rights) is in it: those come from the agreement at the hub.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

import grpc
from cryptography import x509
from cryptography.x509.oid import NameOID

from counterflow.errors import ConfigError

PARTNER_URI_PREFIX = "urn:counterflow:partner:"
# Use with fullmatch: "$" alone would also accept a trailing newline.
PARTNER_ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{1,62}")


def check_partner_id(partner_id: str) -> str:
    if not PARTNER_ID_PATTERN.fullmatch(partner_id):
        raise ConfigError(
            f"partner id {partner_id!r} must be 2-63 characters of a-z, 0-9 and '-', "
            "starting with a letter or digit"
        )
    return partner_id


def read_pem(path: Path, what: str) -> bytes:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{what} not found: {path}") from None
    except PermissionError:
        raise ConfigError(f"{what} is not readable: {path}") from None
    if b"-----BEGIN" not in data:
        raise ConfigError(f"{what} is not PEM: {path}")
    return data


def write_private(path: Path, data: bytes) -> None:
    """Write a secret so that it is never readable by others, not even briefly."""
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL, stat.S_IRUSR | stat.S_IWUSR)
    try:
        os.fchmod(fd, stat.S_IRUSR | stat.S_IWUSR)  # whatever the umask said
        os.write(fd, data)
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        staging.unlink(missing_ok=True)
        raise
    os.close(fd)
    # Replaced whole: an old key file's looser mode never applies to the new key.
    os.replace(staging, path)


@dataclass(frozen=True)
class TlsFiles:
    """Paths to one side's certificate, private key and the CA it trusts."""

    cert: Path
    key: Path
    ca: Path


def server_credentials(files: TlsFiles) -> grpc.ServerCredentials:
    """mTLS: a client without a certificate from our CA never completes the handshake."""
    return grpc.ssl_server_credentials(
        [(read_pem(files.key, "server key"), read_pem(files.cert, "server certificate"))],
        root_certificates=read_pem(files.ca, "CA certificate"),
        require_client_auth=True,
    )


def channel_credentials(files: TlsFiles) -> grpc.ChannelCredentials:
    return grpc.ssl_channel_credentials(
        root_certificates=read_pem(files.ca, "CA certificate"),
        private_key=read_pem(files.key, "client key"),
        certificate_chain=read_pem(files.cert, "client certificate"),
    )


def load_certificate(path: Path, what: str = "certificate") -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(read_pem(path, what))
    except ValueError as exc:
        raise ConfigError(f"{what} could not be parsed: {path}: {exc}") from None


def partner_id_of(cert: x509.Certificate) -> str | None:
    """The partner id a certificate names, or None if CN and SAN disagree or are absent."""
    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if len(cns) != 1:
        return None
    common_name = str(cns[0].value)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    uris = [u for u in san.get_values_for_type(x509.UniformResourceIdentifier)]
    partner_uris = [u[len(PARTNER_URI_PREFIX) :] for u in uris if u.startswith(PARTNER_URI_PREFIX)]
    if partner_uris != [common_name] or not PARTNER_ID_PATTERN.fullmatch(common_name):
        return None
    return common_name
