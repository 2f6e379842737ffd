"""Malformed requests and hostile bytes: refused precisely, nothing stored, hub unharmed.

The batches are built by hand (a broken or hostile node would not use our node
code). A malformed item refuses the whole batch with INVALID_ARGUMENT and a
BadRequest field violation naming the item; after every refusal the same hub
still stores a good batch.
"""

from __future__ import annotations

import random
import socket
import ssl
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

import grpc
import h3
import pytest

from counterflow.errors import ErrorCode
from counterflow.indicators import IndicatorType
from counterflow.rpc_status import from_rpc_error
from counterflow.v1 import submission_pb2 as pb
from counterflow.v1 import submission_pb2_grpc as pb_grpc

if TYPE_CHECKING:
    from conftest import Federation, Wire

PARTNER = "bank-alpha"
MAX_BATCH_ITEMS = 50
MAX_MESSAGE_BYTES = 64 * 1024
LONDON_RES6 = h3.latlng_to_cell(51.5074, -0.1278, 6)
LONDON_RES9 = h3.latlng_to_cell(51.5074, -0.1278, 9)


@pytest.fixture(scope="module")
def federation_settings() -> Mapping[str, Any]:
    return {"max_batch_items": MAX_BATCH_ITEMS, "max_message_bytes": MAX_MESSAGE_BYTES}


@pytest.fixture
def untouched(federation: Federation) -> Iterator[None]:
    """Whatever the test sends, the hub stores nothing of it."""
    items = federation.storage.item_count()
    summary = federation.storage.summary()
    yield
    assert federation.storage.item_count() == items
    assert federation.storage.summary() == summary


def _assert_still_serving(federation: Federation, wire: type[Wire], batch_id: str) -> None:
    before = federation.storage.item_count(PARTNER)
    [response] = federation.submit(PARTNER, wire.good_batch(batch_id))
    assert (response.batch_id, response.accepted, response.duplicate) == (batch_id, 3, False)
    assert federation.storage.item_count(PARTNER) == before + 3


def _with_bad_second_item(wire: type[Wire], batch_id: str, **bad: Any) -> pb.SubmitBatchRequest:
    """Three items, the middle one malformed as `bad` says (which may give it a wrong index)."""
    middle = wire.item(bad.pop("index", 1), seed=batch_id, **bad)
    return wire.batch(batch_id, [wire.item(0, seed=batch_id), middle, wire.item(2, seed=batch_id)])


# -- malformed items -----------------------------------------------------------------------

BAD_ITEMS: dict[str, tuple[dict[str, Any], str]] = {
    "token-31-bytes": ({"token": b"\x01" * 31}, "token must be 32 bytes, got 31"),
    "token-empty": ({"token": b""}, "token must be 32 bytes, got 0"),
    "type-99": ({"indicator_type": 99}, "unknown indicator type 99"),
    "type-unspecified": ({"indicator_type": 0}, "unknown indicator type 0"),
    "week-far-future": ({"week": "2030-W01"}, "week 2030-W01 is in the future"),
    "week-malformed": ({"week": "2026-47"}, "is not an ISO week like 2026-W47"),
    "week-nonexistent": ({"week": "2026-W54"}, "is not an ISO week like 2026-W47"),
    "week-a-date": ({"week": "2026-11-18"}, "is not an ISO week like 2026-W47"),
    "country-unknown": ({"country": "XX"}, "is not an ISO 3166-1 alpha-2 code"),
    "country-lower-case": ({"country": "gb"}, "is not an ISO 3166-1 alpha-2 code"),
    "country-alpha3": ({"country": "GBR"}, "is not an ISO 3166-1 alpha-2 code"),
    "h3-resolution-9": ({"h3_cell": LONDON_RES9}, "h3 cell is finer than resolution 6"),
    "h3-not-a-cell": ({"h3_cell": "not-a-cell"}, "h3 cell is not a valid H3 cell"),
    "four-tags": ({"tags": ["a", "b", "c", "d"]}, "at most 3 typology tags, got 4"),
    "tag-repeated": ({"tags": ["a", "a"]}, "typology tags repeat"),
    "tag-upper-case": ({"tags": ["Money-Mule"]}, "is not lower-case"),
    "group-id-short": ({"group_id": b"\x02" * 15}, "group id must be 16 bytes, got 15"),
    "scheme-version-2": ({"scheme_version": 2}, "token scheme version 2 is not supported"),
    "index-out-of-place": ({"index": 7}, "index 7 does not match position 1"),
}


