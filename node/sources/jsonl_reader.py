"""One JSON object per line (hotline case exports, platform event streams).

Fields are addressed with dots ("contact.phone"); a list met on the way is
walked element by element, so "persons.phone" collects every person's phone.
There is no header to check, so the reader reports the profile fields that no
line ever held: a typo in the profile otherwise looks like an empty file.
"""

from __future__ import annotations

import json
from collections.abc import Generator
from pathlib import Path
from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from counterflow.errors import ConfigError
from node.sources.profile import Encoding, SourceProfile, reader_options
from node.sources.records import Quarantined, ReadStats, Reason, Record, RecordBuilder, Value

_BOM = "\ufeff"
_JSON_KINDS = {list: "an array", str: "a string", int: "a number", float: "a number"}


class JsonlOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    encoding: Encoding = "utf-8"


class _NotAValueError(Exception):
    """A field path that lands on an object, or passes through a plain value."""


class JsonlReader:
    options_model: ClassVar[type[BaseModel]] = JsonlOptions

    def __init__(self, profile: SourceProfile) -> None:
        self._profile = profile
        self._options = reader_options(profile, JsonlOptions)
        self._fields = profile.fields()
        self._paths = tuple(tuple(name.split(".")) for name in self._fields)

    def read(self, path: Path, stats: ReadStats) -> Generator[Record | Quarantined, None, None]:
        try:
            handle = path.open("rb")
        except OSError as exc:
            raise ConfigError(f"cannot open source file {path}: {exc.strerror}") from None
        builder = RecordBuilder(self._profile, {name: i for i, name in enumerate(self._fields)})
        unseen = dict(enumerate(self._fields))
        with handle:
            for number, raw in enumerate(handle, start=1):
                values = self._line(number, raw, stats)
                if values is None:
                    continue
                if isinstance(values, Quarantined):
                    yield values
                    continue
                if unseen:
                    for index in [i for i in unseen if values[i] is not None]:
                        del unseen[index]
                built = builder.build(number, values)
                if built is None:
                    stats.skipped_empty += 1
                else:
                    yield built
        stats.unseen_fields = tuple(unseen.values())

    def _line(self, number: int, raw: bytes, stats: ReadStats) -> list[Value] | Quarantined | None:
        """The line's field values, or why it cannot be read, or None when blank."""
        if not raw.strip():
            stats.blank_lines += 1
            return None
        obj = _decode(number, raw, self._options.encoding)
        if isinstance(obj, Quarantined):
            return obj
        try:
            return [_value_at(obj, keys) for keys in self._paths]
        except _NotAValueError as exc:
            return Quarantined(number, None, Reason.MALFORMED_ROW, str(exc))

    def __repr__(self) -> str:
        return f"JsonlReader({self._profile.name!r})"


def _decode(number: int, raw: bytes, encoding: str) -> dict[str, object] | Quarantined:
    try:
        text = raw.decode(encoding).rstrip("\r\n")
    except UnicodeDecodeError:
        return Quarantined(number, None, Reason.BAD_ENCODING, f"line is not valid {encoding}")
    try:
        obj = json.loads(text.removeprefix(_BOM) if number == 1 else text)
    except json.JSONDecodeError as exc:
        detail = f"not valid JSON: {exc.msg} at column {exc.colno}"
        return Quarantined(number, None, Reason.BAD_JSON, detail)
    except RecursionError:
        return Quarantined(number, None, Reason.BAD_JSON, "JSON nested too deeply")
    if not isinstance(obj, dict):
        kind = _JSON_KINDS.get(type(obj), "a literal")
        return Quarantined(number, None, Reason.BAD_JSON, f"line holds {kind}, not an object")
    if "\\u" in text and not _encodable(obj):
        # A lone surrogate escape ("\ud800") decodes to a str no codec can write.
        return Quarantined(number, None, Reason.BAD_ENCODING, "line holds an unpaired surrogate")
    return obj


def _encodable(value: object) -> bool:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    if isinstance(value, dict):
        return all(_encodable(k) and _encodable(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_encodable(v) for v in value)
    return True


def _value_at(obj: dict[str, object], keys: tuple[str, ...]) -> Value:
    if len(keys) == 1:
        value = obj.get(keys[0])
        if value is None or value.__class__ is str:
            return value
    found: list[str] = []
    _collect(obj, keys, 0, found)
    if not found:
        return None
    return found[0] if len(found) == 1 else tuple(found)


def _collect(node: object, keys: tuple[str, ...], depth: int, out: list[str]) -> None:
    if node is None:
        return
    if isinstance(node, list):
        for element in node:
            _collect(element, keys, depth, out)
    elif depth < len(keys):
        if not isinstance(node, dict):
            raise _NotAValueError(f"field {'.'.join(keys)!r}: {keys[depth - 1]!r} is not an object")
        _collect(node.get(keys[depth]), keys, depth + 1, out)
    elif isinstance(node, dict):
        raise _NotAValueError(f"field {'.'.join(keys)!r} holds an object, expected a value")
    elif isinstance(node, bool):
        out.append("true" if node else "false")
    else:
        out.append(str(node))
