"""Wallet addresses: checksums verified, case handled per encoding, chain prefixed.

The encoders below are written from the BIPs and EIP-55 independently of the
decoder under test, so a shared misreading of a spec would have to be made twice.
"""

from __future__ import annotations

import hashlib

import pytest
from Crypto.Hash import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from node.canonical import CanonicalError, Reason, canonical_wallet

DETERMINISTIC = settings(derandomize=True, database=None, deadline=None, max_examples=200)

B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


def base58check(version: int, payload: bytes) -> str:
    raw = bytes([version]) + payload
    raw += hashlib.sha256(hashlib.sha256(raw).digest()).digest()[:4]
    number, out = int.from_bytes(raw, "big"), ""
    while number:
        number, digit = divmod(number, 58)
        out = B58[digit] + out
    return "1" * (len(raw) - len(raw.lstrip(b"\0"))) + out


def _polymod(values: list[int]) -> int:
    gen = [0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3]
    chk = 1
    for v in values:
        b = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i in range(5):
            chk ^= gen[i] if ((b >> i) & 1) else 0
    return chk


def segwit_address(version: int, program: bytes, constant: int | None = None) -> str:
    bits = "".join(f"{byte:08b}" for byte in program)
    bits += "0" * (-len(bits) % 5)
    data = [version] + [int(bits[i : i + 5], 2) for i in range(0, len(bits), 5)]
    hrp = [ord(c) >> 5 for c in "bc"] + [0] + [ord(c) & 31 for c in "bc"]
    const = constant if constant is not None else (1 if version == 0 else 0x2BC830A3)
    mod = _polymod(hrp + data + [0] * 6) ^ const
    checksum = [(mod >> 5 * (5 - i)) & 31 for i in range(6)]
    return "bc1" + "".join(BECH32[d] for d in data + checksum)


def eip55(address_bytes: bytes) -> str:
    hex_digits = address_bytes.hex()
    digest = keccak.new(digest_bits=256, data=hex_digits.encode()).hexdigest()
    return "0x" + "".join(
        c.upper() if c.isalpha() and int(digest[i], 16) >= 8 else c
        for i, c in enumerate(hex_digits)
    )


_HASH160 = st.binary(min_size=20, max_size=20)


@DETERMINISTIC
@given(st.sampled_from([0x00, 0x05]), _HASH160)
def test_base58check_addresses_are_kept_as_written(version: int, payload: bytes) -> None:
    address = base58check(version, payload)
    assert canonical_wallet(address) == f"btc:{address}"
    assert canonical_wallet(f"btc:{address}") == f"btc:{address}"


@DETERMINISTIC
@given(_HASH160)
def test_base58check_of_another_network_is_refused(payload: bytes) -> None:
    testnet = base58check(0x6F, payload)
    with pytest.raises(CanonicalError) as caught:
        canonical_wallet(testnet)
    assert caught.value.reason is Reason.WALLET_FORMAT


@DETERMINISTIC
@given(st.sampled_from([0x00, 0x05]), _HASH160, st.data())
def test_a_base58_typo_fails_the_checksum(
    version: int, payload: bytes, data: st.DataObject
) -> None:
    address = base58check(version, payload)
    position = data.draw(st.integers(min_value=1, max_value=len(address) - 1))
    replacement = data.draw(st.sampled_from([c for c in B58 if c != address[position]]))
    typo = address[:position] + replacement + address[position + 1 :]
    with pytest.raises(CanonicalError) as caught:
        canonical_wallet(typo)
    # A typo almost always keeps the 25-byte shape; when it does not, it is a format error.
    assert caught.value.reason in (Reason.WALLET_CHECKSUM, Reason.WALLET_FORMAT)


@st.composite
def segwit_programs(draw: st.DrawFn) -> tuple[int, bytes]:
    version = draw(st.integers(min_value=0, max_value=16))
    if version == 0:
        size = draw(st.sampled_from([20, 32]))
    else:
        size = draw(st.integers(min_value=2, max_value=40))
    return version, draw(st.binary(min_size=size, max_size=size))


@DETERMINISTIC
@given(segwit_programs())
def test_segwit_addresses_are_lowercase_in_either_case(witness: tuple[int, bytes]) -> None:
    address = segwit_address(*witness)
    assert canonical_wallet(address) == f"btc:{address}"
    assert canonical_wallet(address.upper()) == f"btc:{address}"


@DETERMINISTIC
@given(segwit_programs())
def test_segwit_with_the_other_checksum_variant_is_refused(witness: tuple[int, bytes]) -> None:
    version, program = witness
    wrong = 0x2BC830A3 if version == 0 else 1
    with pytest.raises(CanonicalError) as caught:
        canonical_wallet(segwit_address(version, program, wrong))
    assert caught.value.reason is Reason.WALLET_CHECKSUM


@DETERMINISTIC
@given(segwit_programs(), st.data())
def test_a_segwit_substitution_is_caught(witness: tuple[int, bytes], data: st.DataObject) -> None:
    address = segwit_address(*witness)
    position = data.draw(st.integers(min_value=4, max_value=len(address) - 1))
    replacement = data.draw(st.sampled_from([c for c in BECH32 if c != address[position]]))
    with pytest.raises(CanonicalError):
        canonical_wallet(address[:position] + replacement + address[position + 1 :])


def test_segwit_v0_program_must_be_20_or_32_bytes() -> None:
    with pytest.raises(CanonicalError) as caught:
        canonical_wallet(segwit_address(0, bytes(range(24))))
    assert caught.value.reason is Reason.WALLET_FORMAT


_ETH_BYTES = st.binary(min_size=20, max_size=20)


@DETERMINISTIC
@given(_ETH_BYTES)
def test_ethereum_spellings_give_one_lowercase_value(address_bytes: bytes) -> None:
    expected = f"eth:0x{address_bytes.hex()}"
    spellings = [
        eip55(address_bytes),
        "0x" + address_bytes.hex(),
        "0x" + address_bytes.hex().upper(),
        "0X" + address_bytes.hex().upper(),
        "eth:" + eip55(address_bytes),
    ]
    assert {canonical_wallet(s) for s in spellings} == {expected}
    assert canonical_wallet(expected) == expected


@DETERMINISTIC
@given(_ETH_BYTES, st.data())
def test_a_mixed_case_address_with_one_case_flipped_fails_eip55(
    address_bytes: bytes, data: st.DataObject
) -> None:
    checksummed = eip55(address_bytes)
    letters = [i for i, c in enumerate(checksummed) if i >= 2 and c.isalpha()]
    flipped = checksummed
    if letters:
        i = data.draw(st.sampled_from(letters))
        flipped = checksummed[:i] + checksummed[i].swapcase() + checksummed[i + 1 :]
    digits = flipped[2:]
    if digits in (digits.lower(), digits.upper()):
        return  # flipping made it single-case, which EIP-55 treats as unchecksummed
    with pytest.raises(CanonicalError) as caught:
        canonical_wallet(flipped)
    assert caught.value.reason is Reason.WALLET_CHECKSUM


@pytest.mark.parametrize(
    "written",
    [
        "btc:0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed",
        "eth:bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
        "ltc:1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa",
        "btc:",
        "0x",
        "1",
        "bc1",
        "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa?amount=1",
    ],
)
def test_malformed_or_mismatched_addresses_are_format_errors(written: str) -> None:
    with pytest.raises(CanonicalError) as caught:
        canonical_wallet(written)
    assert caught.value.reason is Reason.WALLET_FORMAT
