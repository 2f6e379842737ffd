"""The error catalog is complete, and a rich status survives a real gRPC round trip.

The round trip goes through an in-process gRPC server on 127.0.0.1:0 (plaintext:
encoding, not TLS, is under test), so the trailers are the ones grpcio really sends.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent import futures
from typing import Any

import grpc
import pytest
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from counterflow.errors import (
    CATALOG,
    DOMAIN,
    CounterflowError,
    ErrorCode,
    InputError,
    RemoteError,
)
from counterflow.rpc_status import from_rpc_error, status_code_number, to_status

METHOD = "/counterflow.test.Errors/Fail"


def test_every_error_code_has_a_catalog_entry() -> None:
    assert set(CATALOG) == set(ErrorCode)


@pytest.mark.parametrize("code", list(ErrorCode))
def test_catalog_entries_are_usable_on_the_wire(code: ErrorCode) -> None:
    entry = CATALOG[code]
    assert code.value == code.name  # the wire carries the name; renaming breaks peers
    assert entry.status is not grpc.StatusCode.OK
    assert entry.public_message.strip() == entry.public_message
    assert entry.public_message


def test_only_transient_unavailability_is_retryable() -> None:
    retryable = {code for code, entry in CATALOG.items() if entry.retryable}
    assert retryable == {ErrorCode.UNAVAILABLE}
    for code in retryable:
        assert CATALOG[code].status is grpc.StatusCode.UNAVAILABLE


def test_the_design_table_of_statuses_holds() -> None:
    expected = {
        ErrorCode.INVALID_ITEM: grpc.StatusCode.INVALID_ARGUMENT,
        ErrorCode.INVALID_REQUEST: grpc.StatusCode.INVALID_ARGUMENT,
        ErrorCode.BATCH_EMPTY: grpc.StatusCode.INVALID_ARGUMENT,
        ErrorCode.BATCH_TOO_LARGE: grpc.StatusCode.INVALID_ARGUMENT,
        ErrorCode.NOT_PERMITTED: grpc.StatusCode.PERMISSION_DENIED,
        ErrorCode.UNKNOWN_PARTNER: grpc.StatusCode.UNAUTHENTICATED,
        ErrorCode.CERTIFICATE_REVOKED: grpc.StatusCode.UNAUTHENTICATED,
        ErrorCode.BATCH_ID_REUSED: grpc.StatusCode.ALREADY_EXISTS,
        ErrorCode.AGREEMENT_EXPIRED: grpc.StatusCode.FAILED_PRECONDITION,
        ErrorCode.AGREEMENT_NOT_YET_VALID: grpc.StatusCode.FAILED_PRECONDITION,
        ErrorCode.AGREEMENT_NOT_ACTIVE: grpc.StatusCode.FAILED_PRECONDITION,
        ErrorCode.INTERNAL: grpc.StatusCode.INTERNAL,
    }
    assert {code: CATALOG[code].status for code in expected} == expected


@pytest.mark.parametrize("code", list(grpc.StatusCode))
def test_status_code_numbers_match_google_rpc(code: grpc.StatusCode) -> None:
    assert status_code_number(code) == code_pb2.Code.Value(code.name)


# -- the round trip ----------------------------------------------------------------------


class _Abort:
    """What the test server does on its next call: abort with a status, or with a plain code."""

    status: grpc.Status | None = None
    plain: tuple[grpc.StatusCode, str] | None = None


@pytest.fixture(scope="module")
def call() -> Iterator[Any]:
    """A function that makes one real call to a server aborting as told."""
    abort = _Abort()

    def handle(request: bytes, context: grpc.ServicerContext) -> bytes:
        if abort.status is not None:
            context.abort_with_status(abort.status)
        if abort.plain is not None:
            context.abort(*abort.plain)
        return request

    handler = grpc.method_handlers_generic_handler(
        "counterflow.test.Errors", {"Fail": grpc.unary_unary_rpc_method_handler(handle)}
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2), handlers=[handler])
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    fail = channel.unary_unary(METHOD)

    def make(status: grpc.Status | None = None, plain: Any = None) -> grpc.RpcError:
        abort.status, abort.plain = status, plain
        with pytest.raises(grpc.RpcError) as caught:
            fail(b"", timeout=10)
        return caught.value

    try:
        yield make
    finally:
        channel.close()
        server.stop(grace=None)


@pytest.mark.parametrize("code", list(ErrorCode))
def test_every_code_survives_the_round_trip(call: Any, code: ErrorCode) -> None:
    sent = CounterflowError(code, f"refused: {code.value}", {"batch_id": "b-1", "n": "3"})
    received = from_rpc_error(call(to_status(sent)))
    assert isinstance(received, RemoteError)
    assert received.code is code
    assert received.status is CATALOG[code].status
    assert received.message == sent.message
    assert received.metadata == sent.metadata
    assert received.violations == []


def test_field_violations_survive_the_round_trip(call: Any) -> None:
    violations = [("items[1]", "token must be 32 bytes, got 31"), ("items.key_epoch", "mixed")]
    sent = InputError(ErrorCode.INVALID_ITEM, "batch b-2 refused", {"batch_id": "b-2"}, violations)
    received = from_rpc_error(call(to_status(sent)))
    assert (received.status, received.code) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        ErrorCode.INVALID_ITEM,
    )
    assert received.violations == violations
    assert received.metadata == {"batch_id": "b-2"}


def test_the_status_carries_the_error_info_domain(call: Any) -> None:
    sent = CounterflowError(ErrorCode.BATCH_ID_REUSED, "reused", {"batch_id": "b-3"})
    status = rpc_status.from_call(call(to_status(sent)))
    assert status is not None
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)
    assert (info.reason, info.domain) == ("BATCH_ID_REUSED", DOMAIN)


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        # Transport-level failures carry no ErrorInfo: UNAVAILABLE stays retryable,
        (grpc.StatusCode.UNAVAILABLE, ErrorCode.UNAVAILABLE),
        # anything else from an unknown source is not something the node can act on.
        (grpc.StatusCode.RESOURCE_EXHAUSTED, ErrorCode.INTERNAL),
        (grpc.StatusCode.NOT_FOUND, ErrorCode.INTERNAL),
    ],
)
def test_a_status_without_error_info_keeps_its_grpc_code(
    call: Any, status: grpc.StatusCode, reason: ErrorCode
) -> None:
    received = from_rpc_error(call(plain=(status, "plain abort")))
    assert (received.status, received.code) == (status, reason)
    assert received.message == "plain abort"
    assert received.metadata == {}


def test_an_unknown_reason_from_a_newer_hub_reads_as_internal(call: Any) -> None:
    packed = any_pb2.Any()
    packed.Pack(error_details_pb2.ErrorInfo(reason="SOMETHING_NEW", domain=DOMAIN))
    status = status_pb2.Status(
        code=code_pb2.FAILED_PRECONDITION, message="newer hub", details=[packed]
    )
    received = from_rpc_error(call(rpc_status.to_status(status)))
    assert (received.status, received.code) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        ErrorCode.INTERNAL,
    )
