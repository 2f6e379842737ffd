"""The node's local store: private on disk, and purged by retention without losing unsent work."""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import stat
from pathlib import Path

import pytest

from node.store import connect, purge, transaction, utcnow_text

NOW = dt.datetime(2026, 11, 18, 12, 0, tzinfo=dt.UTC)
OLD = (NOW - dt.timedelta(days=40)).isoformat()
RECENT = (NOW - dt.timedelta(days=5)).isoformat()


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _indicator(conn: sqlite3.Connection, record_id: str, observed_at: str) -> int:
    cursor = conn.execute(
        "INSERT INTO indicators (source, record_id, indicator_type, canonical, raw, country, "
        "week, h3_cell, tags, observed_at, ingested_at) "
        "VALUES ('src', ?, 'phone', ?, ?, 'GB', '2026-W47', NULL, '', ?, ?)",
        (record_id, f"+4479111234{record_id[-2:]}", record_id, observed_at, RECENT),
    )
    assert cursor.lastrowid is not None
    return cursor.lastrowid


def _batch(conn: sqlite3.Connection, batch_id: str, seq: int, state: str, created: str) -> None:
    conn.execute(
        "INSERT INTO outbox (batch_id, seq, key_epoch, item_count, payload, state, created_at) "
        "VALUES (?, ?, 1, 1, x'00', ?, ?)",
        (batch_id, seq, state, created),
    )
    conn.execute(
        "INSERT INTO rejections (batch_id, item_index, reason, message) "
        "VALUES (?, 0, 'COUNTRY_NOT_ALLOWED', 'm')",
        (batch_id,),
    )


def _column(conn: sqlite3.Connection, sql: str) -> list[object]:
    return [row[0] for row in conn.execute(sql)]


def test_the_store_and_its_side_files_are_private(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        path = tmp_path / "home" / "node.db"
        conn = connect(path)
        try:
            conn.execute("INSERT INTO meta (key, value) VALUES ('k', 'v')")
            assert _mode(path) == 0o600
            sides = [path.with_name(path.name + s) for s in ("-wal", "-shm")]
            assert all(side.exists() for side in sides)
            assert [_mode(side) for side in sides] == [0o600, 0o600]
        finally:
            conn.close()
    finally:
        os.umask(old)


def test_an_existing_loose_store_is_tightened(tmp_path: Path) -> None:
    path = tmp_path / "node.db"
    path.touch(mode=0o644)
    os.chmod(path, 0o644)
    connect(path).close()
    assert _mode(path) == 0o600


def test_connect_sets_wal_and_foreign_keys_and_is_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "node.db"
    connect(path).close()
    conn = connect(path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        tables = set(_column(conn, "SELECT name FROM sqlite_master WHERE type = 'table'"))
        assert {"indicators", "batch_items", "outbox", "rejections", "quarantine", "meta"} <= tables
    finally:
        conn.close()


def test_a_failed_transaction_rolls_back(tmp_path: Path) -> None:
    conn = connect(tmp_path / "node.db")
    with pytest.raises(RuntimeError), transaction(conn):
        conn.execute("INSERT INTO meta (key, value) VALUES ('k', 'v')")
        raise RuntimeError("boom")
    assert conn.execute("SELECT count(*) FROM meta").fetchone()[0] == 0
    with transaction(conn):
        conn.execute("INSERT INTO meta (key, value) VALUES ('k', 'v')")
    assert conn.execute("SELECT count(*) FROM meta").fetchone()[0] == 1
    conn.close()


def test_utcnow_text_is_seconds_in_utc() -> None:
    assert utcnow_text(NOW) == "2026-11-18T12:00:00+00:00"
    assert utcnow_text().endswith("+00:00")


def test_purge_removes_old_indicators_with_their_batch_links(tmp_path: Path) -> None:
    conn = connect(tmp_path / "node.db")
    old_id = _indicator(conn, "r-01", OLD)
    new_id = _indicator(conn, "r-02", RECENT)
    conn.executemany(
        "INSERT INTO batch_items (indicator_id, key_epoch, batch_id, item_index, token) "
        "VALUES (?, 1, 'b', ?, x'01')",
        [(old_id, 0), (new_id, 1)],
    )
    assert purge(conn, 30, now=NOW) == 1
    assert _column(conn, "SELECT record_id FROM indicators") == ["r-02"]
    assert _column(conn, "SELECT indicator_id FROM batch_items") == [new_id]
    conn.close()


def test_purge_keeps_pending_batches_however_old(tmp_path: Path) -> None:
    conn = connect(tmp_path / "node.db")
    _batch(conn, "old-pending", 1, "pending", OLD)
    _batch(conn, "old-acked", 2, "acked", OLD)
    _batch(conn, "old-refused", 3, "refused", OLD)
    _batch(conn, "new-acked", 4, "acked", RECENT)
    _batch(conn, "new-pending", 5, "pending", RECENT)
    purge(conn, 30, now=NOW)
    assert _column(conn, "SELECT batch_id FROM outbox ORDER BY seq") == [
        "old-pending",
        "new-acked",
        "new-pending",
    ]
    assert _column(conn, "SELECT batch_id FROM rejections ORDER BY batch_id") == [
        "new-acked",
        "new-pending",
        "old-pending",
    ]
    conn.close()


def test_purge_removes_old_quarantine_entries(tmp_path: Path) -> None:
    conn = connect(tmp_path / "node.db")
    conn.executemany(
        "INSERT INTO quarantine (source, line, record_id, reason, detail, at) "
        "VALUES ('src', ?, NULL, 'PHONE_INVALID', 'd', ?)",
        [(2, OLD), (3, RECENT)],
    )
    purge(conn, 30, now=NOW)
    assert _column(conn, "SELECT line FROM quarantine") == [3]
    conn.close()


def test_purge_within_retention_removes_nothing(tmp_path: Path) -> None:
    conn = connect(tmp_path / "node.db")
    _indicator(conn, "r-01", OLD)
    _batch(conn, "old-acked", 1, "acked", OLD)
    assert purge(conn, 365, now=NOW) == 0
    assert conn.execute("SELECT count(*) FROM indicators").fetchone()[0] == 1
    assert conn.execute("SELECT count(*) FROM outbox").fetchone()[0] == 1
    conn.close()
