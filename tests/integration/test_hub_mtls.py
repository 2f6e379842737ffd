"""Who may talk to the hub: the TLS handshake, the CRL and the agreements, on a real hub.

A refused handshake reaches a Python client as UNAVAILABLE (nothing more can be
said at that layer); everything the hub decides after the handshake carries an
ErrorInfo reason, which these tests read back with `from_rpc_error`.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from support.federation import cli
from support.pki import TestPki

from counterflow.errors import ErrorCode
from counterflow.indicators import IndicatorType
from counterflow.rpc_status import from_rpc_error
from counterflow.tls import TlsFiles, read_pem
from counterflow.v1 import submission_pb2 as pb
from counterflow.v1 import submission_pb2_grpc as pb_grpc

if TYPE_CHECKING:
    from conftest import Federation, Wire

FIXTURES = Path(__file__).parents[1] / "fixtures" / "sources"
TIMEOUT = 30


def _refusal(caught: pytest.ExceptionInfo[grpc.RpcError]) -> tuple[grpc.StatusCode, ErrorCode]:
    error = from_rpc_error(caught.value)
    return error.status, error.code


def _get_agreement(channel: grpc.Channel) -> pb.GetAgreementResponse:
    response: pb.GetAgreementResponse = pb_grpc.SubmissionStub(channel).GetAgreement(
        pb.GetAgreementRequest(), timeout=TIMEOUT
    )
    return response


def _health(channel: grpc.Channel, service: str = "") -> int:
    response = health_pb2_grpc.HealthStub(channel).Check(
        health_pb2.HealthCheckRequest(service=service), timeout=TIMEOUT
    )
    status: int = response.status
    return status


def _list_services(channel: grpc.Channel) -> list[str]:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    responses = list(stub.ServerReflectionInfo(iter([request]), timeout=TIMEOUT))
    return sorted(s.name for s in responses[0].list_services_response.service)


# -- the handshake ---------------------------------------------------------------------


def test_a_client_without_a_certificate_never_completes_the_handshake(
    federation: Federation, pki: TestPki
) -> None:
    credentials = grpc.ssl_channel_credentials(root_certificates=read_pem(pki.ca_cert, "CA"))
    options = [("grpc.ssl_target_name_override", "localhost")]
    with (
        grpc.secure_channel(f"127.0.0.1:{federation.port}", credentials, options) as channel,
        pytest.raises(grpc.RpcError) as caught,
    ):
        _get_agreement(channel)
    assert caught.value.code() is grpc.StatusCode.UNAVAILABLE


def test_a_certificate_from_another_ca_is_refused_at_the_handshake(
    federation: Federation, pki: TestPki
) -> None:
    # The foreign certificate names bank-alpha, which has an agreement: only the CA differs.
    assert federation.get_agreement("bank-alpha").partner_id == "bank-alpha"
    with pytest.raises(grpc.RpcError) as caught:
        federation.get_agreement(pki.foreign)
    assert caught.value.code() is grpc.StatusCode.UNAVAILABLE


def test_an_expired_certificate_is_refused_at_the_handshake(
    federation: Federation, pki: TestPki
) -> None:
    assert (federation.policies_dir / f"{pki.expired_id}.yaml").exists()
    with pytest.raises(grpc.RpcError) as caught:
        federation.get_agreement(pki.expired)
    assert caught.value.code() is grpc.StatusCode.UNAVAILABLE


def test_a_plaintext_client_cannot_talk_to_the_tls_port(federation: Federation) -> None:
    with (
        grpc.insecure_channel(f"127.0.0.1:{federation.port}") as channel,
        pytest.raises(grpc.RpcError) as caught,
    ):
        _get_agreement(channel)
    assert caught.value.code() is grpc.StatusCode.UNAVAILABLE


# -- after the handshake: CRL and agreements -------------------------------------------


def test_a_revoked_certificate_is_refused_with_its_reason(
    federation: Federation, pki: TestPki
) -> None:
    assert (federation.policies_dir / f"{pki.revoked_id}.yaml").exists()
    with pytest.raises(grpc.RpcError) as caught:
        federation.get_agreement(pki.revoked)
    assert _refusal(caught) == (grpc.StatusCode.UNAUTHENTICATED, ErrorCode.CERTIFICATE_REVOKED)
    assert from_rpc_error(caught.value).metadata["partner_id"] == pki.revoked_id


def test_a_revoked_certificate_cannot_submit(
    federation: Federation, pki: TestPki, wire: type[Wire]
) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        federation.submit(pki.revoked, wire.good_batch("revoked-1"))
    assert _refusal(caught) == (grpc.StatusCode.UNAUTHENTICATED, ErrorCode.CERTIFICATE_REVOKED)
    assert federation.storage.item_count(pki.revoked_id) == 0


def test_a_valid_certificate_without_an_agreement_is_an_unknown_partner(
    federation: Federation,
) -> None:
    assert not (federation.policies_dir / "bank-nopolicy.yaml").exists()
    with pytest.raises(grpc.RpcError) as caught:
        federation.get_agreement("bank-nopolicy")
    assert _refusal(caught) == (grpc.StatusCode.UNAUTHENTICATED, ErrorCode.UNKNOWN_PARTNER)
    assert from_rpc_error(caught.value).metadata["partner_id"] == "bank-nopolicy"


def test_a_partner_with_an_agreement_gets_its_own_agreement(federation: Federation) -> None:
    agreement = federation.get_agreement("ngo-harbour")
    assert agreement.partner_id == "ngo-harbour"
    assert agreement.agreement_id == "CF-TEST-NGO-HARBOUR"
    assert agreement.status == "active"
    assert (agreement.valid_from, agreement.valid_until) == ("2026-01-01", "2027-12-31")
    assert list(agreement.countries) == ["GB", "NG"]
    assert set(agreement.indicator_types) == {
        IndicatorType.PHONE.wire,
        IndicatorType.EMAIL.wire,
        IndicatorType.URL.wire,
    }
    assert agreement.max_batch_items == federation.settings.max_batch_items


# -- health and reflection sit behind the same interceptor ------------------------------


def test_health_check_serves_a_valid_partner(federation: Federation) -> None:
    channel = federation.channel("bank-alpha")
    assert _health(channel) == health_pb2.HealthCheckResponse.SERVING
    assert _health(channel, "counterflow.v1.Submission") == health_pb2.HealthCheckResponse.SERVING


@pytest.mark.parametrize(
    ("who", "reason"),
    [("revoked", ErrorCode.CERTIFICATE_REVOKED), ("bank-nopolicy", ErrorCode.UNKNOWN_PARTNER)],
)
def test_health_check_refuses_what_the_submission_service_refuses(
    federation: Federation, pki: TestPki, who: str, reason: ErrorCode
) -> None:
    files = pki.revoked if who == "revoked" else federation.files(who)
    with pytest.raises(grpc.RpcError) as caught:
        _health(federation.channel(files))
    assert _refusal(caught) == (grpc.StatusCode.UNAUTHENTICATED, reason)


def test_reflection_lists_the_services_to_a_valid_partner(federation: Federation) -> None:
    assert _list_services(federation.channel("bank-beta")) == [
        "counterflow.v1.Submission",
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
    ]


def test_reflection_refuses_a_revoked_certificate(federation: Federation, pki: TestPki) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        _list_services(federation.channel(pki.revoked))
    assert _refusal(caught) == (grpc.StatusCode.UNAUTHENTICATED, ErrorCode.CERTIFICATE_REVOKED)


# -- revocation while the hub runs -----------------------------------------------------


def test_revoking_a_partner_takes_effect_without_a_restart(
    federation: Federation, wire: type[Wire]
) -> None:
    partner = "bank-revoked-live"
    files = federation.issue_partner(partner)
    federation.write_policy(partner)
    [first] = federation.submit(files, wire.good_batch("live-1"))
    assert (first.accepted, first.duplicate) == (3, False)

    serials = federation.pki.authority().revoke(partner, "key_compromise")
    assert len(serials) == 1
    # Revoked at the CA only: the hub reads its own copy, so nothing changed yet.
    assert federation.get_agreement(files).partner_id == partner
    federation.publish_crl()

    # The same channel (an established connection) is refused on its next call.
    with pytest.raises(grpc.RpcError) as caught:
        federation.submit(files, wire.good_batch("live-2"))
    assert _refusal(caught) == (grpc.StatusCode.UNAUTHENTICATED, ErrorCode.CERTIFICATE_REVOKED)
    assert from_rpc_error(caught.value).metadata["serial"] == f"{serials[0]:x}"
    with pytest.raises(grpc.RpcError) as again:
        federation.get_agreement(files)
    assert _refusal(again) == (grpc.StatusCode.UNAUTHENTICATED, ErrorCode.CERTIFICATE_REVOKED)
    assert federation.storage.item_count(partner) == 3
    # Everyone else carries on.
    assert federation.get_agreement("bank-alpha").partner_id == "bank-alpha"


# -- the node's side: `counterflow node push` ends, and says why -------------------------


@pytest.fixture(scope="module")
def refused_port() -> Iterator[int]:
    """A loopback port held by a socket that never listens: connections are refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        yield holder.getsockname()[1]


