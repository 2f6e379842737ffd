"""What may leave a node: one allow-list of message fields, checked before sending.

The node calls `check_outbound` on every message it is about to send, and a test
decodes the bytes a real hub received against the same list. A field added to
the proto does not leave a node until it is named here.
"""

from __future__ import annotations

from collections.abc import Mapping

from google.protobuf.message import Message

from counterflow.errors import CounterflowError, ErrorCode

ALLOWED_FIELDS: Mapping[str, frozenset[str]] = {
    "counterflow.v1.SubmitBatchRequest": frozenset({"batch_id", "items"}),
    "counterflow.v1.TokenItem": frozenset(
        {
            "index",
            "scheme_version",
            "key_epoch",
            "token",
            "indicator_type",
            "group_id",
            "country",
            "week",
            "h3_cell",
            "typology_tags",
        }
    ),
    "counterflow.v1.GetAgreementRequest": frozenset(),
    "counterflow.v1.ActivateEpochRequest": frozenset({"key_epoch"}),
}


def disallowed_fields(message: Message) -> list[str]:
    """Every set field, at any depth, that the allow-list does not name."""
    name = message.DESCRIPTOR.full_name
    allowed = ALLOWED_FIELDS.get(name)
    if allowed is None:
        return [name]
    found: list[str] = []
    for field, value in message.ListFields():
        if field.name not in allowed:
            found.append(f"{name}.{field.name}")
            continue
        if field.message_type is not None:
            children = value if field.is_repeated else [value]
            for child in children:
                found.extend(disallowed_fields(child))
    return found


def check_outbound(message: Message) -> None:
    """Refuse to send anything off the allow-list (raises, never trims silently)."""
    extra = disallowed_fields(message)
    if extra:
        raise CounterflowError(
            ErrorCode.INVALID_REQUEST,
            "refusing to send fields outside the wire allow-list: " + ", ".join(sorted(set(extra))),
        )
