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
from hub.storage.interface import BatchOutcome, ItemRow, Rejection, Storage

_WIRE_TYPES = frozenset(t.wire for t in IndicatorType)


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
) -> tuple[list[ItemRow], list[Rejection]]:
    fast = _split_by_column(items, agreement, latest)
    if fast is not None:
        return fast, []
    return _split_by_item(batch_id, items, agreement, latest)


def _split_by_column(
    items: Sequence[WireItem], agreement: Agreement, latest: dt.date
) -> list[ItemRow] | None:
    """The common case, every item well-formed and admitted, checked a column at a time.

    Set operations over distinct values run in C; None sends the batch down the
    per-item path, which finds and words each problem.
    """
    tags = [tuple(item.typology_tags) for item in items]
    types = [item.indicator_type for item in items]
    countries = [item.country for item in items]
    weeks = [item.week for item in items]
    cells = [item.h3_cell for item in items]
    tokens = [item.token for item in items]
    group_ids = [item.group_id for item in items]
    epochs = [item.key_epoch for item in items]
    rules = agreement.submit_rules
    distinct_types, distinct_countries, distinct_cells = set(types), set(countries), set(cells)
    if not (
        [item.index for item in items] == list(range(len(items)))
        and {item.scheme_version for item in items} == {SCHEME_VERSION}
        and set(map(len, tokens)) == {TOKEN_BYTES}
        and set(map(len, group_ids)) == {GROUP_ID_BYTES}
        and len(set(epochs)) == 1
        and distinct_types <= _WIRE_TYPES
        and distinct_countries <= ALPHA2
        and all(week_ok(week, latest) for week in set(weeks))
        and all(not cell or cell_ok(cell) for cell in distinct_cells)
        and all(_tags_ok(t) for t in set(tags))
        and all(
            rules.admits(t, c, cell)
            for t in distinct_types
            for c in distinct_countries
            for cell in distinct_cells
        )
    ):
        return None
    scheme = [SCHEME_VERSION] * len(items)
    none_cells = [cell or None for cell in cells]
    return list(
        map(
            ItemRow,
            range(len(items)),
            scheme,
            epochs,
            tokens,
            types,
            group_ids,
            countries,
            weeks,
            none_cells,
            tags,
        )
    )


def _tags_ok(tags: tuple[str, ...]) -> bool:
    return len(tags) <= MAX_TAGS and len(set(tags)) == len(tags) and all(map(tag_ok, tags))


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
