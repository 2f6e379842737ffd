from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import h3
import pytest

from counterflow.errors import ConfigError
from counterflow.indicators import IndicatorType
from node.sources.profile import SourceProfile, load_profile
from node.sources.records import Quarantined, RawIndicator, Reason, Record
from node.sources.registry import read_source

FIXTURES = Path(__file__).parents[3] / "fixtures" / "sources"


def hotline() -> SourceProfile:
    return load_profile(FIXTURES / "hotline.yaml")


def flat_profile(**changes: object) -> SourceProfile:
    data: dict[str, object] = {
        "schema_version": 1,
        "name": "flat",
        "reader": "jsonl",
        "timestamp": {"field": "at"},
        "country": {"default": "GB"},
        "indicators": [{"field": "mail", "type": "email"}],
    }
    data.update(changes)
    return SourceProfile.model_validate(data)


def write_lines(tmp_path: Path, *objects: object) -> Path:
    path = tmp_path / "source.jsonl"
    path.write_text("".join(json.dumps(o) + "\n" for o in objects))
    return path


def test_nested_split_list_tag_and_location_fields() -> None:
    reading = read_source(hotline(), FIXTURES / "hotline.jsonl")
    records = list(reading)

    assert [(r.record_id, r.line) for r in records] == [("C-1", 1), ("C-2", 2), ("4", 5)]
    first = records[0]
    assert isinstance(first, Record)
    assert first.observed_at == datetime(2026, 11, 3, 14, 30, tzinfo=UTC)
    assert first.country == "GB"  # "gb" in the file
    assert first.h3_cell == h3.latlng_to_cell(51.5072, -0.1276, 5)
    assert first.tags == ("hotline", "forced-labour", "debt-bondage")
    assert first.indicators == (
        RawIndicator(IndicatorType.PHONE, "+447700900111"),
        RawIndicator(IndicatorType.EMAIL, "x.caller@example.org"),
        RawIndicator(IndicatorType.EMAIL, "y.caller@example.org"),
        RawIndicator(IndicatorType.URL, "https://jobs.example.com/a"),
        RawIndicator(IndicatorType.URL, "https://jobs.example.com/b"),
    )
    assert (reading.stats.skipped_empty, reading.stats.blank_lines) == (1, 1)


def test_lists_of_objects_numbers_and_nulls() -> None:
    records = list(read_source(hotline(), FIXTURES / "hotline.jsonl"))
    second, fourth = records[1], records[2]
    assert isinstance(second, Record) and isinstance(fourth, Record)

    assert second.country == "GB"  # null country: the default
    assert second.h3_cell is None
    # persons[*].phone, one of them a JSON number, one person without a phone.
    assert second.indicators == (
        RawIndicator(IndicatorType.PHONE, "07700 900222"),
        RawIndicator(IndicatorType.PHONE, "+447700900333"),
        RawIndicator(IndicatorType.PHONE, "447700900444"),
    )
    assert fourth.h3_cell == h3.latlng_to_cell(6.5244, 3.3792, 5)  # coordinates as strings


def test_malformed_lines_are_quarantined_with_reason_and_line() -> None:
    reading = read_source(hotline(), FIXTURES / "hotline_bad.jsonl")
    items = list(reading)

    summary = [
        (i.line, i.record_id, i.reason if isinstance(i, Quarantined) else "OK") for i in items
    ]
    assert summary == [
        (1, "C-1", "OK"),
        (2, None, Reason.BAD_JSON),
        (3, None, Reason.BAD_JSON),
        (4, "C-4", Reason.BAD_LOCATION),
        (5, "C-5", Reason.BAD_LOCATION),
        (6, None, Reason.BAD_ENCODING),
        (8, None, Reason.MALFORMED_ROW),  # line 7 is blank
        (9, "C-9", Reason.TOO_MANY_TAGS),
        (10, "C-10", Reason.BAD_TIMESTAMP),
        (11, None, Reason.MALFORMED_ROW),
        (12, "C-12", "OK"),
    ]
    assert (reading.stats.records, reading.stats.quarantined) == (2, 9)
    assert reading.stats.blank_lines == 1


