"""The one place where domain errors become gRPC statuses.

Every RPC body runs inside `rpc_errors`; a CounterflowError becomes a
google.rpc.Status with ErrorInfo (and BadRequest violations), anything else an
INTERNAL with a fixed message, logged with the request id and never its text.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import grpc

from counterflow.errors import CATALOG, ConfigError, CounterflowError, ErrorCode
from counterflow.rpc_status import to_status


def public_error(exc: CounterflowError) -> CounterflowError:
    """The hub's own configuration problems stay in its log; the caller gets the catalog text."""
    if isinstance(exc, ConfigError):
        return CounterflowError(
            ErrorCode.UNAVAILABLE, CATALOG[ErrorCode.UNAVAILABLE].public_message
        )
    return exc


@contextmanager
def rpc_errors(context: grpc.ServicerContext, log: Any) -> Iterator[None]:
    try:
        yield
    except CounterflowError as exc:
        log.warning("rpc_refused", code=exc.code.value, detail=exc.message, **exc.metadata)
        context.abort_with_status(to_status(public_error(exc)))
    except Exception:
        if not context.is_active():
            # The client went away (cancelled, deadline, connection lost): nothing to answer.
            log.info("rpc_cancelled")
            return
        log.exception("rpc_failed")
        context.abort_with_status(
            to_status(CounterflowError(ErrorCode.INTERNAL, "internal error; see hub log"))
        )
