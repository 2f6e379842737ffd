"""Opening storage: URLs, migrations, durability, and what SQLite files look like on disk."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import stat
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from counterflow.errors import ConfigError, ErrorCode
from hub.storage import BatchOutcome, ItemRow, Rejection, Storage, open_storage
from hub.storage.engine import create_storage_engine
from hub.storage.schema import metadata

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def items(count: int, *, epoch: int = 1, first: int = 0) -> list[ItemRow]:
    return [
        ItemRow(
            item_index=i,
            scheme_version=1,
            key_epoch=epoch,
            token=hashlib.sha256(f"t{first + i}".encode()).digest(),
            indicator_type=1,
            group_id=bytes(16),
            country="NG",
            week="2026-W47",
            h3_cell=None,
            tags=("debt",),
        )
        for i in range(count)
    ]


def submit(storage: Storage, batch_id: str, rows: list[ItemRow]) -> BatchOutcome:
    return storage.store_batch(
        partner_id="bank-a",
        sector="bank",
        batch_id=batch_id,
        content_hash=hashlib.sha256(batch_id.encode()).digest(),
        items=rows,
        rejections=[Rejection(99, "TYPE_NOT_ALLOWED", "not in the agreement")],
        received_at=NOW,
    )


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'hub.db'}"


@pytest.fixture
def loose_umask() -> Iterator[None]:
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def test_migrated_schema_matches_the_metadata(storage_url: str) -> None:
    open_storage(storage_url).close()

    engine = create_engine(storage_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            differences = compare_metadata(context, metadata)
            tables = set(inspect(conn).get_table_names())
    finally:
        engine.dispose()

    assert differences == []
    assert tables == {"alembic_version", "batches", "reports", "partner_state", "cell_counts"}


def test_reports_carry_no_secondary_index(storage_url: str) -> None:
    open_storage(storage_url).close()

    engine = create_engine(storage_url)
    try:
        indexes = inspect(engine).get_indexes("reports")
    finally:
        engine.dispose()

    assert indexes == []


def test_reopening_keeps_batches_counts_and_epochs(storage_url: str) -> None:
    first = open_storage(storage_url)
    submit(first, "b-1", items(3))
    submit(first, "b-2", items(2, epoch=2))
    first.activate_epoch("bank-a", 2)
    submit(first, "b-3", items(4, epoch=2, first=10))
    summary = first.summary()
    first.close()

    again = open_storage(storage_url)
    try:
        assert again.summary() == summary
        assert again.summary().total_items == 6
        assert again.item_count() == 6
        assert again.active_epoch("bank-a") == 2
        assert submit(again, "b-3", items(4, epoch=2, first=10)) == BatchOutcome(
            "b-3", 4, (Rejection(99, "TYPE_NOT_ALLOWED", "not in the agreement"),), duplicate=True
        )
    finally:
        again.close()


@pytest.mark.usefixtures("loose_umask")
def test_sqlite_database_files_are_private(tmp_path: Path, sqlite_url: str) -> None:
    storage = open_storage(sqlite_url)
    try:
        submit(storage, "b-1", items(2))
        files = sorted(path.name for path in tmp_path.iterdir())
        modes = {path.name: stat.S_IMODE(path.stat().st_mode) for path in tmp_path.iterdir()}
    finally:
        storage.close()

    assert files[0] == "hub.db"
    assert modes["hub.db"] == 0o600
    assert all(mode == 0o600 for mode in modes.values()), modes


def test_sqlite_connections_use_wal_and_wait_for_locks(sqlite_url: str) -> None:
    open_storage(sqlite_url).close()
    engine = create_storage_engine(sqlite_url)
    try:
        with engine.connect() as conn:
            pragmas = {
                name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
            }
    finally:
        engine.dispose()

    assert pragmas == {
        "journal_mode": "wal",
        "synchronous": 2,  # FULL: an answered batch survives a power loss
        "foreign_keys": 1,
        "busy_timeout": 5000,
    }


def test_two_storages_on_one_sqlite_file_take_turns(sqlite_url: str) -> None:
    """Two hub processes on one file: BEGIN IMMEDIATE and busy_timeout, not the Python lock."""
    stores = [open_storage(sqlite_url), open_storage(sqlite_url)]

    def work(which: int) -> int:
        return sum(
            submit(stores[which], f"s{which}-{n}", items(50, first=n * 50)).accepted
            for n in range(20)
        )

    try:
        with ThreadPoolExecutor(2) as pool:
            accepted = sum(pool.map(work, (0, 1)))
        assert accepted == 2 * 20 * 50
        assert stores[0].item_count() == accepted
        assert stores[1].summary().total_items == accepted
    finally:
        for store in stores:
            store.close()


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("mysql://hub@localhost/hub", "unsupported database"),
        ("sqlite://", "in-memory"),
        ("sqlite:///:memory:", "in-memory"),
        ("sqlite:////nonexistent-counterflow-dir/hub.db", "does not exist"),
        ("postgresql+psycopg2://hub@localhost/hub", "psycopg 3"),
        ("::not a url::", "not a valid"),
    ],
)
def test_unusable_urls_are_configuration_errors(url: str, complaint: str) -> None:
    with pytest.raises(ConfigError) as refused:
        open_storage(url)

    assert refused.value.code is ErrorCode.INVALID_CONFIG
    assert complaint in refused.value.message


def test_unreachable_postgres_is_a_configuration_error_without_the_password() -> None:
    with pytest.raises(ConfigError) as refused:
        open_storage("postgresql+psycopg://hub:s3cret-pw@127.0.0.1:1/hub?connect_timeout=5")

    assert refused.value.code is ErrorCode.INVALID_CONFIG
    assert "cannot open the database" in refused.value.message
    assert "s3cret-pw" not in str(refused.value)


def _open_in_process(url: str, ready: Any, results: Any) -> None:
    ready.wait(60)  # every process has imported everything: open at the same moment
    try:
        store = open_storage(url)
        try:
            results.put(("ok", store.item_count()))
        finally:
            store.close()
    except Exception as error:
        results.put(("failed", repr(error)))


def test_hubs_opening_one_new_database_together_migrate_it_once(storage_url: str) -> None:
    """Separate processes, as real hubs are: the database's own lock must serialise them."""
    spawn = multiprocessing.get_context("spawn")
    ready, results = spawn.Barrier(3), spawn.Queue()
    hubs = [
        spawn.Process(target=_open_in_process, args=(storage_url, ready, results)) for _ in "abc"
    ]
    for hub in hubs:
        hub.start()
    outcomes = [results.get(timeout=120) for _ in hubs]
    for hub in hubs:
        hub.join(60)

    assert outcomes == [("ok", 0)] * 3
