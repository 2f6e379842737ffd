"""The demo's sample data: deterministic, valid where meant to be, and converging by design."""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import phonenumbers
import pytest
import yaml

from counterflow.demo import sample
from counterflow.errors import ConfigError
from counterflow.indicators import IndicatorType
from node.canonical import CanonicalError, Canonicaliser
from node.sources.profile import load_profile
from node.sources.records import Quarantined
from node.sources.registry import read_source

ANCHOR = dt.date(2026, 11, 16)  # a Monday
SEED = 7
Files = dict[str, tuple[Path, Path]]


def _write_all(root: Path, seed: int) -> Files:
    return {
        partner: sample.write_partner_data(partner, sector, root / partner, seed, ANCHOR)
        for partner, sector in sample.DEMO_PARTNERS.items()
    }


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Files:
    return _write_all(tmp_path_factory.mktemp("seed7"), SEED)


def _records(data: Path) -> Iterator[dict[str, Any]]:
    """Rows as dicts; the deliberately truncated JSON line is skipped."""
    if data.suffix == ".csv":
        with data.open(newline="", encoding="utf-8") as handle:
            yield from csv.DictReader(handle)
        return
    for line in data.read_text(encoding="utf-8").splitlines():
        try:
            yield json.loads(line)
        except json.JSONDecodeError:
            continue


def _field(record: dict[str, Any], dotted: str) -> str | None:
    value: Any = record
    for key in dotted.split("."):
        value = value.get(key) if isinstance(value, dict) else None
    return value or None


def _values(partner: str, data: Path, kind: IndicatorType) -> list[str]:
    dotted = sample.SECTOR_FIELDS[sample.DEMO_PARTNERS[partner]].get(kind)
    if dotted is None:
        return []
    return [v for r in _records(data) if (v := _field(r, dotted)) is not None]


def _mod97(spelling: str) -> int:
    text = spelling.upper().replace(" ", "").removeprefix("IBAN")
    digits = "".join(str(int(c, 36)) for c in text[4:] + text[:4])
    return int(digits) % 97


def test_same_seed_gives_byte_identical_files(files: Files, tmp_path: Path) -> None:
    again = _write_all(tmp_path, SEED)
    for partner, paths in files.items():
        for first, second in zip(paths, again[partner], strict=True):
            assert first.read_bytes() == second.read_bytes(), first.name


def test_another_seed_gives_other_data(files: Files, tmp_path: Path) -> None:
    data, _ = sample.write_partner_data("ngo-harbour", "ngo", tmp_path, SEED + 1, ANCHOR)
    assert data.read_bytes() != files["ngo-harbour"][0].read_bytes()


def test_every_partner_file_holds_a_few_thousand_records(files: Files) -> None:
    for partner, (data, _) in files.items():
        count = sum(1 for _ in _records(data))
        assert 1500 <= count <= 5000, partner
        assert count >= sample.RECORDS[sample.DEMO_PARTNERS[partner]] - sample.BAD_JSON_LINES


def test_ibans_pass_mod97_except_the_deliberate_one(files: Files) -> None:
    for partner, (data, _) in files.items():
        ibans = _values(partner, data, IndicatorType.IBAN)
        if sample.DEMO_PARTNERS[partner] != "bank":
            assert ibans == []
            continue
        assert len(ibans) == sample.RECORDS["bank"]
        failing = [i for i in ibans if _mod97(i) != 1]
        assert len(failing) == sample.BAD_IBANS, partner


def test_iban_check_digits_match_a_published_example() -> None:
    # The IBAN registry's example for the UK.
    assert sample.iban_with_check_digits("GB", "WEST12345698765432") == "GB82WEST12345698765432"


def test_phones_are_valid_for_their_country_except_the_deliberate_ones(files: Files) -> None:
    for partner, (data, _) in files.items():
        region = sample.home_region(partner, sample.DEMO_PARTNERS[partner])
        phones = _values(partner, data, IndicatorType.PHONE)
        assert len(phones) > 300
        invalid = []
        for text in phones:
            try:
                number = phonenumbers.parse(text, region)
            except phonenumbers.NumberParseException:
                invalid.append(text)
                continue
            if not phonenumbers.is_valid_number(number):
                invalid.append(text)
        assert len(invalid) == sample.BAD_PHONES, partner


def test_every_spelling_of_a_shared_phone_parses_to_its_e164_form() -> None:
    homes = {sample.home_region(p, s) for p, s in sample.DEMO_PARTNERS.items()}
    phones = [e for e in sample.shared_pool(SEED) if e.kind is IndicatorType.PHONE]
    assert len(phones) == sample.POOL_SIZES[IndicatorType.PHONE]
    for home in sorted(homes):
        for entry in phones:
            spellings = entry.spellings(home)
            assert len(set(spellings)) == len(spellings) >= 3
            for text in spellings:
                number = phonenumbers.parse(text, home)
                assert phonenumbers.is_valid_number(number), (home, entry.region)
                assert phonenumbers.region_code_for_number(number) == entry.region
                e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
                assert e164 == entry.value


