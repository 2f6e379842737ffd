"""The node's local SQLite store: the only place a raw value and its token meet.

It holds what the node ingested (raw and canonical values with their coarse
context), which items went into which batch under which key epoch (so the node
alone can read what the hub later tells it about a token), and the outbox of
batches not yet acknowledged. The file is created 0600 and everything in it is
purged by the node's retention setting.
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS indicators (
    id INTEGER PRIMARY KEY,
    source TEXT NOT NULL,
    record_id TEXT NOT NULL,
    indicator_type TEXT NOT NULL,
    canonical TEXT NOT NULL,
    raw TEXT NOT NULL,
    country TEXT NOT NULL,
    week TEXT NOT NULL,
    h3_cell TEXT,
    tags TEXT NOT NULL,
    observed_at TEXT NOT NULL,
    ingested_at TEXT NOT NULL,
    UNIQUE (source, record_id, indicator_type, canonical)
);
CREATE TABLE IF NOT EXISTS batch_items (
    indicator_id INTEGER NOT NULL REFERENCES indicators(id) ON DELETE CASCADE,
    key_epoch INTEGER NOT NULL,
    batch_id TEXT NOT NULL,
    item_index INTEGER NOT NULL,
    token BLOB NOT NULL,
    PRIMARY KEY (indicator_id, key_epoch)
);
CREATE INDEX IF NOT EXISTS batch_items_token ON batch_items (token);
CREATE TABLE IF NOT EXISTS outbox (
    batch_id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL UNIQUE,
    key_epoch INTEGER NOT NULL,
    item_count INTEGER NOT NULL,
    payload BLOB NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'acked', 'refused')),
    created_at TEXT NOT NULL,
    acked_at TEXT,
    accepted INTEGER,
    rejected INTEGER,
    duplicate INTEGER,
    refusal TEXT
);
CREATE TABLE IF NOT EXISTS rejections (
    batch_id TEXT NOT NULL,
    item_index INTEGER NOT NULL,
    reason TEXT NOT NULL,
    message TEXT NOT NULL,
    PRIMARY KEY (batch_id, item_index)
);
CREATE TABLE IF NOT EXISTS quarantine (
    id INTEGER PRIMARY KEY,
    source TEXT NOT NULL,
    line INTEGER NOT NULL,
    record_id TEXT,
    reason TEXT NOT NULL,
    detail TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def _create_private(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    os.chmod(path, 0o600)


def connect(path: Path) -> sqlite3.Connection:
    """Open (creating 0600) the store; every connection gets WAL and foreign keys."""
    _create_private(path)
    conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    # Purged raw values must not linger in free pages (off by default in some builds).
    conn.execute("PRAGMA secure_delete=ON")
    conn.executescript(SCHEMA)
    for suffix in ("-wal", "-shm"):
        side = path.with_name(path.name + suffix)
        if side.exists():
            os.chmod(side, 0o600)
    return conn


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        # SQLite may already have rolled back (disk full, I/O error): keep the real error.
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def utcnow_text(now: dt.datetime | None = None) -> str:
    return (now or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds")


def purge(conn: sqlite3.Connection, retention_days: int, now: dt.datetime | None = None) -> int:
    """Delete what is older than retention; acked batches go with their items."""
    cutoff = ((now or dt.datetime.now(dt.UTC)) - dt.timedelta(days=retention_days)).isoformat()
    with transaction(conn):
        removed = conn.execute("DELETE FROM indicators WHERE observed_at < ?", (cutoff,)).rowcount
        conn.execute("DELETE FROM quarantine WHERE at < ?", (cutoff,))
        conn.execute(
            "DELETE FROM rejections WHERE batch_id IN "
            "(SELECT batch_id FROM outbox WHERE state != 'pending' AND created_at < ?)",
            (cutoff,),
        )
        conn.execute("DELETE FROM outbox WHERE state != 'pending' AND created_at < ?", (cutoff,))
    return int(removed)
