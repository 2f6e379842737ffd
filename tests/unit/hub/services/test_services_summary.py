"""The operator's summary: exact totals, and which cells a release at k would withhold."""

from __future__ import annotations

import pytest

from counterflow.v1 import submission_pb2 as pb
from hub.services.summary import DOMINANCE_LIMIT, SummaryReport, suppressed
from hub.storage.interface import Summary, SummaryCell


def _cell(
    *,
    kind: int = pb.INDICATOR_TYPE_PHONE,
    country: str = "GB",
    sector: str = "bank",
    week: str = "2026-W47",
    count: int = 10,
    partners: int = 5,
    share: float = 0.2,
) -> SummaryCell:
    return SummaryCell(kind, country, sector, week, count, partners, share)


SUMMARY = Summary(
    cells=(
        _cell(count=10, partners=5, share=0.2),
        _cell(kind=pb.INDICATOR_TYPE_EMAIL, country="NL", count=4, partners=2, share=0.5),
        _cell(
            kind=pb.INDICATOR_TYPE_IBAN,
            sector="ngo",
            week="2026-W46",
            count=7,
            partners=3,
            share=0.6,
        ),
        _cell(kind=pb.INDICATOR_TYPE_CRYPTO_WALLET, country="NG", count=1, partners=1, share=1.0),
    ),
    total_items=22,
    partners=6,
    batches=9,
    cross_sector_tokens=2,
)


@pytest.mark.parametrize(
    ("partners", "share", "k", "hidden"),
    [
        (5, 0.2, 5, False),  # exactly k partners, none dominant
        (4, 0.2, 5, True),  # fewer than k
        (5, 0.5, 5, False),  # half is not above half
        (5, 0.51, 5, True),  # one partner above half
        (10, 1.0, 3, True),  # dominance alone is enough
        (1, 1.0, 1, True),
    ],
)
def test_suppression_applies_k_and_dominance(
    partners: int, share: float, k: int, hidden: bool
) -> None:
    assert suppressed(_cell(partners=partners, share=share), k) is hidden


def test_the_dominance_limit_is_half() -> None:
    assert DOMINANCE_LIMIT == 0.5


def test_totals_are_grouped_by_label_and_sorted() -> None:
    report = SummaryReport(SUMMARY, k=3)
    assert report.totals_by("indicator_type") == {"crypto": 1, "email": 4, "iban": 7, "phone": 10}
    assert list(report.totals_by("country")) == ["GB", "NG", "NL"]
    assert report.totals_by("week") == {"2026-W46": 7, "2026-W47": 15}


def test_as_json_is_marked_internal_and_counts_suppressed_cells() -> None:
    data = SummaryReport(SUMMARY, k=3).as_json()
    assert data == {
        "internal": True,
        "notice": "INTERNAL: exact counts for hub operators; not for release",
        "total_items": 22,
        "partners": 6,
        "batches": 9,
        "cross_sector_tokens": 2,
        "by_type": {"crypto": 1, "email": 4, "iban": 7, "phone": 10},
        "by_country": {"GB": 17, "NG": 1, "NL": 4},
        "by_sector": {"bank": 15, "ngo": 7},
        "by_week": {"2026-W46": 7, "2026-W47": 15},
        "cells": 4,
        "release_k": 3,
        # email (2 partners < 3), iban (0.6 share), crypto (1 partner)
        "cells_suppressed_at_k": 3,
    }


def test_a_higher_k_suppresses_more() -> None:
    assert SummaryReport(SUMMARY, k=2).suppressed_cells() == 2
    assert SummaryReport(SUMMARY, k=6).suppressed_cells() == 4


def test_an_empty_summary() -> None:
    empty = Summary(cells=(), total_items=0, partners=0, batches=0, cross_sector_tokens=0)
    data = SummaryReport(empty, k=5).as_json()
    assert data["by_type"] == {}
    assert data["cells"] == 0
    assert data["cells_suppressed_at_k"] == 0
