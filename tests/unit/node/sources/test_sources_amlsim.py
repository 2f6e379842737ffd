"""AMLSim worlds as partner data: valid IBANs, an exact split into banks, and a reader.

The split tests run on the real IBM AMLSim sample in shared/ (Apache-2.0,
IBM/AMLSim sample/20K_fanin200.tgz), beside the repository checkout.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from counterflow.errors import ConfigError, InputError
from counterflow.indicators import IndicatorType
from counterflow.weeks import week_of
from node.canonical.iban import canonical_iban, mod97
from node.commands import amlsim_split as _amlsim_split  # noqa: F401  (registers the command)
from node.commands._apps import node_app
from node.ingest import ingest_file
from node.sources.amlsim import bank_of, bank_profile, iban_for, split_world
from node.sources.profile import SourceProfile, load_profile
from node.sources.quarantine import QuarantineWriter
from node.sources.records import Quarantined, Reason, Record
from node.sources.registry import read_source
from node.store import connect

REPO = Path(__file__).resolve().parents[4]
WORLD = REPO / ".." / "shared" / "data" / "amlsim" / "20K_fanin200"
BANKS = 4
SEED = 7
NOW = dt.datetime(2027, 2, 1, 12, 0, tzinfo=dt.UTC)  # the sample ends at step 149


def _world() -> Path:
    if not (WORLD / "transactions.csv").is_file():
        message = f"AMLSim sample not found at {WORLD}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return WORLD


def _rows(path: Path) -> list[list[str]]:
    with path.open(newline="") as handle:
        return list(csv.reader(handle))


@pytest.fixture(scope="module")
def banks(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    world = _world()
    out = tmp_path_factory.mktemp("amlsim") / "banks"
    shares = split_world(world / "nodes.csv", world / "transactions.csv", BANKS, out, SEED)
    return [share.folder for share in shares]


# --- IBANs -------------------------------------------------------------------


def test_ibans_are_valid_gb_ibans_with_sort_code_and_account_from_the_id() -> None:
    iban = iban_for(123_456_789)
    assert len(iban) == 22
    assert iban[:2] == "GB" and iban[4:8] == "AMLS"
    assert (iban[8:14], iban[14:]) == ("000001", "23456789")  # sort code, account number
    assert mod97(iban) == 1
    assert canonical_iban(iban) == iban


def test_ibans_are_valid_and_distinct_for_distinct_ids() -> None:
    ids = [*range(20_000), 10**8, 10**14 - 1]
    ibans = [iban_for(i) for i in ids]
    assert all(mod97(iban) == 1 and canonical_iban(iban) == iban for iban in ibans)
    assert len(set(ibans)) == len(ids)
    assert iban_for(42) == iban_for(42)


def test_other_countries_and_bank_codes_give_valid_ibans() -> None:
    iban = iban_for(9, country="DE", bank_code="AMLSIM")
    assert len(iban) == 22 and canonical_iban(iban) == iban
    assert iban_for(9, bank_code="ZZZZ") != iban_for(9)


def test_ids_and_codes_that_do_not_fit_are_refused() -> None:
    with pytest.raises(InputError, match="does not fit"):
        iban_for(10**14)
    with pytest.raises(InputError):
        iban_for(-1)
    with pytest.raises(ConfigError, match="not an IBAN country"):
        iban_for(1, country="US")
    with pytest.raises(ConfigError, match="bank code"):
        iban_for(1, bank_code="am-ls")


# --- split -------------------------------------------------------------------


def test_accounts_partition_exactly(banks: list[Path]) -> None:
    world = _rows(WORLD / "nodes.csv")
    seen: list[list[str]] = []
    for number, folder in enumerate(banks):
        rows = _rows(folder / "nodes.csv")
        assert rows[0] == world[0]
        assert all(bank_of(int(r[0]), BANKS, SEED) == number for r in rows[1:])
        seen += rows[1:]
    assert sorted(seen) == sorted(world[1:])
    assert len({r[0] for r in seen}) == len(world) - 1 == 20_000


def test_each_transaction_is_at_its_accounts_banks_and_nowhere_else(banks: list[Path]) -> None:
    owner = {
        int(row[0]): number
        for number, folder in enumerate(banks)
        for row in _rows(folder / "nodes.csv")[1:]
    }
    world = _rows(WORLD / "transactions.csv")
    expected: list[list[list[str]]] = [[] for _ in banks]
    for row in world[1:]:
        for number in {owner[int(row[0])], owner[int(row[1])]}:
            expected[number].append(row)
    total = 0
    for number, folder in enumerate(banks):
        rows = _rows(folder / "transactions.csv")
        assert rows[0] == world[0]
        assert rows[1:] == expected[number]  # same rows, in the world's order
        total += len(rows) - 1
    assert len(world) - 1 == 118_250
    assert total > 118_250  # transfers between two banks are seen by both


def test_a_seed_gives_byte_identical_files_and_another_seed_another_split(
    tmp_path: Path, banks: list[Path]
) -> None:
    again = split_world(
        WORLD / "nodes.csv", WORLD / "transactions.csv", BANKS, tmp_path / "a", SEED
    )
    for first, second in zip(banks, (share.folder for share in again), strict=True):
        for name in ("nodes.csv", "transactions.csv", "profile.yaml"):
            assert (first / name).read_bytes() == (second / name).read_bytes()
    other = split_world(WORLD / "nodes.csv", WORLD / "transactions.csv", BANKS, tmp_path / "b", 8)
    assert (other[0].folder / "nodes.csv").read_bytes() != (banks[0] / "nodes.csv").read_bytes()


def test_counts_match_the_files_and_a_used_folder_is_refused(tmp_path: Path) -> None:
    world = _world()
    shares = split_world(world / "nodes.csv", world / "transactions.csv", 2, tmp_path / "o")
    for share in shares:
        nodes = _rows(share.folder / "nodes.csv")[1:]
        assert share.accounts == len(nodes)
        assert share.fraud_accounts == sum(r[1] == "1" for r in nodes)
        assert share.transactions == len(_rows(share.folder / "transactions.csv")) - 1
    assert sum(s.fraud_accounts for s in shares) == 954
    with pytest.raises(ConfigError, match="not empty"):
        split_world(world / "nodes.csv", world / "transactions.csv", 2, tmp_path / "o")


def test_a_malformed_world_row_names_its_line(tmp_path: Path) -> None:
    (tmp_path / "nodes.csv").write_text(
        "nodeid,isFraud,init_balance,fraudStep\n0,0,1.0,-1\nx,0,1,-1\n"
    )
    (tmp_path / "tx.csv").write_text("sourceNodeId,targetNodeId,value,time\n")
    with pytest.raises(InputError, match=r"nodes\.csv:3: field 'nodeid'"):
        split_world(tmp_path / "nodes.csv", tmp_path / "tx.csv", 2, tmp_path / "out")


# --- reader ------------------------------------------------------------------


def _profile_with_accounts(folder: Path) -> SourceProfile:
    path = folder / "both.yaml"
    path.write_text(
        "schema_version: 1\n"
        "name: amlsim-test\n"
        "reader: amlsim\n"
        "options: {start_date: '2026-09-01', own_nodes: nodes.csv}\n"
        "record_id: txn_id\n"
        "timestamp: {field: booked_at, format: iso}\n"
        "country: {default: GB}\n"
        "indicators:\n"
        "  - {field: account_iban, type: iban}\n"
        "  - {field: counterparty_iban, type: iban}\n"
        "tag_field: {field: is_fraud}\n"
    )
    return load_profile(path)


def test_reader_on_a_split_bank_gives_own_account_counterparty_and_step_dates(
    banks: list[Path],
) -> None:
    folder = banks[0]
    own = {int(r[0]): r[1] == "1" for r in _rows(folder / "nodes.csv")[1:]}
    rows = _rows(folder / "transactions.csv")[1:]
    with read_source(_profile_with_accounts(folder), folder / "transactions.csv") as reading:
        records = list(reading)
    assert len(records) == len(rows)
    for line, (record, row) in enumerate(zip(records, rows, strict=True), start=2):
        assert isinstance(record, Record)
        source, target, step = int(row[0]), int(row[1]), int(row[3])
        account, counterparty = (target, source) if source not in own else (source, target)
        assert record.line == line and record.record_id == str(line)
        assert record.indicators[0].type is IndicatorType.IBAN
        assert record.indicators[0].value == iban_for(account)
        assert record.indicators[-1].value == iban_for(counterparty)
        assert record.observed_at == dt.datetime(2026, 9, 1, 12, tzinfo=dt.UTC) + dt.timedelta(
            days=step
        )
        fraud = own.get(source, False) or own.get(target, False)
        assert record.tags == (("1",) if fraud else ("0",))
        assert record.country == "GB"


def test_without_own_nodes_the_target_is_the_counterparty(tmp_path: Path) -> None:
    source = tmp_path / "transactions.csv"
    source.write_text("sourceNodeId,targetNodeId,value,time\n5,9,10.5,3\n")
    profile = SourceProfile.model_validate(
        {
            "schema_version": 1,
            "name": "plain",
            "reader": "amlsim",
            "options": {"start_date": "2027-01-01", "bank_code": "TEST"},
            "timestamp": {"field": "booked_at"},
            "country": {"default": "GB"},
            "indicators": [{"field": "counterparty_iban", "type": "iban"}],
        }
    )
    (record,) = list(read_source(profile, source))
    assert isinstance(record, Record)
    assert record.indicators[0].value == iban_for(9, bank_code="TEST")
    assert record.observed_at == dt.datetime(2027, 1, 4, 12, tzinfo=dt.UTC)


def _bank_folder(tmp_path: Path, transactions: str) -> SourceProfile:
    (tmp_path / "nodes.csv").write_text(
        "nodeid,isFraud,init_balance,fraudStep\n5,1,1.0,3\n6,0,1,-1\n"
    )
    (tmp_path / "transactions.csv").write_text(transactions)
    (tmp_path / "profile.yaml").write_text(bank_profile("bank-9"))
    return load_profile(tmp_path / "profile.yaml")


def test_malformed_rows_are_quarantined_by_line_and_reading_goes_on(tmp_path: Path) -> None:
    profile = _bank_folder(
        tmp_path,
        "sourceNodeId,targetNodeId,value,time\n"
        "5,9,10.5,3\n"
        "x,9,1,1\n"
        "5,-9,1,1\n"
        "5,9,lots,1\n"
        "5,9,nan,1\n"
        "5,9,1,1.5\n"
        "5,9,1\n"
        "\n"
        "9,6,2,4\n",
    )
    with read_source(profile, tmp_path / "transactions.csv") as reading:
        items = list(reading)
    quarantined = [i for i in items if isinstance(i, Quarantined)]
    assert [(q.line, q.reason) for q in quarantined] == [
        (n, Reason.MALFORMED_ROW) for n in (3, 4, 5, 6, 7, 8)
    ]
    assert quarantined[0].detail == "field 'sourceNodeId' is not an integer account id"
    assert quarantined[2].detail == "field 'value' is not a finite amount"
    assert quarantined[5].detail == "expected 4 columns, found 3"
    records = [i for i in items if isinstance(i, Record)]
    assert [(r.line, r.indicators[0].value) for r in records] == [
        (2, iban_for(9)),
        (10, iban_for(9)),  # 6 is the bank's own account, so 9 is the counterparty
    ]
    assert reading.stats.blank_lines == 1
    assert all("9" not in q.detail for q in quarantined[:5])


def test_a_missing_column_or_unknown_field_is_a_config_error(tmp_path: Path) -> None:
    profile = _bank_folder(tmp_path, "sourceNodeId,targetNodeId,value\n1,2,3\n")
    with pytest.raises(ConfigError, match=r"lacks column.*time"):
        read_source(profile, tmp_path / "transactions.csv")
    wrong = profile.model_copy(update={"record_id": "nodeid"})
    with pytest.raises(ConfigError, match="does not provide: nodeid"):
        read_source(wrong, tmp_path / "transactions.csv")


def test_a_missing_or_malformed_own_nodes_file_is_a_config_error(tmp_path: Path) -> None:
    profile = _bank_folder(tmp_path, "sourceNodeId,targetNodeId,value,time\n1,2,3,4\n")
    (tmp_path / "nodes.csv").unlink()
    with pytest.raises(ConfigError, match=r"nodes\.csv"):
        read_source(profile, tmp_path / "transactions.csv")
    (tmp_path / "nodes.csv").write_text("nodeid,isFraud,init_balance,fraudStep\n5,1,1.0,3\n7,0\n")
    with pytest.raises(ConfigError, match=r"nodes\.csv:3: expected 4 columns"):
        read_source(profile, tmp_path / "transactions.csv")


# --- end to end --------------------------------------------------------------


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    connection = connect(tmp_path / "node.db")
    try:
        yield connection
    finally:
        connection.close()


def test_a_split_bank_ingests_with_its_counterparty_ibans_stored(
    tmp_path: Path, conn: sqlite3.Connection, banks: list[Path]
) -> None:
    folder = banks[1]
    own = {int(r[0]) for r in _rows(folder / "nodes.csv")[1:]}
    rows = _rows(folder / "transactions.csv")[1:]
    expected = set()
    for line, row in enumerate(rows, start=2):
        source, target = int(row[0]), int(row[1])
        counterparty = target if source in own else source
        expected.add((str(line), iban_for(counterparty)))
    profile = load_profile(folder / "profile.yaml")
    with QuarantineWriter(tmp_path / "q.jsonl", clock=lambda: NOW) as writer:
        report = ingest_file(conn, profile, folder / "transactions.csv", writer, now=NOW)
    assert report.records_read == len(rows)
    assert report.quarantined_total == 0
    assert report.indicators_new == len(rows)
    stored = conn.execute(
        "SELECT record_id, canonical, indicator_type, country, tags FROM indicators"
    ).fetchall()
    assert {(r[0], r[1]) for r in stored} == expected
    assert {(r[2], r[3], r[4]) for r in stored} == {("iban", "GB", "amlsim")}
    weeks = {w for (w,) in conn.execute("SELECT DISTINCT week FROM indicators")}
    steps = {int(row[3]) for row in rows}
    start = dt.datetime(2026, 9, 1, 12, tzinfo=dt.UTC)
    assert weeks == {week_of(start + dt.timedelta(days=step)) for step in steps}
    assert min(weeks) == "2026-W36" and max(weeks) == "2027-W04"


def test_command_prints_each_banks_counts(tmp_path: Path) -> None:
    world = _world()
    app = typer.Typer()
    app.add_typer(node_app, name="node")
    args = ["node", "amlsim-split", str(world / "nodes.csv"), str(world / "transactions.csv")]
    options = ["--seed", "3", "--start-date", "2026-01-05", "--format", "json"]
    result = CliRunner().invoke(
        app,
        [*args, "--banks", "2", "--out", str(tmp_path / "o"), *options],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [b["bank"] for b in data["banks"]] == ["bank-1", "bank-2"]
    assert sum(b["accounts"] for b in data["banks"]) == 20_000
    assert sum(b["fraud_accounts"] for b in data["banks"]) == 954
    profile = load_profile(tmp_path / "o" / "bank-1" / "profile.yaml")
    assert profile.options["start_date"] == "2026-01-05"
    again = CliRunner().invoke(app, [*args, "--banks", "2", "--out", str(tmp_path / "o")])
    assert again.exit_code == 1
    assert "not empty" in again.output
