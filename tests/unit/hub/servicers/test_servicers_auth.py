"""Who is calling: the certificate (checked against the CRL and agreements), or in
insecure development mode the partner header; tested through real gRPC servers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent import futures
from contextlib import contextmanager
from pathlib import Path

import grpc
import pytest
import structlog
from grpc_health.v1 import health_pb2, health_pb2_grpc
from support.federation import write_policy
from support.pki import TestPki, build_test_pki

from counterflow.errors import ErrorCode
from counterflow.rpc_status import from_rpc_error
from counterflow.tls import TlsFiles, channel_credentials, load_certificate, server_credentials
from counterflow.v1 import submission_pb2 as pb
from counterflow.v1 import submission_pb2_grpc as pb_grpc
from hub.pki.crl import CrlWatcher
from hub.policy.registry import PolicyRegistry
from hub.server import build_server
from hub.servicers.auth import INSECURE_PARTNER_HEADER, Authenticator
from hub.servicers.errors import rpc_errors
from hub.settings import HubSettings
from hub.storage.engine import open_storage

METHOD = "/test.Who/Identify"
TARGET = [("grpc.ssl_target_name_override", "localhost")]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPki:
    return build_test_pki(tmp_path_factory.mktemp("pki"), ["bank-alpha", "ngo-beta"])


@pytest.fixture
def registry(tmp_path: Path) -> PolicyRegistry:
    write_policy(tmp_path / "policies", "bank-alpha")
    return PolicyRegistry(tmp_path / "policies")


@contextmanager
def _identify_server(auth: Authenticator, tls: TlsFiles | None) -> Iterator[int]:
    log = structlog.get_logger("test.auth")

    def identify(request: bytes, context: grpc.ServicerContext) -> bytes:
        with rpc_errors(context, log):
            return auth.identify(context).encode()
        raise AssertionError("unreachable")

    handler = grpc.method_handlers_generic_handler(
        "test.Who", {"Identify": grpc.unary_unary_rpc_method_handler(identify)}
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    server.add_generic_rpc_handlers((handler,))
    if tls is None:
        port = server.add_insecure_port("127.0.0.1:0")
    else:
        port = server.add_secure_port("127.0.0.1:0", server_credentials(tls))
    server.start()
    try:
        yield port
    finally:
        server.stop(grace=None)


def _insecure_call(port: int, metadata: list[tuple[str, str]]) -> bytes:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        result: bytes = channel.unary_unary(METHOD)(b"", metadata=metadata, timeout=10)
        return result


def _tls_call(port: int, files: TlsFiles, metadata: list[tuple[str, str]] | None = None) -> bytes:
    credentials = channel_credentials(files)
    with grpc.secure_channel(f"127.0.0.1:{port}", credentials, options=TARGET) as channel:
        result: bytes = channel.unary_unary(METHOD)(b"", metadata=metadata, timeout=10)
        return result


def _refusal(call: Callable[[], bytes]) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    return caught.value


# -- insecure (development) mode --------------------------------------------------


def test_insecure_mode_takes_the_partner_from_the_header(registry: PolicyRegistry) -> None:
    auth = Authenticator(registry, None, insecure=True)
    with _identify_server(auth, None) as port:
        assert _insecure_call(port, [(INSECURE_PARTNER_HEADER, "bank-alpha")]) == b"bank-alpha"


def test_insecure_mode_refuses_a_partner_without_agreement(registry: PolicyRegistry) -> None:
    auth = Authenticator(registry, None, insecure=True)
    with _identify_server(auth, None) as port:
        err = _refusal(lambda: _insecure_call(port, [(INSECURE_PARTNER_HEADER, "ngo-beta")]))
    assert err.code() is grpc.StatusCode.UNAUTHENTICATED
    remote = from_rpc_error(err)
    assert remote.code is ErrorCode.UNKNOWN_PARTNER
    assert remote.metadata == {"partner_id": "ngo-beta"}
    assert remote.message == "partner ngo-beta has no agreement at this hub"


def test_insecure_mode_refuses_a_call_without_the_header(registry: PolicyRegistry) -> None:
    auth = Authenticator(registry, None, insecure=True)
    with _identify_server(auth, None) as port:
        err = _refusal(lambda: _insecure_call(port, [("x-request-id", "r1")]))
    remote = from_rpc_error(err)
    assert remote.code is ErrorCode.UNKNOWN_PARTNER
    assert remote.message == "partner (none) has no agreement at this hub"


def test_an_agreement_added_while_running_is_seen(tmp_path: Path, registry: PolicyRegistry) -> None:
    auth = Authenticator(registry, None, insecure=True)
    with _identify_server(auth, None) as port:
        header = [(INSECURE_PARTNER_HEADER, "ngo-beta")]
        _refusal(lambda: _insecure_call(port, header))
        write_policy(tmp_path / "policies", "ngo-beta", sector="ngo")
        assert _insecure_call(port, header) == b"ngo-beta"


def test_the_insecure_hub_checks_the_header_on_every_service(tmp_path: Path) -> None:
    """build_server's interceptor guards health too, and servicers see the same partner."""
    write_policy(tmp_path / "policies", "bank-alpha")
    settings = HubSettings(
        listen="127.0.0.1:0",
        insecure=True,
        database_url=f"sqlite:///{tmp_path}/hub.db",
        policies_dir=tmp_path / "policies",
        workers=2,
    )
    hub = build_server(
        settings,
        storage=open_storage(settings.database_url),
        registry=PolicyRegistry(settings.policies_dir),
    )
    hub.server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{hub.port}") as channel:
            stub = pb_grpc.SubmissionStub(channel)
            answer = stub.GetAgreement(
                pb.GetAgreementRequest(),
                metadata=[(INSECURE_PARTNER_HEADER, "bank-alpha")],
                timeout=10,
            )
            assert answer.partner_id == "bank-alpha"
            assert answer.agreement_id == "CF-TEST-BANK-ALPHA"
            health = health_pb2_grpc.HealthStub(channel)
            err = _refusal(lambda: health.Check(health_pb2.HealthCheckRequest(), timeout=10))
            assert from_rpc_error(err).code is ErrorCode.UNKNOWN_PARTNER
            checked = health.Check(
                health_pb2.HealthCheckRequest(),
                metadata=[(INSECURE_PARTNER_HEADER, "bank-alpha")],
                timeout=10,
            )
            assert checked.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        hub.stop(grace=None)


