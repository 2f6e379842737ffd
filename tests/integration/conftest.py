"""Fixtures for integration tests against a real hub: mTLS gRPC on 127.0.0.1:0, SQLite.

One PKI per session (`pki`), one hub per module (`federation`). A module tunes
its hub by overriding two module-scoped fixtures:

- `federation_policies`: partner id -> keyword arguments of `write_policy`
  (the default gives every partner in DEFAULT_POLICIES an agreement, and
  deliberately none to NO_POLICY_PARTNER);
- `federation_settings`: HubSettings field updates, e.g. ``{"max_batch_items": 50}``.

`federation_factory` starts extra hubs inside one test. Hand-made wire messages
come from the `wire` fixture (deterministic tokens, valid unless told otherwise).
The hub reads its own copy of the CRL (`Federation.crl_path`): revoking at the
CA changes nothing at the hub until `Federation.publish_crl()` copies it over,
as an operator would.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
from support.federation import (
    TEST_NOW,
    TEST_WEEK,
    hub_settings,
    make_node,
    running_hub,
    shared_keyring,
    write_policy,
)
from support.pki import TestPki, build_test_pki

from counterflow.indicators import IndicatorType
from counterflow.tls import TlsFiles, channel_credentials
from counterflow.v1 import submission_pb2 as pb
from counterflow.v1 import submission_pb2_grpc as pb_grpc
from hub.server import RunningHub
from hub.settings import HubSettings
from hub.storage import Storage
from node.settings import NodeSettings

# Partners with a certificate from the session CA. NO_POLICY_PARTNER never gets an
# agreement by default; the others in DEFAULT_POLICIES do.
PARTNERS = (
    "bank-alpha",
    "bank-beta",
    "ngo-harbour",
    "platform-classifieds",
    "bank-lapsed",
    "bank-future",
    "bank-suspended",
    "bank-editable",
    "bank-strict",
    "bank-nopolicy",
)
NO_POLICY_PARTNER = "bank-nopolicy"
HUB_NAME = "localhost"
RPC_TIMEOUT = 30.0

DEFAULT_POLICIES: Mapping[str, Mapping[str, Any]] = {
    # bank, every type, GB NL NG RO (write_policy's defaults)
    "bank-alpha": {},
    "bank-beta": {},
    "ngo-harbour": {"sector": "ngo", "types": ("phone", "email", "url"), "countries": ("GB", "NG")},
    "platform-classifieds": {
        "sector": "platform",
        "types": ("phone", "url", "adfp"),
        "countries": ("*",),
    },
}


def partner_channel(port: int, files: TlsFiles) -> grpc.Channel:
    """A partner's mTLS channel to a hub on loopback; the caller closes it."""
    return grpc.secure_channel(
        f"127.0.0.1:{port}",
        channel_credentials(files),
        options=[("grpc.ssl_target_name_override", HUB_NAME), ("grpc.enable_retries", 0)],
    )


class Wire:
    """Builders for hand-made SubmitBatchRequests; every default makes a valid item.

    Tokens are SHA-256 of a seed, so a test's batches are the same bytes on every run.
    """

    @staticmethod
    def token(seed: str) -> bytes:
        return hashlib.sha256(f"token/{seed}".encode()).digest()

    @staticmethod
    def group_id(seed: str) -> bytes:
        return hashlib.sha256(f"group/{seed}".encode()).digest()[:16]

    @staticmethod
    def item(
        index: int,
        *,
        seed: str = "",
        indicator_type: IndicatorType | int = IndicatorType.PHONE,
        country: str = "GB",
        week: str = TEST_WEEK,
        key_epoch: int = 1,
        scheme_version: int = 1,
        token: bytes | None = None,
        group_id: bytes | None = None,
        h3_cell: str = "",
        tags: Iterable[str] = (),
    ) -> pb.TokenItem:
        wire_type = (
            indicator_type.wire if isinstance(indicator_type, IndicatorType) else indicator_type
        )
        name = f"{seed}/{index}"
        return pb.TokenItem(
            index=index,
            scheme_version=scheme_version,
            key_epoch=key_epoch,
            token=Wire.token(name) if token is None else token,
            indicator_type=wire_type,
            group_id=Wire.group_id(name) if group_id is None else group_id,
            country=country,
            week=week,
            h3_cell=h3_cell,
            typology_tags=list(tags),
        )

    @staticmethod
    def batch(batch_id: str, items: Iterable[pb.TokenItem]) -> pb.SubmitBatchRequest:
        return pb.SubmitBatchRequest(batch_id=batch_id, items=list(items))

    @staticmethod
    def good_batch(batch_id: str, count: int = 3, **fields: Any) -> pb.SubmitBatchRequest:
        """`count` valid items seeded by the batch id, so two batch ids never share a token."""
        fields.setdefault("seed", batch_id)
        return Wire.batch(batch_id, [Wire.item(i, **fields) for i in range(count)])


