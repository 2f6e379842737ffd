from __future__ import annotations

import textwrap
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
IBAN = "GB82WEST12345698765432"


def bank_profile() -> SourceProfile:
    return load_profile(FIXTURES / "bank_payments.yaml")


def small_profile(**changes: object) -> SourceProfile:
    """A CSV profile over columns id, at, cc, phone; `changes` override its parts."""
    data: dict[str, object] = {
        "schema_version": 1,
        "name": "small",
        "reader": "csv",
        "record_id": "id",
        "timestamp": {"field": "at"},
        "country": {"field": "cc", "default": "GB"},
        "phone_region": "GB",
        "indicators": [{"field": "phone", "type": "phone"}],
    }
    data.update(changes)
    return SourceProfile.model_validate(data)


def write(tmp_path: Path, text: str, name: str = "source.csv") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_good_file_reads_every_part_of_a_record() -> None:
    reading = read_source(bank_profile(), FIXTURES / "bank_payments.csv")
    records = list(reading)

    assert all(isinstance(r, Record) for r in records)
    assert [(r.record_id, r.line) for r in records] == [
        ("T-001", 2),
        ("T-002", 3),
        ("T-003", 5),  # line 4 is blank; T-003's memo spans lines 5 and 6
        ("T-005", 8),  # T-004 (line 7) has no indicator value
    ]
    first = records[0]
    assert isinstance(first, Record)
    assert first.observed_at == datetime(2026, 11, 2, 9, 15, tzinfo=UTC)
    assert first.country == "GB"
    assert first.h3_cell is None
    assert first.tags == ("bank-transfer", "money-mule")
    assert first.indicators == (
        RawIndicator(IndicatorType.IBAN, IBAN),
        RawIndicator(IndicatorType.PHONE, "+44 7700 900123"),
        RawIndicator(IndicatorType.EMAIL, "a.one@example.org"),
        RawIndicator(IndicatorType.EMAIL, "b.two@example.org"),
    )
    assert reading.stats.records == 4
    assert reading.stats.quarantined == 0
    assert reading.stats.skipped_empty == 1
    assert reading.stats.blank_lines == 1


def test_country_default_case_timezones_tags_and_duplicates() -> None:
    records = {r.record_id: r for r in read_source(bank_profile(), FIXTURES / "bank_payments.csv")}
    t2, t3, t5 = records["T-002"], records["T-003"], records["T-005"]
    assert isinstance(t2, Record) and isinstance(t3, Record) and isinstance(t5, Record)

    assert t2.country == "DE"  # "de" in the file
    assert t2.observed_at == datetime(2026, 11, 2, 10, 0, tzinfo=UTC)  # naive: UTC
    assert t2.tags == ("bank-transfer",)
    assert t3.country == "GB"  # empty field: the profile's default
    assert t3.observed_at == datetime(2026, 11, 3, 7, 0, tzinfo=UTC)  # +01:00 converted
    assert t3.tags == ("bank-transfer", "money-mule", "forced-labour")  # lower-cased
    assert t5.observed_at == datetime(2026, 11, 5, tzinfo=UTC)  # a date alone: midnight
    # The same address twice in one split field is one indicator.
    assert t5.indicators == (
        RawIndicator(IndicatorType.IBAN, "DE89370400440532013000"),
        RawIndicator(IndicatorType.EMAIL, "a.one@example.org"),
    )


def test_malformed_rows_are_quarantined_with_reason_and_line() -> None:
    reading = read_source(bank_profile(), FIXTURES / "bank_payments_bad.csv")
    items = list(reading)

    summary = [
        (i.line, i.record_id, i.reason if isinstance(i, Quarantined) else "OK") for i in items
    ]
    assert summary == [
        (2, "T-101", "OK"),
        (3, None, Reason.MALFORMED_ROW),
        (4, "T-103", Reason.BAD_TIMESTAMP),
        (5, "T-104", Reason.MISSING_TIMESTAMP),
        (6, "T-105", Reason.BAD_COUNTRY),
        (7, "T-106", Reason.TOO_MANY_TAGS),
        (8, "T-107", Reason.BAD_TAG),
        (9, None, Reason.MISSING_RECORD_ID),
        (10, None, Reason.BAD_ENCODING),
        (11, None, Reason.MALFORMED_ROW),
        (12, "T-111", "OK"),
    ]
    assert (reading.stats.records, reading.stats.quarantined) == (2, 9)


