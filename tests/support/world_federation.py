"""A running hub with one node per partner, each holding its ingested sample export.

Shared by the integration tests that need a whole federation with known data
(concurrency, key epochs): the same PKI, agreements, keyring and node layout.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from support.federation import hub_settings, make_node, running_hub, shared_keyring, write_policy
from support.pki import TestPki, build_test_pki
from support.sample_world import World, build_world, ingest_all

from hub.server import RunningHub


@dataclass
class WorldFederation:
    world: World
    hub: RunningHub
    pki: TestPki
    database_url: str
    homes: dict[str, Path]


@contextmanager
def world_federation(
    root: Path, partners: Mapping[str, str], database_url: str, *, records: int, batch_items: int
) -> Iterator[WorldFederation]:
    """partners: id -> sector. Every node has ingested its export; nothing is pushed yet."""
    pki = build_test_pki(root / "pki", list(partners))
    for partner_id, sector in partners.items():
        write_policy(root / "hub" / "policies", partner_id, sector=sector)
    world = build_world(root / "exports", partners, records=records)
    keyring = shared_keyring(root / "consortium.json")
    settings = hub_settings(root / "hub", pki.hub, pki.crl, database_url)
    with running_hub(settings) as hub:
        homes = {pid: root / "nodes" / pid for pid in partners}
        for pid, home in homes.items():
            make_node(home, pid, pki.partners[pid], hub.port, keyring, batch_items=batch_items)
        ingest_all(world, homes)
        yield WorldFederation(world, hub, pki, database_url, homes)
