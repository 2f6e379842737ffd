"""The shared vectors: every node implementation must reproduce these exactly."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from counterflow.indicators import IndicatorType
from counterflow.tokens import Tokeniser
from node.canonical import CanonicalError, Canonicaliser, Reason

VECTORS_DIR = Path(__file__).resolve().parents[3] / "vectors"
CANONICAL: list[dict[str, Any]] = json.loads(
    (VECTORS_DIR / "canonical-v1.json").read_text(encoding="utf-8")
)
TOKENS: dict[str, Any] = json.loads((VECTORS_DIR / "tokens-v1.json").read_text(encoding="utf-8"))
VALID = [v for v in CANONICAL if "canonical" in v]
INVALID = [v for v in CANONICAL if "error" in v]


def _id(vector: dict[str, Any]) -> str:
    region = f"[{vector['region']}]" if vector.get("region") else ""
    return f"{vector['type']}{region}:{vector['input']!r}"


def _canonical(vector: dict[str, Any], raw: str | None = None) -> str:
    canonicaliser = Canonicaliser(vector.get("region"))
    value = vector["input"] if raw is None else raw
    return canonicaliser.canonical(IndicatorType.parse(vector["type"]), value)


def _test_tokeniser() -> Tokeniser:
    return Tokeniser(bytes.fromhex(TOKENS["test_key_hex"]), TOKENS["epoch"])


def test_the_vector_files_are_well_formed() -> None:
    assert len(VALID) > 100 and len(INVALID) > 50
    for vector in CANONICAL:
        assert ("canonical" in vector) != ("error" in vector), vector
        assert ("region" in vector) == (vector["type"] == "phone"), vector
        if "error" in vector:
            assert vector["error"] in Reason.__members__, vector


def test_every_reason_a_value_can_earn_has_a_vector() -> None:
    seen = {v["error"] for v in INVALID}
    assert seen == {r.value for r in Reason} - {Reason.TYPE_UNSUPPORTED}


@pytest.mark.parametrize("vector", VALID, ids=_id)
def test_valid_vector_gives_its_canonical_value(vector: dict[str, Any]) -> None:
    assert _canonical(vector) == vector["canonical"]


@pytest.mark.parametrize("vector", INVALID, ids=_id)
def test_invalid_vector_is_refused_with_its_reason(vector: dict[str, Any]) -> None:
    with pytest.raises(CanonicalError) as caught:
        _canonical(vector)
    assert caught.value.reason == vector["error"]


@pytest.mark.parametrize("vector", VALID, ids=_id)
def test_canonical_values_are_fixed_points(vector: dict[str, Any]) -> None:
    assert _canonical(vector, vector["canonical"]) == vector["canonical"]


def test_format_variants_of_one_indicator_give_one_token() -> None:
    tokeniser = _test_tokeniser()
    tokens: dict[tuple[str, str], set[bytes]] = defaultdict(set)
    for vector in VALID:
        indicator_type = IndicatorType.parse(vector["type"])
        canonical = _canonical(vector)
        tokens[(vector["type"], vector["canonical"])].add(
            tokeniser.token(indicator_type, canonical)
        )
    assert all(len(group) == 1 for group in tokens.values())
    # Several written forms per indicator, or the test above proves little.
    assert sum(1 for v in VALID if v["canonical"] == "+442079460000") >= 10


def test_different_indicators_never_share_a_token() -> None:
    tokeniser = _test_tokeniser()
    indicators = {(v["type"], v["canonical"]) for v in VALID}
    tokens = {tokeniser.token(IndicatorType.parse(t), c) for t, c in indicators}
    assert len(tokens) == len(indicators)


def test_the_test_key_is_marked_as_such() -> None:
    assert "TEST KEY" in TOKENS["key_note"]
    assert TOKENS["epoch"] == 1 and TOKENS["scheme_version"] == 1


@pytest.mark.parametrize("pinned", TOKENS["tokens"], ids=lambda p: f"{p['type']}:{p['canonical']}")
def test_tokeniser_reproduces_the_pinned_token(pinned: dict[str, str]) -> None:
    token = _test_tokeniser().token(IndicatorType.parse(pinned["type"]), pinned["canonical"])
    assert token.hex() == pinned["token_hex"]


@pytest.mark.parametrize("pinned", TOKENS["tokens"], ids=lambda p: f"{p['type']}:{p['canonical']}")
def test_pinned_token_is_plain_hmac_sha256_of_the_documented_input(pinned: dict[str, str]) -> None:
    # Written against the stdlib so the format, not just this code, is pinned.
    assert pinned["token_input"] == f"v1/{pinned['type']}/{pinned['canonical']}"
    key = bytes.fromhex(TOKENS["test_key_hex"])
    digest = hmac.new(key, pinned["token_input"].encode("utf-8"), hashlib.sha256).hexdigest()
    assert digest == pinned["token_hex"]


def test_pinned_canonical_values_are_canonical() -> None:
    for pinned in TOKENS["tokens"]:
        if "probe" in pinned:
            continue
        vector = {"type": pinned["type"], "input": pinned["canonical"], "region": None}
        assert _canonical(vector) == pinned["canonical"]


def test_one_string_under_two_types_gives_two_tokens() -> None:
    by_value: dict[str, set[str]] = defaultdict(set)
    for pinned in TOKENS["tokens"]:
        by_value[pinned["canonical"]].add(pinned["token_hex"])
    assert len(by_value["user@example.com"]) == 2
