"""Phone numbers: every way people write one number gives one E.164 value."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from counterflow.errors import ConfigError
from node.canonical import CanonicalError, Canonicaliser, Reason, canonical_phone
from node.canonical.phone import cache_info, region_or_none

DETERMINISTIC = settings(derandomize=True, database=None, deadline=None, max_examples=200)

_TYPES = [PhoneNumberType.FIXED_LINE, PhoneNumberType.MOBILE, PhoneNumberType.TOLL_FREE]
# libphonenumber's own example numbers: valid by construction, in every region it knows.
EXAMPLES = sorted(
    (region, phonenumbers.format_number(number, PhoneNumberFormat.E164))
    for region in phonenumbers.SUPPORTED_REGIONS
    for kind in _TYPES
    if (number := phonenumbers.example_number_for_type(region, kind)) is not None
    and phonenumbers.is_valid_number(number)
)


@st.composite
def written_forms(draw: st.DrawFn) -> tuple[str, str, str]:
    """(region, the number's E.164, one way a person in that region might write it)."""
    region, e164 = draw(st.sampled_from(EXAMPLES))
    number = phonenumbers.parse(e164)
    style = draw(
        st.sampled_from(
            [
                PhoneNumberFormat.E164,
                PhoneNumberFormat.INTERNATIONAL,
                PhoneNumberFormat.NATIONAL,
                PhoneNumberFormat.RFC3966,
            ]
        )
    )
    written = phonenumbers.format_number(number, style)
    separator = draw(st.sampled_from([" ", "-", ".", ""]))
    written = written.replace(" ", separator) if style != PhoneNumberFormat.RFC3966 else written
    padding = draw(st.sampled_from(["", " ", "\t", "  "]))
    return region, e164, padding + written + padding


@DETERMINISTIC
@given(written_forms())
def test_written_forms_of_a_valid_number_give_its_e164(form: tuple[str, str, str]) -> None:
    region, e164, written = form
    assert canonical_phone(written, region) == e164


@DETERMINISTIC
@given(written_forms())
def test_canonical_phone_is_idempotent(form: tuple[str, str, str]) -> None:
    region, _, written = form
    once = canonical_phone(written, region)
    assert canonical_phone(once, region) == once
    # The E.164 form carries its country: it reads the same under any region or none.
    assert canonical_phone(once, None) == once
    assert canonical_phone(once, "NG") == once


@DETERMINISTIC
@given(st.sampled_from(EXAMPLES), st.sampled_from(["US", "NG", "GB", "DE", "JP", "AU"]))
def test_dialling_from_abroad_reads_the_callers_international_prefix(
    example: tuple[str, str], caller_region: str
) -> None:
    _, e164 = example
    number = phonenumbers.parse(e164)
    dialled = phonenumbers.format_out_of_country_calling_number(number, caller_region)
    assert canonical_phone(dialled, caller_region) == e164


def test_nigerian_numbers_dialled_abroad_use_009() -> None:
    assert canonical_phone("009 44 20 7946 0000", "NG") == "+442079460000"
    with pytest.raises(CanonicalError) as caught:
        canonical_phone("0044 20 7946 0000", "NG")
    assert caught.value.reason is Reason.PHONE_INVALID


def test_national_form_without_a_region_cannot_be_read() -> None:
    with pytest.raises(CanonicalError) as caught:
        canonical_phone("020 7946 0000", None)
    assert caught.value.reason is Reason.PHONE_UNPARSEABLE


def test_overlong_cells_are_unparseable() -> None:
    with pytest.raises(CanonicalError) as caught:
        canonical_phone("020 7946 0000" + " " * 100 + "1", "GB")
    assert caught.value.reason is Reason.PHONE_UNPARSEABLE


def test_repeated_values_are_served_from_the_cache() -> None:
    before = cache_info()
    for _ in range(5):
        canonical_phone("+44 20 7946 0999", "GB")
    after = cache_info()
    assert after.hits - before.hits >= 4
    assert after.maxsize == 100_000


def test_refusals_are_cached_and_still_raise() -> None:
    for _ in range(3):
        with pytest.raises(CanonicalError) as caught:
            canonical_phone("07700 900999", "GB")
        assert caught.value.reason is Reason.PHONE_INVALID


def test_cache_is_keyed_by_region() -> None:
    assert canonical_phone("0802 123 4567", "NG") == "+2348021234567"
    with pytest.raises(CanonicalError):
        canonical_phone("0802 123 4567", "GB")


@pytest.mark.parametrize(("given_region", "kept"), [("GB", "GB"), ("ng", "NG"), (" us ", "US")])
def test_regions_are_normalised(given_region: str, kept: str) -> None:
    assert region_or_none(given_region) == kept
    assert Canonicaliser(given_region).default_region == kept


@pytest.mark.parametrize("blank", [None, "", "  "])
def test_no_region_is_allowed(blank: str | None) -> None:
    assert Canonicaliser(blank).default_region is None


@pytest.mark.parametrize("unknown", ["ZZ", "UK", "GBR", "001"])
def test_unknown_region_is_a_configuration_error(unknown: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Canonicaliser(unknown)
    assert caught.value.metadata == {"region": unknown.upper()}