def test_quarantine_details_name_fields_never_values() -> None:
    items = list(read_source(bank_profile(), FIXTURES / "bank_payments_bad.csv"))
    details = {i.reason: i.detail for i in items if isinstance(i, Quarantined)}

    assert (
        details[Reason.MALFORMED_ROW] == "not valid CSV: new-line character seen in unquoted field"
    )
    assert details[Reason.BAD_TIMESTAMP] == (
        "field 'booked_at' does not match timestamp format 'iso'"
    )
    assert details[Reason.TOO_MANY_TAGS].startswith("field 'typology' and the profile's tags")
    assert details[Reason.BAD_ENCODING] == "row is not valid utf-8"
    for detail in details.values():
        for value in (IBAN, "02/11/2026", "XX", "Forced Labour", "caf", "bare"):
            assert value not in detail


def test_wrong_column_count_names_both_counts(tmp_path: Path) -> None:
    path = write(tmp_path, "id,at,cc,phone\n1,2026-01-01,GB,+447700900001,extra\n")

    (item,) = read_source(small_profile(), path)

    assert item == Quarantined(2, None, Reason.MALFORMED_ROW, "expected 4 columns, found 5")


def test_header_missing_a_named_column_fails_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "id,when,phone\n1,2026-01-01,+447700900001\n")

    with pytest.raises(ConfigError) as caught:
        read_source(small_profile(), path)

    message = caught.value.message
    assert "lacks column(s) named in profile 'small': at, cc" in message
    assert "columns present: 'id', 'when', 'phone'" in message


def test_header_naming_a_column_twice_fails_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "id,at,cc,phone,phone\n")

    with pytest.raises(ConfigError, match="several columns named phone"):
        read_source(small_profile(), path)


def test_header_only_file_yields_nothing(tmp_path: Path) -> None:
    path = write(tmp_path, "id,at,cc,phone\n")

    reading = read_source(small_profile(), path)

    assert list(reading) == []
    assert reading.stats.records == 0