def test_national_spellings_appear_only_in_the_numbers_own_region() -> None:
    entry = sample.SharedIndicator(IndicatorType.PHONE, "+447912123456", "GB", 0.5)
    national = {"07912 123456", "(07912) 123 456"}
    assert national <= set(entry.spellings("GB"))
    assert not national & set(entry.spellings("NL"))


def test_every_spelling_of_a_shared_indicator_canonicalises_alike() -> None:
    for partner, sector in sample.DEMO_PARTNERS.items():
        region = sample.home_region(partner, sector)
        canonicaliser = Canonicaliser(region)
        for entry in sample.shared_pool(SEED):
            canonical = {canonicaliser.canonical(entry.kind, s) for s in entry.spellings(region)}
            assert len(canonical) == 1, (partner, entry.kind.value)


def _canonical_by_partner(files: Files) -> dict[str, dict[IndicatorType, dict[str, set[str]]]]:
    """partner -> type -> canonical value -> the raw spellings seen."""
    out: dict[str, dict[IndicatorType, dict[str, set[str]]]] = {}
    for partner, (data, _) in files.items():
        canonicaliser = Canonicaliser(sample.home_region(partner, sample.DEMO_PARTNERS[partner]))
        seen: dict[IndicatorType, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
        for kind in sample.SECTOR_FIELDS[sample.DEMO_PARTNERS[partner]]:
            for raw in _values(partner, data, kind):
                try:
                    seen[kind][canonicaliser.canonical(kind, raw)].add(raw)
                except CanonicalError:
                    continue
        out[partner] = seen
    return out


def test_the_shared_pool_recurs_across_sectors_in_different_spellings(files: Files) -> None:
    seen = _canonical_by_partner(files)
    cross_sector: dict[IndicatorType, int] = defaultdict(int)
    for entry in sample.shared_pool(SEED):
        canonical = Canonicaliser("GB").canonical(entry.kind, entry.value)
        holders = [p for p in files if canonical in seen[p].get(entry.kind, {})]
        sectors = {sample.DEMO_PARTNERS[p] for p in holders}
        spellings = set().union(*(seen[p][entry.kind][canonical] for p in holders))
        if len(sectors) >= 2:
            cross_sector[entry.kind] += 1
            assert len(spellings) >= 2, entry.kind.value
    assert sum(cross_sector.values()) >= 60
    for kind in (IndicatorType.PHONE, IndicatorType.EMAIL, IndicatorType.URL):
        assert cross_sector[kind] >= 5, kind.value
    assert cross_sector[IndicatorType.CRYPTO_WALLET] >= 3


def test_profiles_are_yaml_with_the_expected_keys(files: Files) -> None:
    for partner, (_, profile_file) in files.items():
        profile = yaml.safe_load(profile_file.read_text(encoding="utf-8"))
        sector = sample.DEMO_PARTNERS[partner]
        assert profile["schema_version"] == 1
        assert profile["reader"] == ("csv" if sector == "bank" else "jsonl")
        assert profile["timestamp"]["format"] == "iso"
        assert profile["phone_region"] == profile["country"]["default"]
        assert {"name", "record_id", "timestamp", "country", "indicators", "tags"} <= set(profile)
        fields = {i["field"]: i["type"] for i in profile["indicators"]}
        assert fields == {f: k.value for k, f in sample.SECTOR_FIELDS[sector].items()}
        assert 1 <= len(profile["tags"]) <= 3


def test_the_node_reads_each_file_and_quarantines_only_the_malformed_rows(files: Files) -> None:
    for partner, (data, profile_file) in files.items():
        profile = load_profile(profile_file)
        with read_source(profile, data) as reading:
            items = list(reading)
        reasons = sorted(str(i.reason) for i in items if isinstance(i, Quarantined))
        expected = ["BAD_TIMESTAMP"] * sample.BAD_TIMESTAMPS
        if data.suffix == ".jsonl":
            expected = sorted(expected + ["BAD_JSON"] * sample.BAD_JSON_LINES)
        assert reasons == expected, partner
        assert reading.stats.unseen_fields == ()


def test_records_fall_in_the_weeks_before_the_anchor(files: Files) -> None:
    start = dt.datetime.combine(ANCHOR, dt.time(), tzinfo=dt.UTC)
    earliest = start - dt.timedelta(weeks=sample.HISTORY_WEEKS)
    for _, (data, profile_file) in files.items():
        with read_source(load_profile(profile_file), data) as reading:
            moments = [i.observed_at for i in reading if not isinstance(i, Quarantined)]
        assert earliest <= min(moments)
        assert max(moments) < start


def test_hotline_records_carry_no_victim_fields(files: Files) -> None:
    for partner, (data, _) in files.items():
        if sample.DEMO_PARTNERS[partner] != "ngo":
            continue
        for record in _records(data):
            assert set(record) <= {"case_id", "reported_at", "country", "perpetrator", "notes_url"}
            assert set(record["perpetrator"]) <= {"phone", "email", "wallet"}


def test_an_unknown_sector_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown sector"):
        sample.write_partner_data("lab-x", "lab", tmp_path, SEED, ANCHOR)
