"""Nothing a hub holds, logs or receives reveals an indicator or the consortium key.

The checks read bytes, not APIs: the hub's database files (or every value of
every PostgreSQL table), its log, its whole folder, and the exact messages a
node put on the wire. They look for every spelling of every indicator in the
partners' exports (as written, canonical, lower-case, digits only, IBANs
without spaces) and for every key in raw, hex and base64 form. Each search is
first shown to find what it looks for where it must be (a node's own store and
keyring), so that an empty result means something.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
import threading
from collections.abc import Iterator, Mapping
from concurrent import futures
from pathlib import Path

import grpc
import pytest
from google.protobuf import unknown_fields  # type: ignore[attr-defined]  # no stub yet
from google.protobuf.message import Message
from support.federation import (
    ALL_TYPES,
    hub_settings,
    make_node,
    shared_keyring,
    start_hub_process,
    write_hub_config,
    write_policy,
)
from support.pki import TestPki, build_test_pki
from support.privacy import (
    LeakFinder,
    dump_tables,
    read_tree,
    scan,
    scan_as,
    secret_encodings,
    secrets_in,
    start_hub_as,
)
from support.sample_world import World, build_world, ingest_all, push_all

from counterflow.tls import TlsFiles, server_credentials
from counterflow.v1 import submission_pb2 as pb
from counterflow.wire import disallowed_fields
from node.keyring import Keyring

pytestmark = pytest.mark.slow

PARTNERS = {"bank-north": "bank", "ngo-harbour": "ngo", "platform-ads": "platform"}
RECORDS = 400
NOBODY = 65534
REPO = Path(__file__).resolve().parents[2]
# The platform may not share e-mail addresses: its e-mails are refused item by item,
# so the hub's refusal path (stored answers, log lines) is searched too.
POLICY_TYPES = {"platform-ads": ("phone", "url")}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return build_world(tmp_path_factory.mktemp("exports"), PARTNERS, records=RECORDS)


@pytest.fixture(scope="module")
def finder(world: World) -> LeakFinder:
    return LeakFinder(world.raw_forms())


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPki:
    return build_test_pki(tmp_path_factory.mktemp("pki"), list(PARTNERS))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def hub_database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The hub's database: a file inside the hub's folder, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        (tmp_path / "hub").mkdir()
        return f"sqlite:///{tmp_path / 'hub' / 'hub.db'}"
    url: str = request.getfixturevalue("pg_database_url")
    return url


def hub_folder(root: Path, pki: TestPki, database_url: str) -> Path:
    """A hub laid out as an operator would: config, TLS, policies, database, log in one folder."""
    hub_dir = root / "hub"
    (hub_dir / "tls").mkdir(parents=True, exist_ok=True)
    names = {"cert": "hub.crt", "key": "hub.key", "ca": "ca.crt"}
    copies = {}
    for field, name in names.items():
        copies[field] = hub_dir / "tls" / name
        shutil.copyfile(getattr(pki.hub, field), copies[field])
    shutil.copyfile(pki.crl, hub_dir / "tls" / "crl.pem")
    for partner_id, sector in PARTNERS.items():
        write_policy(
            hub_dir / "policies",
            partner_id,
            sector=sector,
            types=POLICY_TYPES.get(partner_id, ALL_TYPES),
        )
    settings = hub_settings(hub_dir, TlsFiles(**copies), hub_dir / "tls" / "crl.pem", database_url)
    write_hub_config(hub_dir / "hub.toml", settings, "127.0.0.1:0")
    return hub_dir


def node_homes(parent: Path, pki: TestPki, port: int, keyring: Path) -> dict[str, Path]:
    homes = {pid: parent / pid for pid in PARTNERS}
    for pid, home in homes.items():
        make_node(home, pid, pki.partners[pid], port, keyring, batch_items=250)
    return homes


def key_patterns(homes: Mapping[str, Path]) -> dict[str, bytes]:
    """Every consortium key epoch and every node secret, in every encoding."""
    patterns: dict[str, bytes] = {}
    for pid, home in homes.items():
        for epoch in Keyring.load(home / "keys" / "consortium.json").epochs():
            patterns.update(secret_encodings(f"consortium-epoch-{epoch.number}", epoch.key))
        patterns.update(
            secret_encodings(f"{pid}-node-secret", (home / "keys" / "node-secret").read_bytes())
        )
    return patterns


# -- (a) and (b): the hub's database, log and folder ------------------------------------


def test_hub_holds_no_raw_value_and_no_key(
    tmp_path: Path, hub_database: str, pki: TestPki, world: World, finder: LeakFinder
) -> None:
    hub_dir = hub_folder(tmp_path, pki, hub_database)
    hub = start_hub_process(hub_dir / "hub.toml", hub_dir / "hub.log")
    try:
        keyring = shared_keyring(tmp_path / "consortium.json")
        homes = node_homes(tmp_path / "nodes", pki, hub.port, keyring)
        ingest_all(world, homes)
        pushed = push_all(homes)
        # While the hub runs, recent pages may sit only in SQLite's write-ahead log.
        seen_running = _hub_bytes(hub_dir, hub_database)
    finally:
        hub.stop()
    seen = {
        **seen_running,
        **{f"{name} (stopped)": v for name, v in _hub_bytes(hub_dir, hub_database).items()},
    }
    patterns = key_patterns(homes)
    _assert_searches_work(homes, finder, patterns)
    log = seen[str(hub_dir / "hub.log")]
    assert b"accepted" in log  # the log is there and was written
    assert pushed["platform-ads"]["rejection_reasons"]  # the refusal path ran

    raw_values = {name: found for name, blob in seen.items() if (found := finder.found_in(blob))}
    keys = {name: found for name, blob in seen.items() if (found := secrets_in(blob, patterns))}
    logged_tokens = _token_finder(homes).found_in(log)

    assert raw_values == {}
    assert keys == {}
    assert logged_tokens == []


def _hub_bytes(hub_dir: Path, database_url: str) -> dict[str, bytes]:
    """The hub's whole folder (database files, log, config, TLS, policies) and, on PostgreSQL,
    every value of every table."""
    seen = read_tree(hub_dir)
    if not database_url.startswith("sqlite"):
        seen["postgresql tables"] = dump_tables(database_url)
    else:
        assert str(hub_dir / "hub.db") in seen
    return seen


def _token_finder(homes: Mapping[str, Path]) -> LeakFinder:
    """Every token the nodes sent, as hex and base64: the database holds them, a log must not."""
    encoded: set[str] = set()
    for home in homes.values():
        conn = sqlite3.connect(f"file:{home / 'node.db'}?mode=ro", uri=True)
        try:
            for (token,) in conn.execute("SELECT token FROM batch_items"):
                encodings = secret_encodings("token", bytes(token))
                encoded.update(v.decode() for k, v in encodings.items() if not k.endswith("/raw"))
        finally:
            conn.close()
    return LeakFinder(encoded)


def _assert_searches_work(
    homes: Mapping[str, Path], finder: LeakFinder, patterns: Mapping[str, bytes]
) -> None:
    """A node's own store holds raw values and its keyring the key: the searches must see them."""
    for home in homes.values():
        assert finder.found_in((home / "node.db").read_bytes())
        assert secrets_in((home / "keys" / "consortium.json").read_bytes(), patterns)


