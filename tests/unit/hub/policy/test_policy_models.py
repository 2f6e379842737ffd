"""Agreement model: strict validation, the dates it is in force, and per-item refusals."""

from __future__ import annotations

import datetime as dt
from typing import Any

import h3
import pytest
from pydantic import ValidationError

from counterflow.errors import CounterflowError, ErrorCode
from counterflow.indicators import IndicatorType
from hub.policy.models import (
    CELL_NOT_ALLOWED,
    COUNTRY_NOT_ALLOWED,
    TYPE_NOT_ALLOWED,
    Agreement,
)

LONDON_RES9 = h3.latlng_to_cell(51.5074, -0.1278, 9)
LONDON_RES5 = h3.cell_to_parent(LONDON_RES9, 5)
PARIS_RES6 = h3.latlng_to_cell(48.8566, 2.3522, 6)


def _fields(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "schema_version": 1,
        "partner_id": "bank-alpha",
        "organisation": "Alpha Bank plc",
        "sector": "bank",
        "agreement_id": "CF-AGR-2026-001",
        "version": 1,
        "status": "active",
        "valid_from": "2026-01-01",
        "valid_until": "2027-12-31",
        "purposes": ["trend_analysis", "convergence_alerts"],
        "submit": {"indicator_types": ["phone", "email", "iban"], "countries": ["GB", "NL"]},
        "retention_days": 365,
        "receive": {
            "trend_feeds": {"enabled": True, "k": 5},
            "convergence_alerts": {"enabled": True, "m": 3, "s": 2, "weekly_quota": 500},
        },
    }
    base.update(changes)
    return base


def _agreement(**changes: Any) -> Agreement:
    return Agreement.model_validate(_fields(**changes))


def _error_locs(**changes: Any) -> list[tuple[str | int, ...]]:
    with pytest.raises(ValidationError) as info:
        _agreement(**changes)
    return [tuple(err["loc"]) for err in info.value.errors()]


def test_defaults_leave_every_optional_capability_off() -> None:
    agreement = Agreement.model_validate(
        _fields(receive={"trend_feeds": {}, "convergence_alerts": {}})
    )
    minimal = {k: v for k, v in _fields().items() if k != "receive"}
    bare = Agreement.model_validate(minimal)
    for one in (agreement, bare):
        assert not one.receive.trend_feeds.enabled
        assert not one.receive.convergence_alerts.enabled
        assert not one.export.stix and not one.export.taxii
        assert not one.mse_linkage
        assert one.federated_learning.tasks == ()
        assert one.submit.cells == ()


def test_indicator_types_accept_token_and_enum_names() -> None:
    agreement = _agreement(
        submit={"indicator_types": ["crypto", "AD_FINGERPRINT"], "countries": ["*"]}
    )
    assert agreement.submit.indicator_types == (
        IndicatorType.CRYPTO_WALLET,
        IndicatorType.AD_FINGERPRINT,
    )
    assert agreement.allowed_wire_types == frozenset(
        {IndicatorType.CRYPTO_WALLET.wire, IndicatorType.AD_FINGERPRINT.wire}
    )


@pytest.mark.parametrize(
    ("changes", "loc"),
    [
        ({"colour": "red"}, ("colour",)),
        ({"sector": "banc"}, ("sector",)),
        ({"status": "paused"}, ("status",)),
        ({"schema_version": 2}, ("schema_version",)),
        ({"version": 0}, ("version",)),
        ({"version": "1"}, ("version",)),
        ({"retention_days": 3651}, ("retention_days",)),
        ({"valid_from": "2026-02-30"}, ("valid_from",)),
        ({"valid_from": "1/1/2026"}, ("valid_from",)),
        ({"valid_from": 1767225600}, ("valid_from",)),
        ({"valid_until": "2026-01-01"}, ("valid_until",)),
        ({"partner_id": "Bank_Alpha"}, ("partner_id",)),
        ({"agreement_id": "CF AGR"}, ("agreement_id",)),
        ({"purposes": ["trend_analysis", "spying"]}, ("purposes", 1)),
        ({"mse_linkage": "yes"}, ("mse_linkage",)),
    ],
)
def test_invalid_fields_are_refused_at_their_location(
    changes: dict[str, Any], loc: tuple[str | int, ...]
) -> None:
    assert loc in _error_locs(**changes)