def test_quarantine_details_of_json_lines() -> None:
    items = list(read_source(hotline(), FIXTURES / "hotline_bad.jsonl"))
    details = {i.line: i.detail for i in items if isinstance(i, Quarantined)}

    assert details[2] == "not valid JSON: Expecting value at column 34"
    assert details[3] == "line holds an array, not an object"
    assert details[6] == "line is not valid utf-8"
    assert details[8] == "field 'case.id': 'case' is not an object"
    assert details[10] == "field 'case.opened' holds a list, expected one value"
    assert details[11] == "field 'caller.phone' holds an object, expected a value"
    assert not any("+44" in d for d in details.values())


def test_fields_no_line_holds_are_reported() -> None:
    reading = read_source(hotline(), FIXTURES / "hotline_bad.jsonl")
    list(reading)

    assert reading.stats.unseen_fields == (
        "case.country",
        "caller.emails",
        "persons.phone",
        "notes.links",
    )


def test_booleans_and_a_literal_line(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path,
        {"at": "2026-01-01", "mail": "a@example.org", "flag": True},
        "just a string",
        None,
    )
    profile = flat_profile(tag_field={"field": "flag"})

    items = list(read_source(profile, path))

    assert isinstance(items[0], Record) and items[0].tags == ("true",)
    assert items[1] == Quarantined(2, None, Reason.BAD_JSON, "line holds a string, not an object")
    assert items[2] == Quarantined(3, None, Reason.BAD_JSON, "line holds a literal, not an object")


def test_split_applies_to_each_element_of_a_list(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path, {"at": "2026-01-01", "mail": ["a@example.org;b@example.org", "c@example.org"]}
    )
    profile = flat_profile(indicators=[{"field": "mail", "type": "email", "split": ";"}])

    (record,) = read_source(profile, path)

    assert isinstance(record, Record)
    assert [i.value for i in record.indicators] == [
        "a@example.org",
        "b@example.org",
        "c@example.org",
    ]


def test_record_id_that_is_missing_or_a_list(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path,
        {"at": "2026-01-01", "mail": "a@example.org"},
        {"at": "2026-01-01", "mail": "b@example.org", "id": ["x", "y"]},
        {"at": "2026-01-01", "mail": "c@example.org", "id": "  "},
    )

    items = list(read_source(flat_profile(record_id="id"), path))

    assert items == [
        Quarantined(1, None, Reason.MISSING_RECORD_ID, "field 'id' is empty"),
        Quarantined(2, None, Reason.MISSING_RECORD_ID, "field 'id' holds a list"),
        Quarantined(3, None, Reason.MISSING_RECORD_ID, "field 'id' is empty"),
    ]


def test_byte_order_mark_and_crlf(tmp_path: Path) -> None:
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"at": "2026-01-01", "mail": "a@example.org"}\r\n')

    (record,) = read_source(flat_profile(), path)

    assert isinstance(record, Record)


def test_latin1_encoding_option(tmp_path: Path) -> None:
    path = tmp_path / "latin.jsonl"
    path.write_bytes('{"at": "2026-01-01", "mail": "jos\xe9@example.org"}\n'.encode("latin-1"))

    (record,) = read_source(flat_profile(options={"encoding": "latin-1"}), path)

    assert isinstance(record, Record)
    assert record.indicators[0].value == "jos\xe9@example.org"


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"source file not found: .*absent\.jsonl"):
        read_source(flat_profile(), tmp_path / "absent.jsonl")


def test_empty_file_yields_nothing(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"")

    reading = read_source(flat_profile(), path)

    assert list(reading) == []
    assert reading.stats.unseen_fields == ("at", "mail")


def test_the_same_value_from_two_fields_is_one_indicator(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path, {"at": "2026-01-01", "mail": "a@example.org", "alt": "a@example.org"}
    )
    profile = flat_profile(
        indicators=[{"field": "mail", "type": "email"}, {"field": "alt", "type": "email"}]
    )

    (record,) = read_source(profile, path)

    assert isinstance(record, Record)
    assert record.indicators == (RawIndicator(IndicatorType.EMAIL, "a@example.org"),)
