"""Shape checks on submitted items, before any agreement is consulted.

A malformed item means the sender's software is broken or hostile, so the whole
batch is refused (INVALID_ARGUMENT) with a field violation per bad item; the
agreement's refusals, by contrast, are per item and the rest is stored.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Protocol

import h3

from counterflow.countries import ALPHA2
from counterflow.errors import ErrorCode, InputError
from counterflow.indicators import IndicatorType
from counterflow.tokens import (
    GROUP_ID_BYTES,
    MAX_H3_RESOLUTION,
    MAX_TAGS,
    SCHEME_VERSION,
    TAG_PATTERN,
    TOKEN_BYTES,
)
from counterflow.weeks import parse_week

BATCH_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
MAX_VIOLATIONS_REPORTED = 20
_WIRE_TYPES = frozenset(t.wire for t in IndicatorType)


class WireItem(Protocol):
    """The fields of counterflow.v1.TokenItem the hub reads (duck-typed for speed)."""

    @property
    def index(self) -> int: ...
    @property
    def scheme_version(self) -> int: ...
    @property
    def key_epoch(self) -> int: ...
    @property
    def token(self) -> bytes: ...
    @property
    def indicator_type(self) -> int: ...
    @property
    def group_id(self) -> bytes: ...
    @property
    def country(self) -> str: ...
    @property
    def week(self) -> str: ...
    @property
    def h3_cell(self) -> str: ...
    @property
    def typology_tags(self) -> Sequence[str]: ...


@lru_cache(maxsize=4096)
def _week_monday(label: str) -> dt.date | None:
    try:
        return parse_week(label)
    except ValueError:
        return None


@lru_cache(maxsize=65536)
def _cell_problem(cell: str) -> str | None:
    if cell != cell.lower():
        return "must be written in lower-case hex"
    if not h3.is_valid_cell(cell):
        return "is not a valid H3 cell"
    if h3.get_resolution(cell) > MAX_H3_RESOLUTION:
        return f"is finer than resolution {MAX_H3_RESOLUTION}"
    return None


@lru_cache(maxsize=1024)
def tag_ok(tag: str) -> bool:
    return TAG_PATTERN.fullmatch(tag) is not None


def cell_ok(cell: str) -> bool:
    return _cell_problem(cell) is None


def week_ok(label: str, latest: dt.date) -> bool:
    monday = _week_monday(label)
    return monday is not None and monday <= latest


def item_problem(item: WireItem, position: int, latest_week: dt.date) -> str | None:
    """The first thing wrong with one item, as text safe to send back; None if fine."""
    if item.index != position:
        return f"index {item.index} does not match position {position}"
    if item.scheme_version != SCHEME_VERSION:
        return f"token scheme version {item.scheme_version} is not supported (want 1)"
    if item.key_epoch < 1:
        return f"key epoch {item.key_epoch} is not valid (epochs start at 1)"
    if len(item.token) != TOKEN_BYTES:
        return f"token must be {TOKEN_BYTES} bytes, got {len(item.token)}"
    if item.indicator_type not in _WIRE_TYPES:
        return f"unknown indicator type {item.indicator_type}"
    if len(item.group_id) != GROUP_ID_BYTES:
        return f"group id must be {GROUP_ID_BYTES} bytes, got {len(item.group_id)}"
    if item.country not in ALPHA2:
        # Malformed text is never echoed: a broken node might have put a raw value there.
        return f"country ({len(item.country)} characters) is not an ISO 3166-1 alpha-2 code"
    monday = _week_monday(item.week)
    if monday is None:
        return f"week ({len(item.week)} characters) is not an ISO week like 2026-W47"
    if monday > latest_week:
        return f"week {item.week} is in the future"
    if item.h3_cell:
        problem = _cell_problem(item.h3_cell)
        if problem:
            return f"h3 cell {problem}"
    return _tags_problem(list(item.typology_tags))


def _tags_problem(tags: list[str]) -> str | None:
    if len(tags) > MAX_TAGS:
        return f"at most {MAX_TAGS} typology tags, got {len(tags)}"
    if len(set(tags)) != len(tags):
        return "typology tags repeat"
    for tag in tags:
        if not tag_ok(tag):
            return f"a typology tag ({len(tag)} characters) is not lower-case [a-z0-9_.:-]"
    return None


def check_batch_envelope(batch_id: str, item_count: int, max_items: int) -> None:
    if not BATCH_ID_PATTERN.fullmatch(batch_id):
        raise InputError(
            ErrorCode.INVALID_REQUEST,
            "batch id must be 1-64 characters of A-Z, a-z, 0-9, '_' and '-'",
        )
    if item_count == 0:
        raise InputError(
            ErrorCode.BATCH_EMPTY, f"batch {batch_id} has no items", {"batch_id": batch_id}
        )
    if item_count > max_items:
        raise InputError(
            ErrorCode.BATCH_TOO_LARGE,
            f"batch {batch_id} has {item_count} items; the hub accepts at most {max_items}",
            {"batch_id": batch_id, "max_items": str(max_items)},
        )


def raise_if_malformed(batch_id: str, problems: list[tuple[int, str]], epochs: set[int]) -> None:
    violations = [(f"items[{i}]", text) for i, text in problems[:MAX_VIOLATIONS_REPORTED]]
    if len(epochs) > 1:
        violations.insert(0, ("items.key_epoch", "all items of a batch must share one key epoch"))
    if not violations:
        return
    count = len(problems) + (1 if len(epochs) > 1 else 0)
    raise InputError(
        ErrorCode.INVALID_ITEM,
        f"batch {batch_id} refused: {count} malformed item(s); first: {violations[0][1]}",
        {"batch_id": batch_id, "malformed": str(len(problems))},
        violations,
    )
