"""The dispatcher: one object per partner, any text in, a value or a reason out."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from counterflow.indicators import IndicatorType
from node.canonical import RULES, CanonicalError, Canonicaliser

DETERMINISTIC = settings(derandomize=True, database=None, deadline=None, max_examples=500)
TEXT_TYPES = [t for t in IndicatorType if t is not IndicatorType.AD_FINGERPRINT]
# Characters that show up in messy partner exports, weighted towards indicator syntax.
_MESSY = st.one_of(
    st.text(max_size=40),
    st.text("0123456789+()- .@abcxyzABCXYZ:/?#%[]_!é例ß\u00a0\u200b\x00\\", max_size=40),
)


@pytest.mark.parametrize(
    ("indicator_type", "raw", "canonical"),
    [
        (IndicatorType.PHONE, "020 7946 0000", "+442079460000"),
        (IndicatorType.EMAIL, "Ann@Example.com", "ann@example.com"),
        (IndicatorType.IBAN, "gb82 west 1234 5698 7654 32", "GB82WEST12345698765432"),
        (
            IndicatorType.CRYPTO_WALLET,
            "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa",
            "btc:1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa",
        ),
        (IndicatorType.URL, "HTTPS://Example.com/", "example.com"),
    ],
)
def test_each_type_goes_to_its_rule(
    indicator_type: IndicatorType, raw: str, canonical: str
) -> None:
    assert Canonicaliser("GB").canonical(indicator_type, raw) == canonical


def test_every_text_type_has_a_versioned_rule_set() -> None:
    assert set(RULES) == set(TEXT_TYPES)
    assert all(rules.endswith("-v1") for rules in RULES.values())


def test_the_partners_region_reads_national_numbers() -> None:
    assert Canonicaliser("NG").canonical(IndicatorType.PHONE, "0802 123 4567") == "+2348021234567"
    assert Canonicaliser("US").canonical(IndicatorType.PHONE, "(201) 555-0123") == "+12015550123"


@DETERMINISTIC
@given(st.sampled_from(TEXT_TYPES), _MESSY)
def test_any_text_gives_a_fixed_point_or_a_reason(indicator_type: IndicatorType, raw: str) -> None:
    canonicaliser = Canonicaliser("GB")
    try:
        once = canonicaliser.canonical(indicator_type, raw)
    except CanonicalError as refused:
        assert refused.reason
        return
    assert canonicaliser.canonical(indicator_type, once) == once
