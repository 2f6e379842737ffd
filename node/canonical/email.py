"""Email addresses, rule set "email-v1".

The rules favour matching over pedantry: the whole address is lowercased
(providers treat local parts case-insensitively in practice, so "Ann@" and
"ann@" are one mailbox), and the domain is written as IDNA ASCII so that
Unicode and punycode spellings of one domain meet. Plus-tags and Gmail dots
are kept on purpose in v1: stripping them is provider-specific and would merge
mailboxes that are in fact different; it is a candidate for v2. Quoted local
parts and address literals ("user@[192.0.2.1]") are refused: they are rare in
this data and have no single spelling to match on. See docs/canonicalisation.md.
"""

from __future__ import annotations

import re
import unicodedata

import can_ada

from node.canonical.errors import CanonicalError, Reason, trimmed

RULES = "email-v1"
MAX_ADDRESS_OCTETS = 254  # RFC 5321 path limit less the angle brackets
MAX_LOCAL_OCTETS = 64
MAX_DOMAIN_OCTETS = 253

# RFC 5322 dot-atom over lowercase atext; non-ASCII local parts (RFC 6531) are
# checked character by character instead.
_ATEXT = "a-z0-9!#$%&'*+/=?^_`{|}~-"
_DOT_ATOM = re.compile(rf"[{_ATEXT}]+(?:\.[{_ATEXT}]+)*")
_UNICODE = r"\u0080-\U0010ffff"  # before _ATEXT, whose trailing '-' must stay last
_UNICODE_DOT_ATOM = re.compile(rf"[{_UNICODE}{_ATEXT}]+(?:\.[{_UNICODE}{_ATEXT}]+)*")
_LDH = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_HOSTNAME = re.compile(rf"(?:{_LDH}\.)+{_LDH}")


def canonical_email(raw: str) -> str:
    """Lowercased local part, '@', IDNA-ASCII domain without a trailing dot."""
    text = unicodedata.normalize("NFKC", trimmed(raw))
    if text.count("@") != 1:
        raise _syntax("address must contain exactly one '@'")
    local, _, domain = text.partition("@")
    local = local.lower()
    _check_local(local)
    address = f"{local}@{_ascii_domain(domain)}"
    if len(address.encode()) > MAX_ADDRESS_OCTETS:
        raise _syntax("address is longer than 254 octets")
    return address


def _check_local(local: str) -> None:
    if not local or len(local.encode()) > MAX_LOCAL_OCTETS:
        raise _syntax("local part is empty or longer than 64 octets")
    if local.isascii():
        if not _DOT_ATOM.fullmatch(local):
            raise _syntax("local part is not a dot-atom")
    elif not _UNICODE_DOT_ATOM.fullmatch(local) or not all(map(_is_text, local)):
        raise _syntax("local part is not a dot-atom of letters, digits and symbols")


def _is_text(char: str) -> bool:
    # Letters, marks, digits and symbols; never spaces, controls or unassigned points.
    return unicodedata.category(char)[0] not in "CZ"


def _ascii_domain(domain: str) -> str:
    if domain.endswith("."):
        domain = domain[:-1]
    if not domain:
        raise _syntax("domain is empty")
    # UTS #46 non-transitional, the mapping browsers and ada's URL parser use.
    try:
        ascii_domain = can_ada.idna_encode(domain).decode("ascii")
    except UnicodeDecodeError:
        raise _syntax("domain is not a valid internationalised domain name") from None
    if len(ascii_domain) > MAX_DOMAIN_OCTETS or not _HOSTNAME.fullmatch(ascii_domain):
        raise _syntax("domain is not dotted labels of letters, digits and hyphens")
    if ascii_domain.rpartition(".")[2].isdigit():
        raise _syntax("domain ends in a numeric label")
    return ascii_domain


def _syntax(message: str) -> CanonicalError:
    return CanonicalError(Reason.EMAIL_SYNTAX, message)
