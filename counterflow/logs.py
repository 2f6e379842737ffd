"""Structured logging, configured once by an entry point (never at import).

One JSON line per event when not on a terminal. Callers pass counts and ids;
never an indicator value, a token, a key or a certificate.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

_FORBIDDEN_KEYS = frozenset(
    {"token", "value", "raw", "key", "secret", "password", "passphrase", "canonical"}
    | {"phone", "email", "iban", "wallet", "url", "api_key", "private_key"}
)


def _drop_secrets(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Last line of defence: a field named like a secret is masked, not logged."""
    for key in list(event):
        if key in _FORBIDDEN_KEYS:
            event[key] = "<redacted>"
    return event


def configure(level: str = "INFO", json: bool | None = None, stream: Any = None) -> None:
    out = stream or sys.stderr
    as_json = (not out.isatty()) if json is None else json
    renderer: Any = (
        structlog.processors.JSONRenderer() if as_json else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _drop_secrets,
            # Type, message and stack of an exception; never its frames' local variables.
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )


def get(name: str) -> Any:
    return structlog.get_logger(name)
