"""The Storage implementation for SQLite and PostgreSQL, on SQLAlchemy Core.

Both databases share every statement but two: the bulk write of `reports`
(driver executemany vs binary COPY, see `_bulk`) and the dialect's
INSERT ... ON CONFLICT construct.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, and_, delete, distinct, func, literal, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from counterflow.errors import CounterflowError, ErrorCode
from hub.storage import _bulk
from hub.storage._counts import count_rows, tally_items, tally_tag_groups
from hub.storage._sqlite import WRITE_OPTION
from hub.storage.interface import (
    ALL_TAGS,
    BatchOutcome,
    EpochActivation,
    ItemColumns,
    ItemRow,
    Rejection,
    Summary,
    SummaryCell,
)
from hub.storage.schema import batches, cell_counts, partner_state, reports

_CELL_KEY = ("indicator_type", "country", "sector", "week", "tag", "partner_id")


class SqlStorage:
    """Storage over one SQLAlchemy engine; safe to share between threads."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._is_sqlite = engine.dialect.name == "sqlite"
        self._dialect_insert: Any = sqlite.insert if self._is_sqlite else postgresql.insert
        self._write_reports: _bulk.ReportWriter = (
            _bulk.sqlite_write_reports if self._is_sqlite else _bulk.postgres_write_reports
        )
        # SQLite admits one writer at a time. Queueing the hub's worker threads on a
        # Python lock keeps them out of SQLite's busy-wait, which would poll, add
        # latency and give up after busy_timeout under load; BEGIN IMMEDIATE still
        # guards against writers in other processes (the CLI). PostgreSQL needs no
        # such lock: row locks on partner_state and sorted upserts order its writers.
        self._write_lock: AbstractContextManager[Any] = (
            threading.Lock() if self._is_sqlite else nullcontext()
        )

    # -- ingest ---------------------------------------------------------------

    def store_batch(
        self,
        *,
        partner_id: str,
        sector: str,
        batch_id: str,
        content_hash: bytes,
        items: Sequence[ItemRow] | ItemColumns,
        rejections: Sequence[Rejection],
        received_at: datetime,
    ) -> BatchOutcome:
        columns = items if isinstance(items, ItemColumns) else ItemColumns.from_rows(items)
        epoch = _batch_epoch(columns)
        received = _utc(received_at)
        # Tallied before the transaction: it checks the tags and keeps work out of the lock.
        counts = count_rows(tally_items(columns), sector, partner_id)
        with self._writing() as conn:
            stored = _bulk.insert_batch_row(
                conn,
                partner_id=partner_id,
                batch_id=batch_id,
                content_hash=content_hash,
                sector=sector,
                key_epoch=epoch,
                accepted=len(columns),
                rejections=_rejections_json(rejections),
                received_at=received,
            )
            # The primary key decides between concurrent submissions of one batch:
            # PostgreSQL makes the second wait for the first to commit, then skip.
            if not stored:
                return _replay(conn, partner_id, batch_id, content_hash)
            if epoch is not None:
                staged = self._claim_epoch(conn, partner_id, batch_id, epoch)
                self._write_reports(
                    conn,
                    partner_id=partner_id,
                    batch_id=batch_id,
                    sector=sector,
                    received_at=received,
                    items=columns,
                )
                if not staged:
                    _bulk.add_counts(conn, counts)
        return BatchOutcome(batch_id, len(items), tuple(rejections), duplicate=False)

    def _claim_epoch(self, conn: Connection, partner_id: str, batch_id: str, epoch: int) -> bool:
        """Whether the batch is staged; its epoch becomes active if the partner has none.

        FOR SHARE lets a partner's batches proceed together while activate_epoch,
        which takes FOR UPDATE, waits for them (and they for it) on PostgreSQL.
        """
        active = _bulk.shared_active_epoch(conn, partner_id)
        if active is None:
            conn.execute(
                self._dialect_insert(partner_state)
                .values(partner_id=partner_id, active_epoch=epoch)
                .on_conflict_do_nothing(index_elements=["partner_id"])
            )
            active = _locked_epoch(conn, partner_id, for_update=False)
            assert active is not None  # inserted above or by a committed rival
        if epoch < active:
            raise CounterflowError(
                ErrorCode.STALE_KEY_EPOCH,
                f"batch {batch_id!r} uses key epoch {epoch}, older than the active epoch {active}",
                {"batch_id": batch_id, "key_epoch": str(epoch), "active_epoch": str(active)},
            )
        return epoch > active

    # -- key epochs -------------------------------------------------------------

    def activate_epoch(self, partner_id: str, key_epoch: int) -> EpochActivation:
        with self._writing() as conn:
            _locked_epoch(conn, partner_id, for_update=True)
            mine = and_(reports.c.partner_id == partner_id, reports.c.key_epoch == key_epoch)
            active = conn.execute(select(func.count()).where(mine)).scalar_one()
            if active == 0:
                raise CounterflowError(
                    ErrorCode.EPOCH_NOT_STAGED,
                    f"partner {partner_id!r} has no stored items under key epoch {key_epoch}",
                    {"partner_id": partner_id, "key_epoch": str(key_epoch)},
                )
            removed = conn.execute(
                delete(reports).where(
                    reports.c.partner_id == partner_id, reports.c.key_epoch < key_epoch
                )
            ).rowcount
            conn.execute(delete(cell_counts).where(cell_counts.c.partner_id == partner_id))
            self._recount(conn, partner_id, key_epoch)
            statement = self._dialect_insert(partner_state).values(
                partner_id=partner_id, active_epoch=key_epoch
            )
            conn.execute(
                statement.on_conflict_do_update(
                    index_elements=["partner_id"],
                    set_={"active_epoch": statement.excluded.active_epoch},
                )
            )
        return EpochActivation(key_epoch, int(active), int(removed))

    def _recount(self, conn: Connection, partner_id: str, key_epoch: int) -> None:
        """Rebuild the partner's cells from its epoch's reports, with the database grouping."""
        mine = and_(reports.c.partner_id == partner_id, reports.c.key_epoch == key_epoch)
        cell = (reports.c.indicator_type, reports.c.country, reports.c.sector, reports.c.week)
        conn.execute(
            cell_counts.insert().from_select(
                [*_CELL_KEY, "count"],
                select(*cell, literal(ALL_TAGS), reports.c.partner_id, func.count())
                .where(mine)
                .group_by(*cell, reports.c.partner_id),
            )
        )
        groups = conn.execute(
            select(*cell, reports.c.tags, func.count())
            .where(mine, reports.c.tags != "")
            .group_by(*cell, reports.c.tags)
        ).all()
        by_sector: dict[str, list[tuple[int, str, str, str, int]]] = {}
        for indicator_type, country, sector, week, tags, count in groups:
            by_sector.setdefault(sector, []).append((indicator_type, country, week, tags, count))
        for sector, rows in by_sector.items():
            _bulk.add_counts(conn, count_rows(tally_tag_groups(rows), sector, partner_id))

    def active_epoch(self, partner_id: str) -> int:
        with self._engine.connect() as conn:
            epoch = conn.execute(
                select(partner_state.c.active_epoch).where(partner_state.c.partner_id == partner_id)
            ).scalar_one_or_none()
        return 0 if epoch is None else int(epoch)

    # -- reading --------------------------------------------------------------------

    def summary(self) -> Summary:
        with self._reading() as conn:
            cells = tuple(_summary_cells(conn))
            partners = conn.execute(
                select(func.count(distinct(cell_counts.c.partner_id))).where(
                    cell_counts.c.tag == ALL_TAGS
                )
            ).scalar_one()
            batch_count = conn.execute(select(func.count()).select_from(batches)).scalar_one()
            cross_sector = conn.execute(_cross_sector_tokens()).scalar_one()
        return Summary(
            cells=cells,
            total_items=sum(cell.count for cell in cells),
            partners=int(partners),
            batches=int(batch_count),
            cross_sector_tokens=int(cross_sector),
        )

    def item_count(self, partner_id: str | None = None) -> int:
        query = select(func.count()).select_from(reports)
        if partner_id is not None:
            query = query.where(reports.c.partner_id == partner_id)
        with self._engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def close(self) -> None:
        self._engine.dispose()

    # -- transactions ---------------------------------------------------------------

    @contextmanager
    def _writing(self) -> Iterator[Connection]:
        with self._write_lock, self._engine.connect() as conn:
            conn.execution_options(**{WRITE_OPTION: True})
            with conn.begin():
                yield conn

    @contextmanager
    def _reading(self) -> Iterator[Connection]:
        """One snapshot for several queries: WAL gives it on SQLite, REPEATABLE READ on PG."""
        with self._engine.connect() as conn:
            if not self._is_sqlite:
                conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                yield conn