@pytest.mark.parametrize(
    ("submit", "loc"),
    [
        ({"indicator_types": ["fax"], "countries": ["GB"]}, ("submit", "indicator_types", 0)),
        (
            {"indicator_types": ["phone", "phone"], "countries": ["GB"]},
            ("submit", "indicator_types"),
        ),
        ({"indicator_types": ["phone"], "countries": ["GB", "gb"]}, ("submit", "countries", 1)),
        ({"indicator_types": ["phone"], "countries": ["UK"]}, ("submit", "countries", 0)),
        ({"indicator_types": ["phone"], "countries": []}, ("submit", "countries")),
        ({"indicator_types": ["phone"], "countries": ["*", "GB"]}, ("submit", "countries")),
        (
            {"indicator_types": ["phone"], "countries": ["GB"], "cells": ["zz"]},
            ("submit", "cells", 0),
        ),
        (
            {"indicator_types": ["phone"], "countries": ["GB"], "cells": [LONDON_RES9]},
            ("submit", "cells", 0),
        ),
    ],
)
def test_invalid_submit_rules_are_refused(
    submit: dict[str, Any], loc: tuple[str | int, ...]
) -> None:
    assert loc in _error_locs(submit=submit)


@pytest.mark.parametrize(
    ("receive", "loc"),
    [
        ({"trend_feeds": {"enabled": True, "k": 2}}, ("receive", "trend_feeds", "k")),
        ({"convergence_alerts": {"m": 1, "s": 1}}, ("receive", "convergence_alerts", "m")),
        ({"convergence_alerts": {"m": 3, "s": 0}}, ("receive", "convergence_alerts", "s")),
        ({"convergence_alerts": {"m": 2, "s": 3}}, ("receive", "convergence_alerts", "s")),
        (
            {"convergence_alerts": {"weekly_quota": 0}},
            ("receive", "convergence_alerts", "weekly_quota"),
        ),
    ],
)
def test_invalid_receive_thresholds_are_refused(
    receive: dict[str, Any], loc: tuple[str | int, ...]
) -> None:
    assert loc in _error_locs(receive=receive)


@pytest.mark.parametrize(
    ("changes", "loc"),
    [
        ({"purposes": ["convergence_alerts"]}, ("receive",)),
        ({"purposes": ["trend_analysis"]}, ("receive",)),
        ({"export": {"taxii": True}}, ("export",)),
        ({"mse_linkage": True}, ("mse_linkage",)),
        ({"federated_learning": {"tasks": ["text_triage"]}}, ("federated_learning",)),
    ],
)
def test_a_capability_needs_the_purpose_that_covers_it(
    changes: dict[str, Any], loc: tuple[str | int, ...]
) -> None:
    assert loc in _error_locs(**changes)


def test_a_capability_with_its_purpose_is_accepted() -> None:
    agreement = _agreement(
        purposes=[
            "trend_analysis",
            "convergence_alerts",
            "export",
            "model_training",
            "population_estimate",
        ],
        export={"stix": True, "taxii": True},
        mse_linkage=True,
        federated_learning={"tasks": ["transaction_risk", "text_triage"]},
    )
    assert agreement.export.stix and agreement.mse_linkage
    assert len(agreement.federated_learning.tasks) == 2


def test_a_copy_enforces_its_own_submit_rules() -> None:
    agreement = _agreement()
    wider = agreement.submit.model_copy(update={"indicator_types": (IndicatorType.URL,)})
    copy = agreement.model_copy(update={"submit": wider, "version": 2})
    assert copy.item_refusal(IndicatorType.URL, "GB", None) is None
    refusal = copy.item_refusal(IndicatorType.PHONE, "GB", None)
    assert refusal is not None and "v2" in refusal[1]
    assert agreement.item_refusal(IndicatorType.URL, "GB", None) is not None


def test_agreement_is_frozen() -> None:
    agreement = _agreement()
    with pytest.raises(ValidationError):
        agreement.version = 2  # type: ignore[misc]