CellKey = tuple[int, str, str, str]


@dataclass
class Federation:
    """A running hub with its policies, its CRL copy, and channels for partners."""

    root: Path
    pki: TestPki
    settings: HubSettings
    hub: RunningHub
    extra_partners: dict[str, TlsFiles] = field(default_factory=dict)
    _channels: dict[Path, grpc.Channel] = field(default_factory=dict)

    @property
    def port(self) -> int:
        return self.hub.port

    @property
    def storage(self) -> Storage:
        return self.hub.context.storage

    @property
    def policies_dir(self) -> Path:
        return self.settings.policies_dir

    @property
    def crl_path(self) -> Path:
        assert self.settings.tls.crl is not None
        return self.settings.tls.crl

    # -- identities ------------------------------------------------------------------

    def files(self, who: str | TlsFiles) -> TlsFiles:
        """A partner's TLS files by id (session partners, then ones issued here)."""
        if isinstance(who, TlsFiles):
            return who
        if who in self.extra_partners:
            return self.extra_partners[who]
        if who == self.pki.expired_id:
            return self.pki.expired
        if who == self.pki.revoked_id:
            return self.pki.revoked
        return self.pki.partners[who]

    def issue_partner(self, partner_id: str) -> TlsFiles:
        """A new certificate from the session CA, for a partner id no other test uses."""
        out = self.root / "issued" / partner_id
        cert, key = self.pki.authority().issue_partner(partner_id, out)
        files = TlsFiles(cert=cert, key=key, ca=self.pki.ca_cert)
        self.extra_partners[partner_id] = files
        return files

    def publish_crl(self) -> None:
        """Copy the CA's current CRL over the hub's copy (in place, as `cp` would)."""
        shutil.copyfile(self.pki.crl, self.crl_path)

    # -- policies ------------------------------------------------------------------

    def write_policy(self, partner_id: str, **kwargs: Any) -> Path:
        """Write (or rewrite) an agreement the running hub picks up on its next call."""
        path = self.policies_dir / f"{partner_id}.yaml"
        before = path.stat().st_mtime_ns if path.exists() else None
        write_policy(self.policies_dir, partner_id, **kwargs)
        _make_change_visible(path, before)
        return path

    def write_policy_text(self, partner_id: str, text: str) -> Path:
        """Overwrite an agreement with raw text (for edits that must not validate)."""
        path = self.policies_dir / f"{partner_id}.yaml"
        before = path.stat().st_mtime_ns if path.exists() else None
        path.write_text(text)
        _make_change_visible(path, before)
        return path

    # -- calls ---------------------------------------------------------------------

    def channel(self, who: str | TlsFiles) -> grpc.Channel:
        """A cached channel per certificate, closed when the federation stops."""
        files = self.files(who)
        if files.cert not in self._channels:
            self._channels[files.cert] = partner_channel(self.port, files)
        return self._channels[files.cert]

    def open_channel(self, who: str | TlsFiles) -> grpc.Channel:
        """A new channel (a new connection and handshake); the caller closes it."""
        return partner_channel(self.port, self.files(who))

    def stub(self, who: str | TlsFiles) -> pb_grpc.SubmissionStub:
        return pb_grpc.SubmissionStub(self.channel(who))

    def submit(
        self, who: str | TlsFiles, *requests: pb.SubmitBatchRequest
    ) -> list[pb.SubmitBatchResponse]:
        """Send batches on one SubmitBatches stream; raises grpc.RpcError on a refusal."""
        stream = self.stub(who).SubmitBatches(iter(requests), timeout=RPC_TIMEOUT)
        return list(stream)

    def get_agreement(self, who: str | TlsFiles) -> pb.GetAgreementResponse:
        response: pb.GetAgreementResponse = self.stub(who).GetAgreement(
            pb.GetAgreementRequest(), timeout=RPC_TIMEOUT
        )
        return response

    def cell_counts(self) -> dict[CellKey, int]:
        """Active items per (wire type, country, sector, week), from the hub's summary."""
        return {
            (c.indicator_type, c.country, c.sector, c.week): c.count
            for c in self.storage.summary().cells
        }

    # -- nodes ---------------------------------------------------------------------

    def make_node(
        self,
        home: Path,
        partner_id: str,
        files: TlsFiles | None = None,
        port: int | None = None,
        **settings: object,
    ) -> NodeSettings:
        """A node home for `partner_id`, sharing the federation's consortium keyring."""
        keyring = shared_keyring(self.root / "consortium.json")
        return make_node(
            home,
            partner_id,
            files or self.files(partner_id),
            self.port if port is None else port,
            keyring,
            **settings,
        )

    def close_channels(self) -> None:
        for channel in self._channels.values():
            channel.close()
        self._channels.clear()


