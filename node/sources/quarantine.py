"""The local quarantine file: where rows that could not be read are noted.

Entries carry a line number and a reason so an operator can find and fix the
row in the source; they never carry a field's value. The file is still
created 0600 inside a 0700 folder, because record ids and line numbers of a
case file are themselves nobody else's business.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from counterflow.errors import ConfigError
from node.sources.records import Quarantined

_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0)


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _open_private(path: Path) -> int:
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, _FLAGS, 0o600)
    except OSError as exc:
        raise ConfigError(f"cannot open quarantine file {path}: {exc.strerror}") from None
    try:
        # An existing file keeps its content but not looser permissions.
        os.fchmod(fd, 0o600)
    except OSError as exc:
        os.close(fd)
        raise ConfigError(f"cannot restrict quarantine file {path}: {exc.strerror}") from None
    return fd


class QuarantineWriter:
    """Appends one JSON line per quarantined row and counts them per reason."""

    def __init__(
        self, path: Path, source: str = "", clock: Callable[[], datetime] = _utc_now
    ) -> None:
        self.path = path
        self.source = source
        self.counts: dict[str, int] = {}
        self._clock = clock
        self._file = os.fdopen(_open_private(path), "a", encoding="utf-8")

    def write(self, item: Quarantined, source: str | None = None) -> None:
        reason = str(item.reason)
        entry = {
            "source": self.source if source is None else source,
            "line": item.line,
            "record_id": item.record_id,
            "reason": reason,
            "detail": item.detail,
            "at": self._clock().astimezone(UTC).isoformat(),
        }
        self._file.write(json.dumps(entry, ensure_ascii=False) + "\n")
        self.counts[reason] = self.counts.get(reason, 0) + 1

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> QuarantineWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
