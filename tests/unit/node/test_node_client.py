"""The node's client against a real in-process hub over mTLS: acknowledged batches,
bounded retries, and refusals a partner can act on."""

from __future__ import annotations

import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from support.federation import (
    TEST_WEEK,
    hub_settings,
    make_node,
    running_hub,
    shared_keyring,
    write_policy,
)
from support.pki import TestPki, build_test_pki

from counterflow.errors import CounterflowError, ErrorCode, RemoteError
from counterflow.tls import TlsFiles, channel_credentials
from counterflow.v1 import submission_pb2 as pb
from hub.server import RunningHub
from node import outbox
from node.client import HubClient, open_channel
from node.commands._common import tokenisers
from node.settings import NodeSettings
from node.store import connect

PARTNER = "bank-alpha"
PHONES = ["+447911123456", "+447911123457", "+2348031234567", "+40721234567", "+447911123458"]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPki:
    return build_test_pki(tmp_path_factory.mktemp("pki"), [PARTNER, "ngo-beta"])


@pytest.fixture
def hub(tmp_path: Path, pki: TestPki) -> Iterator[RunningHub]:
    write_policy(tmp_path / "policies", PARTNER, countries=("GB", "NG"))
    settings = hub_settings(tmp_path, pki.hub, pki.crl, f"sqlite:///{tmp_path}/hub.db")
    with running_hub(settings) as running:
        yield running


def _node(
    tmp_path: Path, port: int, tls: TlsFiles, partner_id: str = PARTNER, **extra: object
) -> NodeSettings:
    keyring = shared_keyring(tmp_path / "consortium.json")
    return make_node(tmp_path / f"node-{partner_id}", partner_id, tls, port, keyring, **extra)


def _seed(settings: NodeSettings, countries: list[str]) -> sqlite3.Connection:
    """Store one phone per country given, and build the outbox from them."""
    conn = connect(settings.path(settings.database))
    conn.executemany(
        "INSERT INTO indicators (source, record_id, indicator_type, canonical, raw, country, "
        "week, h3_cell, tags, observed_at, ingested_at) "
        "VALUES ('src', ?, 'phone', ?, 'raw', ?, ?, NULL, '', 'x', 'y')",
        [(f"r{i}", PHONES[i], c, TEST_WEEK) for i, c in enumerate(countries)],
    )
    outbox.fill(conn, *tokenisers(settings), settings.batch_items)
    return conn


def _states(conn: sqlite3.Connection) -> list[str]:
    return [str(s) for (s,) in conn.execute("SELECT state FROM outbox ORDER BY seq")]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _direct_channel(settings: NodeSettings, port: int) -> grpc.Channel:
    """A channel that skips the node's own certificate check, as a tampered node would."""
    return grpc.secure_channel(
        f"127.0.0.1:{port}",
        channel_credentials(settings.tls_files()),
        options=[("grpc.ssl_target_name_override", "localhost")],
    )


# -- a hub that answers -----------------------------------------------------------


def test_push_sends_every_batch_and_records_the_answers(
    tmp_path: Path, pki: TestPki, hub: RunningHub
) -> None:
    settings = _node(tmp_path, hub.port, pki.partners[PARTNER], batch_items=2)
    conn = _seed(settings, ["GB", "GB", "NG", "RO", "GB"])
    progress: list[int] = []
    with open_channel(settings) as channel:
        report = HubClient(settings, channel).push(conn, progress.append)
    assert (report.batches, report.accepted, report.rejected) == (3, 4, 1)
    assert report.rejection_reasons == {"COUNTRY_NOT_ALLOWED": 1}
    assert report.duplicates == 0
    assert report.attempts == 1
    assert report.refused_batches == []
    assert progress == [2, 2, 1]
    assert outbox.pending(conn) == []
    assert _states(conn) == ["acked", "acked", "acked"]
    assert conn.execute("SELECT item_index, reason FROM rejections").fetchall() == [
        (1, "COUNTRY_NOT_ALLOWED")
    ]
    assert hub.context.storage.item_count(PARTNER) == 4
    conn.close()


