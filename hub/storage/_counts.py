"""Per-cell tallies: aggregated in Python so a batch costs one upsert per distinct cell."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from hub.storage.interface import ALL_TAGS, ItemColumns

# (indicator_type, country, week, tag)
CellKey = tuple[int, str, str, str]


def tally_items(items: ItemColumns) -> Counter[CellKey]:
    """Every item under tag "" and once under each distinct tag it carries.

    Grouping runs in C (Counter over zip); Python then loops per distinct group only.
    """
    groups: Counter[tuple[int, str, str, str]] = Counter(
        zip(items.indicator_type, items.country, items.week, items.tags, strict=True)
    )
    tally: Counter[CellKey] = Counter()
    for (indicator_type, country, week, joined), count in groups.items():
        tally[(indicator_type, country, week, ALL_TAGS)] += count
        if not joined:
            continue
        for tag in set(joined.split(",")):
            check_tag(tag)
            tally[(indicator_type, country, week, tag)] += count
    return tally


def tally_tag_groups(rows: Iterable[tuple[int, str, str, str, int]]) -> Counter[CellKey]:
    """Per-tag tallies from (type, country, week, joined tags, count) groups of stored rows."""
    tally: Counter[CellKey] = Counter()
    for indicator_type, country, week, joined, count in rows:
        for tag in set(joined.split(",")):
            tally[(indicator_type, country, week, tag)] += count
    return tally


def check_tag(tag: str) -> None:
    """Tags are stored joined with ","; "" is the all-items tag."""
    if not tag or "," in tag:
        raise ValueError("a typology tag must be non-empty and must not contain ','")


CountRow = tuple[int, str, str, str, str, str, int]


def count_rows(tally: Counter[CellKey], sector: str, partner_id: str) -> list[CountRow]:
    """cell_counts rows, in column order, sorted one fixed way.

    Concurrent PostgreSQL transactions upserting overlapping cells lock rows in
    statement order; one global order (sector and partner are constant within a
    batch) means they wait for each other instead of deadlocking.
    """
    return [
        (indicator_type, country, sector, week, tag, partner_id, tally[key])
        for key in sorted(tally)
        for indicator_type, country, week, tag in (key,)
    ]
