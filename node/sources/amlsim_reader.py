"""AMLSim transactions.csv as a partner source (`reader: amlsim`).

AMLSim rows hold account numbers and simulation steps, not the IBANs and
dates a bank exports; the reader turns each row into the virtual columns of
such an export (`VIRTUAL_FIELDS`) and hands them to the same RecordBuilder
every reader uses, so timestamps, countries, tags and indicators are treated
exactly as for a CSV export.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
from collections.abc import Generator
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from counterflow.errors import ConfigError, InputError
from node.canonical.iban import IBAN_LENGTHS
from node.sources.amlsim import (
    BANK_CODE_PATTERN,
    DEFAULT_START,
    TRANSACTION_COLUMNS,
    header_positions,
    iban_for,
    own_accounts,
)
from node.sources.profile import SourceProfile, reader_options
from node.sources.records import Quarantined, ReadStats, Reason, Record, RecordBuilder, Value

if TYPE_CHECKING:
    from _csv import Reader as _CsvRows

VIRTUAL_FIELDS = (
    "txn_id",
    "booked_at",
    "account_iban",
    "counterparty_iban",
    "amount",
    "is_fraud",
)
_NOON = dt.time(12, 0, tzinfo=dt.UTC)


class AmlsimOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # Step t is booked at start_date + t days, 12:00 UTC.
    start_date: dt.date = DEFAULT_START
    country: str = "GB"
    bank_code: str = Field(default="AMLS", pattern=BANK_CODE_PATTERN.pattern)
    # The bank's own accounts, relative to the transactions file.
    own_nodes: str | None = Field(default=None, min_length=1)

    @field_validator("country")
    @classmethod
    def _iban_country(cls, value: str) -> str:
        if value not in IBAN_LENGTHS:
            raise ValueError(f"{value!r} is not an IBAN country code (uppercase, e.g. GB)")
        return value


class _RowError(Exception):
    """Internal: why one row cannot be read (names the field, never the value)."""


class AmlsimReader:
    options_model: ClassVar[type[BaseModel]] = AmlsimOptions

    def __init__(self, profile: SourceProfile) -> None:
        self._profile = profile
        self._options = reader_options(profile, AmlsimOptions)
        unknown = [name for name in profile.fields() if name not in VIRTUAL_FIELDS]
        if unknown:
            raise ConfigError(
                f"source profile {profile.name!r} names field(s) the amlsim reader does not "
                f"provide: {', '.join(unknown)}; it provides: {', '.join(VIRTUAL_FIELDS)}"
            )
        # Refuses a bank code that leaves the country's IBAN no room for an account.
        self._ibans = {0: iban_for(0, self._options.country, self._options.bank_code)}
        self._start = dt.datetime.combine(self._options.start_date, _NOON)

    def read(self, path: Path, stats: ReadStats) -> Generator[Record | Quarantined, None, None]:
        own = self._own(path)
        builder = RecordBuilder(self._profile, {n: i for i, n in enumerate(VIRTUAL_FIELDS)})
        try:
            handle = path.open(encoding="utf-8", errors="replace", newline="")
        except OSError as exc:
            raise ConfigError(f"cannot open source file {path}: {exc.strerror}") from None
        with handle:
            rows = csv.reader(handle)
            header = _header(rows, path, stats)
            positions = header_positions(path, header, TRANSACTION_COLUMNS)
            for line, row in _numbered(rows, stats):
                if row is None:
                    yield Quarantined(line, None, Reason.MALFORMED_ROW, "not valid CSV")
                elif len(row) != len(header):
                    detail = f"expected {len(header)} columns, found {len(row)}"
                    yield Quarantined(line, None, Reason.MALFORMED_ROW, detail)
                else:
                    yield from self._build(builder, line, [row[p] for p in positions], own, stats)

    def _build(
        self,
        builder: RecordBuilder,
        line: int,
        cells: list[str],
        own: dict[int, bool] | None,
        stats: ReadStats,
    ) -> Generator[Record | Quarantined, None, None]:
        try:
            values = self._values(line, cells, own)
        except _RowError as exc:
            yield Quarantined(line, None, Reason.MALFORMED_ROW, str(exc))
            return
        built = builder.build(line, values)
        if built is None:
            stats.skipped_empty += 1
        else:
            yield built

    def _own(self, path: Path) -> dict[int, bool] | None:
        name = self._options.own_nodes
        return None if name is None else own_accounts(path.parent / name)

    def _values(self, line: int, cells: list[str], own: dict[int, bool] | None) -> list[Value]:
        source = _account(cells[0], "sourceNodeId")
        target = _account(cells[1], "targetNodeId")
        amount = cells[2].strip()
        try:
            if not math.isfinite(float(amount)):
                raise ValueError
        except ValueError:
            raise _RowError("field 'value' is not a finite amount") from None
        step = cells[3].strip()
        if not (step.isascii() and step.isdigit()):
            raise _RowError("field 'time' is not a non-negative integer step")
        try:
            booked = self._start + dt.timedelta(days=int(step))
        except OverflowError:
            raise _RowError("field 'time' is beyond the calendar") from None
        account, counterparty = source, target
        if own is not None and source not in own and target in own:
            account, counterparty = target, source
        fraud = own is not None and (own.get(source, False) or own.get(target, False))
        return [
            str(line),
            booked.isoformat(),
            self._iban(account),
            self._iban(counterparty),
            amount,
            "1" if fraud else "0",
        ]

    def _iban(self, account: int) -> str:
        iban = self._ibans.get(account)
        if iban is None:
            try:
                iban = iban_for(account, self._options.country, self._options.bank_code)
            except InputError as exc:
                raise _RowError(exc.message) from None
            self._ibans[account] = iban
        return iban

    def __repr__(self) -> str:
        return f"AmlsimReader({self._profile.name!r})"


def _account(text: str, name: str) -> int:
    text = text.strip()
    if not (text.isascii() and text.isdigit()):
        raise _RowError(f"field {name!r} is not an integer account id")
    return int(text)


def _header(rows: _CsvRows, path: Path, stats: ReadStats) -> list[str]:
    try:
        for row in rows:
            if any(cell.strip() for cell in row):
                row[0] = row[0].removeprefix("\ufeff")
                return row
            stats.blank_lines += 1
    except csv.Error as exc:
        raise ConfigError(f"header line of {path} is not valid CSV: {exc}") from None
    raise ConfigError(f"source file {path} is empty: expected a header line")


def _numbered(
    rows: _CsvRows, stats: ReadStats
) -> Generator[tuple[int, list[str] | None], None, None]:
    """(first line, row) for each non-blank row; None for a row csv could not parse.

    The for loop is restarted after each csv.Error, as csv.reader allows.
    """
    end = rows.line_num
    while True:
        try:
            for row in rows:
                start, end = end + 1, rows.line_num
                if not row or not any(cell.strip() for cell in row):
                    stats.blank_lines += 1
                else:
                    yield start, row
            return
        except csv.Error:
            start, end = end + 1, rows.line_num
            yield start, None
