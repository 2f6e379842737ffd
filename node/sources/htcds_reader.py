"""HTCDS 2.0 case exports as CSV: the CSV reader, gated by the victim/perpetrator rule.

Columns are found by their HTCDS field names in the header, never by
position. A row that fails the rule (node.sources.htcds.may_share) never
reaches the RecordBuilder: it is counted like a row without indicators, so
nothing of it is stored, quarantined or logged.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, ClassVar

from pydantic import BaseModel, Field, StringConstraints

from counterflow.errors import ConfigError

# The CSV reader's row loop is reused as is, so both readers treat messy rows alike.
from node.sources.csv_reader import CsvOptions, CsvReader
from node.sources.htcds import ROLE_FIELD, VICTIM_PREFIX, RoleColumns, is_victim_field, role_columns
from node.sources.profile import FieldName, SourceProfile
from node.sources.records import (
    Quarantined,
    Record,
    RecordBuilder,
    Value,
    slots_from_header,
)

Prefix = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class HtcdsCsvOptions(CsvOptions):
    role_field: FieldName = ROLE_FIELD
    victim_prefixes: list[Prefix] = Field(default_factory=lambda: [VICTIM_PREFIX], min_length=1)


class _RoleGatedBuilder(RecordBuilder):
    """A RecordBuilder that sees only rows the rule lets through."""

    def __init__(self, profile: SourceProfile, slots: dict[str, int], columns: RoleColumns) -> None:
        super().__init__(profile, slots)
        self._allows = columns.allows

    def build(self, line: int, values: Sequence[Value]) -> Record | Quarantined | None:
        if not self._allows(values):
            return None
        return super().build(line, values)


class HtcdsCsvReader(CsvReader):
    """The CSV reader, with the role rule applied before a row becomes a record."""

    options_model: ClassVar[type[BaseModel]] = HtcdsCsvOptions

    def __init__(self, profile: SourceProfile) -> None:
        super().__init__(profile)
        assert isinstance(self._options, HtcdsCsvOptions)  # options_model above
        self._htcds = self._options
        _refuse_victim_indicators(profile, self._htcds.victim_prefixes)

    def builder(self, header: list[str], path: Path) -> RecordBuilder:
        options = self._htcds
        columns = role_columns(header, options.role_field, options.victim_prefixes, path)
        return _RoleGatedBuilder(
            self._profile, slots_from_header(self._profile, header, path), columns
        )


def _refuse_victim_indicators(profile: SourceProfile, prefixes: Sequence[str]) -> None:
    """A victim context field is never an indicator, whoever the row describes."""
    named = [m.field for m in profile.indicators if is_victim_field(m.field, prefixes)]
    if named:
        raise ConfigError(
            f"source profile {profile.name!r} names victim context field(s) as indicators: "
            f"{', '.join(named)}; victims' details are never shared"
        )
