"""Talking to the hub: a channel, bounded retries, and errors a partner can act on.

Transient failures (UNAVAILABLE without a hub reason) are retried with capped
exponential backoff, and the budget resets whenever a batch was acknowledged, so
a push always ends: done, "hub unreachable", or "certificate rejected by hub"
(a refused handshake also arrives as UNAVAILABLE, but retrying cannot help it).
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

import grpc

from counterflow.errors import CounterflowError, ErrorCode, RemoteError
from counterflow.rpc_status import from_rpc_error
from counterflow.tls import channel_credentials
from counterflow.v1 import submission_pb2 as pb
from counterflow.v1 import submission_pb2_grpc as pb_grpc
from counterflow.wire import check_outbound
from node import outbox
from node.certcheck import check_own_certificate
from node.handshake import Probe, probe
from node.settings import NodeSettings
from node.store import connect

INSECURE_PARTNER_HEADER = "x-counterflow-partner-id"
_BATCH_FAULTS = {
    ErrorCode.INVALID_ITEM,
    ErrorCode.INVALID_REQUEST,
    ErrorCode.BATCH_EMPTY,
    ErrorCode.BATCH_TOO_LARGE,
    ErrorCode.BATCH_ID_REUSED,
    ErrorCode.STALE_KEY_EPOCH,
}
_R = TypeVar("_R")
_TRANSIENT = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


@dataclass
class PushReport:
    batches: int = 0
    accepted: int = 0
    rejected: int = 0
    duplicates: int = 0
    attempts: int = 0
    refused_batches: list[str] = field(default_factory=list)
    rejection_reasons: dict[str, int] = field(default_factory=dict)


def open_channel(settings: NodeSettings) -> grpc.Channel:
    options: list[tuple[str, str | int]] = [
        ("grpc.max_send_message_length", 16 * 1024 * 1024),
        ("grpc.max_receive_message_length", 16 * 1024 * 1024),
        ("grpc.enable_retries", 0),
    ]
    if settings.hub_server_name:
        options.append(("grpc.ssl_target_name_override", settings.hub_server_name))
    if settings.insecure:
        return grpc.insecure_channel(settings.hub, options=options)
    files = settings.tls_files()
    check_own_certificate(files, settings.partner_id)
    return grpc.secure_channel(settings.hub, channel_credentials(files), options=options)


class HubClient:
    def __init__(
        self,
        settings: NodeSettings,
        channel: grpc.Channel,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._settings = settings
        self._stub = pb_grpc.SubmissionStub(channel)
        # Payloads were allow-list checked and serialised once when built: send the bytes as is.
        self._submit_raw = channel.stream_stream(
            "/counterflow.v1.Submission/SubmitBatches",
            request_serializer=_identity,
            response_deserializer=pb.SubmitBatchResponse.FromString,
        )
        self._sleep = sleep

    def _metadata(self) -> list[tuple[str, str]]:
        meta = [("x-request-id", uuid.uuid4().hex)]
        if self._settings.insecure:
            meta.append((INSECURE_PARTNER_HEADER, self._settings.partner_id))
        return meta

    def get_agreement(self) -> pb.GetAgreementResponse:
        request = pb.GetAgreementRequest()
        check_outbound(request)
        result: pb.GetAgreementResponse = self._with_retries(
            lambda: self._stub.GetAgreement(
                request, metadata=self._metadata(), timeout=self._settings.rpc_timeout_seconds
            )
        )
        return result

    def activate_epoch(self, key_epoch: int) -> pb.ActivateEpochResponse:
        request = pb.ActivateEpochRequest(key_epoch=key_epoch)
        check_outbound(request)
        result: pb.ActivateEpochResponse = self._with_retries(
            lambda: self._stub.ActivateEpoch(
                request, metadata=self._metadata(), timeout=self._settings.rpc_timeout_seconds
            )
        )
        return result

    def push(
        self, conn: sqlite3.Connection, progress: Callable[[int], None] | None = None
    ) -> PushReport:
        """Send every pending batch; each is marked sent only once the hub has stored it."""
        report = PushReport()
        failures = 0
        while True:
            queue = outbox.pending(conn)
            if not queue:
                return report
            report.attempts += 1
            acked_before = report.batches
            try:
                self._stream(conn, [b for b, _, _ in queue], report, progress)
            except grpc.RpcError as exc:
                error = from_rpc_error(exc)
                if report.batches > acked_before:
                    failures = 0
                failures = self._handle(conn, error, failures)
                continue
            if report.batches == acked_before:
                # The stream ended cleanly without answering anything: never loop on that.
                raise CounterflowError(
                    ErrorCode.INTERNAL,
                    "the hub closed the stream without answering any batch; "
                    "unsent batches stay in the outbox",
                )

    def _stream(
        self,
        conn: sqlite3.Connection,
        batch_ids: list[str],
        report: PushReport,
        progress: Callable[[int], None] | None,
    ) -> None:
        sizes = {b: n for b, _, n in outbox.pending(conn)}
        responses = self._submit_raw(
            _requests(self._settings, batch_ids),
            metadata=self._metadata(),
            timeout=max(self._settings.rpc_timeout_seconds, 2.0 * len(batch_ids)),
        )
        for response in responses:
            outbox.acknowledge(conn, response)
            report.batches += 1
            report.accepted += response.accepted
            report.rejected += len(response.rejections)
            report.duplicates += int(response.duplicate)
            for rejection in response.rejections:
                report.rejection_reasons[rejection.reason] = (
                    report.rejection_reasons.get(rejection.reason, 0) + 1
                )
            if progress is not None:
                progress(sizes.get(response.batch_id, 0))

    def _handle(self, conn: sqlite3.Connection, error: RemoteError, failures: int) -> int:
        batch_id = error.metadata.get("batch_id")
        if error.code in _BATCH_FAULTS and batch_id:
            bad = frozenset(_item_index(field) for field, _ in error.violations)
            outbox.refuse(conn, batch_id, f"{error.code.value}: {error.message}", bad - {-1})
            raise error
        return self._retry_or_raise(error, failures)

    def _retry_or_raise(self, error: RemoteError, failures: int) -> int:
        """Sleep and return the new failure count, or raise what the partner can act on."""
        if error.status not in _TRANSIENT:
            raise error
        if not self._settings.insecure and probe(self._settings) is Probe.REFUSED:
            raise CounterflowError(
                ErrorCode.CERTIFICATE_REJECTED_BY_HUB,
                f"certificate rejected by hub at {self._settings.hub}: check that it was issued "
                "by the hub's CA and is not expired, and that the hub trusts that CA",
            ) from None
        failures += 1
        if failures >= self._settings.retry_attempts:
            raise CounterflowError(
                ErrorCode.HUB_UNREACHABLE,
                f"hub unreachable at {self._settings.hub} after {failures} attempts; "
                "unsent batches stay in the outbox: run `counterflow node push` again",
            ) from None
        self._sleep(self._backoff(failures))
        return failures

    def _backoff(self, failures: int) -> float:
        s = self._settings
        return float(min(s.retry_max_seconds, s.retry_initial_seconds * (2 ** (failures - 1))))

    def _with_retries(self, call: Callable[[], _R]) -> _R:
        failures = 0
        while True:
            try:
                return call()
            except grpc.RpcError as exc:
                failures = self._retry_or_raise(from_rpc_error(exc), failures)


def _item_index(field: str) -> int:
    """'items[7]' -> 7; anything else -> -1."""
    if field.startswith("items[") and field.endswith("]") and field[6:-1].isdigit():
        return int(field[6:-1])
    return -1


def _identity(payload: bytes) -> bytes:
    return payload


def _requests(settings: NodeSettings, batch_ids: list[str]) -> Iterator[bytes]:
    """Read payloads lazily on gRPC's sender thread, over its own connection."""
    conn = connect(settings.path(settings.database))
    try:
        for batch in outbox.payloads(conn, batch_ids):
            yield batch.payload
    finally:
        conn.close()
