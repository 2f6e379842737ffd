"""The outbox: batches built once from the store, allow-list clean, sent until acknowledged."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import h3
import pytest

from counterflow.indicators import IndicatorType
from counterflow.tokens import GroupIds, Tokeniser
from counterflow.v1 import submission_pb2 as pb
from counterflow.wire import disallowed_fields
from node import outbox
from node.store import connect

KEY_1 = bytes(range(32))
KEY_2 = bytes(range(1, 33))
SECRET = b"node-secret-for-tests-32-bytes!!"
AMSTERDAM_RES5 = str(h3.latlng_to_cell(52.37, 4.89, 5))
ROWS = [
    # (source, record_id, type, canonical, country, week, cell, tags)
    ("bank", "T-1", "phone", "+447911123456", "GB", "2026-W46", None, "money-mule"),
    ("bank", "T-1", "email", "a.one@example.org", "GB", "2026-W46", None, "money-mule"),
    ("bank", "T-2", "iban", "GB82WEST12345698765432", "NL", "2026-W47", AMSTERDAM_RES5, ""),
    ("bank", "T-3", "phone", "+2348031234567", "NG", "2026-W47", None, "forced-labour,hotline"),
    ("hotline", "T-1", "url", "https://jobs.example.com/a", "RO", "2026-W45", None, ""),
]


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    connection = connect(tmp_path / "node.db")
    connection.executemany(
        "INSERT INTO indicators (source, record_id, indicator_type, canonical, raw, country, "
        "week, h3_cell, tags, observed_at, ingested_at) "
        "VALUES (?, ?, ?, ?, 'raw', ?, ?, ?, ?, '2026-11-10T00:00:00+00:00', "
        "'2026-11-18T00:00:00+00:00')",
        ROWS,
    )
    try:
        yield connection
    finally:
        connection.close()


def _epoch(n: int) -> tuple[Tokeniser, GroupIds]:
    return Tokeniser(KEY_1 if n == 1 else KEY_2, n), GroupIds(SECRET, n)


def _requests(conn: sqlite3.Connection) -> list[pb.SubmitBatchRequest]:
    ids = [b for b, _, _ in outbox.pending(conn)]
    return [pb.SubmitBatchRequest.FromString(p.payload) for p in outbox.payloads(conn, ids)]


def _items(conn: sqlite3.Connection) -> list[pb.TokenItem]:
    return [item for request in _requests(conn) for item in request.items]


def test_fill_builds_batches_of_the_configured_size(conn: sqlite3.Connection) -> None:
    progress: list[int] = []
    assert outbox.unbatched_count(conn, 1) == 5
    assert outbox.fill(conn, *_epoch(1), batch_items=2, progress=progress.append) == 3
    assert progress == [2, 2, 1]
    queue = outbox.pending(conn)
    assert [(e, n) for _, e, n in queue] == [(1, 2), (1, 2), (1, 1)]
    assert len({b for b, _, _ in queue}) == 3
    assert outbox.unbatched_count(conn, 1) == 0
    for request, (batch_id, _, count) in zip(_requests(conn), queue, strict=True):
        assert request.batch_id == batch_id
        assert [item.index for item in request.items] == list(range(count))


def test_items_carry_tokens_and_only_coarse_context(conn: sqlite3.Connection) -> None:
    tokeniser, _ = _epoch(1)
    outbox.fill(conn, *_epoch(1), batch_items=10)
    items = _items(conn)
    assert len(items) == 5
    for item, (_, _, kind, canonical, country, week, cell, tags) in zip(items, ROWS, strict=True):
        indicator_type = IndicatorType(kind)
        assert item.token == tokeniser.token(indicator_type, canonical)
        assert item.indicator_type == indicator_type.wire
        assert item.scheme_version == 1
        assert item.key_epoch == 1
        assert item.country == country
        assert item.week == week
        assert item.h3_cell == (cell or "")
        assert list(item.typology_tags) == [t for t in tags.split(",") if t]
        assert len(item.group_id) == 16


def test_every_payload_passes_the_allow_list_and_holds_no_raw_value(
    conn: sqlite3.Connection,
) -> None:
    outbox.fill(conn, *_epoch(1), batch_items=2)
    ids = [b for b, _, _ in outbox.pending(conn)]
    for batch in outbox.payloads(conn, ids):
        assert disallowed_fields(pb.SubmitBatchRequest.FromString(batch.payload)) == []
        for _, record_id, _, canonical, *_ in ROWS:
            assert canonical.encode() not in batch.payload
            assert f"\x1f{record_id}".encode() not in batch.payload


def test_group_ids_are_per_record_and_change_with_the_epoch(conn: sqlite3.Connection) -> None:
    outbox.fill(conn, *_epoch(1), batch_items=10)
    first = _items(conn)
    # Two indicators of bank/T-1 share a group; hotline/T-1 is another record.
    assert first[0].group_id == first[1].group_id
    assert len({first[0].group_id, first[2].group_id, first[3].group_id, first[4].group_id}) == 4
    assert first[0].group_id == GroupIds(SECRET, 1).group_id("bank\x1fT-1")

    assert outbox.fill(conn, *_epoch(2), batch_items=10) == 1
    second = [i for r in _requests(conn) for i in r.items if i.key_epoch == 2]
    assert len(second) == 5
    assert second[0].group_id == second[1].group_id
    assert {i.group_id for i in first}.isdisjoint({i.group_id for i in second})
    assert {i.token for i in first}.isdisjoint({i.token for i in second})


def test_fill_again_builds_nothing_new(conn: sqlite3.Connection) -> None:
    outbox.fill(conn, *_epoch(1), batch_items=2)
    before = outbox.pending(conn)
    assert outbox.fill(conn, *_epoch(1), batch_items=2) == 0
    assert outbox.pending(conn) == before


def test_a_new_indicator_goes_into_a_new_batch_after_the_others(conn: sqlite3.Connection) -> None:
    outbox.fill(conn, *_epoch(1), batch_items=10)
    conn.execute(
        "INSERT INTO indicators (source, record_id, indicator_type, canonical, raw, country, "
        "week, h3_cell, tags, observed_at, ingested_at) VALUES ('bank', 'T-9', 'email', "
        "'z@example.org', 'raw', 'GB', '2026-W47', NULL, '', 'x', 'y')"
    )
    assert outbox.fill(conn, *_epoch(1), batch_items=10) == 1
    assert [n for _, _, n in outbox.pending(conn)] == [5, 1]


def test_the_payload_is_fixed_once_built(conn: sqlite3.Connection) -> None:
    outbox.fill(conn, *_epoch(1), batch_items=10)
    [(batch_id, _, _)] = outbox.pending(conn)
    [first] = outbox.payloads(conn, [batch_id])
    [again] = outbox.payloads(conn, [batch_id, "no-such-batch"])
    assert first == again
    assert first.item_count == 5
    assert first.key_epoch == 1


def test_acknowledge_records_the_answer_and_its_rejections(conn: sqlite3.Connection) -> None:
    outbox.fill(conn, *_epoch(1), batch_items=2)
    first, second, third = (b for b, _, _ in outbox.pending(conn))
    response = pb.SubmitBatchResponse(
        batch_id=second,
        accepted=1,
        rejections=[pb.ItemRejection(index=1, reason="COUNTRY_NOT_ALLOWED", message="NG")],
    )
    outbox.acknowledge(conn, response)
    assert [b for b, _, _ in outbox.pending(conn)] == [first, third]
    state, accepted, rejected, duplicate, acked_at = conn.execute(
        "SELECT state, accepted, rejected, duplicate, acked_at FROM outbox WHERE batch_id = ?",
        (second,),
    ).fetchone()
    assert (state, accepted, rejected, duplicate) == ("acked", 1, 1, 0)
    assert acked_at is not None
    assert conn.execute(
        "SELECT batch_id, item_index, reason, message FROM rejections"
    ).fetchall() == [(second, 1, "COUNTRY_NOT_ALLOWED", "NG")]
    outbox.acknowledge(conn, pb.SubmitBatchResponse(batch_id=first, accepted=2, duplicate=True))
    assert conn.execute("SELECT duplicate FROM outbox WHERE batch_id = ?", (first,)).fetchone() == (
        1,
    )
    assert [b for b, _, _ in outbox.pending(conn)] == [third]


def test_refuse_sets_a_batch_aside(conn: sqlite3.Connection) -> None:
    outbox.fill(conn, *_epoch(1), batch_items=2)
    first, second, third = (b for b, _, _ in outbox.pending(conn))
    outbox.refuse(conn, first, "BATCH_ID_REUSED: batch id reused")
    assert [b for b, _, _ in outbox.pending(conn)] == [second, third]
    assert conn.execute(
        "SELECT state, refusal FROM outbox WHERE batch_id = ?", (first,)
    ).fetchone() == ("refused", "BATCH_ID_REUSED: batch id reused")
    # Its items go back to the pool: the next fill rebuilds them into a new batch.
    assert outbox.fill(conn, *_epoch(1), batch_items=2) == 1
    assert len(outbox.pending(conn)) == 3


def test_items_the_hub_named_malformed_stay_with_the_refused_batch(
    conn: sqlite3.Connection,
) -> None:
    outbox.fill(conn, *_epoch(1), batch_items=2)
    first = outbox.pending(conn)[0][0]
    outbox.refuse(conn, first, "INVALID_ITEM: bad", frozenset({1}))
    kept = conn.execute(
        "SELECT item_index FROM batch_items WHERE batch_id = ?", (first,)
    ).fetchall()
    assert kept == [(1,)]
    # Only the good item is rebuilt, alone in a new batch.
    assert outbox.fill(conn, *_epoch(1), batch_items=2) == 1
    assert outbox.pending(conn)[-1][2] == 1