def test_empty_file_is_a_file_level_error(tmp_path: Path) -> None:
    path = write(tmp_path, "\n\n")

    with pytest.raises(ConfigError, match="is empty: expected a header line"):
        read_source(small_profile(), path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^source file not found: .*absent\.csv"):
        read_source(small_profile(), tmp_path / "absent.csv")


def test_header_in_the_wrong_encoding_fails_the_file(tmp_path: Path) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes("id,at,cc,t\xe9l\u00e9phone\n".encode("latin-1"))

    with pytest.raises(ConfigError, match=r"header line of .* is not valid utf-8"):
        read_source(small_profile(), path)


def test_options_delimiter_and_encoding(tmp_path: Path) -> None:
    path = tmp_path / "semicolons.csv"
    path.write_bytes(
        "id;at;cc;phone;note\nA1;2026-01-01;GB;+447700900001;caf\xe9\n".encode("cp1252")
    )
    profile = small_profile(options={"delimiter": ";", "encoding": "cp1252"})

    (record,) = read_source(profile, path)

    assert isinstance(record, Record)
    assert record.record_id == "A1"


def test_byte_order_mark_and_padded_header_names(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes(b"\xef\xbb\xbfid, at ,cc,phone\r\nA1,2026-01-01,,+447700900001\r\n")

    (record,) = read_source(small_profile(), path)

    assert isinstance(record, Record)
    assert (record.record_id, record.country) == ("A1", "GB")


def test_without_record_id_the_line_number_is_the_id(tmp_path: Path) -> None:
    path = write(tmp_path, "id,at,cc,phone\n\n,2026-01-01,GB,+447700900001\n")

    (record,) = read_source(small_profile(record_id=None), path)

    assert isinstance(record, Record)
    assert record.record_id == "3"


def test_missing_country_without_default(tmp_path: Path) -> None:
    path = write(tmp_path, "id,at,cc,phone\nA1,2026-01-01,,+447700900001\nA2,2026-01-01,ke,+2547\n")

    items = list(read_source(small_profile(country={"field": "cc"}), path))

    assert items[0] == Quarantined(
        2, "A1", Reason.MISSING_COUNTRY, "field 'cc' is empty and there is no default"
    )
    assert isinstance(items[1], Record) and items[1].country == "KE"


def test_country_from_the_default_alone(tmp_path: Path) -> None:
    path = write(tmp_path, "id,at,phone\nA1,2026-01-01,+447700900001\n")

    (record,) = read_source(small_profile(country={"default": "ie"}), path)

    assert isinstance(record, Record) and record.country == "IE"


@pytest.mark.parametrize(
    ("fmt", "text", "expected"),
    [
        ("iso", "2026-11-02T09:15:00Z", datetime(2026, 11, 2, 9, 15, tzinfo=UTC)),
        (
            "iso",
            "2026-11-02T09:15:00.250+05:30",
            datetime(2026, 11, 2, 3, 45, 0, 250000, tzinfo=UTC),
        ),
        ("iso", "2026-11-02 09:15:00", datetime(2026, 11, 2, 9, 15, tzinfo=UTC)),
        ("iso", "2026-11-02", datetime(2026, 11, 2, tzinfo=UTC)),
        ("%d/%m/%Y %H:%M", "02/11/2026 09:15", datetime(2026, 11, 2, 9, 15, tzinfo=UTC)),
        ("%d.%m.%Y %H:%M %z", "02.11.2026 09:15 -0200", datetime(2026, 11, 2, 11, 15, tzinfo=UTC)),
        ("%Y%m%d", "20261102", datetime(2026, 11, 2, tzinfo=UTC)),
        ("unix", "1793610900", datetime(2026, 11, 2, 9, 15, tzinfo=UTC)),
        ("unix", "1793610900.5", datetime(2026, 11, 2, 9, 15, 0, 500000, tzinfo=UTC)),
    ],
)
def test_timestamp_formats_give_aware_utc(
    tmp_path: Path, fmt: str, text: str, expected: datetime
) -> None:
    path = write(tmp_path, f'id,at,cc,phone\nA1,"{text}",GB,+447700900001\n')

    (record,) = read_source(small_profile(timestamp={"field": "at", "format": fmt}), path)

    assert isinstance(record, Record)
    assert record.observed_at == expected
    assert record.observed_at.tzinfo is UTC


@pytest.mark.parametrize(
    ("fmt", "text"),
    [("iso", "02/11/2026"), ("%d/%m/%Y", "2026-11-02"), ("unix", "yesterday"), ("unix", "1e300")],
)
def test_timestamps_not_matching_the_format(tmp_path: Path, fmt: str, text: str) -> None:
    path = write(tmp_path, f"id,at,cc,phone\nA1,{text},GB,+447700900001\n")

    (item,) = read_source(small_profile(timestamp={"field": "at", "format": fmt}), path)

    assert isinstance(item, Quarantined)
    assert item.reason == Reason.BAD_TIMESTAMP
    assert text not in item.detail


def test_location_becomes_a_coarse_h3_cell(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        id,at,cc,phone,lat,lon
        A1,2026-01-01,GB,+447700900001,51.5072,-0.1276
        A2,2026-01-01,GB,+447700900002,,
        A3,2026-01-01,GB,+447700900003,north,west
        A4,2026-01-01,GB,+447700900004,nan,0
        A5,2026-01-01,GB,+447700900005,10,190
        """,
    )
    profile = small_profile(location={"lat": "lat", "lon": "lon", "h3_resolution": 4})

    items = list(read_source(profile, path))

    first, second = items[0], items[1]
    assert isinstance(first, Record) and isinstance(second, Record)
    assert first.h3_cell == h3.latlng_to_cell(51.5072, -0.1276, 4)
    assert h3.get_resolution(first.h3_cell) == 4
    assert second.h3_cell is None  # no location is not an error
    assert [(i.line, i.reason) for i in items[2:] if isinstance(i, Quarantined)] == [
        (4, Reason.BAD_LOCATION),
        (5, Reason.BAD_LOCATION),
        (6, Reason.BAD_LOCATION),
    ]


def test_tag_field_without_static_tags(tmp_path: Path) -> None:
    path = write(tmp_path, "id,at,cc,phone,kind\nA1,2026-01-01,GB,+447700900001, a ; b ;; c \n")
    profile = small_profile(tag_field={"field": "kind", "split": ";"})

    (record,) = read_source(profile, path)

    assert isinstance(record, Record)
    assert record.tags == ("a", "b", "c")


def test_whitespace_only_lines_count_as_blank(tmp_path: Path) -> None:
    path = write(tmp_path, "id,at,cc,phone\n   \n\nA1,2026-01-01,GB,+447700900001\n")

    reading = read_source(small_profile(), path)
    items = list(reading)

    assert [i.line for i in items] == [4]
    assert reading.stats.blank_lines == 2


def test_closing_a_reading_early_releases_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "id,at,cc,phone\nA1,2026-01-01,GB,+1\nA2,2026-01-01,GB,+2\n")

    with read_source(small_profile(), path) as reading:
        first = next(reading)

    assert isinstance(first, Record)
    assert list(reading) == []


def test_a_data_row_in_place_of_the_header_is_not_echoed(tmp_path: Path) -> None:
    path = write(tmp_path, "A1,2026-01-01,GB,+447700900001,someone@example.org\n")

    with pytest.raises(ConfigError) as caught:
        read_source(small_profile(), path)

    message = caught.value.message
    assert "+447700900001" not in message
    assert "someone@example.org" not in message
    assert "2026-01-01" not in message  # eight digits: hidden too
    assert "'A1', <column 2>, 'GB', <column 4>, <column 5>" in message
    assert "is the header line missing?" in message
