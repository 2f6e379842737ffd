"""Delimited text with a header line (bank exports, spreadsheets saved as CSV).

The file is read as bytes and decoded one physical line at a time, so a
stray byte in another encoding costs one row (BAD_ENCODING) instead of the
run; the header itself must decode, since without it no row means anything.
"""

from __future__ import annotations

import csv
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, ClassVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from counterflow.errors import ConfigError
from node.sources.profile import Encoding, SourceProfile, reader_options
from node.sources.records import (
    Quarantined,
    ReadStats,
    Reason,
    Record,
    RecordBuilder,
    slots_from_header,
)

if TYPE_CHECKING:
    from _csv import Reader as _CsvRows

_BOM = "\ufeff"


class CsvOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    delimiter: str = Field(default=",", min_length=1, max_length=1)
    quotechar: str = Field(default='"', min_length=1, max_length=1)
    encoding: Encoding = "utf-8"

    @model_validator(mode="after")
    def _distinct(self) -> CsvOptions:
        if self.delimiter in "\r\n" or self.quotechar in "\r\n":
            raise ValueError("delimiter and quotechar cannot be line breaks")
        if self.delimiter == self.quotechar:
            raise ValueError("delimiter and quotechar must differ")
        return self


class _Decoding:
    """Decodes physical lines for csv.reader; remembers the last one that did not decode."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        self.last_bad = 0

    def lines(self, handle: IO[bytes]) -> Iterator[str]:
        encoding = self.encoding
        for number, raw in enumerate(handle, start=1):
            try:
                text = raw.decode(encoding)
            except UnicodeDecodeError:
                self.last_bad = number
                text = raw.decode(encoding, errors="replace")
            yield text


class CsvReader:
    """CSV with a header row; a format built on CSV overrides `builder` and `options_model`."""

    options_model: ClassVar[type[BaseModel]] = CsvOptions

    def __init__(self, profile: SourceProfile) -> None:
        self._profile = profile
        self._options: CsvOptions = reader_options(profile, self.options_model)  # type: ignore[assignment]

    def builder(self, header: list[str], path: Path) -> RecordBuilder:
        """How rows become records, once the header is known."""
        return RecordBuilder(self._profile, slots_from_header(self._profile, header, path))

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
            yield from _body(rows, decoding, self.builder(header, path), len(header), stats)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._profile.name!r})"


def _header(rows: _CsvRows, decoding: _Decoding, path: Path, stats: ReadStats) -> list[str]:
    """The first non-blank row; its problems are the file's problems."""
    try:
        for row in rows:
            if decoding.last_bad:
                raise ConfigError(
                    f"header line of {path} is not valid {decoding.encoding}: set options.encoding"
                )
            if any(cell.strip() for cell in row):
                row[0] = row[0].removeprefix(_BOM)
                return row
            stats.blank_lines += 1
    except csv.Error as exc:
        raise ConfigError(f"header line of {path} is not valid CSV: {exc}") from None
    raise ConfigError(f"source file {path} is empty: expected a header line")


def _body(
    rows: _CsvRows,
    decoding: _Decoding,
    builder: RecordBuilder,
    width: int,
    stats: ReadStats,
) -> Generator[Record | Quarantined, None, None]:
    """Rows after the header; the for loop is restarted after each csv.Error."""
    build = builder.build
    end = rows.line_num
    while True:
        try:
            for row in rows:
                start, end = end + 1, rows.line_num
                if len(row) != width or decoding.last_bad >= start:
                    if not row or (len(row) == 1 and not row[0].strip()):
                        stats.blank_lines += 1
                    else:
                        yield _unusable(row, start, width, decoding)
                    continue
                item = build(start, row)
                if item is None:
                    stats.skipped_empty += 1
                else:
                    yield item
            return
        except csv.Error as exc:
            start, end = end + 1, rows.line_num
            # csv's messages name the problem, never the content; drop its hint about open().
            detail = f"not valid CSV: {str(exc).split(' - ')[0]}"
            yield Quarantined(start, None, Reason.MALFORMED_ROW, detail)


def _unusable(row: list[str], line: int, width: int, decoding: _Decoding) -> Quarantined:
    if decoding.last_bad >= line:
        detail = f"row is not valid {decoding.encoding}"
        return Quarantined(line, None, Reason.BAD_ENCODING, detail)
    return Quarantined(
        line, None, Reason.MALFORMED_ROW, f"expected {width} columns, found {len(row)}"
    )
