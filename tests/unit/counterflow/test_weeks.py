"""ISO week labels, including the years with 53 weeks and the days that belong to the next year."""

from __future__ import annotations

import datetime as dt

import pytest

from counterflow.weeks import parse_week, week_of, weeks_between


@pytest.mark.parametrize(
    ("day", "label"),
    [
        (dt.date(2026, 11, 18), "2026-W47"),
        (dt.date(2026, 12, 31), "2026-W53"),  # 2026 starts on a Thursday: 53 weeks
        (dt.date(2027, 1, 3), "2026-W53"),  # a Sunday in January still in last year's week
        (dt.date(2027, 1, 4), "2027-W01"),
        (dt.date(2025, 12, 29), "2026-W01"),  # a Monday in December already in next year's
        (dt.date(2024, 12, 30), "2025-W01"),
        (dt.date(2021, 1, 1), "2020-W53"),
        (dt.date(2026, 1, 5), "2026-W02"),
    ],
)
def test_week_of_follows_iso_8601(day: dt.date, label: str) -> None:
    assert week_of(day) == label


def test_week_of_takes_datetimes() -> None:
    moment = dt.datetime(2026, 12, 31, 23, 59, tzinfo=dt.UTC)
    assert week_of(moment) == "2026-W53"


@pytest.mark.parametrize(
    ("label", "monday"),
    [
        ("2026-W47", dt.date(2026, 11, 16)),
        ("2026-W01", dt.date(2025, 12, 29)),
        ("2026-W53", dt.date(2026, 12, 28)),
        ("2020-W53", dt.date(2020, 12, 28)),
    ],
)
def test_parse_week_gives_the_monday(label: str, monday: dt.date) -> None:
    assert parse_week(label) == monday
    assert week_of(parse_week(label)) == label


@pytest.mark.parametrize(
    "label", ["2026-47", "2026W47", "2026-w47", "26-W47", "2026-W7", " 2026-W47", ""]
)
def test_parse_week_refuses_other_shapes(label: str) -> None:
    with pytest.raises(ValueError, match="is not an ISO week like 2026-W47"):
        parse_week(label)


@pytest.mark.parametrize("label", ["2025-W53", "2026-W54", "2026-W00"])
def test_parse_week_refuses_weeks_that_do_not_exist(label: str) -> None:
    with pytest.raises(ValueError, match=f"week '{label}' does not exist"):
        parse_week(label)


@pytest.mark.parametrize(
    ("earlier", "later", "weeks"),
    [
        ("2026-W47", "2026-W47", 0),
        ("2026-W47", "2026-W48", 1),
        ("2026-W52", "2027-W01", 2),  # across W53
        ("2025-W52", "2026-W01", 1),  # 2025 has 52
        ("2026-W48", "2026-W47", -1),
    ],
)
def test_weeks_between(earlier: str, later: str, weeks: int) -> None:
    assert weeks_between(earlier, later) == weeks
