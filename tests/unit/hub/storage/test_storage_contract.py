"""The Storage contract, run against SQLite and PostgreSQL alike (the `storage` fixture)."""

from __future__ import annotations

import hashlib
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
from sqlalchemy import Connection, create_engine, select

from counterflow.errors import CounterflowError, ErrorCode
from hub.storage import (
    ALL_TAGS,
    BatchOutcome,
    EpochActivation,
    ItemRow,
    Rejection,
    Storage,
    SummaryCell,
)
from hub.storage.schema import cell_counts, partner_state, reports

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
PHONE, EMAIL, IBAN = 1, 2, 3

CellKey = tuple[int, str, str, str, str, str]  # type, country, sector, week, tag, partner


def token(n: int) -> bytes:
    return hashlib.sha256(f"token-{n}".encode()).digest()


def item(
    index: int,
    tok: int | None = None,
    *,
    epoch: int = 1,
    kind: int = PHONE,
    country: str = "NG",
    week: str = "2026-W47",
    tags: tuple[str, ...] = (),
) -> ItemRow:
    return ItemRow(
        item_index=index,
        scheme_version=1,
        key_epoch=epoch,
        token=token(index if tok is None else tok),
        indicator_type=kind,
        group_id=hashlib.sha256(f"group-{index}".encode()).digest()[:16],
        country=country,
        week=week,
        h3_cell=None if index % 2 else "861e8050fffffff",
        tags=tags,
    )


def content_hash(items: Sequence[ItemRow], rejections: Sequence[Rejection] = ()) -> bytes:
    return hashlib.sha256(repr((tuple(items), tuple(rejections))).encode()).digest()


def submit(
    storage: Storage,
    partner: str,
    batch_id: str,
    items: Sequence[ItemRow],
    *,
    sector: str = "bank",
    rejections: Sequence[Rejection] = (),
) -> BatchOutcome:
    return storage.store_batch(
        partner_id=partner,
        sector=sector,
        batch_id=batch_id,
        content_hash=content_hash(items, rejections),
        items=items,
        rejections=rejections,
        received_at=NOW,
    )