def _node_with_pending_batches(
    federation: Federation, home: Path, files: TlsFiles, port: int | None = None
) -> Path:
    """A bank-alpha node holding `files`, with batches waiting in its outbox."""
    federation.make_node(home, "bank-alpha", files, port)
    result = cli(
        "node", "ingest", str(FIXTURES / "bank_payments.csv"),
        "--profile", str(FIXTURES / "bank_payments.yaml"),
        "--home", str(home), "--format", "json",
    )  # fmt: skip
    assert json.loads(result.stdout)["batches_built"] >= 1
    return home


def _push(home: Path) -> tuple[int, dict[str, str]]:
    result = cli("node", "push", "--home", str(home), "--format", "json", check=False)
    error: dict[str, str] = json.loads(result.stdout)["error"]
    return result.returncode, error


def test_node_push_with_a_foreign_certificate_names_the_problem_before_dialling(
    federation: Federation, pki: TestPki, tmp_path: Path
) -> None:
    # The node's own check runs first: its certificate was not issued by the CA it trusts.
    home = _node_with_pending_batches(federation, tmp_path / "node", pki.foreign)
    code, error = _push(home)
    assert code == 1
    assert error["code"] == ErrorCode.INVALID_CONFIG.value
    assert "was not issued by the CA" in error["message"]
    assert federation.storage.item_count("bank-alpha") == 0


