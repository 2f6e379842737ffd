"""Refusals: stable reasons, the project's error model, and no raw value in sight."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from counterflow.errors import ErrorCode, InputError
from counterflow.indicators import IndicatorType
from node.canonical import CanonicalError, Canonicaliser, Reason

VECTORS = json.loads(
    (Path(__file__).resolve().parents[3] / "vectors" / "canonical-v1.json").read_text("utf-8")
)
TEXT_TYPES = [t for t in IndicatorType if t is not IndicatorType.AD_FINGERPRINT]


def test_canonical_error_is_an_input_error_with_the_record_code() -> None:
    error = CanonicalError(Reason.IBAN_CHECKSUM, "IBAN check digits do not match")
    assert isinstance(error, InputError)
    assert error.code is ErrorCode.INVALID_RECORD
    assert error.reason == "IBAN_CHECKSUM"
    assert error.metadata == {"reason": "IBAN_CHECKSUM"}


def test_reasons_are_their_own_names() -> None:
    # Quarantine files and dashboards store the string; it must never drift from the name.
    assert all(reason.value == reason.name for reason in Reason)


@pytest.mark.parametrize("indicator_type", TEXT_TYPES, ids=lambda t: t.value)
@pytest.mark.parametrize("raw", ["", " ", "\t\n", "\u00a0", "\u200b", "\ufeff \u2060"])
def test_blank_values_are_empty_for_every_type(indicator_type: IndicatorType, raw: str) -> None:
    with pytest.raises(CanonicalError) as caught:
        Canonicaliser("GB").canonical(indicator_type, raw)
    assert caught.value.reason is Reason.EMPTY


def test_ad_fingerprints_have_no_canonical_form() -> None:
    with pytest.raises(CanonicalError) as caught:
        Canonicaliser(None).canonical(IndicatorType.AD_FINGERPRINT, "a1b2c3")
    assert caught.value.reason is Reason.TYPE_UNSUPPORTED
    assert "a1b2c3" not in str(caught.value)


@pytest.mark.parametrize(
    "vector",
    [v for v in VECTORS if "error" in v and len(v["input"].strip()) >= 4],
    ids=lambda v: f"{v['type']}:{v['input']!r}",
)
def test_refusals_never_quote_the_value(vector: dict[str, Any]) -> None:
    with pytest.raises(CanonicalError) as caught:
        Canonicaliser(vector.get("region")).canonical(
            IndicatorType.parse(vector["type"]), vector["input"]
        )
    error = caught.value
    shown = [str(error), repr(error), error.message, *error.metadata.values()]
    for text in shown:
        assert vector["input"].strip() not in text
        assert vector["input"].strip().lower() not in text.lower()


def test_metadata_carries_only_the_reason() -> None:
    with pytest.raises(CanonicalError) as caught:
        Canonicaliser("GB").canonical(IndicatorType.PHONE, "07700 900123")
    assert caught.value.metadata == {"reason": "PHONE_INVALID"}
    assert caught.value.violations == []