@contextmanager
def database(url: str) -> Iterator[Connection]:
    """A side connection to look at tables the Storage interface does not expose."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()


def stored_cells(url: str) -> dict[CellKey, int]:
    with database(url) as conn:
        rows = conn.execute(select(cell_counts)).all()
    return {(r[0], r[1], r[2], r[3], r[4], r[5]): r[6] for r in rows}


def expected_cells(partner: str, sector: str, items: Sequence[ItemRow]) -> dict[CellKey, int]:
    tally: Counter[CellKey] = Counter()
    for it in items:
        for tag in (ALL_TAGS, *it.tags):
            tally[(it.indicator_type, it.country, sector, it.week, tag, partner)] += 1
    return dict(tally)


def recount_from_reports(url: str) -> dict[CellKey, int]:
    """Cells as a full recount of the stored active reports would give them."""
    with database(url) as conn:
        active = {row.partner_id: row.active_epoch for row in conn.execute(select(partner_state))}
        rows = conn.execute(
            select(
                reports.c.partner_id,
                reports.c.key_epoch,
                reports.c.indicator_type,
                reports.c.country,
                reports.c.sector,
                reports.c.week,
                reports.c.tags,
            )
        ).all()
    tally: Counter[CellKey] = Counter()
    for partner, epoch, kind, country, sector, week, tags in rows:
        if active.get(partner) != epoch:
            continue
        for tag in (ALL_TAGS, *(tags.split(",") if tags else ())):
            tally[(kind, country, sector, week, tag, partner)] += 1
    return dict(tally)


# -- storing and idempotency -----------------------------------------------------------


def test_stores_items_and_counts_them(storage: Storage, storage_url: str) -> None:
    items = [item(0), item(1), item(2, kind=EMAIL, country="GH")]

    outcome = submit(storage, "bank-a", "b-1", items)

    assert outcome == BatchOutcome("b-1", 3, (), duplicate=False)
    assert storage.item_count() == 3
    assert storage.item_count("bank-a") == 3
    assert storage.item_count("someone-else") == 0
    assert storage.active_epoch("bank-a") == 1
    assert stored_cells(storage_url) == expected_cells("bank-a", "bank", items)


def test_duplicate_batch_replays_the_stored_outcome_and_changes_nothing(
    storage: Storage, storage_url: str
) -> None:
    items = [item(0), item(1, tags=("debt",))]
    rejections = [Rejection(2, "TYPE_NOT_ALLOWED", "type iban is not in the agreement")]
    first = submit(storage, "bank-a", "b-1", items, rejections=rejections)
    before = (storage.summary(), storage.item_count(), stored_cells(storage_url))

    again = submit(storage, "bank-a", "b-1", items, rejections=rejections)

    assert again == BatchOutcome("b-1", 2, tuple(rejections), duplicate=True)
    assert first == BatchOutcome("b-1", 2, tuple(rejections), duplicate=False)
    assert (storage.summary(), storage.item_count(), stored_cells(storage_url)) == before


def test_reused_batch_id_with_other_content_is_refused_and_stores_nothing(
    storage: Storage, storage_url: str
) -> None:
    submit(storage, "bank-a", "b-1", [item(0)])
    before = (storage.summary(), storage.item_count(), stored_cells(storage_url))

    with pytest.raises(CounterflowError) as refused:
        submit(storage, "bank-a", "b-1", [item(5), item(6)])

    assert refused.value.code is ErrorCode.BATCH_ID_REUSED
    assert "b-1" in refused.value.message
    assert refused.value.metadata == {"batch_id": "b-1"}
    assert (storage.summary(), storage.item_count(), stored_cells(storage_url)) == before


def test_batch_ids_belong_to_their_partner(storage: Storage) -> None:
    submit(storage, "bank-a", "b-1", [item(0)])

    other = submit(storage, "ngo-b", "b-1", [item(1), item(2)], sector="ngo")

    assert other == BatchOutcome("b-1", 2, (), duplicate=False)
    assert storage.item_count("ngo-b") == 2


def test_rejections_are_persisted_and_replayed_even_when_nothing_was_accepted(
    storage: Storage,
) -> None:
    rejections = [
        Rejection(0, "COUNTRY_NOT_ALLOWED", "country FR is not in the agreement"),
        Rejection(1, "INVALID_ITEM", "token must be 32 bytes, got 12 (ünïcode kept)"),
    ]

    first = submit(storage, "bank-a", "b-1", [], rejections=rejections)
    replay = submit(storage, "bank-a", "b-1", [], rejections=rejections)

    assert first == BatchOutcome("b-1", 0, tuple(rejections), duplicate=False)
    assert replay == BatchOutcome("b-1", 0, tuple(rejections), duplicate=True)
    assert storage.item_count() == 0
    assert storage.active_epoch("bank-a") == 0
    assert storage.summary().batches == 1


def test_counts_every_item_under_the_all_tag_and_once_per_tag(
    storage: Storage, storage_url: str
) -> None:
    first = [item(0, tags=("debt", "sexual")), item(1, tags=("debt",)), item(2)]
    second = [item(3, tags=("sexual",)), item(4, kind=EMAIL, tags=("debt",))]

    submit(storage, "bank-a", "b-1", first)
    submit(storage, "bank-a", "b-2", second)

    key = (PHONE, "NG", "bank", "2026-W47")
    assert stored_cells(storage_url) == {
        (*key, ALL_TAGS, "bank-a"): 4,
        (*key, "debt", "bank-a"): 2,
        (*key, "sexual", "bank-a"): 2,
        (EMAIL, "NG", "bank", "2026-W47", ALL_TAGS, "bank-a"): 1,
        (EMAIL, "NG", "bank", "2026-W47", "debt", "bank-a"): 1,
    }


def test_naive_timestamp_and_mixed_epochs_are_programming_errors(storage: Storage) -> None:
    with pytest.raises(ValueError, match="timezone"):
        storage.store_batch(
            partner_id="bank-a",
            sector="bank",
            batch_id="b-1",
            content_hash=b"h",
            items=[item(0)],
            rejections=[],
            received_at=datetime(2026, 11, 20),
        )
    with pytest.raises(ValueError, match="key epoch"):
        submit(storage, "bank-a", "b-1", [item(0, epoch=1), item(1, epoch=2)])
    with pytest.raises(ValueError, match="tag"):
        submit(storage, "bank-a", "b-1", [item(0, tags=("a,b",))])
    assert storage.item_count() == 0


# -- summary ---------------------------------------------------------------------------------


def test_summary_reports_cells_partners_shares_and_cross_sector_tokens(storage: Storage) -> None:
    # Tokens 100 and 101 are seen by a bank and an NGO; 102 by two banks only.
    submit(storage, "bank-a", "a-1", [item(0, 100), item(1, 101), item(2, 102), item(3, 103)])
    submit(storage, "bank-c", "c-1", [item(0, 102)])
    submit(storage, "ngo-b", "b-1", [item(0, 100), item(1, 101)], sector="ngo")
    submit(storage, "ngo-b", "b-2", [item(2, 104, kind=EMAIL, week="2026-W48")], sector="ngo")
    # A partner on another key epoch: the same token bytes are a different value.
    submit(storage, "ngo-d", "d-1", [item(0, 103, epoch=2)], sector="ngo")
    # Staged items count nowhere until activated.
    submit(storage, "bank-a", "a-2", [item(0, 104, epoch=2)])

    summary = storage.summary()

    assert summary.cells == (
        SummaryCell(PHONE, "NG", "bank", "2026-W47", 5, 2, 0.8),
        SummaryCell(PHONE, "NG", "ngo", "2026-W47", 3, 2, 2 / 3),
        SummaryCell(EMAIL, "NG", "ngo", "2026-W48", 1, 1, 1.0),
    )
    assert summary.total_items == 9
    assert summary.partners == 4
    assert summary.batches == 6
    assert summary.cross_sector_tokens == 2


def test_summary_of_an_empty_store(storage: Storage) -> None:
    summary = storage.summary()

    assert (summary.cells, summary.total_items, summary.partners) == ((), 0, 0)
    assert (summary.batches, summary.cross_sector_tokens) == (0, 0)


# -- key epochs -------------------------------------------------------------------------------


def test_first_batch_sets_the_active_epoch_and_older_epochs_are_refused(storage: Storage) -> None:
    submit(storage, "bank-a", "b-1", [item(0, epoch=3)])

    with pytest.raises(CounterflowError) as refused:
        submit(storage, "bank-a", "b-2", [item(0, epoch=2)])

    assert refused.value.code is ErrorCode.STALE_KEY_EPOCH
    assert "b-2" in refused.value.message
    assert storage.active_epoch("bank-a") == 3
    assert storage.item_count() == 1
    assert storage.summary().batches == 1


def test_duplicate_of_a_batch_from_a_replaced_epoch_still_replays(storage: Storage) -> None:
    old = [item(0, epoch=1)]
    submit(storage, "bank-a", "b-1", old)
    submit(storage, "bank-a", "b-2", [item(0, epoch=2)])
    storage.activate_epoch("bank-a", 2)

    replay = submit(storage, "bank-a", "b-1", old)

    assert replay == BatchOutcome("b-1", 1, (), duplicate=True)
    assert storage.item_count() == 1


def test_staged_epoch_counts_only_once_activated_and_replaces_the_old_one(
    storage: Storage, storage_url: str
) -> None:
    old = [item(i, epoch=1, tags=("debt",) if i % 2 else ()) for i in range(5)]
    new = [item(i, epoch=2, tags=("sexual", "debt") if i == 0 else ()) for i in range(3)]
    submit(storage, "bank-a", "old-1", old)
    submit(storage, "ngo-b", "other", [item(0, epoch=1)], sector="ngo")
    submit(storage, "bank-a", "new-1", new[:2])
    submit(storage, "bank-a", "new-2", new[2:])

    assert storage.summary().total_items == 6
    assert storage.item_count("bank-a") == 8
    assert storage.active_epoch("bank-a") == 1

    activation = storage.activate_epoch("bank-a", 2)

    assert activation == EpochActivation(key_epoch=2, items_active=3, items_removed=5)
    assert storage.active_epoch("bank-a") == 2
    assert storage.item_count("bank-a") == 3
    assert storage.summary().total_items == 4
    expected = expected_cells("bank-a", "bank", new) | expected_cells("ngo-b", "ngo", [item(0)])
    assert stored_cells(storage_url) == expected

    # Activating again recomputes; it never adds the same items twice.
    assert storage.activate_epoch("bank-a", 2) == EpochActivation(2, 3, 0)
    assert stored_cells(storage_url) == expected

    # Later batches of the now active epoch count at once.
    submit(storage, "bank-a", "new-3", [item(7, epoch=2, tags=("debt",))])
    assert stored_cells(storage_url) == recount_from_reports(storage_url)
    assert storage.summary().total_items == 5


def test_activation_skips_past_intermediate_staged_epochs(storage: Storage) -> None:
    submit(storage, "bank-a", "e1", [item(0, epoch=1)])
    submit(storage, "bank-a", "e2", [item(0, epoch=2), item(1, epoch=2)])
    submit(storage, "bank-a", "e3", [item(0, epoch=3)])

    assert storage.activate_epoch("bank-a", 3) == EpochActivation(3, 1, 3)
    assert storage.item_count("bank-a") == 1


def test_activating_an_epoch_without_items_is_refused(storage: Storage) -> None:
    submit(storage, "bank-a", "e1", [item(0, epoch=1)])
    submit(storage, "bank-a", "e2", [item(0, epoch=2)])
    storage.activate_epoch("bank-a", 2)

    for partner, epoch in (("bank-a", 3), ("bank-a", 1), ("unknown", 1)):
        with pytest.raises(CounterflowError) as refused:
            storage.activate_epoch(partner, epoch)
        assert refused.value.code is ErrorCode.EPOCH_NOT_STAGED
        assert f"epoch {epoch}" in refused.value.message

    assert storage.active_epoch("bank-a") == 2
    assert storage.active_epoch("unknown") == 0
    assert storage.summary().total_items == 1


# -- concurrency ------------------------------------------------------------------------------


def test_concurrent_batches_keep_counts_exact(storage: Storage, storage_url: str) -> None:
    threads, batches_each, per_batch = 3, 25, 40
    partners = (("bank-a", "bank"), ("ngo-b", "ngo"))

    def batch_items(thread: int, number: int) -> list[ItemRow]:
        base = (thread * batches_each + number) * per_batch
        return [
            item(
                i,
                base + i,
                kind=(PHONE, EMAIL)[i % 2],
                country=("NG", "GH", "KE")[i % 3],
                tags=(("debt",), ("debt", "sexual"), ())[(base + i) % 3],
            )
            for i in range(per_batch)
        ]

    def work(thread: int) -> int:
        accepted = 0
        for number in range(batches_each):
            partner, sector = partners[number % 2]
            outcome = submit(
                storage, partner, f"t{thread}-{number}", batch_items(thread, number), sector=sector
            )
            accepted += outcome.accepted
        return accepted

    with ThreadPoolExecutor(threads) as pool:
        accepted = sum(pool.map(work, range(threads)))

    expected: Counter[CellKey] = Counter()
    for thread in range(threads):
        for number in range(batches_each):
            partner, sector = partners[number % 2]
            expected.update(expected_cells(partner, sector, batch_items(thread, number)))
    assert accepted == threads * batches_each * per_batch
    assert storage.item_count() == accepted
    assert storage.summary().total_items == accepted
    assert stored_cells(storage_url) == dict(expected)


def test_concurrent_submissions_of_one_batch_store_it_once(
    storage: Storage, storage_url: str
) -> None:
    items = [item(i, tags=("debt",)) for i in range(50)]
    start = threading.Barrier(4)

    def send(_: int) -> BatchOutcome:
        start.wait()
        return submit(storage, "bank-a", "same", items)

    with ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(send, range(4)))

    assert sorted(o.duplicate for o in outcomes) == [False, True, True, True]
    assert {o.accepted for o in outcomes} == {50}
    assert storage.item_count() == 50
    assert stored_cells(storage_url) == expected_cells("bank-a", "bank", items)


def test_activation_racing_ingest_leaves_counts_equal_to_a_recount(
    storage: Storage, storage_url: str
) -> None:
    submit(storage, "bank-a", "seed-1", [item(0, epoch=1)])
    submit(storage, "bank-a", "seed-2", [item(0, epoch=2)])
    outcomes: list[str] = []

    def ingest(epoch: int) -> None:
        for number in range(30):
            batch = [item(i, number * 10 + i, epoch=epoch, tags=("debt",)) for i in range(10)]
            try:
                submit(storage, "bank-a", f"e{epoch}-{number}", batch)
                outcomes.append(f"stored {epoch}")
            except CounterflowError as error:
                assert error.code is ErrorCode.STALE_KEY_EPOCH
                outcomes.append(f"stale {epoch}")

    workers = [threading.Thread(target=ingest, args=(epoch,)) for epoch in (1, 2)]
    for worker in workers:
        worker.start()
    activation = storage.activate_epoch("bank-a", 2)
    for worker in workers:
        worker.join()

    assert activation.key_epoch == 2
    assert outcomes.count("stored 2") == 30
    assert "stale 2" not in outcomes
    assert storage.active_epoch("bank-a") == 2
    with database(storage_url) as conn:
        epochs = set(conn.execute(select(reports.c.key_epoch).distinct()).scalars())
    assert epochs == {2}
    assert storage.item_count() == 1 + 30 * 10
    assert stored_cells(storage_url) == recount_from_reports(storage_url)
