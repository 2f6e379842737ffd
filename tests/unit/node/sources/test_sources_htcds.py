"""HTCDS 2.0 case exports: only perpetrators' contact details, never a victim's, leave a row."""

from __future__ import annotations

import csv
import datetime as dt
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from counterflow.errors import ConfigError
from counterflow.indicators import IndicatorType
from counterflow.tokens import GroupIds, Tokeniser
from node import outbox
from node.canonical import Canonicaliser
from node.ingest import ingest_file
from node.sources import htcds
from node.sources.profile import SourceProfile, load_profile
from node.sources.quarantine import QuarantineWriter
from node.sources.records import Record
from node.sources.registry import read_source
from node.store import connect

FIXTURES = Path(__file__).parents[3] / "fixtures" / "sources" / "htcds"
CASES = FIXTURES / "cases.csv"
NOW = dt.datetime(2026, 11, 18, 12, 0, tzinfo=dt.UTC)
KEY = bytes(range(32))
SECRET = b"node-secret-for-tests-32-bytes!!"

# What the two perpetrator rows (lines 2 and 3) hold, and nothing else.
PERPETRATOR_INDICATORS = [
    (2, IndicatorType.PHONE, "+44 7911 123101"),
    (2, IndicatorType.EMAIL, "recruiter.one@example.org"),
    (2, IndicatorType.URL, "https://social.example.net/recruiter_one"),
    (2, IndicatorType.URL, "jobs-abroad.example.com/apply"),
    (3, IndicatorType.PHONE, "020 7946 0102"),
]
# Contact details of victims, of victim-perpetrators and of people with no context.
NEVER_SHARED = [
    (IndicatorType.PHONE, "+44 7911 123201"),
    (IndicatorType.EMAIL, "victim.one@example.org"),
    (IndicatorType.PHONE, "07911 123202"),
    (IndicatorType.PHONE, "020 7946 0202"),
    (IndicatorType.PHONE, "+44 7911 123301"),
    (IndicatorType.EMAIL, "both.one@example.org"),
    (IndicatorType.URL, "both-site.example.com"),
    (IndicatorType.PHONE, "07911 123302"),
    (IndicatorType.PHONE, "07911 123401"),
    (IndicatorType.EMAIL, "nobody.one@example.org"),
    (IndicatorType.PHONE, "07911 123402"),
]
PLANTED_VICTIM_PHONE = "+44 7911 123201"


def _shared_data() -> Path:
    root = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").exists())
    data = root.parent / "shared" / "data" / "htcds"
    if not data.is_dir():
        message = f"HTCDS reference data not found at {data}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return data


@pytest.fixture
def profile() -> SourceProfile:
    return load_profile(FIXTURES / "profile.yaml")


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    connection = connect(tmp_path / "node.db")
    try:
        yield connection
    finally:
        connection.close()


def _read(profile: SourceProfile, path: Path) -> tuple[list[Record], int, int]:
    with read_source(profile, path) as reading:
        items = list(reading)
    records = [item for item in items if isinstance(item, Record)]
    assert len(records) == len(items), "no row of the fixture is quarantined"
    return records, reading.stats.records, reading.stats.skipped_empty


def _indicators(records: list[Record]) -> list[tuple[int, IndicatorType, str]]:
    return [(r.line, i.type, i.value) for r in records for i in r.indicators]


def _write_columns(source: Path, target: Path, order: list[str]) -> None:
    with source.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    with target.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=order, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def test_only_perpetrators_without_victim_context_yield_indicators(
    profile: SourceProfile,
) -> None:
    records, count, skipped = _read(profile, CASES)
    assert _indicators(records) == PERPETRATOR_INDICATORS
    assert (count, skipped) == (2, 6)  # the other six rows are read and skipped, not quarantined
    first = records[0]
    assert first.record_id == "2"  # HTCDS 2.0 has no case id field: the line is the id
    assert first.observed_at == dt.datetime(2026, 11, 2, tzinfo=dt.UTC)
    assert (first.country, first.tags) == ("GB", ("hotline",))
    assert records[1].country == "RO"


def test_columns_are_found_by_name_not_position(profile: SourceProfile, tmp_path: Path) -> None:
    with CASES.open(encoding="utf-8") as handle:
        header = next(csv.reader(handle))
    shuffled = tmp_path / "reordered.csv"
    _write_columns(CASES, shuffled, list(reversed(header)))
    original, _, _ = _read(profile, CASES)
    reordered, _, _ = _read(profile, shuffled)
    assert _indicators(reordered) == _indicators(original) == PERPETRATOR_INDICATORS


