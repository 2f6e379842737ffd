from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from counterflow.errors import ConfigError
from node.sources.profile import SourceProfile, load_profile
from node.sources.records import RawIndicator, Record
from node.sources.registry import READERS, read_source

FIXTURES = Path(__file__).parents[3] / "fixtures" / "sources"
DOCS = Path(__file__).parents[4] / "docs" / "source-profiles.md"


def test_registry_names_each_reader_with_its_options_model() -> None:
    assert sorted(READERS) == ["amlsim", "csv", "htcds_csv", "jsonl"]
    for reader in READERS.values():
        assert issubclass(reader.options_model, BaseModel)
        assert reader.options_model.model_config.get("extra") == "forbid"


def test_a_directory_is_not_a_source_file(tmp_path: Path) -> None:
    profile = load_profile(FIXTURES / "bank_payments.yaml")

    with pytest.raises(ConfigError, match="source path is not a file"):
        read_source(profile, tmp_path)


def test_file_level_errors_surface_at_the_call_not_the_first_item(tmp_path: Path) -> None:
    profile = load_profile(FIXTURES / "bank_payments.yaml")
    path = tmp_path / "wrong.csv"
    path.write_text("a,b\n1,2\n")

    with pytest.raises(ConfigError, match="lacks column"):
        read_source(profile, path)


def test_raw_values_stay_out_of_reprs() -> None:
    records = list(read_source(load_profile(FIXTURES / "hotline.yaml"), FIXTURES / "hotline.jsonl"))
    first = records[0]
    assert isinstance(first, Record)

    assert "+447700900111" not in repr(first)
    assert repr(first.indicators[0]) == "RawIndicator(type=phone, value=<13 chars>)"
    assert isinstance(first.indicators[0], RawIndicator)


def test_every_yaml_example_in_the_docs_is_a_valid_profile(tmp_path: Path) -> None:
    blocks = re.findall(r"```yaml\n(.*?)```", DOCS.read_text(), flags=re.DOTALL)
    profiles = [b for b in blocks if b.startswith("schema_version:")]

    assert len(profiles) >= 3
    for index, block in enumerate(profiles):
        path = tmp_path / f"example-{index}.yaml"
        path.write_text(block)
        assert isinstance(load_profile(path), SourceProfile)
