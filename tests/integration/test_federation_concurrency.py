"""Three partners of three sectors push at once: every count at the hub comes out exact.

The nodes are real `counterflow node push` processes started together against
one hub, on SQLite (one writer at a time behind a lock) and on PostgreSQL
(writers in parallel, ordered by row locks). The expected figures come from the
sample world, which knows what each export holds, not from the product.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.sample_world import (
    build_world,
    hub_batches,
    node_outbox,
    push_all,
)
from support.world_federation import WorldFederation, world_federation

from counterflow.tokens import GroupIds, Tokeniser
from node import outbox
from node.ingest import ingest_file
from node.sources.profile import load_profile
from node.sources.quarantine import QuarantineWriter
from node.store import connect

pytestmark = pytest.mark.slow

PARTNERS = {"bank-north": "bank", "ngo-harbour": "ngo", "platform-ads": "platform"}
BATCH_ITEMS = 100


Federation = WorldFederation


@pytest.fixture
def federation(tmp_path: Path, storage_url: str) -> Iterator[Federation]:
    with world_federation(
        tmp_path, PARTNERS, storage_url, records=600, batch_items=BATCH_ITEMS
    ) as running:
        yield running


def test_simultaneous_pushes_are_stored_once_and_counted_exactly(federation: Federation) -> None:
    world, storage = federation.world, federation.hub.context.storage

    pushed = push_all(federation.homes)

    for pid, report in pushed.items():
        expected = world.partners[pid].items
        assert report["accepted"] == expected
        assert report["rejected"] == 0
        assert report["duplicates"] == 0
        assert report["batches"] == -(-expected // BATCH_ITEMS)
        assert storage.item_count(pid) == expected
    summary = storage.summary()
    assert summary.total_items == world.total_items()
    assert storage.item_count() == world.total_items()
    assert summary.partners == len(PARTNERS)
    assert summary.batches == sum(r["batches"] for r in pushed.values())
    assert summary.cross_sector_tokens == world.cross_sector_identities()
    assert world.cross_sector_identities() > 50  # the data really overlaps across sectors
    _assert_every_batch_stored_once(federation)


def _assert_every_batch_stored_once(federation: Federation) -> None:
    """Each batch the nodes built is at the hub exactly once, with exactly its items."""
    stored, batch_rows, duplicated = hub_batches(federation.database_url)
    assert duplicated == []
    sent = {}
    for pid, home in federation.homes.items():
        outbox = node_outbox(home)
        assert {state for _, _, state in outbox} == {"acked"}
        sent.update({(pid, batch_id): count for batch_id, count, _ in outbox})
    assert stored == sent
    assert batch_rows == sent


def test_two_batch_builders_on_one_node_do_not_collide(tmp_path: Path) -> None:
    """Two `node push` (or `ingest` and `push`) runs on one node home build batches together.

    Seen with two real pushes after a key rotation: the second died with a raw
    sqlite3.IntegrityError. Here the rival build is slotted in deterministically,
    between the moment a build has chosen its rows and the moment it starts writing.
    """
    world = build_world(tmp_path / "exports", {"ngo-harbour": "ngo"}, records=20)
    export = world.partners["ngo-harbour"]
    db = tmp_path / "node.db"
    rival, builder = connect(db), connect(db)
    with QuarantineWriter(tmp_path / "quarantine.jsonl", source="test") as quarantine:
        ingest_file(rival, load_profile(export.profile), export.source, quarantine)
    tokeniser, group_ids = Tokeniser(bytes(32), 1), GroupIds(bytes(range(32)), 1)
    rival_made: list[int] = []

    def build_rival_first(statement: str) -> None:
        if statement.startswith("BEGIN") and not rival_made:
            rival_made.append(outbox.fill(rival, tokeniser, group_ids, 10))

    builder.set_trace_callback(build_rival_first)
    try:
        made = outbox.fill(builder, tokeniser, group_ids, 10)
        batched = builder.execute("SELECT count(*) FROM batch_items").fetchone()[0]
    finally:
        builder.close()
        rival.close()

    assert rival_made == [-(-export.items // 10)]
    assert made == 0  # nothing was left to batch: no error, no second copy
    assert batched == export.items
