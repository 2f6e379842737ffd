"""The hub dies (SIGKILL) in the middle of a push; after a restart every item is there once.

The hub is a real `counterflow hub serve` process on a SQLite file or on
PostgreSQL; the node is a real `counterflow node push` process sending many
small batches. The test watches the node's outbox and kills the hub once a
third of the batches are acknowledged, so at the crash there are batches
stored and acknowledged, usually some stored but never acknowledged (the
answer was lost with the hub), and batches never stored. The node must give
up with "hub unreachable" and a non-zero exit; a second push to the hub,
restarted on the same port, must leave each item stored exactly once.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select
from support.federation import (
    HubProcess,
    cli,
    hub_settings,
    make_node,
    shared_keyring,
    start_hub_process,
    write_hub_config,
    write_policy,
)
from support.pki import build_test_pki
from support.sample_world import build_world, hub_batches, ingest_all, node_outbox, push_command

from hub.storage.engine import open_storage
from hub.storage.schema import batches

pytestmark = pytest.mark.slow

PARTNER, SECTOR = "ngo-harbour", "ngo"
BATCH_ITEMS = 50
RECORDS = 1000  # about 3,400 items, about 68 batches
POLL_SECONDS = 0.002


def test_push_survives_a_hub_killed_mid_stream(tmp_path: Path, storage_url: str) -> None:
    pki = build_test_pki(tmp_path / "pki", [PARTNER])
    write_policy(tmp_path / "hub" / "policies", PARTNER, sector=SECTOR)
    world = build_world(tmp_path / "exports", {PARTNER: SECTOR}, records=RECORDS)
    items = world.partners[PARTNER].items
    settings = hub_settings(tmp_path / "hub", pki.hub, pki.crl, storage_url)
    log = tmp_path / "hub" / "hub.log"
    hub = start_hub_process(
        write_hub_config(tmp_path / "hub" / "hub.toml", settings, "127.0.0.1:0"), log
    )
    try:
        home = tmp_path / "node"
        keyring = shared_keyring(tmp_path / "consortium.json")
        make_node(home, PARTNER, pki.partners[PARTNER], hub.port, keyring, batch_items=BATCH_ITEMS)
        built = ingest_all(world, {PARTNER: home})[PARTNER]["batches_built"]
        assert built == -(-items // BATCH_ITEMS)

        failed, stored_at_crash = _push_and_kill_hub(home, hub, storage_url, built)
    finally:
        hub.stop()

    assert failed.returncode == 1, failed.stderr
    error = json.loads(failed.stdout)["error"]
    assert error["code"] == "HUB_UNREACHABLE", error
    assert "hub unreachable" in error["message"]
    outbox = node_outbox(home)
    acked = sum(1 for _, _, state in outbox if state == "acked")
    assert 0 < acked <= stored_at_crash < built
    if storage_url.startswith("sqlite"):
        _assert_sqlite_intact(storage_url)

    restarted = start_hub_process(
        write_hub_config(tmp_path / "hub" / "hub-again.toml", settings, f"127.0.0.1:{hub.port}"),
        log,
    )
    try:
        assert restarted.port == hub.port
        report = json.loads(cli("node", "push", "--home", str(home), "--format", "json").stdout)
    finally:
        restarted.stop()

    # Only unacknowledged batches go again; those the hub stored before dying are replayed.
    assert report["batches"] == built - acked
    assert report["duplicates"] == stored_at_crash - acked
    assert report["rejected"] == 0
    assert report["accepted"] == sum(n for _, n, state in outbox if state == "pending")
    assert {state for _, _, state in node_outbox(home)} == {"acked"}
    _assert_stored_exactly_once(storage_url, home, items, built)


def _push_and_kill_hub(
    home: Path, hub: HubProcess, url: str, built: int
) -> tuple[subprocess.CompletedProcess[str], int]:
    """Start the push, SIGKILL the hub once the node has a third of its batches acknowledged.

    Returns the finished push and the number of batches the dead hub had stored.
    """
    push = subprocess.Popen(
        push_command(home), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 120
    while (acked := _acked(home)) < built // 3:
        assert push.poll() is None, f"push ended before the crash:\n{push.communicate()}"
        assert time.monotonic() < deadline, "no progress from the push"
        time.sleep(POLL_SECONDS)
    hub.kill()
    at_crash = _stored_batches(url)
    assert at_crash < built, (
        f"the hub stored all {built} batches before the kill landed ({acked} acknowledged): "
        "raise RECORDS so that the crash hits mid-stream"
    )
    out, err = push.communicate(timeout=120)
    return subprocess.CompletedProcess(push.args, push.returncode, out, err), at_crash


def _acked(home: Path) -> int:
    """Batches the node has marked acknowledged, read beside the running push (WAL)."""
    conn = sqlite3.connect(f"file:{home / 'node.db'}?mode=ro", uri=True, timeout=10)
    try:
        return int(conn.execute("SELECT count(*) FROM outbox WHERE state = 'acked'").fetchone()[0])
    finally:
        conn.close()


def _stored_batches(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(batches)).scalar_one())
    finally:
        engine.dispose()


def _assert_sqlite_intact(url: str) -> None:
    conn = sqlite3.connect(url.removeprefix("sqlite:///"))
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    finally:
        conn.close()


def _assert_stored_exactly_once(url: str, home: Path, items: int, built: int) -> None:
    stored, accepted, duplicated = hub_batches(url)
    assert duplicated == []
    sent = {(PARTNER, batch_id): n for batch_id, n, _ in node_outbox(home)}
    assert len(sent) == built
    assert stored == sent
    assert accepted == sent
    storage = open_storage(url)
    try:
        assert storage.item_count(PARTNER) == items
        summary = storage.summary()
    finally:
        storage.close()
    assert summary.total_items == items
    assert summary.batches == built
