from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from counterflow.errors import ConfigError, ErrorCode
from counterflow.indicators import IndicatorType
from node.sources.profile import SourceProfile, load_profile, reader_options
from node.sources.registry import READERS

FIXTURES = Path(__file__).parents[3] / "fixtures" / "sources"

GOOD = """\
schema_version: 1
name: test-source
reader: csv
timestamp: {field: at}
country: {default: GB}
phone_region: GB
indicators:
  - {field: phone, type: phone}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "profile.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_profile(path)
    assert caught.value.code is ErrorCode.INVALID_CONFIG
    return caught.value.message.splitlines()


def test_bank_fixture_loads_with_every_part() -> None:
    profile = load_profile(FIXTURES / "bank_payments.yaml")

    assert profile.name == "bank-alpha-payments"
    assert profile.reader == "csv"
    assert profile.record_id == "txn_id"
    assert profile.timestamp.format == "iso"
    assert (profile.country.field, profile.country.default) == ("counterparty_country", "GB")
    assert [(m.field, m.type, m.split) for m in profile.indicators] == [
        ("counterparty_iban", IndicatorType.IBAN, None),
        ("contact_phone", IndicatorType.PHONE, None),
        ("notes_email", IndicatorType.EMAIL, ";"),
    ]
    assert profile.tags == ["bank-transfer"]
    assert profile.tag_field is not None and profile.tag_field.split == "|"
    assert profile.fields() == (
        "txn_id",
        "booked_at",
        "counterparty_country",
        "counterparty_iban",
        "contact_phone",
        "notes_email",
        "typology",
    )


def test_hotline_fixture_loads_with_location() -> None:
    profile = load_profile(FIXTURES / "hotline.yaml")

    assert profile.location is not None
    assert profile.location.h3_resolution == 5
    assert profile.timestamp.format == "%d/%m/%Y %H:%M"
    assert "persons.phone" in profile.fields()


def test_minimal_profile_has_safe_defaults(tmp_path: Path) -> None:
    profile = load_profile(write(tmp_path, GOOD))

    assert profile.options == {}
    assert profile.record_id is None
    assert profile.location is None
    assert profile.tags == []
    assert profile.tag_field is None


def test_every_problem_of_a_file_is_reported_with_its_line() -> None:
    path = FIXTURES / "profile_errors.yaml"
    lines = problems(path)

    assert lines == [
        f"{path}:3: reader: unknown reader 'xlsx' (known: amlsim, csv, htcds_csv, jsonl)",
        f"{path}:4: colour: unknown key",
        f"{path}:5: timestamp.format: not a usable strptime format: "
        "'Q' is a bad directive in format '%Q'",
        f"{path}:6: country: give a country field, a default, or both",
        f"{path}:7: location.h3_resolution: Input should be less than or equal to 6",
        f"{path}:10: indicators[1].type: unknown indicator type 'bitcoin' "
        "(known: phone, email, iban, crypto, url)",
        f"{path}:11: tags: List should have at most 3 items after validation, not 4",
    ]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("reader: csv", "reader: xlsx"), r":3: reader: unknown reader 'xlsx'"),
        (("name: test-source", "name: test-source\nfavourite: yes"), r":3: favourite: unknown key"),
        (
            ("type: phone}", "type: fax}"),
            r":8: indicators\[0\]\.type: unknown indicator type 'fax'",
        ),
        (("type: phone}", "type: adfp}"), r":8: indicators\[0\]\.type: 'adfp' is computed by"),
        (("country: {default: GB}", "country: {}"), r":5: country: give a country field"),
        (
            ("country: {default: GB}", "country: {default: XX}"),
            r":5: country\.default: 'XX' is not",
        ),
        (("country: {default: GB}", "country: {default: NO}"), r":5: country\.default: YAML read"),
        (("schema_version: 1", "schema_version: 2"), r":1: schema_version: Input should be 1"),
        (("timestamp: {field: at}", "timestamp: {format: iso}"), r":4: timestamp\.field: required"),
        (
            ("timestamp: {field: at}", "timestamp: {field: at, format: dd/mm}"),
            r":4: timestamp\.format",
        ),
        (("phone_region: GB\n", ""), r":6: indicators: an indicator has type phone, so phone_"),
        (("tags: []", "tags: [Forced Labour]"), r":9: tags: tag 'Forced Labour' does not match"),
        (("tags: []", "tags: [a, b, c, d]"), r":9: tags: List should have at most 3 items"),
    ],
)
def test_single_problem_is_located(tmp_path: Path, change: tuple[str, str], expected: str) -> None:
    text = (GOOD + "tags: []\n").replace(*change)
    path = write(tmp_path, text)

    lines = problems(path)

    assert len(lines) == 1
    assert lines[0].startswith(f"{path}:")
    assert re.search(expected, lines[0]), lines[0]


def test_h3_resolution_above_the_cap_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD + "location:\n  lat: lat\n  lon: lon\n  h3_resolution: 7\n")

    assert problems(path) == [
        f"{path}:12: location.h3_resolution: Input should be less than or equal to 6"
    ]


def test_missing_key_in_a_block_mapping_points_at_the_mapping(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD + "location:\n  lat: lat\n  h3_resolution: 3\n")

    assert problems(path) == [f"{path}:9: location.lon: required"]


def test_reader_options_are_checked_with_lines(tmp_path: Path) -> None:
    text = GOOD.replace(
        "reader: csv\n", 'reader: csv\noptions:\n  delimiter: ";;"\n  quoting: none\n'
    )
    path = write(tmp_path, text)

    assert problems(path) == [
        f"{path}:5: options.delimiter: String should have at most 1 character",
        f"{path}:6: options.quoting: unknown key",
    ]


def test_encoding_option_must_exist_and_keep_lines_splittable(tmp_path: Path) -> None:
    bad_name = write(
        tmp_path, GOOD.replace("reader: csv\n", "reader: csv\noptions: {encoding: klingon}\n")
    )
    assert problems(bad_name) == [f"{bad_name}:4: options.encoding: unknown encoding 'klingon'"]

    wide = write(
        tmp_path, GOOD.replace("reader: csv\n", "reader: jsonl\noptions: {encoding: utf-16}\n")
    )
    assert "is not ASCII-compatible" in problems(wide)[0]


def test_utf8_sig_is_accepted_as_utf8(tmp_path: Path) -> None:
    path = write(
        tmp_path, GOOD.replace("reader: csv\n", "reader: csv\noptions: {encoding: UTF-8-SIG}\n")
    )

    profile = load_profile(path)

    assert reader_options(profile, READERS["csv"].options_model).model_dump()["encoding"] == "utf-8"


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD + "tags: [unclosed\n")

    (line,) = problems(path)

    assert line.startswith(f"{path}:10: not valid YAML")


def test_profile_must_be_a_mapping(tmp_path: Path) -> None:
    path = write(tmp_path, "- just\n- a list\n")

    assert problems(path) == [f"{path}:1: a source profile must be a YAML mapping"]


def test_missing_profile_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"source profile not found: .*nowhere\.yaml"):
        load_profile(tmp_path / "nowhere.yaml")


def test_profiles_built_in_code_have_their_options_checked() -> None:
    profile = SourceProfile.model_validate(
        {
            "schema_version": 1,
            "name": "in-code",
            "reader": "jsonl",
            "options": {"delimiter": ","},
            "timestamp": {"field": "at"},
            "country": {"default": "GB"},
            "indicators": [{"field": "mail", "type": "email"}],
        }
    )

    with pytest.raises(ConfigError, match=r"options\.delimiter: unknown key"):
        READERS["jsonl"](profile)


def test_indicator_type_accepts_enum_names() -> None:
    profile = SourceProfile.model_validate(
        {
            "schema_version": 1,
            "name": "names",
            "reader": "csv",
            "timestamp": {"field": "at"},
            "country": {"field": "cc"},
            "indicators": [{"field": "wallet", "type": "crypto_wallet"}],
        }
    )

    assert profile.indicators[0].type is IndicatorType.CRYPTO_WALLET
    assert profile.country.default is None


def test_a_key_given_twice_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD + "country: {field: cc}\n")

    assert problems(path) == [f"{path}:9: country: key given twice"]
