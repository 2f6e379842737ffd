"""Why a value did not canonicalise, in words safe to log.

A rejected value is quarantined on the node with its reason; the reason codes
are stable (quarantine reports and dashboards count them) and the messages
never quote the value, because they end up in logs and a leaked phone number
can endanger a victim.
"""

from __future__ import annotations

import enum

from counterflow.errors import ErrorCode, InputError


class Reason(enum.StrEnum):
    """Stable short codes; renaming one breaks every quarantine report."""

    EMPTY = "EMPTY"
    PHONE_UNPARSEABLE = "PHONE_UNPARSEABLE"
    PHONE_INVALID = "PHONE_INVALID"
    EMAIL_SYNTAX = "EMAIL_SYNTAX"
    IBAN_FORMAT = "IBAN_FORMAT"
    IBAN_CHECKSUM = "IBAN_CHECKSUM"
    WALLET_FORMAT = "WALLET_FORMAT"
    WALLET_CHECKSUM = "WALLET_CHECKSUM"
    URL_INVALID = "URL_INVALID"
    TYPE_UNSUPPORTED = "TYPE_UNSUPPORTED"


class CanonicalError(InputError):
    """A value that cannot be matched as written; the caller quarantines the record."""

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(ErrorCode.INVALID_RECORD, message, {"reason": reason.value})
        self.reason = reason


# Spreadsheets and copy-paste leave zero-width characters at the edges of cells.
_INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff"


def trimmed(raw: str) -> str:
    """Strip whitespace and invisible characters at both ends; nothing left is EMPTY."""
    text = raw.strip()
    # str.strip alone is the hot path; invisible edges are rare.
    while text and (text[0] in _INVISIBLE or text[-1] in _INVISIBLE):
        text = text.strip(_INVISIBLE).strip()
    if not text:
        raise CanonicalError(Reason.EMPTY, "value is empty or only whitespace")
    return text