@pytest.mark.usefixtures("untouched")
@pytest.mark.parametrize("case", list(BAD_ITEMS))
def test_a_malformed_item_refuses_the_whole_batch(
    federation: Federation, wire: type[Wire], case: str
) -> None:
    bad, description = BAD_ITEMS[case]
    request = _with_bad_second_item(wire, f"bad-{case}", **bad)
    with pytest.raises(grpc.RpcError) as caught:
        federation.submit(PARTNER, request)
    error = from_rpc_error(caught.value)
    assert (error.status, error.code) == (grpc.StatusCode.INVALID_ARGUMENT, ErrorCode.INVALID_ITEM)
    assert len(error.violations) == 1
    field, text = error.violations[0]
    assert field == "items[1]"
    assert description in text
    assert error.metadata == {"batch_id": f"bad-{case}", "malformed": "1"}


def test_the_item_checks_accept_what_they_should(federation: Federation, wire: type[Wire]) -> None:
    # The boundaries of the checks above, all on the accepting side.
    request = wire.batch(
        "edges-1",
        [
            wire.item(0, seed="edges", h3_cell=LONDON_RES6),
            wire.item(1, seed="edges", tags=["money-mule", "forced-labour", "x.y:z_1"]),
            wire.item(2, seed="edges", week="2026-W48"),  # next week: within max_future_weeks
            wire.item(3, seed="edges", indicator_type=IndicatorType.AD_FINGERPRINT),
        ],
    )
    [response] = federation.submit(PARTNER, request)
    assert (response.accepted, list(response.rejections)) == (4, [])


@pytest.mark.usefixtures("untouched")
def test_mixed_key_epochs_in_one_batch_are_refused(
    federation: Federation, wire: type[Wire]
) -> None:
    request = wire.batch(
        "epochs-1",
        [wire.item(0, seed="epochs", key_epoch=1), wire.item(1, seed="epochs", key_epoch=2)],
    )
    with pytest.raises(grpc.RpcError) as caught:
        federation.submit(PARTNER, request)
    error = from_rpc_error(caught.value)
    assert (error.status, error.code) == (grpc.StatusCode.INVALID_ARGUMENT, ErrorCode.INVALID_ITEM)
    assert error.violations == [
        ("items.key_epoch", "all items of a batch must share one key epoch")
    ]
    assert error.metadata["batch_id"] == "epochs-1"


@pytest.mark.usefixtures("untouched")
def test_every_malformed_item_is_named(federation: Federation, wire: type[Wire]) -> None:
    items = [
        wire.item(i, seed="many", country="XX" if i % 2 else "GB") for i in range(MAX_BATCH_ITEMS)
    ]
    with pytest.raises(grpc.RpcError) as caught:
        federation.submit(PARTNER, wire.batch("many-bad-1", items))
    error = from_rpc_error(caught.value)
    assert (error.status, error.code) == (grpc.StatusCode.INVALID_ARGUMENT, ErrorCode.INVALID_ITEM)
    assert error.metadata["malformed"] == "25"
    # At most 20 violations travel back, in item order.
    assert [field for field, _ in error.violations] == [f"items[{i}]" for i in range(1, 40, 2)]


# -- malformed envelopes ---------------------------------------------------------------------


@pytest.mark.usefixtures("untouched")
def test_an_empty_batch_is_refused(federation: Federation, wire: type[Wire]) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        federation.submit(PARTNER, wire.batch("empty-1", []))
    error = from_rpc_error(caught.value)
    assert (error.status, error.code) == (grpc.StatusCode.INVALID_ARGUMENT, ErrorCode.BATCH_EMPTY)
    assert error.metadata["batch_id"] == "empty-1"


