"""Indicator canonicalisation: one spelling per indicator, on every node.

Tokens are HMACs of canonical values, so two partners match on an indicator
only if both nodes turn it into the same string. Each type has a versioned rule
set (docs/canonicalisation.md) and shared vectors (tests/vectors/canonical-v1.json)
that any node implementation must reproduce exactly.
"""

from __future__ import annotations

from collections.abc import Callable

from counterflow.indicators import IndicatorType
from node.canonical.crypto import RULES as CRYPTO_RULES
from node.canonical.crypto import canonical_wallet
from node.canonical.email import RULES as EMAIL_RULES
from node.canonical.email import canonical_email
from node.canonical.errors import CanonicalError, Reason
from node.canonical.iban import RULES as IBAN_RULES
from node.canonical.iban import canonical_iban
from node.canonical.phone import RULES as PHONE_RULES
from node.canonical.phone import canonical_phone, region_or_none
from node.canonical.url import RULES as URL_RULES
from node.canonical.url import canonical_url

__all__ = [
    "RULES",
    "CanonicalError",
    "Canonicaliser",
    "Reason",
    "canonical_email",
    "canonical_iban",
    "canonical_phone",
    "canonical_url",
    "canonical_wallet",
]

# The rule set behind each type; a change to any rule is a new version.
RULES: dict[IndicatorType, str] = {
    IndicatorType.PHONE: PHONE_RULES,
    IndicatorType.EMAIL: EMAIL_RULES,
    IndicatorType.IBAN: IBAN_RULES,
    IndicatorType.CRYPTO_WALLET: CRYPTO_RULES,
    IndicatorType.URL: URL_RULES,
}


class Canonicaliser:
    """Canonical values for one partner: the phone region is the partner's own.

    Raises ConfigError at construction for a region libphonenumber does not
    know, so a profile typo fails before the first record rather than
    quarantining every national-format number.
    """

    def __init__(self, default_region: str | None) -> None:
        self.default_region = region_or_none(default_region)
        self._rules: dict[IndicatorType, Callable[[str], str]] = {
            IndicatorType.PHONE: self._phone,
            IndicatorType.EMAIL: canonical_email,
            IndicatorType.IBAN: canonical_iban,
            IndicatorType.CRYPTO_WALLET: canonical_wallet,
            IndicatorType.URL: canonical_url,
        }

    def canonical(self, indicator_type: IndicatorType, raw: str) -> str:
        """The canonical value, or CanonicalError with a reason (never the value)."""
        rule = self._rules.get(indicator_type)
        if rule is None:
            # Ad fingerprints are computed, not written by people: nothing to canonicalise.
            raise CanonicalError(
                Reason.TYPE_UNSUPPORTED,
                f"indicator type {indicator_type.value!r} has no canonical form",
            )
        return rule(raw)

    def _phone(self, raw: str) -> str:
        return canonical_phone(raw, self.default_region)
