"""The indicator-type registry both sides share.

The names are part of the token input (``v1/<name>/<canonical>``), so renaming
one would silently split every partner's tokens: names are frozen.
"""

from __future__ import annotations

import enum

from counterflow.v1 import submission_pb2 as pb


class IndicatorType(enum.Enum):
    PHONE = "phone"
    EMAIL = "email"
    IBAN = "iban"
    CRYPTO_WALLET = "crypto"
    URL = "url"
    AD_FINGERPRINT = "adfp"

    @property
    def wire(self) -> int:
        return _TO_WIRE[self]

    @classmethod
    def from_wire(cls, value: int) -> IndicatorType:
        try:
            return _FROM_WIRE[value]
        except KeyError:
            raise ValueError(f"unknown indicator type {value}") from None

    @classmethod
    def parse(cls, name: str) -> IndicatorType:
        """Accept the token name ("crypto") or the enum name ("crypto_wallet")."""
        lowered = name.strip().lower()
        for member in cls:
            if lowered in (member.value, member.name.lower()):
                return member
        known = ", ".join(m.value for m in cls)
        raise ValueError(f"unknown indicator type {name!r} (known: {known})")


_TO_WIRE: dict[IndicatorType, int] = {
    IndicatorType.PHONE: pb.INDICATOR_TYPE_PHONE,
    IndicatorType.EMAIL: pb.INDICATOR_TYPE_EMAIL,
    IndicatorType.IBAN: pb.INDICATOR_TYPE_IBAN,
    IndicatorType.CRYPTO_WALLET: pb.INDICATOR_TYPE_CRYPTO_WALLET,
    IndicatorType.URL: pb.INDICATOR_TYPE_URL,
    IndicatorType.AD_FINGERPRINT: pb.INDICATOR_TYPE_AD_FINGERPRINT,
}
_FROM_WIRE: dict[int, IndicatorType] = {v: k for k, v in _TO_WIRE.items()}

# Ad fingerprints mark near-duplicate texts; they never count in volume figures.
VOLUME_TYPES = frozenset(t for t in IndicatorType if t is not IndicatorType.AD_FINGERPRINT)
