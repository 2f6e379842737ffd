"""Rich gRPC errors: CounterflowError <-> google.rpc.Status with ErrorInfo.

Both directions live here so the hub's servicers and the node's client agree on
the encoding byte for byte.
"""

from __future__ import annotations

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from counterflow.errors import CATALOG, DOMAIN, CounterflowError, ErrorCode, RemoteError


def to_status(error: CounterflowError) -> grpc.Status:
    """Encode an error as a grpc.Status that `context.abort_with_status` can send."""
    entry = CATALOG[error.code]
    details = []
    info = error_details_pb2.ErrorInfo(
        reason=error.code.value, domain=DOMAIN, metadata=error.metadata
    )
    packed = any_pb2.Any()
    packed.Pack(info)
    details.append(packed)
    if error.violations:
        bad = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(field=f, description=d)
                for f, d in error.violations
            ]
        )
        packed_bad = any_pb2.Any()
        packed_bad.Pack(bad)
        details.append(packed_bad)
    status = status_pb2.Status(code=entry.status.value[0], message=error.message, details=details)
    return rpc_status.to_status(status)


def from_rpc_error(err: grpc.RpcError) -> RemoteError:
    """Decode what the hub sent; a status without ErrorInfo keeps its gRPC code only."""
    code_enum = err.code() if hasattr(err, "code") else grpc.StatusCode.UNKNOWN
    message = err.details() if hasattr(err, "details") else str(err)
    status = rpc_status.from_call(err) if hasattr(err, "trailing_metadata") else None
    reason = (
        ErrorCode.UNAVAILABLE if code_enum == grpc.StatusCode.UNAVAILABLE else ErrorCode.INTERNAL
    )
    metadata: dict[str, str] = {}
    violations: list[tuple[str, str]] = []
    if status is not None:
        for detail in status.details:
            if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                info = error_details_pb2.ErrorInfo()
                detail.Unpack(info)
                try:
                    reason = ErrorCode(info.reason)
                except ValueError:
                    reason = ErrorCode.INTERNAL
                metadata = dict(info.metadata)
            elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                bad = error_details_pb2.BadRequest()
                detail.Unpack(bad)
                violations = [(v.field, v.description) for v in bad.field_violations]
    return RemoteError(reason, message or "", code_enum, metadata, violations)


def status_code_number(code: grpc.StatusCode) -> int:
    """The numeric google.rpc.Code for a grpc.StatusCode."""
    number: int = code.value[0]
    assert number in code_pb2.Code.values()
    return number
