"""What the hub's services may ask of storage, independent of the database behind it.

The services validate items against the agreement first; storage only keeps
what it is given, atomically and idempotently, and keeps the per-cell counts
that trend signals read. Integers are wire values (`IndicatorType.wire`) so the
ingest path never converts per item.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

# The tag under which every item counts once, whatever tags it carries.
ALL_TAGS = ""


@dataclass(frozen=True, slots=True)
class ItemRow:
    """One accepted item, already validated by the caller."""

    item_index: int
    scheme_version: int
    key_epoch: int
    token: bytes
    indicator_type: int
    group_id: bytes
    country: str
    week: str
    h3_cell: str | None
    tags: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ItemColumns:
    """A batch's accepted items as parallel columns, the form the ingest path hands over.

    The hub checks and stores a batch a column at a time: the driver's row tuples
    are then built by `zip` in C instead of one Python object per item, which is
    most of what separates the hub from a raw `executemany`. Tags are joined
    with "," (a tag never contains one).
    """

    item_index: Sequence[int]
    scheme_version: Sequence[int]
    key_epoch: Sequence[int]
    token: Sequence[bytes]
    indicator_type: Sequence[int]
    group_id: Sequence[bytes]
    country: Sequence[str]
    week: Sequence[str]
    h3_cell: Sequence[str | None]
    tags: Sequence[str]

    def __len__(self) -> int:
        return len(self.item_index)

    @classmethod
    def from_rows(cls, rows: Sequence[ItemRow]) -> ItemColumns:
        for row in rows:
            if any(not tag or "," in tag for tag in row.tags):
                raise ValueError("a typology tag must be non-empty and must not contain ','")
        return cls(
            item_index=[r.item_index for r in rows],
            scheme_version=[r.scheme_version for r in rows],
            key_epoch=[r.key_epoch for r in rows],
            token=[r.token for r in rows],
            indicator_type=[r.indicator_type for r in rows],
            group_id=[r.group_id for r in rows],
            country=[r.country for r in rows],
            week=[r.week for r in rows],
            h3_cell=[r.h3_cell for r in rows],
            tags=[",".join(r.tags) for r in rows],
        )


@dataclass(frozen=True, slots=True)
class Rejection:
    index: int
    reason: str
    message: str


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    """The answer for one batch; a duplicate replays the stored answer."""

    batch_id: str
    accepted: int
    rejections: tuple[Rejection, ...]
    duplicate: bool


@dataclass(frozen=True, slots=True)
class EpochActivation:
    key_epoch: int
    items_active: int
    items_removed: int


@dataclass(frozen=True, slots=True)
class SummaryCell:
    """Active items of one (type, country, sector, week), across partners."""

    indicator_type: int
    country: str
    sector: str
    week: str
    count: int
    partners: int
    # The largest single partner's part of `count`: a cell fed by one partner is no trend.
    max_partner_share: float


@dataclass(frozen=True, slots=True)
class Summary:
    cells: tuple[SummaryCell, ...]
    # Items under each partner's active epoch (staged items are not counted).
    total_items: int
    # Partners with at least one active item.
    partners: int
    # Batches stored, each once whatever its outcome (all-rejected batches included).
    batches: int
    # Tokens (same epoch) reported by partners of at least two distinct sectors.
    cross_sector_tokens: int


class Storage(Protocol):
    def store_batch(
        self,
        *,
        partner_id: str,
        sector: str,
        batch_id: str,
        content_hash: bytes,
        items: Sequence[ItemRow] | ItemColumns,
        rejections: Sequence[Rejection],
        received_at: datetime,
    ) -> BatchOutcome:
        """Store a batch atomically; replay a duplicate, refuse a reused id or a stale epoch."""
        ...

    def activate_epoch(self, partner_id: str, key_epoch: int) -> EpochActivation:
        """Make a staged epoch the partner's active one, replacing older items and counts."""
        ...

    def active_epoch(self, partner_id: str) -> int:
        """The partner's active key epoch, 0 if it has stored no item yet."""
        ...

    def summary(self) -> Summary:
        """Exact figures over active items, read from one consistent snapshot."""
        ...

    def item_count(self, partner_id: str | None = None) -> int:
        """Items stored (active and staged), for one partner or all."""
        ...

    def close(self) -> None:
        """Release every database connection; the object is unusable afterwards."""
        ...
