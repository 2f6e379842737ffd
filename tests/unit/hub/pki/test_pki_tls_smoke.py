"""Real mTLS with the certificates the CA issues: gRPC accepts ours and refuses the rest."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent import futures

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from support.pki import TestPki, build_test_pki

from counterflow.tls import TlsFiles, channel_credentials, server_credentials


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPki:
    return build_test_pki(tmp_path_factory.mktemp("pki"), ["bank-one"])


@pytest.fixture(scope="module")
def port(pki: TestPki) -> Iterator[int]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    health_pb2_grpc.add_HealthServicer_to_server(health.HealthServicer(), server)
    bound = server.add_secure_port("127.0.0.1:0", server_credentials(pki.hub))
    server.start()
    try:
        yield bound
    finally:
        server.stop(grace=None)


def _check(port: int, files: TlsFiles) -> int:
    with grpc.secure_channel(f"127.0.0.1:{port}", channel_credentials(files)) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        response = stub.Check(health_pb2.HealthCheckRequest(), timeout=10)
        status: int = response.status
        return status


def test_issued_partner_certificate_reaches_the_hub(pki: TestPki, port: int) -> None:
    assert _check(port, pki.partners["bank-one"]) == health_pb2.HealthCheckResponse.SERVING


@pytest.mark.parametrize("which", ["foreign", "expired"])
def test_foreign_and_expired_certificates_are_refused_at_the_handshake(
    pki: TestPki, port: int, which: str
) -> None:
    files: TlsFiles = getattr(pki, which)
    with pytest.raises(grpc.RpcError) as caught:
        _check(port, files)
    assert caught.value.code() is grpc.StatusCode.UNAVAILABLE


def test_node_trusting_another_ca_refuses_the_hub(pki: TestPki, port: int) -> None:
    files = pki.partners["bank-one"]
    distrustful = TlsFiles(cert=files.cert, key=files.key, ca=pki.foreign_ca_cert)
    with pytest.raises(grpc.RpcError) as caught:
        _check(port, distrustful)
    assert caught.value.code() is grpc.StatusCode.UNAVAILABLE
