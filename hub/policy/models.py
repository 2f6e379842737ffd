"""A data-sharing agreement as the hub holds it: one frozen model per partner.

The file is the source of truth a legal agreement points to, so the model is
strict: unknown keys, loose coercions (``"1"`` for 1, ``yes`` for true, a number
for a date) and contradictions (an alert feed without the purpose that allows
the hub to compute it) are errors rather than guesses.

`Agreement.item_refusal` sits on the ingest path and runs once per item, so
everything it needs is precomputed when the model is built.
"""

from __future__ import annotations

import datetime
import enum
import functools
import re
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal, Self, TypeVar

import h3
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictStr,
    ValidationInfo,
    field_validator,
)

from counterflow.countries import ALPHA2
from counterflow.errors import CounterflowError, ErrorCode
from counterflow.indicators import IndicatorType
from counterflow.tls import PARTNER_ID_PATTERN

ANY_COUNTRY = "*"
# Listed cells are regions, not places: finer cells would start to locate people.
MAX_CELL_RESOLUTION = 6
# Item cells remembered per agreement; items carry coarse cells, so in practice all of them.
_CELL_CACHE_SIZE = 1 << 16

_T = TypeVar("_T")

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_AGREEMENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,79}$")

# Reasons on the wire (ItemRejection.reason); renaming one breaks nodes' handling.
TYPE_NOT_ALLOWED = "TYPE_NOT_ALLOWED"
COUNTRY_NOT_ALLOWED = "COUNTRY_NOT_ALLOWED"
CELL_NOT_ALLOWED = "CELL_NOT_ALLOWED"


class Sector(enum.StrEnum):
    BANK = "bank"
    NGO = "ngo"
    PLATFORM = "platform"
    GEO = "geo"
    LAW_ENFORCEMENT = "law_enforcement"
    OTHER = "other"


