"""Tokens: HMAC-SHA256 over a versioned, typed input; group ids per record and epoch."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from counterflow.indicators import IndicatorType
from counterflow.tokens import (
    GROUP_ID_BYTES,
    KEY_BYTES,
    TOKEN_BYTES,
    GroupIds,
    Tokeniser,
    token_input,
)

KEY = bytes(range(32))
SECRET = b"\x07" * 32


def test_token_is_hmac_sha256_of_the_versioned_typed_input() -> None:
    token = Tokeniser(KEY, 1).token(IndicatorType.PHONE, "+447911123456")
    expected = hmac.new(KEY, b"v1/phone/+447911123456", hashlib.sha256).digest()
    assert token == expected
    assert len(token) == TOKEN_BYTES == 32


def test_token_input_names_scheme_and_type() -> None:
    assert token_input(IndicatorType.CRYPTO_WALLET, "0xabc") == b"v1/crypto/0xabc"
    assert token_input(IndicatorType.AD_FINGERPRINT, "f") == b"v1/adfp/f"


def test_the_same_text_of_two_types_gives_two_tokens() -> None:
    tokeniser = Tokeniser(KEY, 1)
    tokens = {tokeniser.token(kind, "12345") for kind in IndicatorType}
    assert len(tokens) == len(IndicatorType)


def test_tokens_are_stable_and_keyed() -> None:
    first = Tokeniser(KEY, 1)
    again = Tokeniser(KEY, 1)
    other = Tokeniser(bytes(32), 1)
    value = "a.one@example.org"
    assert first.token(IndicatorType.EMAIL, value) == again.token(IndicatorType.EMAIL, value)
    assert first.token(IndicatorType.EMAIL, value) == first.token(IndicatorType.EMAIL, value)
    assert first.token(IndicatorType.EMAIL, value) != other.token(IndicatorType.EMAIL, value)
    assert first.token(IndicatorType.EMAIL, value) != first.token(IndicatorType.EMAIL, value + ".")


def test_the_epoch_is_carried_but_not_mixed_into_the_token() -> None:
    """Rotation changes the key, not the formula: the same key gives the same token."""
    one, two = Tokeniser(KEY, 1), Tokeniser(KEY, 2)
    assert (one.epoch, two.epoch) == (1, 2)
    assert one.token(IndicatorType.URL, "u") == two.token(IndicatorType.URL, "u")


@pytest.mark.parametrize("length", [0, 16, 31, 33, 64])
def test_a_key_of_the_wrong_length_is_refused(length: int) -> None:
    with pytest.raises(ValueError, match=f"must be {KEY_BYTES} bytes, got {length}"):
        Tokeniser(bytes(length), 1)


@pytest.mark.parametrize("epoch", [0, -1])
def test_epochs_start_at_one(epoch: int) -> None:
    with pytest.raises(ValueError, match="key epoch starts at 1"):
        Tokeniser(KEY, epoch)


def test_group_ids_are_stable_per_record_within_an_epoch() -> None:
    ids = GroupIds(SECRET, 1)
    first = ids.group_id("bank\x1fT-1")
    assert len(first) == GROUP_ID_BYTES == 16
    assert GroupIds(SECRET, 1).group_id("bank\x1fT-1") == first
    assert ids.group_id("bank\x1fT-2") != first
    expected = hmac.new(SECRET, (1).to_bytes(4, "big") + b"bank\x1fT-1", hashlib.sha256)
    assert first == expected.digest()[:16]


def test_group_ids_cannot_be_linked_across_epochs_or_nodes() -> None:
    record = "bank\x1fT-1"
    assert GroupIds(SECRET, 1).group_id(record) != GroupIds(SECRET, 2).group_id(record)
    assert GroupIds(SECRET, 1).group_id(record) != GroupIds(b"\x08" * 32, 1).group_id(record)
