"""Input that once stopped a whole ingest: each now costs one quarantined row or a clear error."""

from __future__ import annotations

from pathlib import Path

import pytest

from counterflow.errors import ConfigError
from node.sources.profile import SourceProfile, load_profile
from node.sources.records import Quarantined, Reason, Record
from node.sources.registry import read_source


def _profile(**changes: object) -> SourceProfile:
    data: dict[str, object] = {
        "schema_version": 1,
        "name": "hostile",
        "reader": "jsonl",
        "record_id": "id",
        "timestamp": {"field": "at"},
        "country": {"default": "GB"},
        "indicators": [{"field": "url", "type": "url"}],
    }
    data.update(changes)
    return SourceProfile.model_validate(data)


def test_an_unpaired_surrogate_escape_quarantines_only_its_line(tmp_path: Path) -> None:
    source = tmp_path / "ads.jsonl"
    source.write_text(
        '{"id": "1", "at": "2026-11-02T10:00:00Z", "url": "http://a.example/\\ud800"}\n'
        '{"id": "2", "at": "2026-11-02T10:00:00Z", "url": "http://b.example/"}\n'
    )
    items = list(read_source(_profile(), source))
    assert isinstance(items[0], Quarantined)
    assert items[0].reason is Reason.BAD_ENCODING
    assert isinstance(items[1], Record)


@pytest.mark.parametrize("stamp", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_a_timestamp_at_the_calendars_edge_is_a_bad_timestamp(tmp_path: Path, stamp: str) -> None:
    source = tmp_path / "ads.jsonl"
    source.write_text(f'{{"id": "1", "at": "{stamp}", "url": "http://a.example/"}}\n')
    (item,) = list(read_source(_profile(), source))
    assert isinstance(item, Quarantined)
    assert item.reason is Reason.BAD_TIMESTAMP


@pytest.mark.parametrize("encoding", ["base64", "hex", "rot13"])
def test_a_codec_that_is_not_a_text_encoding_is_a_profile_error(
    tmp_path: Path, encoding: str
) -> None:
    profile = tmp_path / "p.yaml"
    profile.write_text(
        "schema_version: 1\nname: p\nreader: csv\n"
        f"options: {{encoding: {encoding}}}\n"
        "timestamp: {field: at}\ncountry: {default: GB}\n"
        "indicators: [{field: url, type: url}]\n"
    )
    with pytest.raises(ConfigError, match="not a text encoding"):
        load_profile(profile)