class Status(enum.StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"


class Purpose(enum.StrEnum):
    TREND_ANALYSIS = "trend_analysis"
    CONVERGENCE_ALERTS = "convergence_alerts"
    POPULATION_ESTIMATE = "population_estimate"
    MODEL_TRAINING = "model_training"
    EXPORT = "export"


class FlTask(enum.StrEnum):
    TRANSACTION_RISK = "transaction_risk"
    TEXT_TRIAGE = "text_triage"


def _iso_date(value: object) -> object:
    """Only "YYYY-MM-DD": pydantic would otherwise read 1767225600 as a date too."""
    if isinstance(value, datetime.date) and not isinstance(value, datetime.datetime):
        return value
    if not isinstance(value, str) or not _ISO_DATE.match(value):
        raise ValueError('expected a date written as "YYYY-MM-DD"')
    try:
        return datetime.date.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(f"not a calendar date: {exc}") from None


def _indicator(value: object) -> object:
    if isinstance(value, IndicatorType):
        return value
    if not isinstance(value, str):
        raise ValueError("expected an indicator type name")
    return IndicatorType.parse(value)


def _country(value: object) -> object:
    if value == ANY_COUNTRY:
        return value
    if not isinstance(value, str) or value not in ALPHA2:
        raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-2 code (upper case) or '*'")
    return value


def _cell(value: object) -> object:
    if not isinstance(value, str) or not h3.is_valid_cell(value):
        raise ValueError(f"{value!r} is not a valid H3 cell")
    resolution = int(h3.get_resolution(value))
    if resolution > MAX_CELL_RESOLUTION:
        raise ValueError(
            f"cell {value} has resolution {resolution}; at most {MAX_CELL_RESOLUTION} is allowed"
        )
    return value.lower()


def _unique(items: tuple[_T, ...]) -> tuple[_T, ...]:
    seen: set[_T] = set()
    for item in items:
        if item in seen:
            raise ValueError(f"{getattr(item, 'value', item)} is listed twice")
        seen.add(item)
    return items


IsoDate = Annotated[datetime.date, BeforeValidator(_iso_date)]
Indicator = Annotated[IndicatorType, BeforeValidator(_indicator)]
Country = Annotated[str, BeforeValidator(_country)]
Cell = Annotated[str, BeforeValidator(_cell)]
Count = Annotated[int, Field(strict=True)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Submit(_Strict):
    """What the partner may push; checked per item on ingest."""

    indicator_types: Annotated[tuple[Indicator, ...], AfterValidator(_unique)]
    countries: Annotated[tuple[Country, ...], Field(min_length=1), AfterValidator(_unique)]
    cells: Annotated[tuple[Cell, ...], AfterValidator(_unique)] = ()
    aggregate_counts: StrictBool = False

    @field_validator("countries")
    @classmethod
    def _star_alone(cls, countries: tuple[str, ...]) -> tuple[str, ...]:
        if ANY_COUNTRY in countries and len(countries) > 1:
            raise ValueError("'*' (any country) must be the only entry")
        return countries


class TrendFeeds(_Strict):
    enabled: StrictBool = False
    # Smallest number of contributors behind any figure the partner receives.
    k: Annotated[Count, Field(ge=3)] = 5


class ConvergenceAlerts(_Strict):
    enabled: StrictBool = False
    # Distinct partners that must have reported a token before it alerts.
    m: Annotated[Count, Field(ge=2)] = 3
    # Distinct sectors among those partners (so never more than m).
    s: Annotated[Count, Field(ge=1)] = 2
    weekly_quota: Annotated[Count, Field(ge=1, le=1_000_000)] = 100

    @field_validator("s")
    @classmethod
    def _s_at_most_m(cls, s: int, info: ValidationInfo) -> int:
        m = info.data.get("m")
        if m is not None and s > m:
            raise ValueError(f"s ({s}) cannot exceed m ({m}): sectors are counted among partners")
        return s


class Receive(_Strict):
    trend_feeds: TrendFeeds = Field(default_factory=TrendFeeds)
    convergence_alerts: ConvergenceAlerts = Field(default_factory=ConvergenceAlerts)


class Export(_Strict):
    stix: StrictBool = False
    taxii: StrictBool = False


class FederatedLearning(_Strict):
    tasks: Annotated[tuple[FlTask, ...], AfterValidator(_unique)] = ()


def _require_purpose(info: ValidationInfo, purpose: Purpose, what: str) -> None:
    purposes = info.data.get("purposes")
    if purposes is not None and purpose not in purposes:
        raise ValueError(f"{what} needs {purpose.value!r} in purposes")


class Agreement(_Strict):
    """One partner's agreement; `check_active` and `item_refusal` are what ingest asks."""

    schema_version: Literal[1]
    partner_id: StrictStr
    organisation: Annotated[StrictStr, Field(min_length=1, max_length=200)]
    sector: Sector
    agreement_id: StrictStr
    version: Annotated[Count, Field(ge=1)]
    status: Status
    valid_from: IsoDate
    valid_until: IsoDate
    purposes: Annotated[tuple[Purpose, ...], AfterValidator(_unique)]
    submit: Submit
    retention_days: Annotated[Count, Field(ge=1, le=3650)]
    receive: Receive = Field(default_factory=Receive)
    export: Export = Field(default_factory=Export)
    mse_linkage: StrictBool = False
    federated_learning: FederatedLearning = Field(default_factory=FederatedLearning)

    @field_validator("partner_id")
    @classmethod
    def _partner_id_shape(cls, value: str) -> str:
        if not PARTNER_ID_PATTERN.fullmatch(value):
            raise ValueError(
                "must be 2-63 characters of a-z, 0-9 and '-', starting with a letter or digit"
            )
        return value

    @field_validator("agreement_id")
    @classmethod
    def _agreement_id_shape(cls, value: str) -> str:
        if not _AGREEMENT_ID.match(value):
            raise ValueError("must be 1-80 characters of A-Z, a-z, 0-9, '.', '_', '/' and '-'")
        return value

    @field_validator("valid_until")
    @classmethod
    def _ends_after_start(cls, value: datetime.date, info: ValidationInfo) -> datetime.date:
        start = info.data.get("valid_from")
        if start is not None and value <= start:
            raise ValueError(f"{value.isoformat()} must be after valid_from {start.isoformat()}")
        return value

    @field_validator("receive")
    @classmethod
    def _receive_has_purpose(cls, value: Receive, info: ValidationInfo) -> Receive:
        if value.trend_feeds.enabled:
            _require_purpose(info, Purpose.TREND_ANALYSIS, "trend_feeds.enabled")
        if value.convergence_alerts.enabled:
            _require_purpose(info, Purpose.CONVERGENCE_ALERTS, "convergence_alerts.enabled")
        return value

    @field_validator("export")
    @classmethod
    def _export_has_purpose(cls, value: Export, info: ValidationInfo) -> Export:
        if value.stix or value.taxii:
            _require_purpose(info, Purpose.EXPORT, "stix or taxii export")
        return value

    @field_validator("mse_linkage")
    @classmethod
    def _mse_has_purpose(cls, value: bool, info: ValidationInfo) -> bool:
        if value:
            _require_purpose(info, Purpose.POPULATION_ESTIMATE, "mse_linkage")
        return value

    @field_validator("federated_learning")
    @classmethod
    def _fl_has_purpose(cls, value: FederatedLearning, info: ValidationInfo) -> FederatedLearning:
        if value.tasks:
            _require_purpose(info, Purpose.MODEL_TRAINING, "federated_learning.tasks")
        return value

    def model_post_init(self, context: Any, /) -> None:
        _ = self.submit_rules  # built now, not on the first item of the first batch

    @functools.cached_property
    def submit_rules(self) -> SubmitRules:
        """Precomputed form of ``submit``; kept in the instance dict for plain-attribute speed."""
        return SubmitRules(self.submit, f"agreement {self.agreement_id} v{self.version}")

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """A copy with its own rules: pydantic would carry over the cached ones unchanged."""
        copy = super().model_copy(update=update, deep=deep)
        copy.__dict__.pop("submit_rules", None)
        copy.model_post_init(None)
        return copy

    @property
    def allowed_wire_types(self) -> frozenset[int]:
        return self.submit_rules.wire_types

    @property
    def label(self) -> str:
        return f"agreement {self.agreement_id} v{self.version} with {self.partner_id}"

    def check_active(self, today: datetime.date) -> None:
        """Raise unless the agreement is in force on ``today`` (both ends inclusive)."""
        span = f"valid {self.valid_from.isoformat()} to {self.valid_until.isoformat()}"
        if self.status is Status.SUSPENDED:
            code, why = ErrorCode.AGREEMENT_NOT_ACTIVE, "is suspended"
        elif today > self.valid_until:
            code, why = ErrorCode.AGREEMENT_EXPIRED, f"expired ({span}, today {today.isoformat()})"
        elif today < self.valid_from:
            code, why = (
                ErrorCode.AGREEMENT_NOT_YET_VALID,
                f"is not yet valid ({span}, today {today.isoformat()})",
            )
        else:
            return
        raise CounterflowError(
            code,
            f"{self.label} {why}",
            metadata={"agreement_id": self.agreement_id, "agreement_version": str(self.version)},
        )

    def item_refusal(
        self, indicator_type: IndicatorType, country: str, h3_cell: str | None
    ) -> tuple[str, str] | None:
        """(reason, message) when the agreement does not cover the item, else None."""
        return self.submit_rules.refusal(indicator_type, country, h3_cell)


class SubmitRules:
    """The submit rules as sets and a cached cell test: one item checked in well under 1 us.

    A plain slotted object because pydantic's private attributes are looked up
    through ``__getattr__``, which costs microseconds per access.
    """

    __slots__ = ("_any_country", "_cell_allowed", "_countries", "_name", "_types", "wire_types")

    def __init__(self, submit: Submit, name: str) -> None:
        self._name = name
        self._types = frozenset(submit.indicator_types)
        self.wire_types = frozenset(t.wire for t in self._types)
        self._any_country = ANY_COUNTRY in submit.countries
        self._countries = frozenset(submit.countries) - {ANY_COUNTRY}
        self._cell_allowed = _cell_matcher(submit.cells) if submit.cells else None

    def admits(self, wire_type: int, country: str, h3_cell: str) -> bool:
        """The ingest fast path: True when `refusal` would return None, without building text."""
        return (
            wire_type in self.wire_types
            and (self._any_country or country in self._countries)
            and (not h3_cell or self._cell_allowed is None or self._cell_allowed(h3_cell))
        )

    def refusal(
        self, indicator_type: IndicatorType, country: str, h3_cell: str | None
    ) -> tuple[str, str] | None:
        """An item without a cell ("" or None, as proto3 leaves it) passes the cell rule.

        The cell list narrows where located items may lie; it does not demand a
        location. Messages name the type, country or cell and the agreement:
        none of them is secret.
        """
        if indicator_type not in self._types:
            return TYPE_NOT_ALLOWED, (
                f"indicator type {indicator_type.value!r} is not allowed by {self._name}"
            )
        if not self._any_country and country not in self._countries:
            return COUNTRY_NOT_ALLOWED, f"country {country!r} is not allowed by {self._name}"
        if h3_cell and self._cell_allowed is not None and not self._cell_allowed(h3_cell):
            return CELL_NOT_ALLOWED, (
                f"cell {h3_cell!r} is not inside the cells allowed by {self._name}"
            )
        return None


def _cell_matcher(cells: tuple[str, ...]) -> Callable[[str], bool]:
    """A cached test "is this cell one of ``cells`` or inside one of them"."""
    by_resolution: dict[int, frozenset[str]] = {}
    for cell in cells:
        res = int(h3.get_resolution(cell))
        by_resolution[res] = by_resolution.get(res, frozenset()) | {cell}
    return functools.lru_cache(maxsize=_CELL_CACHE_SIZE)(
        functools.partial(_cell_inside, by_resolution)
    )


def _cell_inside(by_resolution: Mapping[int, frozenset[str]], cell: str) -> bool:
    cell = cell.lower()
    if not h3.is_valid_cell(cell):
        return False
    resolution = int(h3.get_resolution(cell))
    for res, allowed in by_resolution.items():
        if res > resolution:
            continue
        ancestor = cell if res == resolution else str(h3.cell_to_parent(cell, res))
        if ancestor in allowed:
            return True
    return False
