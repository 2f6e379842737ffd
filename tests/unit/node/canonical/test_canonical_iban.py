"""IBANs: the electronic form, country lengths and mod-97, without schwifty."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from counterflow.countries import ALPHA2
from node.canonical import CanonicalError, Reason, canonical_iban
from node.canonical.iban import IBAN_LENGTHS, mod97

DETERMINISTIC = settings(derandomize=True, database=None, deadline=None, max_examples=300)
_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def _with_check_digits(country: str, bban: str) -> str:
    # ISO 13616 check digits, computed the long way round (not through canonical_iban).
    digits = "".join(str(int(c, 36)) for c in bban + country + "00")
    return f"{country}{98 - int(digits) % 97:02d}{bban}"


@st.composite
def ibans(draw: st.DrawFn) -> str:
    country = draw(st.sampled_from(sorted(IBAN_LENGTHS)))
    length = IBAN_LENGTHS[country] - 4
    bban = draw(st.text(_ALNUM, min_size=length, max_size=length))
    return _with_check_digits(country, bban)


def _paper(iban: str) -> str:
    return " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))


def test_documentation_examples_are_valid() -> None:
    assert _with_check_digits("GB", "WEST12345698765432") == "GB82WEST12345698765432"
    assert mod97("GB82WEST12345698765432") == 1


@DETERMINISTIC
@given(ibans())
def test_valid_ibans_are_their_own_canonical_form(iban: str) -> None:
    assert canonical_iban(iban) == iban


@DETERMINISTIC
@given(
    ibans(),
    st.sampled_from(
        [_paper, str.lower, lambda s: _paper(s).lower(), lambda s: "IBAN " + _paper(s)]
    ),
)
def test_written_forms_give_the_electronic_form(iban: str, write: Callable[[str], str]) -> None:
    assert canonical_iban(write(iban)) == iban


@DETERMINISTIC
@given(ibans(), st.data())
def test_any_single_digit_substitution_is_caught(iban: str, data: st.DataObject) -> None:
    positions = [i for i, c in enumerate(iban) if c.isdigit() and i >= 2]
    position = data.draw(st.sampled_from(positions))
    replacement = data.draw(st.sampled_from([d for d in "0123456789" if d != iban[position]]))
    typo = iban[:position] + replacement + iban[position + 1 :]
    with pytest.raises(CanonicalError) as caught:
        canonical_iban(typo)
    assert caught.value.reason is Reason.IBAN_CHECKSUM


@DETERMINISTIC
@given(ibans())
def test_adjacent_transpositions_are_caught(iban: str) -> None:
    swaps = [
        i for i in range(4, len(iban) - 1) if iban[i] != iban[i + 1] and iban[i : i + 2].isdigit()
    ]
    for i in swaps:
        typo = iban[:i] + iban[i + 1] + iban[i] + iban[i + 2 :]
        with pytest.raises(CanonicalError):
            canonical_iban(typo)


@DETERMINISTIC
@given(ibans())
def test_one_character_more_or_less_is_a_format_error(iban: str) -> None:
    for wrong in (iban[:-1], iban + "0"):
        with pytest.raises(CanonicalError) as caught:
            canonical_iban(wrong)
        assert caught.value.reason is Reason.IBAN_FORMAT


@pytest.mark.parametrize("check_digits", ["00", "01", "99"])
def test_check_digits_mod97_never_issues_are_refused(check_digits: str) -> None:
    rng = random.Random(7)
    for _ in range(500):
        bban = "".join(rng.choice("0123456789") for _ in range(18))
        iban = f"DE{check_digits}{bban}"
        if mod97(iban) == 1:
            with pytest.raises(CanonicalError) as caught:
                canonical_iban(iban)
            assert caught.value.reason is Reason.IBAN_CHECKSUM
            return
    pytest.fail("no BBAN found whose aliasing check digits pass mod-97")


def test_the_length_table_is_sane() -> None:
    assert all(15 <= n <= 34 for n in IBAN_LENGTHS.values())
    assert set(IBAN_LENGTHS) <= ALPHA2 | {"XK"}
    sepa = {"AT", "BE", "BG", "CH", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GB", "GR",
            "HR", "HU", "IE", "IS", "IT", "LI", "LT", "LU", "LV", "MC", "MT", "NL", "NO", "PL",
            "PT", "RO", "SE", "SI", "SK", "SM", "VA", "AD"}  # fmt: skip
    assert sepa <= set(IBAN_LENGTHS)
    assert (IBAN_LENGTHS["NO"], IBAN_LENGTHS["GB"], IBAN_LENGTHS["FR"], IBAN_LENGTHS["MT"]) == (
        15, 22, 27, 31,
    )  # fmt: skip


@pytest.mark.parametrize("separator", [" ", "-", ".", "\u00a0", "\t"])
def test_separators_people_type_are_dropped(separator: str) -> None:
    written = separator.join(["DE89", "3704", "0044", "0532", "0130", "00"])
    assert canonical_iban(written) == "DE89370400440532013000"
