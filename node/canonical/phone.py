"""Phone numbers, rule set "phone-v1": E.164 as libphonenumber reads them.

A number is read with the partner's default region because national and
``00…`` forms mean different things in different countries (Nigeria dials
abroad with 009, the US with 011). Numbers libphonenumber calls invalid are
refused rather than guessed at: a wrong guess would match a stranger.
"""

from __future__ import annotations

import functools

import phonenumbers

from counterflow.errors import ConfigError
from node.canonical.errors import CanonicalError, Reason, trimmed

RULES = "phone-v1"
# Partners repeat the same numbers across records; parsing is the slow part.
CACHE_SIZE = 100_000
# Longer than any dialable number with formatting; stops pathological cells early.
MAX_CHARS = 64

_MESSAGES = {
    Reason.PHONE_UNPARSEABLE: "phone number could not be parsed (no country code or region?)",
    Reason.PHONE_INVALID: "phone number is not a valid number for its country",
}


def region_or_none(region: str | None) -> str | None:
    """The partner's default region, checked once so a typo fails at start-up."""
    if region is None or not region.strip():
        return None
    code = region.strip().upper()
    if code not in phonenumbers.SUPPORTED_REGIONS:
        raise ConfigError(
            f"default phone region {code!r} is not a region libphonenumber knows",
            {"region": code},
        )
    return code


def canonical_phone(raw: str, region: str | None) -> str:
    """E.164 form ("+442079460000"); region is an ISO alpha-2 code or None."""
    outcome = _e164(trimmed(raw), region)
    if isinstance(outcome, Reason):
        raise CanonicalError(outcome, _MESSAGES[outcome])
    return outcome


@functools.lru_cache(maxsize=CACHE_SIZE)
def _e164(text: str, region: str | None) -> str | Reason:
    # Failures are returned, not raised, so that lru_cache remembers them too.
    if len(text) > MAX_CHARS:
        return Reason.PHONE_UNPARSEABLE
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return Reason.PHONE_UNPARSEABLE
    if not phonenumbers.is_valid_number(number):
        return Reason.PHONE_INVALID
    e164: str = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return e164


def cache_info() -> functools._CacheInfo:
    """Hit rate of the parse cache, for the benchmark and ingest reports."""
    return _e164.cache_info()


def clear_cache() -> None:
    """Forget parsed numbers, so that a measurement starts cold."""
    _e164.cache_clear()
