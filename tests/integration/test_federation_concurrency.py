"""Three partners of three sectors push at once: every count at the hub comes out exact.

The nodes are real `counterflow node push` processes started together against
one hub, on SQLite (one writer at a time behind a lock) and on PostgreSQL
(writers in parallel, ordered by row locks). The expected figures come from the
sample world, which knows what each export holds, not from the product.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select
from support.federation import (
    hub_settings,
    make_node,
    running_hub,
    shared_keyring,
    write_policy,
)
from support.pki import build_test_pki
from support.sample_world import World, build_world, ingest_all, push_all

from hub.server import RunningHub
from hub.storage.schema import batches, reports

pytestmark = pytest.mark.slow

PARTNERS = {"bank-north": "bank", "ngo-harbour": "ngo", "platform-ads": "platform"}
BATCH_ITEMS = 100


@dataclass
class Federation:
    world: World
    hub: RunningHub
    database_url: str
    homes: dict[str, Path]


@pytest.fixture
def federation(tmp_path: Path, storage_url: str) -> Iterator[Federation]:
    pki = build_test_pki(tmp_path / "pki", list(PARTNERS))
    for partner_id, sector in PARTNERS.items():
        write_policy(tmp_path / "hub" / "policies", partner_id, sector=sector)
    world = build_world(tmp_path / "exports", PARTNERS, records=600)
    keyring = shared_keyring(tmp_path / "consortium.json")
    settings = hub_settings(tmp_path / "hub", pki.hub, pki.crl, storage_url)
    with running_hub(settings) as hub:
        homes = {pid: tmp_path / "nodes" / pid for pid in PARTNERS}
        for pid, home in homes.items():
            make_node(home, pid, pki.partners[pid], hub.port, keyring, batch_items=BATCH_ITEMS)
        ingest_all(world, homes)
        yield Federation(world, hub, storage_url, homes)


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
    stored, batch_rows, duplicated = _hub_batches(federation.database_url)
    assert duplicated == []
    sent = {}
    for pid, home in federation.homes.items():
        outbox = _outbox(home)
        assert {state for _, _, state in outbox} == {"acked"}
        sent.update({(pid, batch_id): count for batch_id, count, _ in outbox})
    assert stored == sent
    assert batch_rows == sent


def _hub_batches(
    url: str,
) -> tuple[dict[tuple[str, str], int], dict[tuple[str, str], int], list[object]]:
    """Items per stored batch, the batches table, and any (partner, batch, index) stored twice."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            duplicated = list(
                conn.execute(
                    select(reports.c.partner_id, reports.c.batch_id, reports.c.item_index)
                    .group_by(reports.c.partner_id, reports.c.batch_id, reports.c.item_index)
                    .having(func.count() > 1)
                ).all()
            )
            stored = {
                (row.partner_id, row.batch_id): int(row.items)
                for row in conn.execute(
                    select(
                        reports.c.partner_id, reports.c.batch_id, func.count().label("items")
                    ).group_by(reports.c.partner_id, reports.c.batch_id)
                )
            }
            batch_rows = {
                (row.partner_id, row.batch_id): int(row.accepted)
                for row in conn.execute(
                    select(batches.c.partner_id, batches.c.batch_id, batches.c.accepted)
                )
            }
    finally:
        engine.dispose()
    return stored, batch_rows, duplicated


def _outbox(home: Path) -> list[tuple[str, int, str]]:
    conn = sqlite3.connect(f"file:{home / 'node.db'}?mode=ro", uri=True)
    try:
        return [
            (str(b), int(n), str(s))
            for b, n, s in conn.execute("SELECT batch_id, item_count, state FROM outbox")
        ]
    finally:
        conn.close()
