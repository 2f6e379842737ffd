"""Ingest: a partner's file into the store; bad rows quarantined by line and reason, never value."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from node.ingest import IngestReport, ingest_file
from node.sources.profile import SourceProfile, load_profile
from node.sources.quarantine import QuarantineWriter
from node.store import connect

NOW = dt.datetime(2026, 11, 18, 12, 0, tzinfo=dt.UTC)
BAD_PHONE = "+44 7911 12345"  # parses, but is one digit short of a UK mobile

PROFILE = """\
schema_version: 1
name: test-payments
reader: csv
record_id: txn_id
timestamp: {field: booked_at, format: iso}
country: {field: country, default: GB}
phone_region: GB
indicators:
  - {field: phone, type: phone}
  - {field: email, type: email}
tags: [bank-transfer]
"""

ROWS = f"""\
txn_id,booked_at,phone,email,country
T-1,2026-11-16T09:00:00Z,+44 7911 123456,a.one@example.org,GB
T-2,2026-11-17T10:00:00Z,+234 803 123 4567,,NG
T-3,2026-11-17T11:00:00Z,{BAD_PHONE},b.two@example.org,GB
T-4,2026-12-20T11:00:00Z,+40 721 234 567,,RO
T-5,2026-11-10T08:00:00Z,07911 123456,,
"""


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    connection = connect(tmp_path / "node.db")
    try:
        yield connection
    finally:
        connection.close()


@pytest.fixture
def profile(tmp_path: Path) -> SourceProfile:
    path = tmp_path / "profile.yaml"
    path.write_text(PROFILE)
    return load_profile(path)


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "payments.csv"
    path.write_text(ROWS)
    return path


def _ingest(
    conn: sqlite3.Connection, profile: SourceProfile, source: Path, quarantine: Path
) -> IngestReport:
    with QuarantineWriter(quarantine, clock=lambda: NOW) as writer:
        return ingest_file(conn, profile, source, writer, now=NOW)


def test_ingest_stores_canonical_values_with_coarse_context(
    tmp_path: Path, conn: sqlite3.Connection, profile: SourceProfile, source: Path
) -> None:
    progress: list[int] = []
    with QuarantineWriter(tmp_path / "q.jsonl", clock=lambda: NOW) as writer:
        report = ingest_file(conn, profile, source, writer, now=NOW, progress=progress.append)
    assert report.source == "test-payments"
    assert report.records_read == 5  # the future row is read, then quarantined
    assert report.indicators_new == 5
    assert report.indicators_seen == 5
    assert report.quarantined == {"PHONE_INVALID": 1, "FUTURE_TIMESTAMP": 1}
    assert report.quarantined_total == 2
    assert report.started == "2026-11-18T12:00:00+00:00"
    assert progress == [5]
    rows = conn.execute(
        "SELECT record_id, indicator_type, canonical, country, week, tags FROM indicators "
        "ORDER BY id"
    ).fetchall()
    assert rows == [
        ("T-1", "phone", "+447911123456", "GB", "2026-W47", "bank-transfer"),
        ("T-1", "email", "a.one@example.org", "GB", "2026-W47", "bank-transfer"),
        ("T-2", "phone", "+2348031234567", "NG", "2026-W47", "bank-transfer"),
        ("T-3", "email", "b.two@example.org", "GB", "2026-W47", "bank-transfer"),
        ("T-5", "phone", "+447911123456", "GB", "2026-W46", "bank-transfer"),
    ]


def test_ingesting_the_same_file_again_adds_nothing(
    tmp_path: Path, conn: sqlite3.Connection, profile: SourceProfile, source: Path
) -> None:
    first = _ingest(conn, profile, source, tmp_path / "q.jsonl")
    again = _ingest(conn, profile, source, tmp_path / "q.jsonl")
    assert (first.indicators_new, first.indicators_seen) == (5, 5)
    assert (again.indicators_new, again.indicators_seen) == (0, 5)
    assert conn.execute("SELECT count(*) FROM indicators").fetchone()[0] == 5


def test_a_new_row_in_a_grown_file_is_the_only_new_indicator(
    tmp_path: Path, conn: sqlite3.Connection, profile: SourceProfile, source: Path
) -> None:
    _ingest(conn, profile, source, tmp_path / "q.jsonl")
    with source.open("a") as out:
        out.write("T-6,2026-11-18T08:00:00Z,+44 20 7946 0000,,GB\n")
    report = _ingest(conn, profile, source, tmp_path / "q.jsonl")
    assert (report.indicators_new, report.indicators_seen) == (1, 6)


def test_quarantine_names_line_and_reason_in_file_and_table_never_the_value(
    tmp_path: Path, conn: sqlite3.Connection, profile: SourceProfile, source: Path
) -> None:
    quarantine = tmp_path / "quarantine" / "q.jsonl"
    _ingest(conn, profile, source, quarantine)
    entries = [json.loads(line) for line in quarantine.read_text().splitlines()]
    assert [(e["line"], e["record_id"], e["reason"]) for e in entries] == [
        (4, "T-3", "PHONE_INVALID"),
        (5, "T-4", "FUTURE_TIMESTAMP"),
    ]
    assert all(e["source"] == "test-payments" for e in entries)
    table = conn.execute(
        "SELECT source, line, record_id, reason, detail, at FROM quarantine ORDER BY line"
    ).fetchall()
    assert [(t[1], t[2], t[3]) for t in table] == [
        (4, "T-3", "PHONE_INVALID"),
        (5, "T-4", "FUTURE_TIMESTAMP"),
    ]
    assert table[0][4] == "phone value did not canonicalise"
    assert table[0][5] == "2026-11-18T12:00:00+00:00"
    text = quarantine.read_text() + json.dumps(table)
    for raw in (BAD_PHONE, BAD_PHONE.replace(" ", ""), "+40 721 234 567", "+40721234567"):
        assert raw not in text
    # The quarantined phone's row still gave its email: only the bad value is set aside.
    assert conn.execute(
        "SELECT indicator_type FROM indicators WHERE record_id = 'T-3'"
    ).fetchall() == [("email",)]


def test_a_timestamp_within_a_week_is_not_in_the_future(
    tmp_path: Path, conn: sqlite3.Connection, profile: SourceProfile
) -> None:
    source = tmp_path / "soon.csv"
    source.write_text(
        "txn_id,booked_at,phone,email,country\n"
        "S-1,2026-11-25T11:59:00Z,+44 7911 123456,,GB\n"
        "S-2,2026-11-25T12:01:00Z,+44 7911 123457,,GB\n"
    )
    report = _ingest(conn, profile, source, tmp_path / "q.jsonl")
    assert report.indicators_new == 1
    assert report.quarantined == {"FUTURE_TIMESTAMP": 1}


def test_reader_quarantine_and_empty_rows_are_counted(
    tmp_path: Path, conn: sqlite3.Connection, profile: SourceProfile
) -> None:
    source = tmp_path / "messy.csv"
    source.write_text(
        "txn_id,booked_at,phone,email,country\n"
        "M-1,not a date,+44 7911 123456,,GB\n"
        "M-2,2026-11-16T09:00:00Z,,,GB\n"
        "M-3,2026-11-16T09:00:00Z,+44 7911 123456,,XX\n"
    )
    quarantine = tmp_path / "q.jsonl"
    report = _ingest(conn, profile, source, quarantine)
    assert report.quarantined == {"BAD_TIMESTAMP": 1, "BAD_COUNTRY": 1}
    assert report.skipped_empty == 1
    assert report.indicators_new == 0
    lines = [json.loads(x)["line"] for x in quarantine.read_text().splitlines()]
    assert lines == [2, 4]
    assert conn.execute("SELECT line FROM quarantine ORDER BY line").fetchall() == [(2,), (4,)]
