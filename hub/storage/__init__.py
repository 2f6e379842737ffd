"""The hub's storage: reports, idempotent batches, key epochs and per-cell counts.

Services talk to the `Storage` protocol; `open_storage(url)` picks SQLite or
PostgreSQL from the URL and migrates the schema to head.
"""

from hub.storage.engine import open_storage
from hub.storage.interface import (
    ALL_TAGS,
    BatchOutcome,
    EpochActivation,
    ItemRow,
    Rejection,
    Storage,
    Summary,
    SummaryCell,
)

__all__ = [
    "ALL_TAGS",
    "BatchOutcome",
    "EpochActivation",
    "ItemRow",
    "Rejection",
    "Storage",
    "Summary",
    "SummaryCell",
    "open_storage",
]
