"""What a source yields, and the one place a row of field values becomes it.

Every reader (CSV, JSONL, and later xlsx, AMLSim, ads) hands the same
`RecordBuilder` a sequence of raw field values; the builder owns timestamps,
countries, locations, tags and indicators, so a new reader only has to find
values in its format. Quarantine details name fields and problems, never a
field's value: a misconfigured column could hold phone numbers, and details
end up in local files and logs.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import h3

from counterflow.countries import ALPHA2
from counterflow.errors import ConfigError
from counterflow.indicators import IndicatorType
from counterflow.tokens import MAX_TAGS, TAG_PATTERN

if TYPE_CHECKING:
    from pathlib import Path

    from node.sources.profile import SourceProfile

# A field's raw value: text, several texts (a JSON array), or absent.
Value = str | tuple[str, ...] | None


class Reason(enum.StrEnum):
    """Stable quarantine codes: operators and dashboards key on them."""

    BAD_TIMESTAMP = "BAD_TIMESTAMP"
    MISSING_TIMESTAMP = "MISSING_TIMESTAMP"
    BAD_COUNTRY = "BAD_COUNTRY"
    MISSING_COUNTRY = "MISSING_COUNTRY"
    BAD_LOCATION = "BAD_LOCATION"
    TOO_MANY_TAGS = "TOO_MANY_TAGS"
    BAD_TAG = "BAD_TAG"
    MISSING_RECORD_ID = "MISSING_RECORD_ID"
    MALFORMED_ROW = "MALFORMED_ROW"
    BAD_JSON = "BAD_JSON"
    BAD_ENCODING = "BAD_ENCODING"


@dataclass(frozen=True, slots=True)
class RawIndicator:
    """A value as the source holds it; canonicalisation happens later, per type."""

    type: IndicatorType
    value: str

    def __repr__(self) -> str:
        # Keeps raw values out of tracebacks, assertion messages and debug logs.
        return f"RawIndicator(type={self.type.value}, value=<{len(self.value)} chars>)"


@dataclass(frozen=True, slots=True)
class Record:
    record_id: str
    line: int
    observed_at: datetime
    country: str
    h3_cell: str | None
    tags: tuple[str, ...]
    indicators: tuple[RawIndicator, ...]


@dataclass(frozen=True, slots=True)
class Quarantined:
    """A row that could not be read; `line` lets an operator find it in the source."""

    line: int
    record_id: str | None
    reason: str
    detail: str


@dataclass(slots=True)
class ReadStats:
    """Counts for one read; filled while iterating, final once the iterator ends."""

    records: int = 0
    quarantined: int = 0
    # Rows with no indicator value: nothing to share, so skipped rather than quarantined.
    skipped_empty: int = 0
    blank_lines: int = 0
    # Profile fields no row ever held (JSONL only): usually a typo in the profile.
    unseen_fields: tuple[str, ...] = field(default_factory=tuple)


class _RowError(Exception):
    """Internal: one row's problem, turned into a Quarantined by the builder."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def _timestamp_parser(fmt: str) -> Callable[[str], datetime]:
    """Parser for a profile's format; the builder reads naive results as UTC."""
    if fmt == "iso":
        return datetime.fromisoformat
    if fmt == "unix":
        return lambda text: datetime.fromtimestamp(float(text), UTC)
    return lambda text: datetime.strptime(text, fmt)


def slots_from_header(
    profile: SourceProfile, header: Sequence[str], source: Path
) -> dict[str, int]:
    """Column index of every field the profile names; a missing column fails the file."""
    positions: dict[str, int] = {}
    duplicated: set[str] = set()
    for index, cell in enumerate(header):
        name = cell.strip()
        if name in positions:
            duplicated.add(name)
        positions.setdefault(name, index)
    wanted = profile.fields()
    missing = [name for name in wanted if name not in positions]
    if missing:
        raise ConfigError(
            f"source file {source} lacks column(s) named in profile {profile.name!r}: "
            f"{', '.join(missing)}; columns present: {_describe_header(header)}"
        )
    ambiguous = sorted(duplicated.intersection(wanted))
    if ambiguous:
        raise ConfigError(
            f"source file {source} has several columns named {', '.join(ambiguous)}; "
            "rename them so the profile names exactly one"
        )
    return {name: positions[name] for name in wanted}


