"""ISO week labels ("2026-W47"): the only time resolution that leaves a node."""

from __future__ import annotations

import datetime as dt
import re

_WEEK = re.compile(r"([0-9]{4})-W([0-9]{2})")


def week_of(moment: dt.date | dt.datetime) -> str:
    year, week, _ = moment.isocalendar()
    return f"{year:04d}-W{week:02d}"


def parse_week(label: str) -> dt.date:
    """The Monday of an ISO week; ValueError names the problem."""
    match = _WEEK.fullmatch(label)
    if not match:
        raise ValueError(f"week {label!r} is not an ISO week like 2026-W47")
    year, week = int(match.group(1)), int(match.group(2))
    try:
        return dt.date.fromisocalendar(year, week, 1)
    except ValueError:
        raise ValueError(f"week {label!r} does not exist") from None


def weeks_between(earlier: str, later: str) -> int:
    return (parse_week(later) - parse_week(earlier)).days // 7