def _batch_epoch(items: ItemColumns) -> int | None:
    epochs = set(items.key_epoch)
    if len(epochs) > 1:
        raise ValueError("all items of one batch must share one key epoch")
    return epochs.pop() if epochs else None


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("received_at must be timezone-aware")
    return moment.astimezone(UTC)


def _rejections_json(rejections: Sequence[Rejection]) -> str:
    return json.dumps(
        [{"index": r.index, "reason": r.reason, "message": r.message} for r in rejections],
        separators=(",", ":"),
    )


def _replay(conn: Connection, partner_id: str, batch_id: str, content_hash: bytes) -> BatchOutcome:
    row = conn.execute(
        select(batches.c.content_hash, batches.c.accepted, batches.c.rejections).where(
            batches.c.partner_id == partner_id, batches.c.batch_id == batch_id
        )
    ).one()
    if bytes(row.content_hash) != content_hash:
        raise CounterflowError(
            ErrorCode.BATCH_ID_REUSED,
            f"batch id {batch_id!r} was already used for a batch with other content",
            {"batch_id": batch_id},
        )
    stored = tuple(
        Rejection(entry["index"], entry["reason"], entry["message"])
        for entry in json.loads(row.rejections)
    )
    return BatchOutcome(batch_id, int(row.accepted), stored, duplicate=True)