def test_pushing_again_after_a_lost_acknowledgement_stores_nothing_twice(
    tmp_path: Path, pki: TestPki, hub: RunningHub
) -> None:
    settings = _node(tmp_path, hub.port, pki.partners[PARTNER], batch_items=2)
    conn = _seed(settings, ["GB", "GB", "NG"])
    with open_channel(settings) as channel:
        client = HubClient(settings, channel)
        client.push(conn)
        assert client.push(conn).batches == 0  # nothing pending: no call at all
        conn.execute("UPDATE outbox SET state = 'pending'")  # as if the acks were lost
        again = client.push(conn)
    assert (again.batches, again.duplicates, again.accepted) == (2, 2, 3)
    assert hub.context.storage.item_count(PARTNER) == 3
    conn.close()


def test_get_agreement_reads_what_the_hub_enforces(
    tmp_path: Path, pki: TestPki, hub: RunningHub
) -> None:
    settings = _node(tmp_path, hub.port, pki.partners[PARTNER])
    with open_channel(settings) as channel:
        agreement = HubClient(settings, channel).get_agreement()
    assert agreement.partner_id == PARTNER
    assert list(agreement.countries) == ["GB", "NG"]
    assert agreement.active_key_epoch == 0


def test_a_batch_id_reused_with_other_content_is_set_aside(
    tmp_path: Path, pki: TestPki, hub: RunningHub
) -> None:
    settings = _node(tmp_path, hub.port, pki.partners[PARTNER], batch_items=2)
    conn = _seed(settings, ["GB", "GB"])
    sleeps: list[float] = []
    with open_channel(settings) as channel:
        client = HubClient(settings, channel, sleep=sleeps.append)
        client.push(conn)
        [(batch_id, payload)] = conn.execute("SELECT batch_id, payload FROM outbox").fetchall()
        tampered = pb.SubmitBatchRequest.FromString(payload)
        tampered.items[0].country = "NG"
        conn.execute(
            "UPDATE outbox SET state = 'pending', payload = ? WHERE batch_id = ?",
            (tampered.SerializeToString(deterministic=True), batch_id),
        )
        conn.execute(
            "INSERT INTO indicators (source, record_id, indicator_type, canonical, raw, "
            "country, week, h3_cell, tags, observed_at, ingested_at) VALUES "
            "('src', 'late', 'phone', '+447911123459', 'raw', 'GB', ?, NULL, '', 'x', 'y')",
            (TEST_WEEK,),
        )
        outbox.fill(conn, *tokenisers(settings), settings.batch_items)
        with pytest.raises(RemoteError) as caught:
            client.push(conn)
        assert caught.value.code is ErrorCode.BATCH_ID_REUSED
        assert caught.value.status is grpc.StatusCode.ALREADY_EXISTS
        assert caught.value.metadata["batch_id"] == batch_id
        assert sleeps == []
        refusal = conn.execute(
            "SELECT state, refusal FROM outbox WHERE batch_id = ?", (batch_id,)
        ).fetchone()
        assert refusal[0] == "refused"
        assert refusal[1].startswith("BATCH_ID_REUSED: ")
        # The refused batch no longer blocks the rest.
        later = client.push(conn)
    assert (later.batches, later.accepted) == (1, 1)
    assert _states(conn) == ["refused", "acked"]
    assert hub.context.storage.item_count(PARTNER) == 3
    conn.close()


def test_a_malformed_batch_is_set_aside(tmp_path: Path, pki: TestPki, hub: RunningHub) -> None:
    settings = _node(tmp_path, hub.port, pki.partners[PARTNER])
    conn = _seed(settings, ["GB"])
    [(batch_id, payload)] = conn.execute("SELECT batch_id, payload FROM outbox").fetchall()
    broken = pb.SubmitBatchRequest.FromString(payload)
    broken.items[0].token = b"short"
    conn.execute(
        "UPDATE outbox SET payload = ? WHERE batch_id = ?", (broken.SerializeToString(), batch_id)
    )
    with open_channel(settings) as channel, pytest.raises(RemoteError) as caught:
        HubClient(settings, channel).push(conn)
    assert caught.value.code is ErrorCode.INVALID_ITEM
    assert caught.value.violations == [("items[0]", "token must be 32 bytes, got 5")]
    assert _states(conn) == ["refused"]
    assert hub.context.storage.item_count() == 0
    conn.close()


