"""A consortium key rotation: nodes re-tokenise, the hub swaps epochs without double counting.

After `counterflow node key rotate` a node's next push sends everything it
holds again under the new epoch. The hub keeps those items staged (not
counted) until the node's push completes and calls ActivateEpoch; then it
drops the partner's older items and counts the new ones, in one transaction.
Tokens of two epochs never match, so cross-sector matches come back only once
every partner has moved to the new key.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import grpc
import pytest
from sqlalchemy import create_engine, select
from support.federation import (
    TEST_WEEK,
    cli,
)
from support.sample_world import push_all
from support.world_federation import WorldFederation, world_federation

from counterflow.errors import ErrorCode
from counterflow.indicators import IndicatorType
from counterflow.rpc_status import from_rpc_error
from counterflow.tls import channel_credentials
from counterflow.tokens import SCHEME_VERSION, GroupIds, Tokeniser
from counterflow.v1 import submission_pb2 as pb
from counterflow.v1 import submission_pb2_grpc as pb_grpc
from hub.storage.interface import Summary
from hub.storage.schema import reports
from node import outbox
from node.client import HubClient, open_channel
from node.commands._common import tokenisers
from node.keyring import Keyring, node_secret
from node.settings import load_node_settings
from node.store import connect

pytestmark = pytest.mark.slow

ROTATING, FOLLOWING = "bank-north", "ngo-harbour"
PARTNERS = {ROTATING: "bank", FOLLOWING: "ngo"}
BATCH_ITEMS = 200
PASSPHRASE = "rotation day passphrase"
JSON = ("--format", "json")


Federation = WorldFederation


@pytest.fixture
def federation(tmp_path: Path, storage_url: str) -> Iterator[Federation]:
    with world_federation(
        tmp_path, PARTNERS, storage_url, records=400, batch_items=BATCH_ITEMS
    ) as running:
        yield running


def test_key_rotation_swaps_epochs_without_double_counting(
    federation: Federation, tmp_path: Path
) -> None:
    world, storage = federation.world, federation.hub.context.storage
    push_all(federation.homes)
    before = storage.summary()
    assert before.cross_sector_tokens == world.cross_sector_identities() > 0
    epoch1_tokens = _tokens(federation.database_url, ROTATING)

    _rotate_and_share(federation.homes[ROTATING], federation.homes[FOLLOWING], tmp_path)
    _push_rotated_with_cli(federation, epoch1_tokens, before)
    _refuse_an_old_epoch_batch(federation)
    _stage_then_activate(federation, before)

    # Both partners on epoch 2: every figure is back, cross-sector matches included;
    # the hub remembers every batch it stored, so both pushes count there.
    after = storage.summary()
    assert replace(after, batches=0) == replace(before, batches=0)
    assert after.batches == 2 * before.batches


def _push_rotated_with_cli(
    federation: Federation, epoch1_tokens: dict[bytes, int], before: Summary
) -> None:
    """The rotating node re-sends all it holds; its push ends by activating epoch 2."""
    storage, items = federation.hub.context.storage, federation.world.partners[ROTATING].items
    home = federation.homes[ROTATING]
    report = json.loads(cli("node", "push", "--home", str(home), *JSON).stdout)

    assert report["key_epoch"] == 2
    assert report["epoch_activated"] is True
    assert report["accepted"] == items
    assert report["duplicates"] == 0
    assert storage.active_epoch(ROTATING) == 2
    assert storage.item_count(ROTATING) == items
    epoch2_tokens = _tokens(federation.database_url, ROTATING)
    assert set(epoch2_tokens.values()) == {2}
    assert len(epoch2_tokens) == len(epoch1_tokens)
    assert epoch2_tokens.keys().isdisjoint(epoch1_tokens.keys())
    after = storage.summary()
    assert after.total_items == before.total_items
    assert after.cells == before.cells
    # Until the other partner has moved too, no token can match across the two sectors.
    assert after.cross_sector_tokens == 0


def _refuse_an_old_epoch_batch(federation: Federation) -> None:
    storage = federation.hub.context.storage
    counted = storage.summary()
    stale = _epoch1_batch(federation.homes[ROTATING])
    credentials = channel_credentials(federation.pki.partners[ROTATING])
    options = [("grpc.ssl_target_name_override", "localhost")]
    target = f"127.0.0.1:{federation.hub.port}"
    with (
        grpc.secure_channel(target, credentials, options) as channel,
        pytest.raises(grpc.RpcError) as caught,
    ):
        list(pb_grpc.SubmissionStub(channel).SubmitBatches(iter([stale]), timeout=30))

    error = from_rpc_error(caught.value)
    assert error.status == grpc.StatusCode.FAILED_PRECONDITION
    assert error.code == ErrorCode.STALE_KEY_EPOCH
    assert error.metadata["batch_id"] == stale.batch_id
    assert storage.summary() == counted
    assert storage.item_count(ROTATING) == federation.world.partners[ROTATING].items


def _stage_then_activate(federation: Federation, before: Summary) -> None:
    """The following node pushes in two steps, so the staged state can be looked at."""
    storage, items = federation.hub.context.storage, federation.world.partners[FOLLOWING].items
    settings = load_node_settings(federation.homes[FOLLOWING])
    tokeniser, group_ids = tokenisers(settings)
    assert tokeniser.epoch == 2
    channel = open_channel(settings)
    conn = connect(settings.path(settings.database))
    try:
        client = HubClient(settings, channel)
        outbox.fill(conn, tokeniser, group_ids, settings.batch_items)
        assert client.push(conn).accepted == items

        assert storage.active_epoch(FOLLOWING) == 1
        assert storage.item_count(FOLLOWING) == 2 * items  # both epochs held...
        staged = storage.summary()
        assert staged.total_items == before.total_items  # ...only the active one counted
        assert staged.cross_sector_tokens == 0

        activation = client.activate_epoch(2)
    finally:
        conn.close()
        channel.close()
    assert (activation.items_active, activation.items_removed) == (items, items)
    assert storage.item_count(FOLLOWING) == items


def _rotate_and_share(rotating: Path, following: Path, tmp_path: Path) -> None:
    """Rotate on one node and hand the new keyring to the other, as partners do."""
    rotated = json.loads(cli("node", "key", "rotate", "--home", str(rotating), *JSON).stdout)
    assert rotated["current"] == 2
    secret = tmp_path / "passphrase.txt"
    secret.write_text(PASSPHRASE + "\n")
    os.chmod(secret, 0o600)
    export = str(tmp_path / "consortium-epoch-2.export")
    passphrase = ("--passphrase-file", str(secret))
    cli("node", "key", "export", export, *passphrase, "--home", str(rotating))
    imported = cli("node", "key", "import", export, *passphrase, "--home", str(following), *JSON)
    assert json.loads(imported.stdout)["current"] == 2


def _tokens(url: str, partner_id: str) -> dict[bytes, int]:
    """Every token the hub holds for the partner, with its key epoch."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(reports.c.token, reports.c.key_epoch).where(
                    reports.c.partner_id == partner_id
                )
            ).all()
    finally:
        engine.dispose()
    return {bytes(token): int(epoch) for token, epoch in rows}


def _epoch1_batch(home: Path) -> pb.SubmitBatchRequest:
    """A well-formed batch the node could have built before the rotation."""
    settings = load_node_settings(home)
    tokeniser = Tokeniser(Keyring.load(settings.path(settings.keyring)).key(1), 1)
    group_ids = GroupIds(node_secret(settings.path(settings.node_secret)), 1)
    request = pb.SubmitBatchRequest(batch_id=uuid.uuid4().hex)
    request.items.add(
        index=0,
        scheme_version=SCHEME_VERSION,
        key_epoch=1,
        token=tokeniser.token(IndicatorType.PHONE, "+447912000001"),
        indicator_type=IndicatorType.PHONE.wire,
        group_id=group_ids.group_id("late-record"),
        country="GB",
        week=TEST_WEEK,
    )
    return request
