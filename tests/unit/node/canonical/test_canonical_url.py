"""URLs: one pinned WHATWG parser; scheme, fragment, credentials and case don't split."""

from __future__ import annotations

import can_ada
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.canonical import CanonicalError, Reason, canonical_url

DETERMINISTIC = settings(derandomize=True, database=None, deadline=None, max_examples=300)

_LABEL = st.from_regex(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,8}[A-Za-z0-9])?", fullmatch=True)
_HOST = st.builds(
    lambda labels, tld: ".".join([*labels, tld]),
    st.lists(
        st.one_of(_LABEL, st.sampled_from(["bücher", "Ünïcode", "例子", "www"])),
        min_size=1,
        max_size=3,
    ),
    st.sampled_from(["com", "ORG", "example", "co.uk", "xn--p1ai"]),
)
# Path and query text with the characters that make URL libraries disagree.
_PIECES = [*"abcXYZ019-._~!$&'()*+,;=:@/ %é\u00a0\"<>^`{|}", "%2F", "%7e", "%41", "..", "."]
_TEXT = st.lists(st.sampled_from(_PIECES), max_size=12).map("".join)


@st.composite
def web_urls(draw: st.DrawFn) -> str:
    host = draw(_HOST)
    port = draw(st.sampled_from(["", ":8080", ":1"]))
    path = "/" + "/".join(draw(st.lists(_TEXT, max_size=3)))
    query = draw(st.one_of(st.just(""), _TEXT.map(lambda q: "?" + q.replace("#", ""))))
    # Edge whitespace is trimmed before parsing, so a value never ends in it here.
    return f"{host}{port}{path}{query}".rstrip()


def test_the_parser_is_the_pinned_version() -> None:
    assert can_ada.__version__ == "3.0.0"


@DETERMINISTIC
@given(web_urls())
def test_canonical_url_is_idempotent(url: str) -> None:
    once = canonical_url(url)
    assert canonical_url(once) == once


@DETERMINISTIC
@given(web_urls(), st.sampled_from(["", "http://", "https://", "HTTP://", "HtTpS://", "//"]))
def test_the_scheme_never_splits_a_url(url: str, scheme: str) -> None:
    assert canonical_url(scheme + url) == canonical_url(url)


@DETERMINISTIC
@given(web_urls(), st.text(max_size=10))
def test_fragments_are_dropped(url: str, fragment: str) -> None:
    assert canonical_url(f"{url}#{fragment}") == canonical_url(url)


@DETERMINISTIC
@given(web_urls())
def test_host_case_and_credentials_do_not_matter(url: str) -> None:
    host, rest = url.split("/", 1)
    upper = f"http://ann:secret@{host.upper()}/{rest}"
    assert canonical_url(upper) == canonical_url(url)


@DETERMINISTIC
@given(web_urls())
def test_canonical_form_has_no_scheme_fragment_or_credentials(url: str) -> None:
    canonical = canonical_url("https://ann:secret@" + url + "#top")
    assert "://" not in canonical and "#" not in canonical and "secret" not in canonical
    assert canonical.isascii()


def test_default_ports_are_dropped_others_kept() -> None:
    assert canonical_url("http://example.com:80/a") == "example.com/a"
    assert canonical_url("https://example.com:443/a") == "example.com/a"
    assert canonical_url("http://example.com:8080/a") == "example.com:8080/a"


def test_only_the_root_path_is_elided() -> None:
    assert canonical_url("http://example.com/") == "example.com"
    assert canonical_url("http://example.com/?q=1") == "example.com/?q=1"
    assert canonical_url("http://example.com/a/") == "example.com/a/"
    assert canonical_url("http://example.com/a/") != canonical_url("http://example.com/a")


def test_www_is_kept() -> None:
    assert canonical_url("www.example.com") != canonical_url("example.com")


@pytest.mark.parametrize(
    "rejected",
    [
        "file:///etc/passwd",
        "data:text/html,hello",
        "ws://example.com/",
        "tel:+442079460000",
        "http://intranet/",
        "http://example.com:99999/",
        "http://exa<mple.com/",
        "https://" + "a" * 8200 + ".com/",
    ],
)
def test_non_web_or_broken_urls_are_refused(rejected: str) -> None:
    with pytest.raises(CanonicalError) as caught:
        canonical_url(rejected)
    assert caught.value.reason is Reason.URL_INVALID
