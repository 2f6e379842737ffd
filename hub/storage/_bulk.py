"""Driver-level bulk paths for `reports`, the only per-item write on ingest.

SQLAlchemy Core spends about 45% of an insert in per-row parameter handling
(measured ~114-134k rows/s into SQLite against ~250-290k/s for raw executemany;
~35k/s against ~290k/s for binary COPY into PostgreSQL). These functions build
one plain tuple per item and hand the list to the driver, inside the
transaction the caller's SQLAlchemy connection already holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from itertools import repeat
from typing import Any, Protocol

from psycopg.types.string import BytesBinaryDumper
from sqlalchemy.engine import Connection

from hub.storage._counts import CountRow
from hub.storage.interface import ItemColumns
from hub.storage.schema import REPORT_COLUMNS, batches, cell_counts, partner_state, reports


class ReportWriter(Protocol):
    def __call__(
        self,
        connection: Connection,
        *,
        partner_id: str,
        batch_id: str,
        sector: str,
        received_at: datetime,
        items: ItemColumns,
    ) -> None: ...


# Identifiers only, all from schema.py: no value is ever formatted into SQL here.
_COLUMN_LIST = ", ".join(REPORT_COLUMNS)
_SQLITE_INSERT = (
    f"INSERT INTO {reports.name} ({_COLUMN_LIST}) "  # noqa: S608
    f"VALUES ({', '.join('?' for _ in REPORT_COLUMNS)})"
)
_POSTGRES_COPY = f"COPY {reports.name} ({_COLUMN_LIST}) FROM STDIN (FORMAT BINARY)"


def _upsert_counts(placeholder: str) -> str:
    columns = [column.name for column in cell_counts.columns]
    key = [column.name for column in cell_counts.primary_key.columns]
    return (
        f"INSERT INTO {cell_counts.name} ({', '.join(columns)}) "  # noqa: S608
        f"VALUES ({', '.join(placeholder for _ in columns)}) "
        f"ON CONFLICT ({', '.join(key)}) "
        f"DO UPDATE SET count = {cell_counts.name}.count + excluded.count"
    )


# Keyed by dialect name; the placeholder is each driver's positional paramstyle.
_UPSERT_COUNTS = {"sqlite": _upsert_counts("?"), "postgresql": _upsert_counts("%s")}
# Binary COPY sends each value in the column's own wire format: these must match schema.py.
_POSTGRES_TYPES = (
    "text",  # partner_id
    "text",  # batch_id
    "int8",  # item_index
    "bytea",  # token
    "int4",  # scheme_version
    "int8",  # key_epoch
    "int4",  # indicator_type
    "bytea",  # group_id
    "text",  # country
    "text",  # week
    "text",  # h3_cell
    "text",  # tags
    "text",  # sector
    "timestamptz",  # received_at
)


def _rows(
    partner_id: str, batch_id: str, sector: str, received_at: Any, items: ItemColumns
) -> list[tuple[Any, ...]]:
    """Row tuples in REPORT_COLUMNS order, built by zip in C."""
    return list(
        zip(
            repeat(partner_id),
            repeat(batch_id),
            items.item_index,
            items.token,
            items.scheme_version,
            items.key_epoch,
            items.indicator_type,
            items.group_id,
            items.country,
            items.week,
            items.h3_cell,
            items.tags,
            repeat(sector),
            repeat(received_at),
        )
    )


def sqlite_write_reports(
    connection: Connection,
    *,
    partner_id: str,
    batch_id: str,
    sector: str,
    received_at: datetime,
    items: ItemColumns,
) -> None:
    """One executemany on the pysqlite cursor; the timestamp is stored as SQLAlchemy would."""
    stamp = _timestamp(connection, received_at)
    dbapi_connection = connection.connection.driver_connection
    assert dbapi_connection is not None  # a checked-out connection always has one
    dbapi_connection.executemany(_SQLITE_INSERT, _rows(partner_id, batch_id, sector, stamp, items))


def postgres_write_reports(
    connection: Connection,
    *,
    partner_id: str,
    batch_id: str,
    sector: str,
    received_at: datetime,
    items: ItemColumns,
) -> None:
    """Binary COPY on the psycopg connection, in the open transaction."""
    dbapi_connection: Any = connection.connection.driver_connection
    with dbapi_connection.cursor() as cursor:
        # psycopg maps bytea to its DB-API Binary dumper, a Python call per value;
        # the plain bytes dumper runs in C (~10% of this path for two bytea columns).
        cursor.adapters.register_dumper(bytes, BytesBinaryDumper)
        with cursor.copy(_POSTGRES_COPY) as copy:
            copy.set_types(_POSTGRES_TYPES)
            write = copy.write_row
            for row in _rows(partner_id, batch_id, sector, received_at, items):
                write(row)


def add_counts(connection: Connection, rows: Sequence[CountRow]) -> None:
    """One upsert per distinct cell, as plain tuples (Core would build a dict per row)."""
    if not rows:
        return
    connection.exec_driver_sql(_UPSERT_COUNTS[connection.dialect.name], list(rows))


# Per-batch statements, as driver SQL: building and caching a Core statement for
# each batch cost ~5 ms, as much as writing its thousand rows.
_BATCH_COLUMNS = (
    "partner_id",
    "batch_id",
    "content_hash",
    "sector",
    "key_epoch",
    "accepted",
    "rejections",
    "received_at",
)


def _insert_batch(placeholder: str) -> str:
    return (
        f"INSERT INTO {batches.name} ({', '.join(_BATCH_COLUMNS)}) "  # noqa: S608
        f"VALUES ({', '.join(placeholder for _ in _BATCH_COLUMNS)}) "
        "ON CONFLICT (partner_id, batch_id) DO NOTHING"
    )


_INSERT_BATCH = {"sqlite": _insert_batch("?"), "postgresql": _insert_batch("%s")}
_ACTIVE_EPOCH = {
    "sqlite": f"SELECT active_epoch FROM {partner_state.name} WHERE partner_id = ?",  # noqa: S608
    "postgresql": (
        f"SELECT active_epoch FROM {partner_state.name} WHERE partner_id = %s FOR SHARE"  # noqa: S608
    ),
}


def insert_batch_row(
    connection: Connection,
    *,
    partner_id: str,
    batch_id: str,
    content_hash: bytes,
    sector: str,
    key_epoch: int | None,
    accepted: int,
    rejections: str,
    received_at: datetime,
) -> bool:
    """True if this call stored the row; False if the batch was already there."""
    stamp = _timestamp(connection, received_at)
    result = connection.exec_driver_sql(
        _INSERT_BATCH[connection.dialect.name],
        (partner_id, batch_id, content_hash, sector, key_epoch, accepted, rejections, stamp),
    )
    return bool(result.rowcount == 1)


def shared_active_epoch(connection: Connection, partner_id: str) -> int | None:
    """The partner's active epoch, share-locked on PostgreSQL (activation locks it exclusively)."""
    row = connection.exec_driver_sql(_ACTIVE_EPOCH[connection.dialect.name], (partner_id,)).first()
    return None if row is None else int(row[0])


def _timestamp(connection: Connection, moment: datetime) -> Any:
    """A timestamp as SQLAlchemy would bind it (both tables' received_at share one type)."""
    column_type = reports.c.received_at.type.dialect_impl(connection.dialect)
    process = column_type.bind_processor(connection.dialect)
    return process(moment) if process is not None else moment
