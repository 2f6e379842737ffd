"""IBANs, rule set "iban-v1": the electronic form (uppercase, no separators).

Checked here rather than with schwifty, which the node does not ship (23 of its
29 MB are country data): the country code, the country's IBAN length and the
ISO 7064 mod-97 check are what separate a real account from a typo, and a typo
that still tokenised would simply never match. Per-country BBAN structure is
not checked in v1; mod-97 already catches every single-digit substitution.
"""

from __future__ import annotations

import re

from node.canonical.errors import CanonicalError, Reason, trimmed

RULES = "iban-v1"

# IBAN length per country: the SWIFT IBAN registry as schwifty 2026.10.1 mirrors
# it, plus the countries that issue IBANs outside the registry (marked *).
IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AO": 25, "AT": 20, "AX": 18, "AZ": 28,  # AO*
    "BA": 20, "BE": 16, "BF": 28, "BG": 22, "BH": 22, "BI": 27, "BJ": 28,  # BF* BJ*
    "BL": 27, "BR": 29, "BY": 28, "CF": 27, "CG": 27, "CH": 21, "CI": 28,  # CF* CG* CI*
    "CM": 27, "CR": 22, "CV": 25, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27,  # CM* CV*
    "DK": 18, "DO": 28, "DZ": 26, "EE": 20, "EG": 29, "ES": 24, "FI": 18,  # DZ*
    "FK": 18, "FO": 18, "FR": 27, "GA": 27, "GB": 22, "GE": 22, "GF": 27,  # GA*
    "GG": 22, "GI": 23, "GL": 18, "GP": 27, "GQ": 27, "GR": 27, "GT": 28,  # GQ*
    "GW": 25, "HN": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IM": 22,  # GW*
    "IQ": 23, "IR": 26, "IS": 26, "IT": 27, "JE": 22, "JO": 30, "KM": 27,  # IR* KM*
    "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20,
    "LV": 21, "LY": 25, "MA": 28, "MC": 27, "MD": 24, "ME": 22, "MF": 27,  # MA*
    "MG": 27, "MK": 19, "ML": 28, "MN": 20, "MQ": 27, "MR": 27, "MT": 31,  # MG* ML*
    "MU": 30, "MZ": 25, "NC": 27, "NE": 28, "NI": 28, "NL": 18, "NO": 15,  # MZ* NE*
    "OM": 23, "PF": 27, "PK": 24, "PL": 28, "PM": 27, "PS": 29, "PT": 25,
    "QA": 29, "RE": 27, "RO": 24, "RS": 22, "RU": 33, "SA": 24, "SC": 31,
    "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SN": 28, "SO": 23,  # SN*
    "ST": 25, "SV": 28, "TD": 27, "TF": 27, "TG": 28, "TL": 23, "TN": 24,  # TD* TG*
    "TR": 26, "UA": 29, "VA": 22, "VG": 24, "WF": 27, "XK": 20, "YE": 30,
    "YT": 27,
}  # fmt: skip

# Paper format groups by four with spaces; people also type dashes, dots, or paste
# zero-width characters along with the number.
_DROPPED = "-.\u200b\u200c\u200d\u2060\ufeff" + "".join(
    chr(c) for c in range(0x3001) if chr(c).isspace()
)
_SEPARATORS = str.maketrans(dict.fromkeys(_DROPPED))
_PAPER_PREFIX = "IBAN"  # no country has the code "IB", so this never eats an IBAN
_SHAPE = re.compile(r"[A-Z]{2}[0-9]{2}[A-Z0-9]+")
# mod-97 never issues these check digits; "00", "01", "99" alias "97", "98", "02".
_IMPOSSIBLE_CHECK_DIGITS = frozenset({"00", "01", "99"})
# ISO 13616: A is 10, B is 11, ... Z is 35.
_LETTER_VALUES = str.maketrans({chr(ord("A") + i): str(10 + i) for i in range(26)})


def canonical_iban(raw: str) -> str:
    """Electronic form, e.g. "GB82WEST12345698765432"."""
    text = trimmed(raw).translate(_SEPARATORS)
    if not text.isascii():
        # Checked before upper(), which maps some non-ASCII letters onto ASCII (long s to S).
        raise CanonicalError(Reason.IBAN_FORMAT, "IBAN holds characters outside A-Z and 0-9")
    text = text.upper()
    if text.startswith(_PAPER_PREFIX):
        text = text.removeprefix(_PAPER_PREFIX).removeprefix(":")
    if not _SHAPE.fullmatch(text):
        raise CanonicalError(
            Reason.IBAN_FORMAT, "IBAN is not two letters, two digits, then A-Z/0-9"
        )
    expected = IBAN_LENGTHS.get(text[:2])
    if expected is None:
        raise CanonicalError(Reason.IBAN_FORMAT, "IBAN country code is not an IBAN country")
    if len(text) != expected:
        raise CanonicalError(Reason.IBAN_FORMAT, "IBAN length does not match its country")
    if text[2:4] in _IMPOSSIBLE_CHECK_DIGITS or mod97(text) != 1:
        raise CanonicalError(Reason.IBAN_CHECKSUM, "IBAN check digits do not match")
    return text


def mod97(iban: str) -> int:
    """ISO 7064 MOD 97-10 remainder of the rearranged IBAN (1 means valid)."""
    return int((iban[4:] + iban[:4]).translate(_LETTER_VALUES)) % 97
