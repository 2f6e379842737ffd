"""Batches waiting to leave the node, built once and sent until acknowledged.

A batch's bytes are fixed when it is built and stored with a fresh batch id, so
a re-push after any failure sends exactly the same content: the hub's
idempotency key (partner, batch id, content hash) then makes the push
exactly-once however often it is retried.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from counterflow.indicators import IndicatorType
from counterflow.tokens import SCHEME_VERSION, GroupIds, Tokeniser
from counterflow.v1 import submission_pb2 as pb
from counterflow.wire import check_outbound
from node.store import transaction, utcnow_text

Progress = Callable[[int], None]

_PENDING_SQL = """
SELECT i.id, i.indicator_type, i.canonical, i.record_id, i.source, i.country, i.week,
       i.h3_cell, i.tags
FROM indicators i
WHERE NOT EXISTS (SELECT 1 FROM batch_items b WHERE b.indicator_id = i.id AND b.key_epoch = ?)
ORDER BY i.id
LIMIT ?
"""


@dataclass(frozen=True)
class PendingBatch:
    batch_id: str
    key_epoch: int
    item_count: int
    payload: bytes


def unbatched_count(conn: sqlite3.Connection, key_epoch: int) -> int:
    row = conn.execute(
        "SELECT count(*) FROM indicators i WHERE NOT EXISTS (SELECT 1 FROM batch_items b "
        "WHERE b.indicator_id = i.id AND b.key_epoch = ?)",
        (key_epoch,),
    ).fetchone()
    return int(row[0])


def fill(
    conn: sqlite3.Connection,
    tokeniser: Tokeniser,
    group_ids: GroupIds,
    batch_items: int,
    progress: Progress | None = None,
) -> int:
    """Turn every indicator not yet sent under this epoch into batches; returns batches made.

    Choosing the rows and recording the batch happen in one write transaction,
    so two builders on one node (an ingest and a push from overlapping jobs)
    take turns instead of batching the same rows twice.
    """
    made = 0
    while True:
        with transaction(conn):
            rows = conn.execute(_PENDING_SQL, (tokeniser.epoch, batch_items)).fetchall()
            if not rows:
                return made
            _build_one(conn, rows, tokeniser, group_ids)
        made += 1
        if progress is not None:
            progress(len(rows))


def _build_one(
    conn: sqlite3.Connection,
    rows: list[tuple[object, ...]],
    tokeniser: Tokeniser,
    group_ids: GroupIds,
) -> None:
    """Tokenise the rows into one batch and record it; the caller holds the transaction."""
    batch_id = uuid.uuid4().hex
    request = pb.SubmitBatchRequest(batch_id=batch_id)
    links = []
    for index, row in enumerate(rows):
        ind_id, type_name, canonical, record_id, source, country, week, cell, tags = row
        indicator_type = IndicatorType(str(type_name))
        token = tokeniser.token(indicator_type, str(canonical))
        request.items.add(
            index=index,
            scheme_version=SCHEME_VERSION,
            key_epoch=tokeniser.epoch,
            token=token,
            indicator_type=indicator_type.wire,
            group_id=group_ids.group_id(f"{source}\x1f{record_id}"),
            country=str(country),
            week=str(week),
            h3_cell=str(cell or ""),
            typology_tags=[t for t in str(tags).split(",") if t],
        )
        links.append((ind_id, tokeniser.epoch, batch_id, index, token))
    check_outbound(request)
    payload = request.SerializeToString(deterministic=True)
    seq = conn.execute("SELECT coalesce(max(seq), 0) + 1 FROM outbox").fetchone()[0]
    conn.execute(
        "INSERT INTO outbox (batch_id, seq, key_epoch, item_count, payload, state, created_at) "
        "VALUES (?, ?, ?, ?, ?, 'pending', ?)",
        (batch_id, seq, tokeniser.epoch, len(rows), payload, utcnow_text()),
    )
    conn.executemany(
        "INSERT INTO batch_items (indicator_id, key_epoch, batch_id, item_index, token) "
        "VALUES (?, ?, ?, ?, ?)",
        links,
    )


def pending(conn: sqlite3.Connection) -> list[tuple[str, int, int]]:
    """(batch_id, key_epoch, item_count) of every unacknowledged batch, oldest first."""
    return [
        (str(b), int(e), int(n))
        for b, e, n in conn.execute(
            "SELECT batch_id, key_epoch, item_count FROM outbox "
            "WHERE state = 'pending' ORDER BY seq"
        )
    ]


def payloads(conn: sqlite3.Connection, batch_ids: list[str]) -> Iterator[PendingBatch]:
    for batch_id in batch_ids:
        row = conn.execute(
            "SELECT key_epoch, item_count, payload FROM outbox WHERE batch_id = ?", (batch_id,)
        ).fetchone()
        if row is not None:
            yield PendingBatch(batch_id, int(row[0]), int(row[1]), bytes(row[2]))


def acked_items(conn: sqlite3.Connection, key_epoch: int) -> int:
    row = conn.execute(
        "SELECT coalesce(sum(accepted), 0) FROM outbox WHERE state = 'acked' AND key_epoch = ?",
        (key_epoch,),
    ).fetchone()
    return int(row[0])


def acknowledge(conn: sqlite3.Connection, response: pb.SubmitBatchResponse) -> None:
    with transaction(conn):
        conn.execute(
            "UPDATE outbox SET state = 'acked', acked_at = ?, accepted = ?, rejected = ?, "
            "duplicate = ? WHERE batch_id = ?",
            (
                utcnow_text(),
                response.accepted,
                len(response.rejections),
                int(response.duplicate),
                response.batch_id,
            ),
        )
        conn.executemany(
            "INSERT OR REPLACE INTO rejections (batch_id, item_index, reason, message) "
            "VALUES (?, ?, ?, ?)",
            [(response.batch_id, r.index, r.reason, r.message) for r in response.rejections],
        )


def refuse(
    conn: sqlite3.Connection, batch_id: str, reason: str, bad_items: frozenset[int] = frozenset()
) -> None:
    """Set aside a batch the hub will never take, so it does not block the rest.

    Its other items go back to the pool and into the next batch built (after, say,
    `batch_items` is lowered below the hub's limit); only the items the hub named
    as malformed stay with the refused batch, for the operator to look at.
    """
    with transaction(conn):
        conn.execute(
            "UPDATE outbox SET state = 'refused', refusal = ? WHERE batch_id = ?",
            (reason, batch_id),
        )
        indexes = conn.execute(
            "SELECT item_index FROM batch_items WHERE batch_id = ?", (batch_id,)
        ).fetchall()
        conn.executemany(
            "DELETE FROM batch_items WHERE batch_id = ? AND item_index = ?",
            [(batch_id, index) for (index,) in indexes if index not in bad_items],
        )
