"""Shape checks on submitted items: every refusal names the problem, never a value."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

import h3
import pytest

from counterflow.errors import ErrorCode, InputError
from counterflow.v1 import submission_pb2 as pb
from hub.services.validation import (
    MAX_VIOLATIONS_REPORTED,
    WireItem,
    check_batch_envelope,
    item_problem,
    raise_if_malformed,
)

# Monday of 2026-W48: one week after the hub's "now" in 2026-W47.
LATEST = dt.date(2026, 11, 23)
LONDON_RES5 = h3.latlng_to_cell(51.5072, -0.1276, 5)
LONDON_RES7 = h3.latlng_to_cell(51.5072, -0.1276, 7)


def _item(**fields: Any) -> WireItem:
    values: dict[str, Any] = {
        "index": 0,
        "scheme_version": 1,
        "key_epoch": 1,
        "token": bytes(32),
        "indicator_type": pb.INDICATOR_TYPE_PHONE,
        "group_id": bytes(16),
        "country": "GB",
        "week": "2026-W47",
        "h3_cell": "",
        "typology_tags": [],
    }
    values.update(fields)
    # The generated stub types enums and repeated fields more narrowly than the Protocol.
    return cast(WireItem, pb.TokenItem(**values))


def test_a_well_formed_item_has_no_problem() -> None:
    assert item_problem(_item(), 0, LATEST) is None
    item = _item(index=3, h3_cell=LONDON_RES5, typology_tags=["money-mule", "a.b:c_d"])
    assert item_problem(item, 3, LATEST) is None


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"index": 4}, "index 4 does not match position 0"),
        ({"scheme_version": 2}, "token scheme version 2 is not supported (want 1)"),
        ({"scheme_version": 0}, "token scheme version 0 is not supported (want 1)"),
        ({"token": bytes(31)}, "token must be 32 bytes, got 31"),
        ({"token": b""}, "token must be 32 bytes, got 0"),
        ({"indicator_type": pb.INDICATOR_TYPE_UNSPECIFIED}, "unknown indicator type 0"),
        ({"indicator_type": 99}, "unknown indicator type 99"),
        ({"group_id": bytes(32)}, "group id must be 16 bytes, got 32"),
        ({"country": "gb"}, "country (2 characters) is not an ISO 3166-1 alpha-2 code"),
        ({"country": "XX"}, "country (2 characters) is not an ISO 3166-1 alpha-2 code"),
        ({"country": ""}, "country (0 characters) is not an ISO 3166-1 alpha-2 code"),
        ({"week": "2026-47"}, "week (7 characters) is not an ISO week like 2026-W47"),
        ({"week": "2026-W54"}, "week (8 characters) is not an ISO week like 2026-W47"),
        ({"week": "2026-W49"}, "week 2026-W49 is in the future"),
        ({"h3_cell": "not-a-cell"}, "h3 cell is not a valid H3 cell"),
        ({"h3_cell": LONDON_RES7}, "h3 cell is finer than resolution 6"),
        ({"typology_tags": ["a", "b", "c", "d"]}, "at most 3 typology tags, got 4"),
        ({"typology_tags": ["a", "a"]}, "typology tags repeat"),
        (
            {"typology_tags": ["Money"]},
            "a typology tag (5 characters) is not lower-case [a-z0-9_.:-]",
        ),
    ],
)
def test_each_problem_is_named(fields: dict[str, Any], problem: str) -> None:
    assert item_problem(_item(**fields), 0, LATEST) == problem


def test_the_week_after_next_is_allowed_up_to_the_latest_monday() -> None:
    assert item_problem(_item(week="2026-W48"), 0, LATEST) is None
    assert item_problem(_item(week="2026-W48"), 0, LATEST - dt.timedelta(days=1)) == (
        "week 2026-W48 is in the future"
    )


def test_malformed_text_is_never_echoed() -> None:
    # A broken node might put a raw value where a tag or country belongs: the
    # message (sent back, and logged at the hub) names only its length.
    for fields in ({"typology_tags": ["+44 7911 123456"]}, {"country": "+447911123456"}):
        problem = item_problem(_item(**fields), 0, LATEST)
        assert problem is not None
        assert "7911" not in problem


def test_the_first_problem_wins() -> None:
    item = _item(index=1, token=b"short", country="ZZ")
    assert item_problem(item, 0, LATEST) == "index 1 does not match position 0"


@pytest.mark.parametrize("batch_id", ["", "a" * 65, "has space", "semi;colon", "ünï"])
def test_envelope_refuses_a_bad_batch_id(batch_id: str) -> None:
    with pytest.raises(InputError) as caught:
        check_batch_envelope(batch_id, 1, 10)
    assert caught.value.code is ErrorCode.INVALID_REQUEST
    assert "1-64 characters" in caught.value.message


def test_envelope_refuses_an_empty_batch() -> None:
    with pytest.raises(InputError) as caught:
        check_batch_envelope("b-1", 0, 10)
    assert caught.value.code is ErrorCode.BATCH_EMPTY
    assert caught.value.message == "batch b-1 has no items"
    assert caught.value.metadata == {"batch_id": "b-1"}


def test_envelope_refuses_a_batch_over_the_limit() -> None:
    with pytest.raises(InputError) as caught:
        check_batch_envelope("b_2", 11, 10)
    assert caught.value.code is ErrorCode.BATCH_TOO_LARGE
    assert caught.value.message == "batch b_2 has 11 items; the hub accepts at most 10"
    assert caught.value.metadata == {"batch_id": "b_2", "max_items": "10"}


def test_envelope_accepts_a_batch_at_the_limit() -> None:
    check_batch_envelope("A" * 64, 10, 10)
    check_batch_envelope("x", 1, 10)


def test_no_problems_and_one_epoch_is_not_malformed() -> None:
    raise_if_malformed("b", [], {1})
    raise_if_malformed("b", [], set())


def test_malformed_items_become_violations() -> None:
    with pytest.raises(InputError) as caught:
        raise_if_malformed("b", [(2, "token must be 32 bytes, got 3")], {1})
    error = caught.value
    assert error.code is ErrorCode.INVALID_ITEM
    assert (
        error.message
        == "batch b refused: 1 malformed item(s); first: token must be 32 bytes, got 3"
    )
    assert error.metadata == {"batch_id": "b", "malformed": "1"}
    assert error.violations == [("items[2]", "token must be 32 bytes, got 3")]


def test_violations_are_capped_but_the_count_is_exact() -> None:
    problems = [(i, f"problem {i}") for i in range(25)]
    with pytest.raises(InputError) as caught:
        raise_if_malformed("b", problems, {1})
    error = caught.value
    assert len(error.violations) == MAX_VIOLATIONS_REPORTED == 20
    assert error.violations[-1] == ("items[19]", "problem 19")
    assert error.metadata["malformed"] == "25"
    assert "25 malformed item(s)" in error.message


def test_mixed_epochs_come_first_and_count_once() -> None:
    problems = [(i, f"problem {i}") for i in range(25)]
    with pytest.raises(InputError) as caught:
        raise_if_malformed("b", problems, {1, 2})
    error = caught.value
    assert error.violations[0] == (
        "items.key_epoch",
        "all items of a batch must share one key epoch",
    )
    assert len(error.violations) == 21
    assert (
        "26 malformed item(s); first: all items of a batch must share one key epoch"
        in error.message
    )
    assert error.metadata["malformed"] == "25"


def test_mixed_epochs_alone_refuse_the_batch() -> None:
    with pytest.raises(InputError) as caught:
        raise_if_malformed("b", [], {1, 3})
    assert caught.value.code is ErrorCode.INVALID_ITEM
    assert caught.value.violations == [
        ("items.key_epoch", "all items of a batch must share one key epoch")
    ]
    assert caught.value.metadata == {"batch_id": "b", "malformed": "0"}


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"week": "2026-W47\n"}, "is not an ISO week"),
        ({"week": "\uff12\uff10\uff12\uff16-W47"}, "is not an ISO week"),
        ({"typology_tags": ["abc\n"]}, "is not lower-case"),
        ({"h3_cell": LONDON_RES5.upper()}, "lower-case hex"),
        ({"key_epoch": 0}, "epochs start at 1"),
    ],
)
def test_only_one_spelling_of_each_value_passes(fields: dict[str, Any], problem: str) -> None:
    # Two spellings of one week, tag or cell would split a count in two.
    found = item_problem(_item(**fields), 0, LATEST)
    assert found is not None
    assert problem in found


def test_a_batch_id_with_a_trailing_newline_is_refused() -> None:
    with pytest.raises(InputError) as caught:
        check_batch_envelope("b1\n", 1, 10)
    assert caught.value.code is ErrorCode.INVALID_REQUEST