@pytest.mark.usefixtures("untouched")
def test_a_batch_over_the_hubs_limit_is_refused(federation: Federation, wire: type[Wire]) -> None:
    request = wire.good_batch("too-large-1", MAX_BATCH_ITEMS + 1)
    with pytest.raises(grpc.RpcError) as caught:
        federation.submit(PARTNER, request)
    error = from_rpc_error(caught.value)
    assert (error.status, error.code) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        ErrorCode.BATCH_TOO_LARGE,
    )
    assert error.metadata == {"batch_id": "too-large-1", "max_items": str(MAX_BATCH_ITEMS)}
    assert federation.get_agreement(PARTNER).max_batch_items == MAX_BATCH_ITEMS


def test_a_batch_at_the_hubs_limit_is_stored(federation: Federation, wire: type[Wire]) -> None:
    [response] = federation.submit(PARTNER, wire.good_batch("at-limit-1", MAX_BATCH_ITEMS))
    assert response.accepted == MAX_BATCH_ITEMS


@pytest.mark.usefixtures("untouched")
@pytest.mark.parametrize(
    "batch_id",
    ["", "has space", "x" * 65, "../../etc/passwd", "batch\n1", "bätch", "id;DROP TABLE"],
)
def test_a_bad_batch_id_is_refused(federation: Federation, wire: type[Wire], batch_id: str) -> None:
    request = wire.batch(batch_id, [wire.item(0, seed="bad-id")])
    with pytest.raises(grpc.RpcError) as caught:
        federation.submit(PARTNER, request)
    error = from_rpc_error(caught.value)
    assert (error.status, error.code) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        ErrorCode.INVALID_REQUEST,
    )
    assert "batch id must be 1-64 characters" in error.message


# -- a refusal on a stream ends the stream, not the hub ------------------------------------------


def test_batches_before_a_refused_one_on_the_same_stream_stay_stored(
    federation: Federation, wire: type[Wire]
) -> None:
    before = federation.storage.item_count(PARTNER)
    stream = federation.stub(PARTNER).SubmitBatches(
        iter(
            [
                wire.good_batch("stream-ok-1"),
                wire.batch("stream-bad-1", []),
                wire.good_batch("stream-never-1"),
            ]
        ),
        timeout=30,
    )
    answers = []
    with pytest.raises(grpc.RpcError) as caught:
        answers.extend(stream)
    assert [a.batch_id for a in answers] == ["stream-ok-1"]
    assert from_rpc_error(caught.value).code is ErrorCode.BATCH_EMPTY
    assert federation.storage.item_count(PARTNER) == before + 3
    # The batch after the refused one was never read: it can be sent again.
    [resent] = federation.submit(PARTNER, wire.good_batch("stream-never-1"))
    assert (resent.accepted, resent.duplicate) == (3, False)


# -- the transport -------------------------------------------------------------------------------


@pytest.mark.usefixtures("untouched")
def test_a_message_over_the_size_limit_is_refused_by_the_transport(
    federation: Federation, wire: type[Wire]
) -> None:
    request = wire.good_batch("huge-1", 1500)
    assert request.ByteSize() > MAX_MESSAGE_BYTES
    with pytest.raises(grpc.RpcError) as caught:
        federation.submit(PARTNER, request)
    assert caught.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    # Refused by the hub itself (a client sends any size by default), before any handler ran.
    assert "larger than max" in (caught.value.details() or "")
    assert f"vs. {MAX_MESSAGE_BYTES}" in (caught.value.details() or "")


def test_the_hub_serves_after_a_message_over_the_size_limit(
    federation: Federation, wire: type[Wire]
) -> None:
    with pytest.raises(grpc.RpcError):
        federation.submit(PARTNER, wire.good_batch("huge-2", 1500))
    _assert_still_serving(federation, wire, "after-huge-2")


