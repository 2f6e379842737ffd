"""HTCDS 2.0 case exports as CSV: the CSV reader, gated by the victim/perpetrator rule.

Columns are found by their HTCDS field names in the header, never by
position. A row that fails the rule (node.sources.htcds.may_share) never
reaches the RecordBuilder: it is counted like a row without indicators, so
nothing of it is stored, quarantined or logged.
"""

from __future__ import annotations

import csv
from collections.abc import Generator, Sequence
from pathlib import Path
from typing import Annotated, ClassVar

from pydantic import BaseModel, Field, StringConstraints

from counterflow.errors import ConfigError

# The CSV reader's row loop is reused as is, so both readers treat messy rows alike.
from node.sources.csv_reader import CsvOptions, _body, _Decoding, _header
from node.sources.htcds import ROLE_FIELD, VICTIM_PREFIX, RoleColumns, is_victim_field, role_columns
from node.sources.profile import FieldName, SourceProfile, reader_options
from node.sources.records import (
    Quarantined,
    ReadStats,
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


class HtcdsCsvReader:
    options_model: ClassVar[type[BaseModel]] = HtcdsCsvOptions

    def __init__(self, profile: SourceProfile) -> None:
        self._profile = profile
        self._options = reader_options(profile, HtcdsCsvOptions)
        _refuse_victim_indicators(profile, self._options.victim_prefixes)

    def read(self, path: Path, stats: ReadStats) -> Generator[Record | Quarantined, None, None]:
        options = self._options
        try:
            handle = path.open("rb")
        except OSError as exc:
            raise ConfigError(f"cannot open source file {path}: {exc.strerror}") from None
        with handle:
            decoding = _Decoding(options.encoding)
            rows = csv.reader(
                decoding.lines(handle), delimiter=options.delimiter, quotechar=options.quotechar
            )
            header = _header(rows, decoding, path, stats)
            columns = role_columns(header, options.role_field, options.victim_prefixes, path)
            slots = slots_from_header(self._profile, header, path)
            builder = _RoleGatedBuilder(self._profile, slots, columns)
            yield from _body(rows, decoding, builder, len(header), stats)

    def __repr__(self) -> str:
        return f"HtcdsCsvReader({self._profile.name!r})"


def _refuse_victim_indicators(profile: SourceProfile, prefixes: Sequence[str]) -> None:
    """A victim context field is never an indicator, whoever the row describes."""
    named = [m.field for m in profile.indicators if is_victim_field(m.field, prefixes)]
    if named:
        raise ConfigError(
            f"source profile {profile.name!r} names victim context field(s) as indicators: "
            f"{', '.join(named)}; victims' details are never shared"
        )
