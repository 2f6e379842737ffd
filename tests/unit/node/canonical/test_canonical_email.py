"""Email rule set email-v1: case-blind, IDNA domains, nothing provider-specific."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.canonical import CanonicalError, Reason, canonical_email
from node.canonical.email import RULES

DETERMINISTIC = settings(derandomize=True, database=None, deadline=None, max_examples=200)

_ATOM = st.text(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-/=?^_`{|}~",
    min_size=1,
    max_size=12,
)
_LABEL = st.from_regex(r"[a-z0-9](?:[a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)
# No "ß": upper-casing turns it into "SS", a different domain under IDNA2008 (tested below).
_UNICODE_LABEL = st.sampled_from(["bücher", "παράδειγμα", "例子", "пример", "ÉCOLE"])
_TLD = st.sampled_from(["com", "org", "example", "test", "co.uk", "xn--p1ai", "δοκιμή"])


@st.composite
def addresses(draw: st.DrawFn) -> str:
    local = ".".join(draw(st.lists(_ATOM, min_size=1, max_size=3)))
    labels = draw(st.lists(st.one_of(_LABEL, _UNICODE_LABEL), min_size=1, max_size=3))
    return f"{local}@{'.'.join(labels)}.{draw(_TLD)}"


def test_rule_set_is_versioned() -> None:
    assert RULES == "email-v1"


@DETERMINISTIC
@given(addresses())
def test_canonical_email_is_idempotent(address: str) -> None:
    once = canonical_email(address)
    assert canonical_email(once) == once


@DETERMINISTIC
@given(addresses(), st.sampled_from([str.upper, str.lower, str.title, str.swapcase]))
def test_case_never_splits_an_address(address: str, recase: Callable[[str], str]) -> None:
    assert canonical_email(recase(address)) == canonical_email(address)


@DETERMINISTIC
@given(addresses())
def test_domain_is_ascii_and_lowercase_without_trailing_dot(address: str) -> None:
    local, domain = canonical_email(address + ".").split("@")
    assert domain.isascii() and domain == domain.lower() and not domain.endswith(".")
    assert local == local.lower()


def test_unicode_and_punycode_spellings_of_a_domain_meet() -> None:
    assert canonical_email("ann@Bücher.example") == canonical_email("ann@xn--bcher-kva.example")


def test_unicode_local_parts_keep_their_symbols_and_lose_their_case() -> None:
    assert canonical_email("Jean-François.Øst@example.fr") == "jean-françois.øst@example.fr"


@pytest.mark.parametrize("separator", ["\u0085", "\u00a0", "\u2028", "\u200b"])
def test_unicode_local_parts_refuse_spaces_and_controls(separator: str) -> None:
    with pytest.raises(CanonicalError) as caught:
        canonical_email(f"é{separator}x@example.com")
    assert caught.value.reason is Reason.EMAIL_SYNTAX


def test_sharp_s_is_not_folded_to_ss() -> None:
    # IDNA2003 (the stdlib codec) would map faß to fass: two registered domains, one token.
    assert canonical_email("ann@faß.example") == "ann@xn--fa-hia.example"
    assert canonical_email("ann@fass.example") == "ann@fass.example"


def test_full_width_characters_are_folded_by_nfkc() -> None:
    full_width = "".join(chr(ord(c) + 0xFEE0) for c in "ANN@EXAMPLE.COM")
    assert full_width != "ANN@EXAMPLE.COM"
    assert canonical_email(full_width) == "ann@example.com"


@pytest.mark.parametrize(
    ("tagged", "plain"),
    [("ann+ads@example.com", "ann@example.com"), ("a.n.n@example.com", "ann@example.com")],
)
def test_plus_tags_and_dots_are_kept_in_v1(tagged: str, plain: str) -> None:
    assert canonical_email(tagged) != canonical_email(plain)


def test_local_part_limit_is_64_octets_of_utf8() -> None:
    assert canonical_email("a" * 64 + "@example.com") == "a" * 64 + "@example.com"
    with pytest.raises(CanonicalError):
        canonical_email("é" * 33 + "@example.com")  # 33 characters, 66 octets


def test_address_limit_is_254_octets() -> None:
    domain = ".".join(["a" * 60] * 3) + ".example"  # 191 octets
    fits = "b" * (254 - len(domain) - 1) + "@" + domain
    assert canonical_email(fits) == fits
    with pytest.raises(CanonicalError) as caught:
        canonical_email("b" + fits)
    assert caught.value.reason is Reason.EMAIL_SYNTAX


@pytest.mark.parametrize(
    "broken",
    [
        "ann@exa\u0000mple.com",
        "ann\u0000@example.com",
        "ann@" + "a" * 64 + ".com",
        "ann@example.c_m",
        "ann@example.com..",
        "mailto:ann@example.com",
        "Ann <ann@example.com>",
        "ann@b\u200d.example",
    ],
)
def test_malformed_addresses_are_refused(broken: str) -> None:
    with pytest.raises(CanonicalError) as caught:
        canonical_email(broken)
    assert caught.value.reason is Reason.EMAIL_SYNTAX