def _locked_epoch(conn: Connection, partner_id: str, *, for_update: bool) -> int | None:
    epoch = conn.execute(
        select(partner_state.c.active_epoch)
        .where(partner_state.c.partner_id == partner_id)
        .with_for_update(read=not for_update)
    ).scalar_one_or_none()
    return None if epoch is None else int(epoch)


def _summary_cells(conn: Connection) -> Iterator[SummaryCell]:
    cell = (
        cell_counts.c.indicator_type,
        cell_counts.c.country,
        cell_counts.c.sector,
        cell_counts.c.week,
    )
    rows = conn.execute(
        select(
            *cell,
            func.sum(cell_counts.c.count),
            func.count(distinct(cell_counts.c.partner_id)),
            func.max(cell_counts.c.count),
        )
        .where(cell_counts.c.tag == ALL_TAGS)
        .group_by(*cell)
        .order_by(*cell)
    )
    for indicator_type, country, sector, week, total, partners, largest in rows:
        yield SummaryCell(
            indicator_type=int(indicator_type),
            country=country,
            sector=sector,
            week=week,
            count=int(total),
            partners=int(partners),
            max_partner_share=int(largest) / int(total),
        )


def _cross_sector_tokens() -> Any:
    """Tokens of one epoch that partners of two or more sectors hold as active items."""
    active = reports.join(
        partner_state,
        and_(
            partner_state.c.partner_id == reports.c.partner_id,
            partner_state.c.active_epoch == reports.c.key_epoch,
        ),
    )
    shared = (
        select(reports.c.key_epoch, reports.c.token)
        .select_from(active)
        .group_by(reports.c.key_epoch, reports.c.token)
        .having(func.count(distinct(reports.c.sector)) >= 2)
        .subquery()
    )
    return select(func.count()).select_from(shared)