def test_a_refusal_for_the_partner_is_raised_and_leaves_the_outbox_alone(
    tmp_path: Path, pki: TestPki, hub: RunningHub
) -> None:
    write_policy(tmp_path / "policies", PARTNER, status="suspended", version=2)
    settings = _node(tmp_path, hub.port, pki.partners[PARTNER])
    conn = _seed(settings, ["GB"])
    sleeps: list[float] = []
    with open_channel(settings) as channel, pytest.raises(RemoteError) as caught:
        HubClient(settings, channel, sleep=sleeps.append).push(conn)
    assert caught.value.code is ErrorCode.AGREEMENT_NOT_ACTIVE
    assert caught.value.status is grpc.StatusCode.FAILED_PRECONDITION
    assert sleeps == []
    assert _states(conn) == ["pending"]
    conn.close()


def test_a_partner_without_agreement_is_told_so(
    tmp_path: Path, pki: TestPki, hub: RunningHub
) -> None:
    settings = _node(tmp_path, hub.port, pki.partners["ngo-beta"], partner_id="ngo-beta")
    with open_channel(settings) as channel, pytest.raises(RemoteError) as caught:
        HubClient(settings, channel, sleep=lambda _: None).get_agreement()
    assert caught.value.code is ErrorCode.UNKNOWN_PARTNER
    assert caught.value.status is grpc.StatusCode.UNAUTHENTICATED


# -- a hub that does not answer ------------------------------------------------------


def test_nothing_listening_ends_in_hub_unreachable_after_the_budget(
    tmp_path: Path, pki: TestPki
) -> None:
    settings = _node(tmp_path, _free_port(), pki.partners[PARTNER]).model_copy(
        update={"retry_attempts": 5, "retry_initial_seconds": 0.25, "retry_max_seconds": 1.0}
    )
    conn = _seed(settings, ["GB"])
    sleeps: list[float] = []
    with open_channel(settings) as channel, pytest.raises(CounterflowError) as caught:
        HubClient(settings, channel, sleep=sleeps.append).push(conn)
    assert caught.value.code is ErrorCode.HUB_UNREACHABLE
    assert "after 5 attempts" in caught.value.message
    assert sleeps == [0.25, 0.5, 1.0, 1.0]  # one wait between attempts, doubling, capped
    assert _states(conn) == ["pending"]
    conn.close()


def test_unary_calls_share_the_retry_budget(tmp_path: Path, pki: TestPki) -> None:
    settings = _node(tmp_path, _free_port(), pki.partners[PARTNER])
    sleeps: list[float] = []
    with open_channel(settings) as channel, pytest.raises(CounterflowError) as caught:
        HubClient(settings, channel, sleep=sleeps.append).get_agreement()
    assert caught.value.code is ErrorCode.HUB_UNREACHABLE
    assert len(sleeps) == settings.retry_attempts - 1 == 2
    assert sleeps == [0.05, 0.1]


@pytest.mark.parametrize("which", ["foreign", "expired"])
def test_a_refused_certificate_is_reported_without_retrying(
    tmp_path: Path, pki: TestPki, hub: RunningHub, which: str
) -> None:
    files: TlsFiles = getattr(pki, which)
    partner_id = PARTNER if which == "foreign" else pki.expired_id
    settings = _node(tmp_path, hub.port, files, partner_id=partner_id)
    conn = _seed(settings, ["GB"])
    sleeps: list[float] = []
    with _direct_channel(settings, hub.port) as channel, pytest.raises(CounterflowError) as caught:
        HubClient(settings, channel, sleep=sleeps.append).push(conn)
    assert caught.value.code is ErrorCode.CERTIFICATE_REJECTED_BY_HUB
    assert sleeps == []  # one attempt: retrying cannot fix a certificate
    assert _states(conn) == ["pending"]
    assert hub.context.storage.item_count() == 0
    conn.close()


def test_open_channel_checks_the_nodes_own_certificate_first(tmp_path: Path, pki: TestPki) -> None:
    settings = _node(tmp_path, _free_port(), pki.foreign)
    with pytest.raises(CounterflowError) as caught:
        open_channel(settings)
    assert caught.value.code is ErrorCode.INVALID_CONFIG
    assert "was not issued by the CA" in caught.value.message
