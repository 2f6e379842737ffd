"""Preview: what would leave the node, read back from the outbox bytes, and what the
agreement would refuse (mirroring the hub's own per-item rules)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h3
import pytest
from support.federation import write_policy

from counterflow.indicators import IndicatorType
from counterflow.tokens import GroupIds, Tokeniser
from counterflow.v1 import submission_pb2 as pb
from hub.policy.loader import load_policy
from node import outbox
from node.preview import preview, refusal
from node.store import connect

# Areas are ancestors of the item's cell: H3 children are not geometrically nested, so
# the res-4 cell holding a point need not be the res-4 parent of that point's res-6 cell.
LONDON_RES6 = str(h3.latlng_to_cell(51.5072, -0.1276, 6))
LONDON_RES4 = str(h3.cell_to_parent(LONDON_RES6, 4))
LONDON_RES3 = str(h3.cell_to_parent(LONDON_RES6, 3))
LAGOS_RES5 = str(h3.latlng_to_cell(6.5244, 3.3792, 5))
ROWS = [
    ("r1", "phone", "+447911123456", "GB", "2026-W46", LONDON_RES6, "money-mule"),
    ("r1", "email", "a@example.org", "GB", "2026-W46", LONDON_RES6, "money-mule"),
    ("r2", "phone", "+2348031234567", "NG", "2026-W47", LAGOS_RES5, "money-mule,hotline"),
    ("r3", "iban", "GB82WEST12345698765432", "US", "2026-W47", None, ""),
    ("r4", "url", "https://jobs.example.com/a", "GB", "2026-W47", None, "hotline"),
]


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    connection = connect(tmp_path / "node.db")
    connection.executemany(
        "INSERT INTO indicators (source, record_id, indicator_type, canonical, raw, country, "
        "week, h3_cell, tags, observed_at, ingested_at) "
        "VALUES ('src', ?, ?, ?, 'raw', ?, ?, ?, ?, 'x', 'y')",
        ROWS,
    )
    outbox.fill(connection, Tokeniser(bytes(32), 1), GroupIds(b"s" * 32, 1), batch_items=2)
    try:
        yield connection
    finally:
        connection.close()


def _agreement(**fields: Any) -> pb.GetAgreementResponse:
    values: dict[str, Any] = {
        "partner_id": "bank-alpha",
        "agreement_id": "CF-1",
        "version": 2,
        "status": "active",
        "valid_from": "2026-01-01",
        "valid_until": "2027-12-31",
        "indicator_types": [pb.INDICATOR_TYPE_PHONE, pb.INDICATOR_TYPE_EMAIL],
        "countries": ["GB", "NG"],
        "active_key_epoch": 1,
    }
    values.update(fields)
    return pb.GetAgreementResponse(**values)


def _token_item(**fields: Any) -> pb.TokenItem:
    values: dict[str, Any] = {
        "indicator_type": pb.INDICATOR_TYPE_PHONE,
        "country": "GB",
        "week": "2026-W47",
    }
    values.update(fields)
    return pb.TokenItem(**values)


def test_counts_come_from_the_outbox_bytes(conn: sqlite3.Connection) -> None:
    result = preview(conn, None)
    assert result.batches == 3
    assert result.items == 5
    assert result.by_type == {"phone": 2, "email": 1, "iban": 1, "url": 1}
    assert result.by_country == {"GB": 3, "NG": 1, "US": 1}
    assert result.by_week == {"2026-W46": 2, "2026-W47": 3}
    assert result.by_tag == {"money-mule": 3, "hotline": 2}
    assert result.with_cell == 3
    assert result.would_refuse == {}
    assert result.agreement is None


def test_only_pending_batches_are_counted(conn: sqlite3.Connection) -> None:
    first = outbox.pending(conn)[0][0]
    outbox.acknowledge(conn, pb.SubmitBatchResponse(batch_id=first, accepted=2))
    result = preview(conn, None)
    assert (result.batches, result.items) == (2, 3)


def test_the_fields_sent_are_the_token_item_fields(conn: sqlite3.Connection) -> None:
    fields = preview(conn, None).fields_sent
    assert fields == tuple(f.name for f in pb.TokenItem.DESCRIPTOR.fields)
    assert "token" in fields
    assert not {"raw", "canonical", "record_id", "value"} & set(fields)


def test_the_agreement_decides_what_would_be_refused(conn: sqlite3.Connection) -> None:
    result = preview(conn, _agreement(cells=[LONDON_RES4]))
    assert result.would_refuse == {
        "TYPE_NOT_ALLOWED": 2,  # iban, url
        "CELL_NOT_ALLOWED": 1,  # the Lagos phone
    }
    data = result.as_json()
    assert data["agreement"] == {
        "agreement_id": "CF-1",
        "version": 2,
        "status": "active",
        "valid_from": "2026-01-01",
        "valid_until": "2027-12-31",
        "indicator_types": ["phone", "email"],
        "countries": ["GB", "NG"],
        "active_key_epoch": 1,
    }
    assert data["items"] == 5
    assert data["items_with_h3_cell"] == 3
    assert list(data["by_week"]) == ["2026-W46", "2026-W47"]


@pytest.mark.parametrize(
    ("agreement", "item", "reason"),
    [
        ({}, {}, None),
        ({}, {"indicator_type": pb.INDICATOR_TYPE_IBAN}, "TYPE_NOT_ALLOWED"),
        ({}, {"country": "US"}, "COUNTRY_NOT_ALLOWED"),
        ({"countries": ["*"]}, {"country": "US"}, None),
        ({"cells": [LONDON_RES4]}, {"h3_cell": LONDON_RES6}, None),
        ({"cells": [LONDON_RES4]}, {"h3_cell": LONDON_RES4}, None),
        ({"cells": [LONDON_RES4]}, {"h3_cell": LAGOS_RES5}, "CELL_NOT_ALLOWED"),
        # A coarser cell than the allowed area is not inside it.
        ({"cells": [LONDON_RES4]}, {"h3_cell": LONDON_RES3}, "CELL_NOT_ALLOWED"),
        ({"cells": [LONDON_RES4]}, {}, None),  # no location: the cell rule does not apply
        ({"cells": [LAGOS_RES5, LONDON_RES3]}, {"h3_cell": LONDON_RES6}, None),
        ({}, {"h3_cell": LAGOS_RES5}, None),  # no cell list: anywhere
    ],
)
def test_refusal_rules(agreement: dict[str, Any], item: dict[str, Any], reason: str | None) -> None:
    assert refusal(_agreement(**agreement), _token_item(**item)) == reason


@pytest.mark.parametrize("cells", [(), (LONDON_RES4,), (LAGOS_RES5, LONDON_RES3)])
@pytest.mark.parametrize("countries", [("GB", "NG"), ("*",)])
def test_refusal_mirrors_the_hub(
    tmp_path: Path, cells: tuple[str, ...], countries: tuple[str, ...]
) -> None:
    """The same rules as the hub's Agreement.item_refusal, for every combination tried."""
    path = write_policy(tmp_path, "bank-alpha", types=("phone", "email"), countries=countries)
    if cells:
        path.write_text(path.read_text().replace("submit:\n", f"submit:\n  cells: {list(cells)}\n"))
    hub_agreement = load_policy(path)
    assert hub_agreement.submit.cells == cells
    node_view = _agreement(
        indicator_types=sorted(hub_agreement.allowed_wire_types),
        countries=list(hub_agreement.submit.countries),
        cells=list(hub_agreement.submit.cells),
    )
    for kind in IndicatorType:
        for country in ("GB", "NG", "US"):
            for cell in ("", LONDON_RES3, LONDON_RES4, LONDON_RES6, LAGOS_RES5):
                item = _token_item(indicator_type=kind.wire, country=country, h3_cell=cell)
                expected = hub_agreement.item_refusal(kind, country, cell or None)
                assert refusal(node_view, item) == (expected[0] if expected else None), (
                    kind,
                    country,
                    cell,
                )
