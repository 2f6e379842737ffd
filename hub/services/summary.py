"""The operator's internal view: exact figures, and what a release would withhold.

Nothing here is publishable; it exists so an operator can see what the hub holds
and how much of it the k and dominance rules would suppress at a given k.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from counterflow.indicators import IndicatorType
from hub.storage.interface import Summary, SummaryCell

DOMINANCE_LIMIT = 0.5


def suppressed(cell: SummaryCell, k: int) -> bool:
    """k distinct partners behind a figure, and no single one above half of it."""
    return cell.partners < k or cell.max_partner_share > DOMINANCE_LIMIT


@dataclass(frozen=True)
class SummaryReport:
    summary: Summary
    k: int

    def suppressed_cells(self) -> int:
        return sum(1 for cell in self.summary.cells if suppressed(cell, self.k))

    def totals_by(self, field: str) -> dict[str, int]:
        totals: dict[str, int] = defaultdict(int)
        for cell in self.summary.cells:
            totals[_label(cell, field)] += cell.count
        return dict(sorted(totals.items()))

    def as_json(self) -> dict[str, Any]:
        s = self.summary
        return {
            "internal": True,
            "notice": "INTERNAL: exact counts for hub operators; not for release",
            "total_items": s.total_items,
            "partners": s.partners,
            "batches": s.batches,
            "cross_sector_tokens": s.cross_sector_tokens,
            "by_type": self.totals_by("indicator_type"),
            "by_country": self.totals_by("country"),
            "by_sector": self.totals_by("sector"),
            "by_week": self.totals_by("week"),
            "cells": len(s.cells),
            "release_k": self.k,
            "cells_suppressed_at_k": self.suppressed_cells(),
        }


def _label(cell: SummaryCell, field: str) -> str:
    if field == "indicator_type":
        return IndicatorType.from_wire(cell.indicator_type).value
    return str(getattr(cell, field))