def test_planted_victim_phone_is_neither_stored_nor_sent(
    profile: SourceProfile, conn: sqlite3.Connection, tmp_path: Path
) -> None:
    with QuarantineWriter(tmp_path / "q.jsonl", clock=lambda: NOW) as writer:
        report = ingest_file(conn, profile, CASES, writer, now=NOW)
    assert (report.records_read, report.indicators_new, report.quarantined_total) == (2, 5, 0)
    tokeniser = Tokeniser(KEY, 1)
    assert outbox.fill(conn, tokeniser, GroupIds(SECRET, 1), batch_items=2) == 3
    ids = [batch_id for batch_id, _, _ in outbox.pending(conn)]
    payloads = [batch.payload for batch in outbox.payloads(conn, ids)]
    canonicaliser = Canonicaliser("GB")

    victim = canonicaliser.canonical(IndicatorType.PHONE, PLANTED_VICTIM_PHONE)
    assert victim == "+447911123201"
    victim_token = tokeniser.token(IndicatorType.PHONE, victim)
    assert not any(victim_token in payload for payload in payloads)
    # The same check finds a perpetrator's token, so the one above can fail.
    perpetrator = canonicaliser.canonical(IndicatorType.PHONE, "+44 7911 123101")
    assert any(tokeniser.token(IndicatorType.PHONE, perpetrator) in p for p in payloads)

    stored = _everything_stored(conn)
    assert "+447911123101" in stored
    for kind, raw in NEVER_SHARED:
        canonical = canonicaliser.canonical(kind, raw)
        assert raw not in stored
        assert canonical not in stored
        token = tokeniser.token(kind, canonical)
        assert not any(token in payload for payload in payloads)


def _everything_stored(conn: sqlite3.Connection) -> str:
    """Every cell of every table of the node store, as text."""
    tables = [name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    cells: list[str] = []
    for table in tables:
        for row in conn.execute(f'SELECT * FROM "{table}"'):
            cells.extend(
                cell.decode("latin-1") if isinstance(cell, bytes) else str(cell) for cell in row
            )
    return "\n".join(cells)


def test_a_header_without_the_role_column_stops_the_read(
    profile: SourceProfile, tmp_path: Path
) -> None:
    with CASES.open(encoding="utf-8") as handle:
        header = next(csv.reader(handle))
    source = tmp_path / "no-role.csv"
    _write_columns(CASES, source, [name for name in header if name != "per_RoleInProcess"])
    with pytest.raises(ConfigError, match="per_RoleInProcess"):
        read_source(profile, source)


def test_a_header_without_victim_context_stops_the_read(
    profile: SourceProfile, tmp_path: Path
) -> None:
    with CASES.open(encoding="utf-8") as handle:
        header = next(csv.reader(handle))
    source = tmp_path / "no-victim-columns.csv"
    _write_columns(CASES, source, [name for name in header if not name.startswith("vic_")])
    with pytest.raises(ConfigError, match=r"no victim context column \(vic_\*\)"):
        read_source(profile, source)


def test_victim_prefixes_and_role_field_are_options(tmp_path: Path) -> None:
    text = (FIXTURES / "profile.yaml").read_text(encoding="utf-8")
    text = text.replace("victim_prefixes: [vic_]", "victim_prefixes: [vic_, cas_Status]")
    path = tmp_path / "profile.yaml"
    path.write_text(text, encoding="utf-8")
    # Every row has cas_Status set, so every row now counts as victim context.
    records, count, skipped = _read(load_profile(path), CASES)
    assert (records, count, skipped) == ([], 0, 8)

    path.write_text(text.replace("role_field: per_RoleInProcess", "role_field: per_Role"))
    with pytest.raises(ConfigError, match="per_Role'"):
        read_source(load_profile(path), CASES)


def test_a_victim_context_field_cannot_be_an_indicator(tmp_path: Path) -> None:
    text = (FIXTURES / "profile.yaml").read_text(encoding="utf-8")
    text = text.replace("{field: prs_Email, type: email}", "{field: VIC_Email, type: email}")
    path = tmp_path / "profile.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"victim context field.*VIC_Email"):
        read_source(load_profile(path), CASES)


@pytest.mark.parametrize(
    ("role", "victim", "shared"),
    [
        ("Exploiter", ["", " "], True),
        ("Exploiter", [], True),
        ("Exploiter", ["", "ForcedLabour"], False),
        ("Exploiter", ["NotAVictimOfTrafficking"], False),  # values are not interpreted
        ("Exploiter", ["false"], False),
        ("", [""], False),
        ("  ", [""], False),
        ("", ["ActualVictimOfTrafficking"], False),
    ],
)
def test_the_rule(role: str, victim: list[str], shared: bool) -> None:
    assert htcds.may_share(role, victim) is shared


def test_a_list_value_in_a_victim_column_counts_as_set(tmp_path: Path) -> None:
    columns = htcds.role_columns(
        ["per_RoleInProcess", "vic_X"], "per_RoleInProcess", ["vic_"], tmp_path
    )
    assert columns.allows(["Exploiter", None]) is True
    assert columns.allows(["Exploiter", ("", "x")]) is False
    assert columns.allows([("Exploiter",), ""]) is True


def test_every_hard_coded_field_is_in_htcds_2_0(profile: SourceProfile) -> None:
    with (_shared_data() / "fields-v2.0.csv").open(newline="", encoding="utf-8") as handle:
        standard = {row["Field Name including Prefix"].strip() for row in csv.DictReader(handle)}
    assert set(htcds.STANDARD_FIELDS) <= standard
    assert htcds.VICTIM_PREFIX in {name[:4] for name in standard}
    assert not set(htcds.EXTENSION_FIELDS) & standard
    assert all(name.startswith("ext_per_") for name in htcds.EXTENSION_FIELDS)
    with CASES.open(encoding="utf-8") as handle:
        header = next(csv.reader(handle))
    assert set(header) - standard == set(htcds.EXTENSION_FIELDS)
    assert set(profile.fields()) - standard == set(htcds.EXTENSION_FIELDS)
