"""Source profiles: a partner describes its files in YAML instead of writing code.

Every problem in a profile is reported at once, each as ``file:line: field:
message``, because the people who write profiles are analysts at a bank or an
NGO, not Python programmers: a traceback or a pydantic dump helps nobody.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails

from counterflow.countries import ALPHA2
from counterflow.errors import ConfigError
from counterflow.indicators import IndicatorType
from counterflow.tokens import MAX_H3_RESOLUTION, MAX_TAGS, TAG_PATTERN

# Ad fingerprints are computed from ad text by a reader; they are never a raw field.
FIELD_TYPES = tuple(t for t in IndicatorType if t is not IndicatorType.AD_FINGERPRINT)
_SAMPLE_MOMENT = datetime(2001, 2, 3, 4, 5, 6, 7, tzinfo=UTC)  # only checks formats

FieldName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
M = TypeVar("M", bound=BaseModel)


def _line_safe_encoding(value: str) -> str:
    """Readers split raw bytes on newlines, so a bad byte costs one line, not the file."""
    try:
        name = codecs.lookup(value).name
    except LookupError:
        raise ValueError(f"unknown encoding {value!r}") from None
    if name == "utf-8-sig":
        return "utf-8"  # readers drop a leading byte-order mark whatever the encoding
    try:
        sample = "\n,a".encode(name, errors="strict")
    except LookupError:
        raise ValueError(f"{value!r} is not a text encoding") from None
    if sample != b"\n,a":
        raise ValueError(
            f"encoding {value!r} is not ASCII-compatible; convert the file to UTF-8 first"
        )
    return name


# For reader options: an ASCII-compatible codec (utf-8, latin-1, cp1252, ...).
Encoding = Annotated[str, AfterValidator(_line_safe_encoding)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _country_code(value: object, what: str) -> object:
    if isinstance(value, bool):
        raise ValueError(f'YAML read this {what} as a boolean: quote it, e.g. "NO"')
    if not isinstance(value, str):
        return value
    code = value.strip().upper()
    if code not in ALPHA2:
        raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-2 {what}")
    return code


class TimestampSpec(_Strict):
    field: FieldName
    # "iso" (ISO 8601), "unix" (seconds since 1970) or a strptime format.
    format: str = "iso"

    @field_validator("format")
    @classmethod
    def _known_format(cls, value: str) -> str:
        if value in ("iso", "unix"):
            return value
        if "%" not in value:
            raise ValueError("use 'iso', 'unix' or a strptime format such as '%d/%m/%Y %H:%M'")
        try:
            datetime.strptime(_SAMPLE_MOMENT.strftime(value), value)
        except ValueError as exc:
            raise ValueError(f"not a usable strptime format: {exc}") from None
        return value


class CountrySpec(_Strict):
    field: FieldName | None = None
    default: str | None = None

    @field_validator("default", mode="before")
    @classmethod
    def _alpha2(cls, value: object) -> object:
        return _country_code(value, "country code")

    @model_validator(mode="after")
    def _some_source(self) -> CountrySpec:
        if self.field is None and self.default is None:
            raise ValueError("give a country field, a default, or both")
        return self


class LocationSpec(_Strict):
    lat: FieldName
    lon: FieldName
    # Required: how precisely a place leaves the node is a decision, not a default.
    h3_resolution: int = Field(ge=0, le=MAX_H3_RESOLUTION)


class IndicatorField(_Strict):
    field: FieldName
    type: IndicatorType
    # Separator when one field holds several values ("a@x;b@y").
    split: str | None = Field(default=None, min_length=1)

    @field_validator("type", mode="before")
    @classmethod
    def _known_type(cls, value: object) -> object:
        if isinstance(value, IndicatorType):
            return value
        names = ", ".join(t.value for t in FIELD_TYPES)
        if not isinstance(value, str):
            raise ValueError(f"indicator type must be one of: {names}")
        try:
            kind = IndicatorType.parse(value)
        except ValueError:
            raise ValueError(f"unknown indicator type {value!r} (known: {names})") from None
        if kind not in FIELD_TYPES:
            raise ValueError(f"{kind.value!r} is computed by a reader, not read from a field")
        return kind


class TagField(_Strict):
    field: FieldName
    split: str | None = Field(default=None, min_length=1)


class SourceProfile(_Strict):
    schema_version: Literal[1]
    name: str = Field(min_length=1, max_length=200)
    reader: str
    # Reader-specific; checked against the reader's own options model.
    options: dict[str, Any] = Field(default_factory=dict)
    record_id: FieldName | None = None
    timestamp: TimestampSpec
    country: CountrySpec
    location: LocationSpec | None = None
    phone_region: str | None = None
    indicators: list[IndicatorField] = Field(min_length=1)
    tags: list[str] = Field(default_factory=list, max_length=MAX_TAGS)
    tag_field: TagField | None = None

    @field_validator("reader")
    @classmethod
    def _known_reader(cls, value: str) -> str:
        # Imported here: the registry imports the readers, which use this module.
        from node.sources.registry import READERS

        if value not in READERS:
            raise ValueError(f"unknown reader {value!r} (known: {', '.join(sorted(READERS))})")
        return value

    @field_validator("phone_region", mode="before")
    @classmethod
    def _region(cls, value: object) -> object:
        return _country_code(value, "region")

    @field_validator("tags")
    @classmethod
    def _tag_syntax(cls, value: list[str]) -> list[str]:
        for tag in value:
            if not TAG_PATTERN.fullmatch(tag):
                raise ValueError(f"tag {tag!r} does not match {TAG_PATTERN.pattern}")
        if len(set(value)) != len(value):
            raise ValueError("tags repeat")
        return value

    @field_validator("indicators")
    @classmethod
    def _phones_need_region(
        cls, value: list[IndicatorField], info: ValidationInfo
    ) -> list[IndicatorField]:
        # Skipped when phone_region itself failed: that problem is already reported.
        missing = "phone_region" in info.data and info.data["phone_region"] is None
        if missing and any(m.type is IndicatorType.PHONE for m in value):
            raise ValueError("an indicator has type phone, so phone_region is required")
        return value

    def fields(self) -> tuple[str, ...]:
        """Every field the profile reads, once each, in a stable order."""
        names: list[str | None] = [self.record_id, self.timestamp.field, self.country.field]
        if self.location:
            names += [self.location.lat, self.location.lon]
        names += [m.field for m in self.indicators]
        names.append(self.tag_field.field if self.tag_field else None)
        return tuple(dict.fromkeys(n for n in names if n is not None))


def load_profile(path: Path) -> SourceProfile:
    """Read and check a profile, its reader options included; ConfigError lists every problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"source profile not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read source profile {path}: {exc}") from None
    root, data = _parse_yaml(path, text)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}:1: a source profile must be a YAML mapping")
    problems = _duplicate_keys(path, root)
    profile: SourceProfile | None = None
    try:
        profile = SourceProfile.model_validate(data)
    except ValidationError as exc:
        problems += _located(path, root, exc.errors())
    problems += _option_problems(path, root, data)
    if problems or profile is None:
        raise ConfigError("\n".join(text for _, text in sorted(problems)))
    return profile


