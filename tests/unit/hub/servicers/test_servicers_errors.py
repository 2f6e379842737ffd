"""rpc_errors through a real gRPC server: stable statuses, and no leaked exception text."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent import futures
from contextlib import contextmanager

import grpc
import pytest
import structlog
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from structlog.testing import capture_logs

from counterflow.errors import CATALOG, DOMAIN, ConfigError, CounterflowError, ErrorCode, InputError
from counterflow.rpc_status import from_rpc_error
from hub.servicers.errors import rpc_errors

SECRET = "+447911123456"
METHOD = "/test.Raiser/Call"


@contextmanager
def _server(behaviour: Callable[[], None]) -> Iterator[grpc.Channel]:
    """A one-method server whose handler runs `behaviour` inside rpc_errors."""
    log = structlog.get_logger("test.servicer")

    def handle(request: bytes, context: grpc.ServicerContext) -> bytes:
        with rpc_errors(context, log):
            behaviour()
            return b"ok:" + request
        raise AssertionError("unreachable")

    handler = grpc.method_handlers_generic_handler(
        "test.Raiser", {"Call": grpc.unary_unary_rpc_method_handler(handle)}
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield channel
    finally:
        server.stop(grace=None)


def _call(behaviour: Callable[[], None]) -> grpc.RpcError:
    with _server(behaviour) as channel, pytest.raises(grpc.RpcError) as caught:
        channel.unary_unary(METHOD)(b"x", timeout=10)
    return caught.value


def _raise(exc: BaseException) -> Callable[[], None]:
    def behaviour() -> None:
        raise exc

    return behaviour


def test_a_handler_that_succeeds_is_untouched() -> None:
    with _server(lambda: None) as channel:
        assert channel.unary_unary(METHOD)(b"hi", timeout=10) == b"ok:hi"


@pytest.mark.parametrize("code", list(ErrorCode))
def test_every_code_maps_to_its_catalog_status(code: ErrorCode) -> None:
    err = _call(_raise(CounterflowError(code, f"refused because {code.value}", {"k": "v"})))
    assert err.code() is CATALOG[code].status
    assert err.details() == f"refused because {code.value}"
    remote = from_rpc_error(err)
    assert remote.code is code
    assert remote.metadata == {"k": "v"}


def test_error_info_carries_reason_domain_and_metadata() -> None:
    error = CounterflowError(
        ErrorCode.BATCH_ID_REUSED, "batch id 'b1' was already used", {"batch_id": "b1"}
    )
    err = _call(_raise(error))
    assert err.code() is grpc.StatusCode.ALREADY_EXISTS
    status = rpc_status.from_call(err)
    assert status is not None
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)
    assert info.reason == "BATCH_ID_REUSED"
    assert info.domain == DOMAIN
    assert dict(info.metadata) == {"batch_id": "b1"}


def test_input_errors_carry_field_violations() -> None:
    error = InputError(
        ErrorCode.INVALID_ITEM,
        "batch b refused: 2 malformed item(s)",
        {"batch_id": "b"},
        [("items[0]", "token must be 32 bytes, got 3"), ("items[4]", "typology tags repeat")],
    )
    remote = from_rpc_error(_call(_raise(error)))
    assert remote.status is grpc.StatusCode.INVALID_ARGUMENT
    assert remote.code is ErrorCode.INVALID_ITEM
    assert remote.violations == error.violations


def test_the_hubs_own_configuration_problems_stay_in_its_log() -> None:
    # A missing CRL file, say: the caller learns "try again", never the hub's file paths.
    with capture_logs() as logs:
        remote = from_rpc_error(_call(_raise(ConfigError("CRL not found: /srv/hub/crl.pem"))))
    assert remote.status is grpc.StatusCode.UNAVAILABLE
    assert remote.code is ErrorCode.UNAVAILABLE
    assert "/srv/hub" not in remote.message
    assert any("/srv/hub" in str(e.get("detail")) for e in logs)


def test_a_refusal_is_logged_with_its_code_and_metadata() -> None:
    error = CounterflowError(ErrorCode.NOT_PERMITTED, "not allowed", {"partner_id": "p1"})
    with capture_logs() as logs:
        _call(_raise(error))
    [entry] = [e for e in logs if e["event"] == "rpc_refused"]
    assert entry["code"] == "NOT_PERMITTED"
    assert entry["detail"] == "not allowed"
    assert entry["partner_id"] == "p1"
    assert entry["log_level"] == "warning"


@pytest.mark.parametrize(
    "exc", [RuntimeError(f"lookup failed for {SECRET}"), KeyError(SECRET), ZeroDivisionError()]
)
def test_anything_else_is_internal_with_a_fixed_message(exc: Exception) -> None:
    with capture_logs() as logs:
        err = _call(_raise(exc))
    assert err.code() is grpc.StatusCode.INTERNAL
    assert err.details() == "internal error; see hub log"
    remote = from_rpc_error(err)
    assert remote.code is ErrorCode.INTERNAL
    assert remote.metadata == {}
    # Nothing the peer receives holds the exception's text.
    for key, value in err.trailing_metadata() or ():
        raw = value if isinstance(value, bytes) else value.encode()
        assert SECRET.encode() not in raw, key
    assert SECRET not in (err.debug_error_string() or "")
    [entry] = [e for e in logs if e["event"] == "rpc_failed"]
    assert entry["log_level"] == "error"
    assert entry["exc_info"] is True