# -- (c): the bytes a node actually puts on the wire ---------------------------------------


class Recorder:
    """A stand-in hub that keeps every request exactly as it arrived, undecoded."""

    def __init__(self) -> None:
        self.messages: list[tuple[type[Message], bytes]] = []
        self._lock = threading.Lock()

    def handler(self) -> grpc.GenericRpcHandler:
        return grpc.method_handlers_generic_handler(
            "counterflow.v1.Submission",
            {
                "SubmitBatches": grpc.stream_stream_rpc_method_handler(
                    self._submit,
                    request_deserializer=_identity,
                    response_serializer=pb.SubmitBatchResponse.SerializeToString,
                ),
                "GetAgreement": grpc.unary_unary_rpc_method_handler(
                    self._agreement,
                    request_deserializer=_identity,
                    response_serializer=pb.GetAgreementResponse.SerializeToString,
                ),
                "ActivateEpoch": grpc.unary_unary_rpc_method_handler(
                    self._activate,
                    request_deserializer=_identity,
                    response_serializer=pb.ActivateEpochResponse.SerializeToString,
                ),
            },
        )

    def _record(self, kind: type[Message], raw: bytes) -> None:
        with self._lock:
            self.messages.append((kind, raw))

    def _submit(
        self, requests: Iterator[bytes], context: grpc.ServicerContext
    ) -> Iterator[pb.SubmitBatchResponse]:
        for raw in requests:
            self._record(pb.SubmitBatchRequest, raw)
            batch = pb.SubmitBatchRequest.FromString(raw)
            yield pb.SubmitBatchResponse(batch_id=batch.batch_id, accepted=len(batch.items))

    def _agreement(self, raw: bytes, context: grpc.ServicerContext) -> pb.GetAgreementResponse:
        self._record(pb.GetAgreementRequest, raw)
        return pb.GetAgreementResponse(active_key_epoch=1)

    def _activate(self, raw: bytes, context: grpc.ServicerContext) -> pb.ActivateEpochResponse:
        self._record(pb.ActivateEpochRequest, raw)
        return pb.ActivateEpochResponse(key_epoch=pb.ActivateEpochRequest.FromString(raw).key_epoch)