def test_node_push_refused_at_the_handshake_says_certificate_rejected_by_hub(
    federation: Federation, pki: TestPki, tmp_path: Path
) -> None:
    # A CA bundle that starts with the foreign CA passes the node's own check and still
    # trusts the hub, so the refusal comes from the hub's side of the handshake.
    bundle = tmp_path / "bundle.crt"
    bundle.write_bytes(read_pem(pki.foreign_ca_cert, "CA") + read_pem(pki.ca_cert, "CA"))
    files = TlsFiles(cert=pki.foreign.cert, key=pki.foreign.key, ca=bundle)
    home = _node_with_pending_batches(federation, tmp_path / "node", files)
    code, error = _push(home)
    assert code == 1
    assert error["code"] == ErrorCode.CERTIFICATE_REJECTED_BY_HUB.value
    assert "certificate rejected by hub" in error["message"]
    assert federation.storage.item_count("bank-alpha") == 0


def test_node_push_with_an_expired_certificate_names_the_expiry(
    federation: Federation, pki: TestPki, tmp_path: Path
) -> None:
    home = tmp_path / "node"
    federation.make_node(home, pki.expired_id, pki.expired)
    code, error = _push(home)
    assert code == 1
    assert error["code"] == ErrorCode.INVALID_CONFIG.value
    assert "partner certificate expired on" in error["message"]


def test_node_push_to_a_port_where_nothing_listens_gives_up_as_hub_unreachable(
    federation: Federation, tmp_path: Path, refused_port: int
) -> None:
    home = _node_with_pending_batches(
        federation, tmp_path / "node", federation.files("bank-alpha"), refused_port
    )
    code, error = _push(home)
    assert code == 1
    assert error["code"] == ErrorCode.HUB_UNREACHABLE.value
    assert f"hub unreachable at 127.0.0.1:{refused_port} after 3 attempts" in error["message"]
    # Nothing was lost: a second run finds the same batches still waiting, and ends again.
    code, error = _push(home)
    assert (code, error["code"]) == (1, ErrorCode.HUB_UNREACHABLE.value)
