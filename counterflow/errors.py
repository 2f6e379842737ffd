"""Counterflow's error model: one catalog of stable codes, shared by both sides.

Exception tree (domain code raises these; one boundary translates them)::

    CounterflowError                 every failure with a stable ErrorCode
    ├── ConfigError                  settings, key files, certificates on disk
    ├── PolicyError                  a policy file that does not validate
    ├── InputError                   a malformed record, item or request
    └── RemoteError                  a refusal read back from the hub (node side)

The hub's servicers turn a CounterflowError into a ``google.rpc.Status`` with an
``ErrorInfo`` whose reason is the code's name; the node turns such a status back
into a RemoteError with the same code, so both sides speak of the same thing.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

import grpc

DOMAIN = "counterflow.v1"


class ErrorCode(enum.Enum):
    """Stable reasons; the names go on the wire and must never be renumbered or renamed."""

    # Bad input
    INVALID_REQUEST = "INVALID_REQUEST"
    INVALID_ITEM = "INVALID_ITEM"
    BATCH_TOO_LARGE = "BATCH_TOO_LARGE"
    BATCH_EMPTY = "BATCH_EMPTY"
    INVALID_POLICY = "INVALID_POLICY"
    INVALID_RECORD = "INVALID_RECORD"
    INVALID_CONFIG = "INVALID_CONFIG"
    # Identity
    UNKNOWN_PARTNER = "UNKNOWN_PARTNER"
    CERTIFICATE_REVOKED = "CERTIFICATE_REVOKED"
    CERTIFICATE_INVALID = "CERTIFICATE_INVALID"
    # Agreement
    AGREEMENT_NOT_ACTIVE = "AGREEMENT_NOT_ACTIVE"
    AGREEMENT_EXPIRED = "AGREEMENT_EXPIRED"
    AGREEMENT_NOT_YET_VALID = "AGREEMENT_NOT_YET_VALID"
    NOT_PERMITTED = "NOT_PERMITTED"
    # State
    BATCH_ID_REUSED = "BATCH_ID_REUSED"
    STALE_KEY_EPOCH = "STALE_KEY_EPOCH"
    EPOCH_NOT_STAGED = "EPOCH_NOT_STAGED"
    # Transient and internal
    UNAVAILABLE = "UNAVAILABLE"
    HUB_UNREACHABLE = "HUB_UNREACHABLE"
    CERTIFICATE_REJECTED_BY_HUB = "CERTIFICATE_REJECTED_BY_HUB"
    INTERNAL = "INTERNAL"


@dataclass(frozen=True)
class CatalogEntry:
    status: grpc.StatusCode
    public_message: str
    retryable: bool = False


CATALOG: Mapping[ErrorCode, CatalogEntry] = {
    ErrorCode.INVALID_REQUEST: CatalogEntry(grpc.StatusCode.INVALID_ARGUMENT, "malformed request"),
    ErrorCode.INVALID_ITEM: CatalogEntry(grpc.StatusCode.INVALID_ARGUMENT, "malformed item"),
    ErrorCode.BATCH_TOO_LARGE: CatalogEntry(
        grpc.StatusCode.INVALID_ARGUMENT, "batch has more items than allowed"
    ),
    ErrorCode.BATCH_EMPTY: CatalogEntry(grpc.StatusCode.INVALID_ARGUMENT, "batch has no items"),
    ErrorCode.INVALID_POLICY: CatalogEntry(grpc.StatusCode.INVALID_ARGUMENT, "invalid policy"),
    ErrorCode.INVALID_RECORD: CatalogEntry(grpc.StatusCode.INVALID_ARGUMENT, "invalid record"),
    ErrorCode.INVALID_CONFIG: CatalogEntry(
        grpc.StatusCode.FAILED_PRECONDITION, "invalid configuration"
    ),
    ErrorCode.UNKNOWN_PARTNER: CatalogEntry(
        grpc.StatusCode.UNAUTHENTICATED,
        "certificate does not belong to a partner with an agreement",
    ),
    ErrorCode.CERTIFICATE_REVOKED: CatalogEntry(
        grpc.StatusCode.UNAUTHENTICATED, "certificate has been revoked"
    ),
    ErrorCode.CERTIFICATE_INVALID: CatalogEntry(
        grpc.StatusCode.UNAUTHENTICATED, "certificate is not a partner certificate"
    ),
    ErrorCode.AGREEMENT_NOT_ACTIVE: CatalogEntry(
        grpc.StatusCode.FAILED_PRECONDITION, "agreement is suspended"
    ),
    ErrorCode.AGREEMENT_EXPIRED: CatalogEntry(
        grpc.StatusCode.FAILED_PRECONDITION, "agreement has expired"
    ),
    ErrorCode.AGREEMENT_NOT_YET_VALID: CatalogEntry(
        grpc.StatusCode.FAILED_PRECONDITION, "agreement is not yet valid"
    ),
    ErrorCode.NOT_PERMITTED: CatalogEntry(
        grpc.StatusCode.PERMISSION_DENIED, "the agreement does not allow this"
    ),
    ErrorCode.BATCH_ID_REUSED: CatalogEntry(
        grpc.StatusCode.ALREADY_EXISTS, "batch id was already used with other content"
    ),
    ErrorCode.STALE_KEY_EPOCH: CatalogEntry(
        grpc.StatusCode.FAILED_PRECONDITION, "token key epoch is older than the active epoch"
    ),
    ErrorCode.EPOCH_NOT_STAGED: CatalogEntry(
        grpc.StatusCode.FAILED_PRECONDITION, "no items were submitted under that key epoch"
    ),
    ErrorCode.UNAVAILABLE: CatalogEntry(
        grpc.StatusCode.UNAVAILABLE, "service temporarily unavailable", retryable=True
    ),
    ErrorCode.HUB_UNREACHABLE: CatalogEntry(grpc.StatusCode.UNAVAILABLE, "hub unreachable"),
    ErrorCode.CERTIFICATE_REJECTED_BY_HUB: CatalogEntry(
        grpc.StatusCode.UNAVAILABLE, "certificate rejected by hub"
    ),
    ErrorCode.INTERNAL: CatalogEntry(grpc.StatusCode.INTERNAL, "internal error"),
}


class CounterflowError(Exception):
    """A failure with a stable code, a human message and safe-to-share metadata.

    Metadata values must never hold an indicator value, a token or a key: they
    travel to the peer and into logs.
    """

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        metadata: Mapping[str, str] | None = None,
        violations: list[tuple[str, str]] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.metadata: dict[str, str] = dict(metadata or {})
        # (field, description) pairs, sent as google.rpc.BadRequest field violations.
        self.violations: list[tuple[str, str]] = list(violations or [])

    def __str__(self) -> str:
        return f"{self.message} [{self.code.value}]"


class ConfigError(CounterflowError):
    def __init__(self, message: str, metadata: Mapping[str, str] | None = None) -> None:
        super().__init__(ErrorCode.INVALID_CONFIG, message, metadata)


class PolicyError(CounterflowError):
    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(ErrorCode.INVALID_POLICY, message)
        self.problems = list(problems or [message])


class InputError(CounterflowError):
    pass


class RemoteError(CounterflowError):
    """A refusal from the hub, carrying the hub's status and reason."""

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        status: grpc.StatusCode,
        metadata: Mapping[str, str] | None = None,
        violations: list[tuple[str, str]] | None = None,
    ) -> None:
        super().__init__(code, message, metadata, violations)
        self.status = status