@pytest.mark.parametrize(
    ("today", "status", "code"),
    [
        (dt.date(2025, 12, 31), "active", ErrorCode.AGREEMENT_NOT_YET_VALID),
        (dt.date(2028, 1, 1), "active", ErrorCode.AGREEMENT_EXPIRED),
        (dt.date(2026, 6, 1), "suspended", ErrorCode.AGREEMENT_NOT_ACTIVE),
    ],
)
def test_check_active_refuses_outside_its_term(
    today: dt.date, status: str, code: ErrorCode
) -> None:
    agreement = _agreement(status=status)
    with pytest.raises(CounterflowError) as info:
        agreement.check_active(today)
    assert info.value.code is code
    for part in ("bank-alpha", "CF-AGR-2026-001", "v1"):
        assert part in info.value.message
    if status == "active":
        assert "2026-01-01" in info.value.message and "2027-12-31" in info.value.message


@pytest.mark.parametrize(
    "today", [dt.date(2026, 1, 1), dt.date(2026, 9, 14), dt.date(2027, 12, 31)]
)
def test_check_active_accepts_both_ends_of_the_term(today: dt.date) -> None:
    _agreement().check_active(today)


def test_item_refusal_names_type_and_agreement() -> None:
    refusal = _agreement().item_refusal(IndicatorType.CRYPTO_WALLET, "GB", None)
    assert refusal is not None
    reason, message = refusal
    assert reason == TYPE_NOT_ALLOWED
    assert "crypto" in message and "CF-AGR-2026-001" in message


def test_item_refusal_names_country_and_agreement() -> None:
    refusal = _agreement().item_refusal(IndicatorType.PHONE, "FR", None)
    assert refusal is not None
    assert refusal[0] == COUNTRY_NOT_ALLOWED
    assert "FR" in refusal[1] and "CF-AGR-2026-001" in refusal[1]


def test_item_refusal_checks_type_before_country() -> None:
    refusal = _agreement().item_refusal(IndicatorType.URL, "FR", None)
    assert refusal is not None and refusal[0] == TYPE_NOT_ALLOWED


def test_item_refusal_accepts_allowed_items_and_any_country_star() -> None:
    assert _agreement().item_refusal(IndicatorType.IBAN, "NL", None) is None
    anywhere = _agreement(submit={"indicator_types": ["phone"], "countries": ["*"]})
    assert anywhere.item_refusal(IndicatorType.PHONE, "VN", None) is None


def test_no_cell_list_means_any_cell() -> None:
    assert _agreement().item_refusal(IndicatorType.PHONE, "GB", PARIS_RES6) is None


def _in_london() -> Agreement:
    return _agreement(
        submit={"indicator_types": ["phone"], "countries": ["GB", "FR"], "cells": [LONDON_RES5]}
    )


@pytest.mark.parametrize(
    "cell",
    [
        LONDON_RES5,
        h3.cell_to_parent(LONDON_RES9, 6),
        LONDON_RES9,
        LONDON_RES9.upper(),
        None,
        "",
    ],
)
def test_cells_inside_a_listed_cell_are_allowed(cell: str | None) -> None:
    assert _in_london().item_refusal(IndicatorType.PHONE, "GB", cell) is None


@pytest.mark.parametrize("cell", [PARIS_RES6, h3.cell_to_parent(LONDON_RES5, 4), "not-a-cell"])
def test_cells_outside_every_listed_cell_are_refused(cell: str) -> None:
    agreement = _in_london()
    for _ in range(2):  # the second answer comes from the cache and must agree
        refusal = agreement.item_refusal(IndicatorType.PHONE, "FR", cell)
        assert refusal is not None
        assert refusal[0] == CELL_NOT_ALLOWED
        assert cell in refusal[1] and "CF-AGR-2026-001" in refusal[1]


def test_cells_at_several_resolutions_are_each_honoured() -> None:
    paris_res4 = h3.cell_to_parent(PARIS_RES6, 4)
    agreement = _agreement(
        submit={
            "indicator_types": ["phone"],
            "countries": ["GB", "FR"],
            "cells": [LONDON_RES5, paris_res4],
        }
    )
    assert agreement.item_refusal(IndicatorType.PHONE, "FR", PARIS_RES6) is None
    assert agreement.item_refusal(IndicatorType.PHONE, "GB", LONDON_RES9) is None
    tokyo = h3.latlng_to_cell(35.68, 139.69, 6)
    assert agreement.item_refusal(IndicatorType.PHONE, "GB", tokyo) is not None