def _identity(raw: bytes) -> bytes:
    return raw


@pytest.fixture
def recorder(pki: TestPki) -> Iterator[tuple[Recorder, int]]:
    recording = Recorder()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((recording.handler(),))
    port = server.add_secure_port("127.0.0.1:0", server_credentials(pki.hub))
    server.start()
    try:
        yield recording, port
    finally:
        server.stop(None).wait()


def test_wire_carries_only_allowed_fields_and_no_raw_value(
    tmp_path: Path, recorder: tuple[Recorder, int], pki: TestPki, world: World, finder: LeakFinder
) -> None:
    recording, port = recorder
    homes = node_homes(tmp_path / "nodes", pki, port, shared_keyring(tmp_path / "consortium.json"))
    ingest_all(world, homes)
    push_all(homes)

    batches = [raw for kind, raw in recording.messages if kind is pb.SubmitBatchRequest]
    sent = sum(len(pb.SubmitBatchRequest.FromString(raw).items) for raw in batches)
    assert sent == world.total_items()
    for kind, raw in recording.messages:
        message = kind.FromString(raw)
        assert disallowed_fields(message) == []
        assert _unknown_fields(message) == []
        assert message.SerializeToString(deterministic=True) == raw
    wire = b"\n".join(raw for _, raw in recording.messages)
    assert finder.found_in(wire) == []


def _unknown_fields(message: Message) -> list[str]:
    """Fields the schema does not know, at any depth: protobuf keeps and re-sends them."""
    found = [message.DESCRIPTOR.full_name] * len(unknown_fields.UnknownFieldSet(message))
    for field, value in message.ListFields():
        if field.message_type is not None:
            for child in value if field.is_repeated else [value]:
                found.extend(_unknown_fields(child))
    return found


# -- (d): the hub under its own uid ----------------------------------------------------------


@pytest.mark.root
def test_hub_uid_can_read_no_copy_of_the_key(tmp_path: Path, pki: TestPki, world: World) -> None:
    """What a hub operator's account could read, after a real federation run, holds no key.

    The one-machine demo runs hub and nodes as one user, so it cannot show this
    separation: here the hub runs as nobody (65534) with its own folder, the
    nodes' folders are root's and 0700, and a scanner running as nobody opens
    every file it can under the hub's folder, the nodes' parent folder, /tmp and
    the repository.
    """
    if os.geteuid() != 0:
        pytest.skip("needs root to run the hub and the scanner under another uid")
    base = Path(tempfile.mkdtemp(prefix="counterflow-uid-", dir="/tmp"))
    try:
        os.chmod(base, 0o755)
        hub_dir = hub_folder(base, pki, f"sqlite:///{base / 'hub' / 'hub.db'}")
        _give_to(hub_dir, NOBODY)
        hub = start_hub_as(NOBODY, NOBODY, hub_dir / "hub.toml", hub_dir / "hub.log")
        try:
            nodes = base / "nodes"
            nodes.mkdir(mode=0o755)
            homes = node_homes(nodes, pki, hub.port, shared_keyring(tmp_path / "consortium.json"))
            for home in homes.values():
                os.chmod(home, 0o700)
            ingest_all(world, homes)
            push_all(homes)
        finally:
            hub.stop()
        patterns = key_patterns(homes)

        as_hub = scan_as(NOBODY, NOBODY, [hub_dir, nodes, Path("/tmp"), REPO], patterns)
        as_root = scan([str(nodes)], patterns)
    finally:
        shutil.rmtree(base, ignore_errors=True)

    assert as_hub["hits"] == []
    assert str(hub_dir / "hub.db") in as_hub["read"]  # the hub's own data was searched
    assert not any(path.startswith(str(nodes) + "/") for path in as_hub["read"])
    found_by_root = {hit["path"] for hit in as_root["hits"]}
    assert {str(home / "keys" / "consortium.json") for home in homes.values()} <= found_by_root


def _give_to(folder: Path, uid: int) -> None:
    os.chmod(folder, 0o700)
    for path in [folder, *folder.rglob("*")]:
        os.chown(path, uid, uid)
