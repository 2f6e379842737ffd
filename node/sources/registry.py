"""The reader registry and `read_source`, the one entry point callers use.

Adding a reader is one module holding a class that satisfies `Reader`, plus
its line in `READERS`; the profile's `reader:` key picks it by name, and its
own options model checks the profile's `options:` block.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path
from types import TracebackType
from typing import ClassVar, Protocol

from pydantic import BaseModel

from counterflow.errors import ConfigError
from node.sources.amlsim_reader import AmlsimReader
from node.sources.csv_reader import CsvReader
from node.sources.htcds_reader import HtcdsCsvReader
from node.sources.jsonl_reader import JsonlReader
from node.sources.profile import SourceProfile
from node.sources.records import Quarantined, ReadStats, Record

Item = Record | Quarantined


class Reader(Protocol):
    """One file format.

    `read` is a generator: everything up to its first item may raise
    ConfigError for file-level problems (unreadable file, header lacking a
    named column); after that, every bad row is yielded as a Quarantined and
    the read goes on. It updates `stats.skipped_empty`, `stats.blank_lines`
    and `stats.unseen_fields`; `read_source` counts records and quarantines.
    """

    options_model: ClassVar[type[BaseModel]]

    def __init__(self, profile: SourceProfile) -> None: ...

    def read(self, path: Path, stats: ReadStats) -> Generator[Item, None, None]: ...


READERS: dict[str, type[Reader]] = {
    "csv": CsvReader,
    "htcds_csv": HtcdsCsvReader,
    "jsonl": JsonlReader,
    "amlsim": AmlsimReader,
}


class SourceReading(Iterator[Item]):
    """The items of one source file, with counts that are final once iteration ends.

    Use it as a context manager (or call `close`) to release the file early.
    """

    def __init__(self, items: Generator[Item, None, None], stats: ReadStats) -> None:
        self.stats = stats
        self._items = items
        # Pull the first item now so file-level ConfigErrors surface at the call.
        self._first: Item | None = next(items, None)

    def __iter__(self) -> SourceReading:
        return self

    def __next__(self) -> Item:
        item = self._first
        if item is None:
            item = next(self._items)
        else:
            self._first = None
        if item.__class__ is Record:
            self.stats.records += 1
        else:
            self.stats.quarantined += 1
        return item

    def close(self) -> None:
        self._first = None
        self._items.close()

    def __enter__(self) -> SourceReading:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def read_source(profile: SourceProfile, path: Path) -> SourceReading:
    """Stream a source file's records and quarantined rows, using the profile's reader."""
    reader = READERS[profile.reader](profile)
    if not path.exists():
        raise ConfigError(f"source file not found: {path}")
    if not path.is_file():
        raise ConfigError(f"source path is not a file: {path}")
    stats = ReadStats()
    return SourceReading(reader.read(path, stats), stats)