def reader_options(profile: SourceProfile, model: type[M]) -> M:
    """The profile's options as the reader's model; for profiles built in code, too."""
    try:
        return model.model_validate(profile.options)
    except ValidationError as exc:
        lines = (f"{_dotted(('options', *e['loc']))}: {_message(e)}" for e in exc.errors())
        raise ConfigError(f"source profile {profile.name!r}: " + "; ".join(lines)) from None


def _parse_yaml(path: Path, text: str) -> tuple[yaml.Node | None, object]:
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        return root, (loader.construct_document(root) if root is not None else None)
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else 1
        raise ConfigError(f"{path}:{line}: not valid YAML: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    finally:
        loader.dispose()


def _duplicate_keys(path: Path, node: yaml.Node | None, at: str = "") -> list[tuple[int, str]]:
    """YAML keeps the last of two equal keys; in a profile that hides a mistake."""
    out: list[tuple[int, str]] = []
    if isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            out += _duplicate_keys(path, item, f"{at}[{index}]")
    elif isinstance(node, yaml.MappingNode):
        seen: set[object] = set()
        for key, value in node.value:
            name = f"{at}.{key.value}" if at else str(key.value)
            if key.value in seen:
                line = key.start_mark.line + 1
                out.append((line, f"{path}:{line}: {name}: key given twice"))
            seen.add(key.value)
            out += _duplicate_keys(path, value, name)
    return out


def _option_problems(
    path: Path, root: yaml.Node | None, data: Mapping[str, Any]
) -> list[tuple[int, str]]:
    from node.sources.registry import READERS

    name, options = data.get("reader"), data.get("options", {})
    reader = READERS.get(name) if isinstance(name, str) else None
    if reader is None or not isinstance(options, dict):
        return []  # already reported by the profile model
    try:
        reader.options_model.model_validate(options)
    except ValidationError as exc:
        return _located(path, root, exc.errors(), prefix=("options",))
    return []


def _located(
    path: Path,
    root: yaml.Node | None,
    errors: Iterable[ErrorDetails],
    prefix: tuple[str, ...] = (),
) -> list[tuple[int, str]]:
    out = []
    for error in errors:
        loc = (*prefix, *error["loc"])
        line = _line_of(root, loc)
        out.append((line, f"{path}:{line}: {_dotted(loc)}: {_message(error)}"))
    return out


def _line_of(node: yaml.Node | None, loc: tuple[int | str, ...]) -> int:
    """1-based line of the YAML node a pydantic error location points at.

    Parts that name no node (union branch labels, a missing key) are skipped,
    so an error always lands on the closest line that exists.
    """
    if node is None:
        return 1
    line = node.start_mark.line
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = next((kv for kv in node.value if kv[0].value == part), None)
            if match is None:
                continue
            line, node = match[0].start_mark.line, match[1]
        elif (
            isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value)
        ):
            node = node.value[part]
            line = node.start_mark.line
    return line + 1


def _dotted(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out or "(profile)"


def _message(error: ErrorDetails) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required"
    message = str(error["msg"])
    return message.removeprefix("Value error, ")
