"""Accepting a partner's batch: envelope, shape, agreement, then one atomic store.

Order matters: an agreement that is not in force refuses the whole batch before
anything is read; malformed items refuse the whole batch; only then are items
the agreement does not cover refused one by one, and the rest stored at once.
The per-item loop is the hub's hottest Python: it checks every field inline
against precomputed sets and only calls the slow, message-building paths
(`item_problem`, `item_refusal`) for an item that already failed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from operator import attrgetter

from counterflow.countries import ALPHA2
from counterflow.errors import CounterflowError
from counterflow.indicators import IndicatorType
from counterflow.tokens import GROUP_ID_BYTES, MAX_TAGS, SCHEME_VERSION, TOKEN_BYTES
from hub.policy.models import Agreement
from hub.services.validation import (
    WireItem,
    cell_ok,
    check_batch_envelope,
    item_problem,
    raise_if_malformed,
    tag_ok,
    week_ok,
)
from hub.storage.interface import BatchOutcome, ItemColumns, ItemRow, Rejection, Storage

_WIRE_TYPES = frozenset(t.wire for t in IndicatorType)
_WIRE_FIELDS = attrgetter(
    "index",
    "scheme_version",
    "key_epoch",
    "token",
    "indicator_type",
    "group_id",
    "country",
    "week",
    "h3_cell",
    "typology_tags",
)


@dataclass(frozen=True)
class IngestLimits:
    max_batch_items: int
    max_future_weeks: int


def content_hash(serialized: bytes) -> bytes:
    """Idempotency: the same batch id is the same batch only if these bytes match."""
    return hashlib.sha256(serialized).digest()


def ingest_batch(
    *,
    storage: Storage,
    agreement: Agreement,
    batch_id: str,
    items: Sequence[WireItem],
    serialized: bytes,
    now: dt.datetime,
    limits: IngestLimits,
) -> BatchOutcome:
    agreement.check_active(now.date())
    check_batch_envelope(batch_id, len(items), limits.max_batch_items)
    latest = now.date() + dt.timedelta(weeks=limits.max_future_weeks)
    rows, rejections = _split(batch_id, items, agreement, latest)
    try:
        return storage.store_batch(
            partner_id=agreement.partner_id,
            sector=agreement.sector.value,
            batch_id=batch_id,
            content_hash=content_hash(serialized),
            items=rows,
            rejections=rejections,
            received_at=now,
        )
    except CounterflowError as exc:
        # The node sets aside the one batch named here; its next push sends the rest.
        exc.metadata.setdefault("batch_id", batch_id)
        raise


def _split(
    batch_id: str, items: Sequence[WireItem], agreement: Agreement, latest: dt.date
) -> tuple[ItemColumns | list[ItemRow], list[Rejection]]:
    fast = _split_by_column(items, agreement, latest)
    if fast is not None:
        return fast, []
    return _split_by_item(batch_id, items, agreement, latest)


def _split_by_column(
    items: Sequence[WireItem], agreement: Agreement, latest: dt.date
) -> ItemColumns | None:
    """The common case, every item well-formed and admitted, checked a column at a time.

    Set operations over distinct values run in C; None sends the batch down the
    per-item path, which finds and words each problem.
    """
    # One C-level pass over the items (attrgetter + zip) instead of a Python loop per column.
    (indexes, schemes, epochs, tokens, types_, group_ids, countries_, weeks, cells_, tag_lists) = (
        zip(*map(_WIRE_FIELDS, items), strict=True)
    )
    columns = ItemColumns(
        item_index=indexes,
        scheme_version=schemes,
        key_epoch=epochs,
        token=tokens,
        indicator_type=types_,
        group_id=group_ids,
        country=countries_,
        week=weeks,
        h3_cell=[cell or None for cell in cells_] if any(cells_) else [None] * len(items),
        tags=[",".join(tags) for tags in tag_lists],
    )
    # A tag holding "," would pass as two after the join: count them before it.
    tag_counts = list(map(len, tag_lists))
    rules = agreement.submit_rules
    types, countries = set(columns.indicator_type), set(columns.country)
    cells = {cell or "" for cell in columns.h3_cell}
    well_formed = (
        tuple(columns.item_index) == tuple(range(len(items)))
        and set(columns.scheme_version) == {SCHEME_VERSION}
        and set(map(len, columns.token)) == {TOKEN_BYTES}
        and set(map(len, columns.group_id)) == {GROUP_ID_BYTES}
        and len(set(columns.key_epoch)) == 1
        and columns.key_epoch[0] >= 1
        and types <= _WIRE_TYPES
        and countries <= ALPHA2
        and all(week_ok(week, latest) for week in set(columns.week))
        and all(not cell or cell_ok(cell) for cell in cells)
        and all(
            _tags_ok(joined, n) for joined, n in set(zip(columns.tags, tag_counts, strict=True))
        )
    )
    if not well_formed:
        return None
    # Only the combinations that occur: a cross product of distinct values can explode.
    combinations = set(zip(columns.indicator_type, columns.country, columns.h3_cell, strict=True))
    if all(rules.admits(t, c, cell or "") for t, c, cell in combinations):
        return columns
    return None


def _tags_ok(joined: str, count: int) -> bool:
    if count == 0:
        return not joined
    tags = joined.split(",")
    return len(tags) == count <= MAX_TAGS and len(set(tags)) == count and all(map(tag_ok, tags))


def _split_by_item(
    batch_id: str, items: Sequence[WireItem], agreement: Agreement, latest: dt.date
) -> tuple[list[ItemRow], list[Rejection]]:
    problems: list[tuple[int, str]] = []
    epochs: set[int] = set()
    rows: list[ItemRow] = []
    rejections: list[Rejection] = []
    admits = agreement.submit_rules.admits
    for position, item in enumerate(items):
        tags = tuple(item.typology_tags)
        cell = item.h3_cell
        if not (
            item.index == position
            and item.scheme_version == SCHEME_VERSION
            and len(item.token) == TOKEN_BYTES
            and item.indicator_type in _WIRE_TYPES
            and len(item.group_id) == GROUP_ID_BYTES
            and item.country in ALPHA2
            and week_ok(item.week, latest)
            and (not cell or cell_ok(cell))
            and len(tags) <= MAX_TAGS
            and all(tag_ok(t) for t in tags)
            and len(set(tags)) == len(tags)
        ):
            problems.append((position, item_problem(item, position, latest) or "malformed item"))
            continue
        epochs.add(item.key_epoch)
        if not admits(item.indicator_type, item.country, cell):
            reason, message = agreement.item_refusal(
                IndicatorType.from_wire(item.indicator_type), item.country, cell or None
            ) or ("NOT_PERMITTED", "not allowed by the agreement")
            rejections.append(Rejection(index=position, reason=reason, message=message))
            continue
        rows.append(
            ItemRow(
                position,
                item.scheme_version,
                item.key_epoch,
                item.token,
                item.indicator_type,
                item.group_id,
                item.country,
                item.week,
                cell or None,
                tags,
            )
        )
    raise_if_malformed(batch_id, problems, epochs)
    return rows, rejections