def _describe_header(header: Sequence[str]) -> str:
    """Header names for an error message, except cells that look like data.

    A file exported without its header line has a data row in its place, and
    that row's phone numbers must not end up in a terminal or a log.
    """
    shown = []
    for number, cell in enumerate(header, start=1):
        looks_like_data = "@" in cell or "://" in cell or sum(c.isdigit() for c in cell) >= 5
        shown.append(f"<column {number}>" if looks_like_data else repr(cell.strip()))
    text = ", ".join(shown)
    if "<column" in text:
        text += " (cells that look like data are hidden: is the header line missing?)"
    return text


class RecordBuilder:
    """Turns one row's values into a Record, a Quarantined, or None (no indicators).

    `slots` maps each of `profile.fields()` to its position in the value
    sequences passed to `build`; everything else is worked out once here so
    the per-row path stays a handful of lookups (CSV rows go in as they are).
    """

    def __init__(self, profile: SourceProfile, slots: Mapping[str, int]) -> None:
        self._record_id = None if profile.record_id is None else slots[profile.record_id]
        self._record_id_field = profile.record_id
        self._ts = slots[profile.timestamp.field]
        self._ts_field = profile.timestamp.field
        self._ts_format = profile.timestamp.format
        self._parse_ts = _timestamp_parser(profile.timestamp.format)
        country = profile.country
        self._country = None if country.field is None else slots[country.field]
        self._country_field = country.field or ""
        self._country_default = country.default or ""
        location = profile.location
        self._latlon = None if location is None else (slots[location.lat], slots[location.lon])
        self._latlon_fields = "" if location is None else f"{location.lat!r}/{location.lon!r}"
        self._resolution = 0 if location is None else location.h3_resolution
        self._static_tags = tuple(profile.tags)
        tag_field = profile.tag_field
        self._tags = None if tag_field is None else slots[tag_field.field]
        self._tags_field = "" if tag_field is None else tag_field.field
        self._tags_split = None if tag_field is None else tag_field.split
        self._indicators = tuple((slots[m.field], m.type, m.split) for m in profile.indicators)
        kinds = [m.type for m in profile.indicators]
        self._types_repeat = len(set(kinds)) < len(kinds)

    def build(self, line: int, values: Sequence[Value]) -> Record | Quarantined | None:
        indicators = self._read_indicators(values)
        if not indicators:
            return None
        if self._record_id is None:
            record_id = str(line)
        else:
            record_id = _scalar(values[self._record_id], None, "")
            if not record_id:
                return self._missing_id(line, values[self._record_id])
        try:
            return Record(
                record_id,
                line,
                self._read_timestamp(values[self._ts]),
                self._country_default
                if self._country is None
                else self._read_country(values[self._country]),
                None if self._latlon is None else self._read_cell(self._latlon, values),
                self._static_tags if self._tags is None else self._read_tags(values[self._tags]),
                indicators,
            )
        except _RowError as bad:
            return Quarantined(line, record_id, bad.reason, bad.detail)

    def _missing_id(self, line: int, value: Value) -> Quarantined:
        what = "holds a list" if isinstance(value, tuple) else "is empty"
        detail = f"field {self._record_id_field!r} {what}"
        return Quarantined(line, None, Reason.MISSING_RECORD_ID, detail)

    def _read_indicators(self, values: Sequence[Value]) -> tuple[RawIndicator, ...]:
        found: list[RawIndicator] = []
        several = self._types_repeat
        for slot, kind, split in self._indicators:
            value = values[slot]
            if type(value) is str and split is None:
                text = value.strip()
                if text:
                    found.append(RawIndicator(kind, text))
            elif value:
                several = True
                found.extend(RawIndicator(kind, text) for text in _pieces(value, split))
        if several and len(found) > 1 and len({i.value for i in found}) < len(found):
            # The same value from two fields, or twice in one, is one indicator.
            return tuple(dict.fromkeys(found))
        return tuple(found)

    def _read_timestamp(self, value: Value) -> datetime:
        text = (
            value.strip()
            if type(value) is str
            else _scalar(value, Reason.BAD_TIMESTAMP, self._ts_field)
        )
        if not text:
            raise _RowError(Reason.MISSING_TIMESTAMP, f"field {self._ts_field!r} is empty")
        try:
            moment = self._parse_ts(text)
            if moment.tzinfo is None:
                return moment.replace(tzinfo=UTC)
            # Converting a date at the calendar's edge (year 1 or 9999) can overflow.
            return moment if moment.tzinfo is UTC else moment.astimezone(UTC)
        except (ValueError, OverflowError, OSError):
            raise _RowError(
                Reason.BAD_TIMESTAMP,
                f"field {self._ts_field!r} does not match timestamp format {self._ts_format!r}",
            ) from None

    def _read_country(self, value: Value) -> str:
        name = self._country_field
        text = _scalar(value, Reason.BAD_COUNTRY, name).upper()
        if text in ALPHA2:
            return text
        if text:
            raise _RowError(Reason.BAD_COUNTRY, f"field {name!r} is not an ISO 3166-1 alpha-2 code")
        if self._country_default:
            return self._country_default
        raise _RowError(Reason.MISSING_COUNTRY, f"field {name!r} is empty and there is no default")

    def _read_cell(self, slots: tuple[int, int], values: Sequence[Value]) -> str | None:
        fields = self._latlon_fields
        lat_text = _scalar(values[slots[0]], Reason.BAD_LOCATION, fields)
        lon_text = _scalar(values[slots[1]], Reason.BAD_LOCATION, fields)
        if not lat_text and not lon_text:
            return None
        if not lat_text or not lon_text:
            raise _RowError(Reason.BAD_LOCATION, f"fields {fields}: one coordinate is empty")
        try:
            lat, lon = float(lat_text), float(lon_text)
        except ValueError:
            raise _RowError(Reason.BAD_LOCATION, f"fields {fields}: not decimal degrees") from None
        # Comparisons are False for NaN, so NaN lands here too.
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise _RowError(Reason.BAD_LOCATION, f"fields {fields}: coordinates out of range")
        return str(h3.latlng_to_cell(lat, lon, self._resolution))

    def _read_tags(self, value: Value) -> tuple[str, ...]:
        tags = dict.fromkeys(self._static_tags)
        if value:
            for position, text in enumerate(_pieces(value, self._tags_split), start=1):
                tag = text.lower()
                if not TAG_PATTERN.fullmatch(tag):
                    raise _RowError(
                        Reason.BAD_TAG,
                        f"field {self._tags_field!r}: tag {position} does not match "
                        f"{TAG_PATTERN.pattern}",
                    )
                tags[tag] = None
        if len(tags) > MAX_TAGS:
            raise _RowError(
                Reason.TOO_MANY_TAGS,
                f"field {self._tags_field!r} and the profile's tags make {len(tags)} tags; "
                f"at most {MAX_TAGS} are allowed",
            )
        return tuple(tags)


def _scalar(value: Value, reason: Reason | None, field_name: str) -> str:
    """Stripped text of a single-valued field: '' when absent or (reason None) a list."""
    if type(value) is str:
        return value.strip()
    if value is None or reason is None:
        return ""
    raise _RowError(reason, f"field {field_name!r} holds a list, expected one value")


def _pieces(value: str | tuple[str, ...], split: str | None) -> list[str]:
    """Non-empty stripped values of a field that may hold several."""
    texts = value if isinstance(value, tuple) else (value,)
    out: list[str] = []
    for text in texts:
        pieces = (text,) if split is None else text.split(split)
        out.extend(p for p in (piece.strip() for piece in pieces) if p)
    return out
