from __future__ import annotations

import json
import stat
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from counterflow.errors import ConfigError
from node.sources.profile import load_profile
from node.sources.quarantine import QuarantineWriter
from node.sources.records import Quarantined, Reason
from node.sources.registry import read_source

FIXTURES = Path(__file__).parents[3] / "fixtures" / "sources"
FIXED = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def fixed_clock() -> datetime:
    return FIXED


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_file_is_private_and_holds_one_json_line_per_item(tmp_path: Path) -> None:
    path = tmp_path / "quarantine" / "bank.jsonl"

    with QuarantineWriter(path, source="bank-alpha-payments", clock=fixed_clock) as writer:
        writer.write(Quarantined(4, "T-103", Reason.BAD_TIMESTAMP, "field 'at' is bad"))
        writer.write(Quarantined(9, None, Reason.MALFORMED_ROW, "expected 8 columns, found 5"))

    assert mode_of(path) == 0o600
    assert mode_of(path.parent) == 0o700
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines == [
        {
            "source": "bank-alpha-payments",
            "line": 4,
            "record_id": "T-103",
            "reason": "BAD_TIMESTAMP",
            "detail": "field 'at' is bad",
            "at": "2026-11-20T12:00:00+00:00",
        },
        {
            "source": "bank-alpha-payments",
            "line": 9,
            "record_id": None,
            "reason": "MALFORMED_ROW",
            "detail": "expected 8 columns, found 5",
            "at": "2026-11-20T12:00:00+00:00",
        },
    ]


def test_counts_per_reason_and_a_per_item_source(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"

    with QuarantineWriter(path, clock=fixed_clock) as writer:
        for line in (2, 3):
            writer.write(Quarantined(line, None, Reason.BAD_JSON, "not valid JSON"))
        writer.write(Quarantined(5, "x", Reason.BAD_TAG, "tag 1"), source="other-source")

    assert writer.counts == {"BAD_JSON": 2, "BAD_TAG": 1}
    assert writer.total == 3
    last = json.loads(path.read_text().splitlines()[-1])
    assert last["source"] == "other-source"


def test_appends_and_tightens_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text('{"earlier": true}\n')
    path.chmod(0o644)

    with QuarantineWriter(path, clock=fixed_clock) as writer:
        writer.write(Quarantined(1, None, Reason.BAD_ENCODING, "line is not valid utf-8"))

    assert mode_of(path) == 0o600
    assert path.read_text().splitlines()[0] == '{"earlier": true}'
    assert len(path.read_text().splitlines()) == 2


def test_times_are_written_in_utc(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    local = datetime(2026, 11, 20, 14, 0, tzinfo=timezone(timedelta(hours=2)))

    with QuarantineWriter(path, clock=lambda: local) as writer:
        writer.write(Quarantined(1, None, Reason.BAD_JSON, "x"))

    assert json.loads(path.read_text())["at"] == "2026-11-20T12:00:00+00:00"


def test_refuses_a_symlink(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.jsonl"
    target.write_text("")
    link = tmp_path / "q.jsonl"
    link.symlink_to(target)

    with pytest.raises(ConfigError, match="cannot open quarantine file"):
        QuarantineWriter(link)


def test_a_whole_bad_file_through_the_writer(tmp_path: Path) -> None:
    profile = load_profile(FIXTURES / "bank_payments.yaml")
    path = tmp_path / "q.jsonl"

    with QuarantineWriter(path, source=profile.name, clock=fixed_clock) as writer:
        for item in read_source(profile, FIXTURES / "bank_payments_bad.csv"):
            if isinstance(item, Quarantined):
                writer.write(item)

    assert writer.counts == {
        "MALFORMED_ROW": 2,
        "BAD_TIMESTAMP": 1,
        "MISSING_TIMESTAMP": 1,
        "BAD_COUNTRY": 1,
        "TOO_MANY_TAGS": 1,
        "BAD_TAG": 1,
        "MISSING_RECORD_ID": 1,
        "BAD_ENCODING": 1,
    }
    text = path.read_text()
    assert "GB82WEST12345698765432" not in text
    assert [json.loads(line)["line"] for line in text.splitlines()] == [3, 4, 5, 6, 7, 8, 9, 10, 11]