def _make_change_visible(path: Path, before_ns: int | None) -> None:
    """The hub notices edits by (mtime, size); two edits within one clock tick could tie."""
    if before_ns is None:
        return
    if path.stat().st_mtime_ns <= before_ns:
        bumped = before_ns + 1_000_000
        os.utime(path, ns=(bumped, bumped))


@contextmanager
def start_federation(
    root: Path,
    pki: TestPki,
    policies: Mapping[str, Mapping[str, Any]],
    settings_update: Mapping[str, Any] | None = None,
    now: dt.datetime = TEST_NOW,
) -> Iterator[Federation]:
    """Write policies, copy the CRL, start a hub on a fresh SQLite file; stop it after."""
    for partner_id, options in policies.items():
        write_policy(root / "policies", partner_id, **options)
    (root / "policies").mkdir(parents=True, exist_ok=True)
    crl = root / "hub-tls" / "crl.pem"
    crl.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(pki.crl, crl)
    with pytest.MonkeyPatch.context() as patch:
        # Module-scoped hubs start before the per-test environment cleaning runs.
        for name in [n for n in os.environ if n.startswith("COUNTERFLOW_HUB_")]:
            patch.delenv(name)
        settings = hub_settings(root, pki.hub, crl, f"sqlite:///{root / 'hub.db'}")
    if settings_update:
        settings = settings.model_copy(update=dict(settings_update))
    with running_hub(settings, now=now) as hub:
        federation = Federation(root=root, pki=pki, settings=settings, hub=hub)
        try:
            yield federation
        finally:
            federation.close_channels()


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPki:
    return build_test_pki(tmp_path_factory.mktemp("pki"), list(PARTNERS))


@pytest.fixture(scope="session")
def wire() -> type[Wire]:
    return Wire


@pytest.fixture(scope="module")
def federation_policies(pki: TestPki) -> Mapping[str, Mapping[str, Any]]:
    """Override in a module to give its hub other agreements."""
    return {**DEFAULT_POLICIES, pki.expired_id: {}, pki.revoked_id: {}}


@pytest.fixture(scope="module")
def federation_settings() -> Mapping[str, Any]:
    """Override in a module to change its hub's settings (HubSettings field updates)."""
    return {}


@pytest.fixture(scope="module")
def federation(
    tmp_path_factory: pytest.TempPathFactory,
    pki: TestPki,
    federation_policies: Mapping[str, Mapping[str, Any]],
    federation_settings: Mapping[str, Any],
) -> Iterator[Federation]:
    root = tmp_path_factory.mktemp("federation")
    with start_federation(root, pki, federation_policies, federation_settings) as running:
        yield running


@pytest.fixture
def federation_factory(
    tmp_path_factory: pytest.TempPathFactory, pki: TestPki
) -> Iterator[Callable[..., Federation]]:
    """Start extra hubs in one test: factory(policies=None, settings=None, now=TEST_NOW)."""
    with ExitStack() as stack:

        def start(
            policies: Mapping[str, Mapping[str, Any]] | None = None,
            settings: Mapping[str, Any] | None = None,
            now: dt.datetime = TEST_NOW,
        ) -> Federation:
            root = tmp_path_factory.mktemp("federation")
            chosen = DEFAULT_POLICIES if policies is None else policies
            return stack.enter_context(start_federation(root, pki, chosen, settings, now))

        yield start
