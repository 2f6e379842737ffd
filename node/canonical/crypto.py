"""Crypto wallet addresses, rule set "crypto-v1": "<chain>:<address>".

Every address type carries a checksum, so a typo is refused here instead of
becoming a token that can never match. The chain prefix keeps equal-looking
strings on different chains apart. Case is normalised only where the encoding
is case-insensitive: bech32 and hex are lowercased, base58 is kept as given
because there case is part of the value.

Bitcoin mainnet only: base58check P2PKH/P2SH (version bytes 0x00 and 0x05) and
native segwit (BIP-173 bech32 for witness v0, BIP-350 bech32m for v1+).
Ethereum: "0x" and 40 hex digits, with the EIP-55 checksum verified when the
address is written in mixed case.
"""

from __future__ import annotations

import hashlib
import re

from Crypto.Hash import keccak

from node.canonical.errors import CanonicalError, Reason, trimmed

RULES = "crypto-v1"

# Written prefixes people and exports use, mapped to the canonical chain tag.
_CHAINS = {"btc": "btc", "bitcoin": "btc", "eth": "eth", "ethereum": "eth"}

_B58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_VALUES = {c: i for i, c in enumerate(_B58_ALPHABET)}
_B58_PAYLOAD_BYTES = 25  # version, 20-byte hash, 4-byte checksum
_BTC_VERSIONS = frozenset({0x00, 0x05})  # P2PKH, P2SH on mainnet

_BECH32_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_BECH32_VALUES = {c: i for i, c in enumerate(_BECH32_CHARSET)}
_BECH32_CONST = 1
_BECH32M_CONST = 0x2BC830A3
_BECH32_GENERATORS = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
_BECH32_MAX_CHARS = 90
_BTC_HRP = "bc"

_ETH_SHAPE = re.compile(r"0[xX][0-9a-fA-F]{40}")


def canonical_wallet(raw: str) -> str:
    """The address with its chain: btc:<address> or eth:0x<40 lowercase hex digits>."""
    hint, address = _split_chain(trimmed(raw))
    chain, canonical = _classify(address)
    if hint is not None and hint != chain:
        raise _format("address does not belong to the chain its prefix names")
    return f"{chain}:{canonical}"


def _split_chain(text: str) -> tuple[str | None, str]:
    head, sep, tail = text.partition(":")
    if not sep:
        return None, text
    chain = _CHAINS.get(head.strip().lower())
    if chain is None:
        raise _format("wallet prefix is not a known chain")
    return chain, tail.strip()


def _classify(address: str) -> tuple[str, str]:
    if not address.isascii():
        # Checked before lower(), which maps some non-ASCII letters onto ASCII (Kelvin sign).
        raise _format("address holds characters outside ASCII")
    lowered = address.lower()
    if lowered.startswith("0x"):
        return "eth", _ethereum(address)
    if lowered.startswith(_BTC_HRP + "1"):
        return "btc", _segwit(address)
    if address[:1] in ("1", "3"):
        return "btc", _base58check(address)
    raise _format("not a Bitcoin mainnet or Ethereum address")


def _base58check(address: str) -> str:
    if not 25 <= len(address) <= 35:
        raise _format("base58 address has the wrong length")
    number = 0
    for char in address:
        value = _B58_VALUES.get(char)
        if value is None:
            raise _format("base58 address holds a character outside the alphabet")
        number = number * 58 + value
    zeros = len(address) - len(address.lstrip("1"))  # each leading '1' is a zero byte
    payload = bytes(zeros) + number.to_bytes((number.bit_length() + 7) // 8, "big")
    if len(payload) != _B58_PAYLOAD_BYTES or payload[0] not in _BTC_VERSIONS:
        raise _format("base58 address is not a mainnet P2PKH or P2SH address")
    digest = hashlib.sha256(hashlib.sha256(payload[:21]).digest()).digest()
    if digest[:4] != payload[21:]:
        raise _checksum("base58check checksum does not match")
    return address


def _segwit(address: str) -> str:
    if len(address) > _BECH32_MAX_CHARS:
        raise _format("bech32 address is longer than 90 characters")
    lowered = address.lower()
    if address not in (lowered, address.upper()):
        raise _format("bech32 address mixes upper and lower case")
    data_part = lowered[len(_BTC_HRP) + 1 :]
    data = [_BECH32_VALUES.get(c, -1) for c in data_part]
    if len(data) < 6 or -1 in data:
        raise _format("bech32 data part is too short or holds a character outside the set")
    constant = _bech32_polymod(_hrp_expand(_BTC_HRP) + data)
    if constant not in (_BECH32_CONST, _BECH32M_CONST):
        raise _checksum("bech32 checksum does not match")
    _check_witness(data[:-6], constant)
    return lowered


def _check_witness(values: list[int], constant: int) -> None:
    if not values or values[0] > 16:
        raise _format("segwit address has no or an unknown witness version")
    program = _regroup_5_to_8(values[1:])
    if program is None or not 2 <= len(program) <= 40:
        raise _format("segwit witness program has an invalid length or padding")
    if values[0] == 0 and len(program) not in (20, 32):
        raise _format("segwit v0 program must be 20 or 32 bytes")
    expected = _BECH32_CONST if values[0] == 0 else _BECH32M_CONST
    if constant != expected:
        raise _checksum("segwit address uses the wrong checksum variant for its version")


def _bech32_polymod(values: list[int]) -> int:
    checksum = 1
    for value in values:
        top = checksum >> 25
        checksum = (checksum & 0x1FFFFFF) << 5 ^ value
        for i, generator in enumerate(_BECH32_GENERATORS):
            if (top >> i) & 1:
                checksum ^= generator
    return checksum


def _hrp_expand(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def _regroup_5_to_8(values: list[int]) -> bytes | None:
    """5-bit groups to bytes; None when the padding is not BIP-173's (< 5 zero bits)."""
    accumulator, bits, out = 0, 0, bytearray()
    for value in values:
        accumulator = ((accumulator << 5) | value) & 0xFFF
        bits += 5
        if bits >= 8:
            bits -= 8
            out.append((accumulator >> bits) & 0xFF)
    if bits >= 5 or (accumulator << (8 - bits)) & 0xFF:
        return None
    return bytes(out)


def _ethereum(address: str) -> str:
    if not _ETH_SHAPE.fullmatch(address):
        raise _format("Ethereum address is not 0x and 40 hex digits")
    digits = address[2:]
    lowered = digits.lower()
    mixed = digits not in (lowered, digits.upper())
    if mixed and digits != eip55_checksummed(lowered):
        raise _checksum("Ethereum address fails its EIP-55 mixed-case checksum")
    return "0x" + lowered


def eip55_checksummed(hex_digits: str) -> str:
    """EIP-55 spelling of 40 lowercase hex digits (without "0x")."""
    digest = keccak.new(digest_bits=256, data=hex_digits.encode("ascii")).hexdigest()
    return "".join(
        c.upper() if int(nibble, 16) >= 8 else c
        for c, nibble in zip(hex_digits, digest, strict=False)
    )


def _format(message: str) -> CanonicalError:
    return CanonicalError(Reason.WALLET_FORMAT, message)


def _checksum(message: str) -> CanonicalError:
    return CanonicalError(Reason.WALLET_CHECKSUM, message)
