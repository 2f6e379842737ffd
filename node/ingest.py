"""Reading a partner's source into the local store, canonical and ready to tokenise.

Messy input never stops a run: a bad row, or a value that does not canonicalise,
is quarantined with its line and reason (never its value) and the run goes on.
Re-ingesting the same file changes nothing: indicators are unique per
(source, record id, type, canonical value).
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from counterflow.weeks import week_of
from node.canonical import CanonicalError, Canonicaliser
from node.sources.profile import SourceProfile
from node.sources.quarantine import QuarantineWriter
from node.sources.records import Quarantined, Record
from node.sources.registry import read_source
from node.store import transaction, utcnow_text

COMMIT_EVERY = 5000
# A report dated beyond next week is a clock or data error, not a lead.
FUTURE_TOLERANCE = dt.timedelta(days=7)

_INSERT = (
    "INSERT OR IGNORE INTO indicators (source, record_id, indicator_type, canonical, raw, "
    "country, week, h3_cell, tags, observed_at, ingested_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)"
)

_QUARANTINE = (
    "INSERT INTO quarantine (source, line, record_id, reason, detail, at) VALUES (?,?,?,?,?,?)"
)


@dataclass
class IngestReport:
    source: str
    records_read: int = 0
    indicators_new: int = 0
    indicators_seen: int = 0
    quarantined: dict[str, int] = field(default_factory=dict)
    skipped_empty: int = 0
    # Records older than the node's retention: not stored, so a purge is never undone.
    skipped_by_retention: int = 0
    unseen_fields: tuple[str, ...] = ()
    started: str = ""
    # Buffered and written with the next commit, so quarantine costs no extra transactions.
    quarantine_rows: list[tuple[object, ...]] = field(default_factory=list, repr=False)

    @property
    def quarantined_total(self) -> int:
        return sum(self.quarantined.values())


def ingest_file(
    conn: sqlite3.Connection,
    profile: SourceProfile,
    path: Path,
    quarantine: QuarantineWriter,
    *,
    retention_days: int | None = None,
    now: dt.datetime | None = None,
    progress: Callable[[int], None] | None = None,
) -> IngestReport:
    moment = now or dt.datetime.now(dt.UTC)
    oldest = moment - dt.timedelta(days=retention_days) if retention_days else None
    canonicaliser = Canonicaliser(profile.phone_region)
    stamp = utcnow_text(moment)
    report = IngestReport(source=profile.name, started=stamp)
    rows: list[tuple[object, ...]] = []
    reading = read_source(profile, path)
    for item in reading:
        if isinstance(item, Quarantined):
            _quarantine(quarantine, report, profile.name, item)
            continue
        report.records_read += 1
        if oldest is not None and item.observed_at < oldest:
            report.skipped_by_retention += 1
            continue
        if item.observed_at > moment + FUTURE_TOLERANCE:
            _quarantine(
                quarantine,
                report,
                profile.name,
                Quarantined(
                    item.line, item.record_id, "FUTURE_TIMESTAMP", "timestamp after next week"
                ),
            )
            continue
        rows.extend(_rows(item, profile.name, canonicaliser, quarantine, report, stamp))
        if len(rows) >= COMMIT_EVERY:
            _flush(conn, rows, report)
            if progress is not None:
                progress(report.records_read)
    _flush(conn, rows, report)
    report.skipped_empty = reading.stats.skipped_empty
    report.unseen_fields = tuple(reading.stats.unseen_fields)
    if progress is not None:
        progress(report.records_read)
    return report


def _rows(
    record: Record,
    source: str,
    canonicaliser: Canonicaliser,
    quarantine: QuarantineWriter,
    report: IngestReport,
    stamp: str,
) -> list[tuple[object, ...]]:
    out: list[tuple[object, ...]] = []
    week = week_of(record.observed_at)
    tags = ",".join(record.tags)
    observed = record.observed_at.isoformat()
    for indicator in record.indicators:
        try:
            canonical = canonicaliser.canonical(indicator.type, indicator.value)
        except CanonicalError as exc:
            detail = f"{indicator.type.value} value did not canonicalise"
            _quarantine(
                quarantine,
                report,
                source,
                Quarantined(record.line, record.record_id, exc.reason, detail),
            )
            continue
        out.append(
            (
                source,
                record.record_id,
                indicator.type.value,
                canonical,
                indicator.value,
                record.country,
                week,
                record.h3_cell,
                tags,
                observed,
                stamp,
            )
        )
    return out


def _flush(conn: sqlite3.Connection, rows: list[tuple[object, ...]], report: IngestReport) -> None:
    if not rows and not report.quarantine_rows:
        return
    with transaction(conn):
        before = conn.total_changes
        conn.executemany(_INSERT, rows)
        report.indicators_new += conn.total_changes - before
        conn.executemany(_QUARANTINE, report.quarantine_rows)
    report.indicators_seen += len(rows)
    rows.clear()
    report.quarantine_rows.clear()


def _quarantine(
    writer: QuarantineWriter, report: IngestReport, source: str, item: Quarantined
) -> None:
    writer.write(item, source=source)
    report.quarantined[item.reason] = report.quarantined.get(item.reason, 0) + 1
    report.quarantine_rows.append(
        (source, item.line, item.record_id, str(item.reason), item.detail, report.started)
    )
