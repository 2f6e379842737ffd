"""Submission service: proto in, domain call, proto out, one log line per RPC."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, cast

import grpc

from counterflow.errors import CounterflowError, ErrorCode
from counterflow.logs import get as get_logger
from counterflow.v1 import submission_pb2 as pb
from counterflow.v1 import submission_pb2_grpc as pb_grpc
from hub.pki.crl import CrlWatcher
from hub.policy.registry import PolicyRegistry
from hub.servicers.auth import Authenticator
from hub.servicers.errors import rpc_errors
from hub.services.agreements import activate_epoch, agreement_for, describe
from hub.services.clock import Clock
from hub.services.ingest import IngestLimits, ingest_batch
from hub.services.validation import WireItem
from hub.storage.interface import BatchOutcome, Storage


@dataclass(frozen=True)
class HubContext:
    """What every servicer needs, built once by build_server."""

    storage: Storage
    registry: PolicyRegistry
    authenticator: Authenticator
    crl: CrlWatcher | None
    clock: Clock
    limits: IngestLimits


class SubmissionServicer(pb_grpc.SubmissionServicer):
    def __init__(self, hub: HubContext) -> None:
        self._hub = hub
        self._log = get_logger("counterflow.hub.submission")

    def SubmitBatches(
        self, request_iterator: Iterator[pb.SubmitBatchRequest], context: grpc.ServicerContext
    ) -> Iterator[pb.SubmitBatchResponse]:
        log = self._bind(context, "SubmitBatches")
        started = time.perf_counter()
        totals = {"batches": 0, "accepted": 0, "rejected": 0, "duplicates": 0}
        with rpc_errors(context, log):
            partner_id = self._hub.authenticator.identify(context)
            log = log.bind(partner_id=partner_id)
            for request in request_iterator:
                # Revocation and agreement changes apply to an open stream at the next batch.
                if self._hub.authenticator.identify(context) != partner_id:
                    raise CounterflowError(
                        ErrorCode.CERTIFICATE_INVALID, "caller changed mid-stream"
                    )
                outcome = self._ingest(partner_id, request)
                _tally(totals, outcome)
                yield _response(outcome)
        log.info("rpc", outcome="ok", ms=round((time.perf_counter() - started) * 1000), **totals)

    def GetAgreement(
        self, request: pb.GetAgreementRequest, context: grpc.ServicerContext
    ) -> pb.GetAgreementResponse:
        log = self._bind(context, "GetAgreement")
        with rpc_errors(context, log):
            partner_id = self._hub.authenticator.identify(context)
            view = describe(
                self._hub.registry, self._hub.storage, partner_id, self._hub.limits.max_batch_items
            )
            agreement = view.agreement
            log.info("rpc", outcome="ok", partner_id=partner_id)
            return pb.GetAgreementResponse(
                partner_id=partner_id,
                agreement_id=agreement.agreement_id,
                version=agreement.version,
                status=agreement.status.value,
                valid_from=agreement.valid_from.isoformat(),
                valid_until=agreement.valid_until.isoformat(),
                indicator_types=sorted(agreement.allowed_wire_types),  # type: ignore[arg-type]
                countries=sorted(agreement.submit.countries),
                cells=list(agreement.submit.cells),
                max_batch_items=view.max_batch_items,
                active_key_epoch=view.active_key_epoch,
            )
        raise AssertionError("unreachable")  # pragma: no cover

    def ActivateEpoch(
        self, request: pb.ActivateEpochRequest, context: grpc.ServicerContext
    ) -> pb.ActivateEpochResponse:
        log = self._bind(context, "ActivateEpoch")
        with rpc_errors(context, log):
            partner_id = self._hub.authenticator.identify(context)
            result = activate_epoch(
                self._hub.registry,
                self._hub.storage,
                partner_id,
                request.key_epoch,
                self._hub.clock().date(),
            )
            log.info(
                "rpc",
                outcome="ok",
                partner_id=partner_id,
                key_epoch=result.key_epoch,
                items_active=result.items_active,
                items_removed=result.items_removed,
            )
            return pb.ActivateEpochResponse(
                key_epoch=result.key_epoch,
                items_active=result.items_active,
                items_removed=result.items_removed,
            )
        raise AssertionError("unreachable")  # pragma: no cover

    def _ingest(self, partner_id: str, request: pb.SubmitBatchRequest) -> BatchOutcome:
        return ingest_batch(
            storage=self._hub.storage,
            agreement=agreement_for(self._hub.registry, partner_id),
            batch_id=request.batch_id,
            items=cast(Sequence[WireItem], request.items),
            serialized=request.SerializeToString(deterministic=True),
            now=self._hub.clock(),
            limits=self._hub.limits,
        )

    def _bind(self, context: grpc.ServicerContext, method: str) -> Any:
        request_id = dict(context.invocation_metadata()).get("x-request-id") or uuid.uuid4().hex
        return self._log.bind(method=method, request_id=str(request_id)[:64])


def _tally(totals: dict[str, int], outcome: BatchOutcome) -> None:
    totals["batches"] += 1
    totals["accepted"] += outcome.accepted
    totals["rejected"] += len(outcome.rejections)
    totals["duplicates"] += int(outcome.duplicate)


def _response(outcome: BatchOutcome) -> pb.SubmitBatchResponse:
    return pb.SubmitBatchResponse(
        batch_id=outcome.batch_id,
        accepted=outcome.accepted,
        rejections=[
            pb.ItemRejection(index=r.index, reason=r.reason, message=r.message)
            for r in outcome.rejections
        ],
        duplicate=outcome.duplicate,
    )