@pytest.mark.parametrize("case", [*BAD_ITEMS, "empty", "too-large", "bad-id"])
def test_the_hub_serves_a_good_batch_after_each_refusal(
    federation: Federation, wire: type[Wire], case: str
) -> None:
    if case == "empty":
        bad = wire.batch("refused-empty", [])
    elif case == "too-large":
        bad = wire.good_batch("refused-too-large", MAX_BATCH_ITEMS + 1)
    elif case == "bad-id":
        bad = wire.good_batch("refused bad id")
    else:
        bad = _with_bad_second_item(wire, f"refused-{case}", **BAD_ITEMS[case][0])
    with pytest.raises(grpc.RpcError) as caught:
        federation.submit(PARTNER, bad)
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    _assert_still_serving(federation, wire, f"after-{case}")


# -- hostile bytes on the port --------------------------------------------------------------


def _raw(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=10)


def _send_and_close(port: int, payload: bytes) -> None:
    with _raw(port) as sock:
        try:
            sock.sendall(payload)
            sock.recv(4096)  # whatever the hub answers (an alert, or it just closes)
        except OSError:
            pass  # the hub may reset the connection: that is a fine answer too


def _random_bytes(seed: int, size: int) -> bytes:
    return random.Random(seed).randbytes(size)


def _fake_client_hello(seed: int) -> bytes:
    """A TLS record header announcing a ClientHello, then noise where the hello should be."""
    body = _random_bytes(seed, 512)
    handshake = bytes([0x01]) + len(body).to_bytes(3, "big") + body
    return bytes([0x16, 0x03, 0x01]) + len(handshake).to_bytes(2, "big") + handshake


def _real_client_hello() -> tuple[ssl.SSLObject, ssl.MemoryBIO, ssl.MemoryBIO, bytes]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(["h2"])
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname="localhost")
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    return tls, incoming, outgoing, outgoing.read()


def _hang_up_after_server_hello(port: int) -> None:
    """Start a real TLS handshake, read the hub's first flight, then drop the connection."""
    _, _, _, hello = _real_client_hello()
    with _raw(port) as sock:
        sock.sendall(hello)
        first_flight = sock.recv(65536)
        assert first_flight[:1] == b"\x16"  # a TLS handshake record: the hub was answering


def _hang_up_after_half_a_hello(port: int) -> None:
    _, _, _, hello = _real_client_hello()
    with _raw(port) as sock:
        sock.sendall(hello[: len(hello) // 2])


ASSAULTS: dict[str, Callable[[int], None]] = {
    "random-bytes": lambda port: _send_and_close(port, _random_bytes(7, 4096)),
    "fake-client-hello": lambda port: _send_and_close(port, _fake_client_hello(11)),
    "http2-preface-in-clear": lambda port: _send_and_close(
        port, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + _random_bytes(13, 64)
    ),
    "http1-request": lambda port: _send_and_close(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
    "connect-and-close": lambda port: _raw(port).close(),
    "half-a-client-hello": _hang_up_after_half_a_hello,
    "hang-up-mid-handshake": _hang_up_after_server_hello,
}


@pytest.mark.parametrize("assault", list(ASSAULTS))
def test_the_hub_keeps_serving_after_hostile_bytes(
    federation: Federation, wire: type[Wire], assault: str
) -> None:
    for _ in range(3):
        ASSAULTS[assault](federation.port)
    _assert_still_serving(federation, wire, f"after-{assault}")


def test_idle_and_half_open_connections_do_not_block_partners(
    federation: Federation, wire: type[Wire]
) -> None:
    _, _, _, hello = _real_client_hello()
    with ExitStack() as stack:
        for number in range(20):
            sock = stack.enter_context(_raw(federation.port))
            if number % 2:
                sock.sendall(hello[:10])  # a handshake that never finishes
        # A fresh partner channel, so its handshake happens while those are held open.
        with federation.open_channel(PARTNER) as channel:
            stub = pb_grpc.SubmissionStub(channel)
            [response] = stub.SubmitBatches(iter([wire.good_batch("beside-idle-1")]), timeout=30)
            assert (response.accepted, response.duplicate) == (3, False)