# -- certificates ---------------------------------------------------------------------


def _secure_auth(pki: TestPki, registry: PolicyRegistry) -> Authenticator:
    crl = CrlWatcher(pki.crl, issuer=load_certificate(pki.ca_cert, "CA certificate"))
    return Authenticator(registry, crl)


def test_the_certificate_names_the_partner(pki: TestPki, registry: PolicyRegistry) -> None:
    with _identify_server(_secure_auth(pki, registry), pki.hub) as port:
        assert _tls_call(port, pki.partners["bank-alpha"]) == b"bank-alpha"


def test_with_certificates_the_header_is_ignored(pki: TestPki, registry: PolicyRegistry) -> None:
    with _identify_server(_secure_auth(pki, registry), pki.hub) as port:
        err = _refusal(
            lambda: _tls_call(
                port, pki.partners["ngo-beta"], [(INSECURE_PARTNER_HEADER, "bank-alpha")]
            )
        )
    remote = from_rpc_error(err)
    assert remote.code is ErrorCode.UNKNOWN_PARTNER
    assert remote.metadata == {"partner_id": "ngo-beta"}


def test_a_revoked_certificate_is_refused(pki: TestPki, tmp_path: Path) -> None:
    write_policy(tmp_path / "policies", pki.revoked_id)
    registry = PolicyRegistry(tmp_path / "policies")
    with _identify_server(_secure_auth(pki, registry), pki.hub) as port:
        err = _refusal(lambda: _tls_call(port, pki.revoked))
    assert err.code() is grpc.StatusCode.UNAUTHENTICATED
    remote = from_rpc_error(err)
    assert remote.code is ErrorCode.CERTIFICATE_REVOKED
    assert remote.metadata == {
        "partner_id": pki.revoked_id,
        "serial": f"{pki.revoked_serials[0]:x}",
    }


def test_a_cached_certificate_is_still_checked_against_a_new_crl(
    tmp_path: Path, registry: PolicyRegistry
) -> None:
    pki = build_test_pki(tmp_path / "own-pki", ["bank-alpha"])
    auth = _secure_auth(pki, registry)
    with _identify_server(auth, pki.hub) as port:
        assert _tls_call(port, pki.partners["bank-alpha"]) == b"bank-alpha"
        pki.authority().revoke("bank-alpha", "key_compromise")
        err = _refusal(lambda: _tls_call(port, pki.partners["bank-alpha"]))
    assert from_rpc_error(err).code is ErrorCode.CERTIFICATE_REVOKED


def test_parsed_certificates_are_cached_by_their_pem(
    pki: TestPki, registry: PolicyRegistry
) -> None:
    auth = Authenticator(registry, None)
    pem = pki.partners["bank-alpha"].cert.read_bytes()
    first = auth._peer(pem)
    assert first.partner_id == "bank-alpha"
    assert auth._peer(pem) is first
    other = auth._peer(pki.partners["ngo-beta"].cert.read_bytes())
    assert other.partner_id == "ngo-beta"
    assert other.serial != first.serial
    assert auth._peer(pem) is first


def test_a_certificate_that_names_no_partner_is_refused(
    pki: TestPki, registry: PolicyRegistry
) -> None:
    auth = Authenticator(registry, None)
    # The hub's own certificate is issued by the same CA but names no partner.
    assert auth._peer(pki.hub.cert.read_bytes()).partner_id is None
