"""Exactly what would leave the node, read from the outbox bytes themselves.

Counts by type, country, week and tag, and which items the agreement would
refuse and why: never a raw value, never a token.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import h3

from counterflow.indicators import IndicatorType
from counterflow.v1 import submission_pb2 as pb
from node import outbox


@dataclass
class Preview:
    batches: int = 0
    items: int = 0
    by_type: Counter[str] = field(default_factory=Counter)
    by_country: Counter[str] = field(default_factory=Counter)
    by_week: Counter[str] = field(default_factory=Counter)
    by_tag: Counter[str] = field(default_factory=Counter)
    with_cell: int = 0
    fields_sent: tuple[str, ...] = ()
    would_refuse: Counter[str] = field(default_factory=Counter)
    agreement: dict[str, Any] | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "batches": self.batches,
            "items": self.items,
            "by_type": dict(self.by_type),
            "by_country": dict(self.by_country),
            "by_week": dict(sorted(self.by_week.items())),
            "by_tag": dict(self.by_tag),
            "items_with_h3_cell": self.with_cell,
            "fields_sent_per_item": list(self.fields_sent),
            "would_refuse": dict(self.would_refuse),
            "agreement": self.agreement,
        }


def preview(conn: sqlite3.Connection, agreement: pb.GetAgreementResponse | None) -> Preview:
    result = Preview(fields_sent=tuple(f.name for f in pb.TokenItem.DESCRIPTOR.fields))
    if agreement is not None:
        result.agreement = _describe(agreement)
    queue = [b for b, _, _ in outbox.pending(conn)]
    for batch in outbox.payloads(conn, queue):
        request = pb.SubmitBatchRequest.FromString(batch.payload)
        result.batches += 1
        for item in request.items:
            _count(result, item)
            if agreement is not None:
                reason = refusal(agreement, item)
                if reason:
                    result.would_refuse[reason] += 1
    return result


def _count(result: Preview, item: pb.TokenItem) -> None:
    result.items += 1
    result.by_type[IndicatorType.from_wire(item.indicator_type).value] += 1
    result.by_country[item.country] += 1
    result.by_week[item.week] += 1
    result.with_cell += int(bool(item.h3_cell))
    for tag in item.typology_tags:
        result.by_tag[tag] += 1


def refusal(agreement: pb.GetAgreementResponse, item: pb.TokenItem) -> str | None:
    """The hub's per-item rules, mirrored so a partner sees refusals before sending."""
    if item.indicator_type not in agreement.indicator_types:
        return "TYPE_NOT_ALLOWED"
    countries = set(agreement.countries)
    if "*" not in countries and item.country not in countries:
        return "COUNTRY_NOT_ALLOWED"
    if item.h3_cell and agreement.cells and not _inside(item.h3_cell, agreement.cells):
        return "CELL_NOT_ALLOWED"
    return None


def _inside(cell: str, allowed: Any) -> bool:
    resolution = h3.get_resolution(cell)
    for area in allowed:
        area_res = h3.get_resolution(area)
        if area_res <= resolution and h3.cell_to_parent(cell, area_res) == area:
            return True
    return False


def _describe(agreement: pb.GetAgreementResponse) -> dict[str, Any]:
    return {
        "agreement_id": agreement.agreement_id,
        "version": agreement.version,
        "status": agreement.status,
        "valid_from": agreement.valid_from,
        "valid_until": agreement.valid_until,
        "indicator_types": [IndicatorType.from_wire(t).value for t in agreement.indicator_types],
        "countries": list(agreement.countries),
        "active_key_epoch": agreement.active_key_epoch,
    }
