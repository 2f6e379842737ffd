"""Accepting a batch against a real agreement and a real SQLite store."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, cast

import pytest
from support.federation import TEST_NOW, write_policy

from counterflow.errors import CounterflowError, ErrorCode, InputError
from counterflow.v1 import submission_pb2 as pb
from hub.policy.loader import load_policy
from hub.policy.models import Agreement
from hub.services.ingest import IngestLimits, content_hash, ingest_batch
from hub.services.validation import WireItem
from hub.storage.engine import open_storage
from hub.storage.interface import BatchOutcome, Rejection, Storage

LIMITS = IngestLimits(max_batch_items=10, max_future_weeks=1)
PARTNER = "bank-alpha"


@pytest.fixture
def storage(tmp_path: Path) -> Iterator[Storage]:
    store = open_storage(f"sqlite:///{tmp_path}/hub.db")
    try:
        yield store
    finally:
        store.close()


def _agreement(tmp_path: Path, **policy: Any) -> Agreement:
    path = write_policy(
        tmp_path / "policies", PARTNER, types=("phone", "email"), countries=("GB", "NL"), **policy
    )
    return load_policy(path)


def _item(index: int, *, epoch: int = 1, **fields: Any) -> pb.TokenItem:
    values: dict[str, Any] = {
        "index": index,
        "scheme_version": 1,
        "key_epoch": epoch,
        "token": bytes([index + 1]) * 32,
        "indicator_type": pb.INDICATOR_TYPE_PHONE,
        "group_id": bytes([index]) * 16,
        "country": "GB",
        "week": "2026-W47",
    }
    values.update(fields)
    return pb.TokenItem(**values)


def _ingest(
    storage: Storage, agreement: Agreement, request: pb.SubmitBatchRequest, **kw: Any
) -> BatchOutcome:
    return ingest_batch(
        storage=storage,
        agreement=agreement,
        batch_id=request.batch_id,
        items=cast(Sequence[WireItem], request.items),
        serialized=request.SerializeToString(deterministic=True),
        now=kw.pop("now", TEST_NOW),
        limits=kw.pop("limits", LIMITS),
    )


def _mixed_batch(batch_id: str = "batch-1") -> pb.SubmitBatchRequest:
    return pb.SubmitBatchRequest(
        batch_id=batch_id,
        items=[
            _item(0),
            _item(1, indicator_type=pb.INDICATOR_TYPE_IBAN),
            _item(2, country="NL", indicator_type=pb.INDICATOR_TYPE_EMAIL),
            _item(3, country="US"),
            _item(4, typology_tags=["money-mule"]),
        ],
    )


def test_content_hash_is_sha256_of_the_bytes() -> None:
    assert content_hash(b"abc").hex() == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )


def test_items_the_agreement_does_not_cover_are_refused_one_by_one(
    tmp_path: Path, storage: Storage
) -> None:
    outcome = _ingest(storage, _agreement(tmp_path), _mixed_batch())
    assert outcome.batch_id == "batch-1"
    assert outcome.accepted == 3
    assert not outcome.duplicate
    assert [(r.index, r.reason) for r in outcome.rejections] == [
        (1, "TYPE_NOT_ALLOWED"),
        (3, "COUNTRY_NOT_ALLOWED"),
    ]
    assert "'iban'" in outcome.rejections[0].message
    assert "'US'" in outcome.rejections[1].message
    assert storage.item_count(PARTNER) == 3
    summary = storage.summary()
    assert summary.total_items == 3
    assert summary.batches == 1


def test_the_same_batch_again_replays_the_stored_answer(tmp_path: Path, storage: Storage) -> None:
    agreement = _agreement(tmp_path)
    first = _ingest(storage, agreement, _mixed_batch())
    again = _ingest(storage, agreement, _mixed_batch())
    assert again.duplicate
    assert again.accepted == first.accepted
    assert again.rejections == first.rejections
    assert all(isinstance(r, Rejection) for r in again.rejections)
    assert storage.item_count(PARTNER) == 3
    assert storage.summary().batches == 1


def test_a_reused_batch_id_with_other_content_is_refused(tmp_path: Path, storage: Storage) -> None:
    agreement = _agreement(tmp_path)
    _ingest(storage, agreement, _mixed_batch())
    other = _mixed_batch()
    other.items[0].country = "NL"
    with pytest.raises(CounterflowError) as caught:
        _ingest(storage, agreement, other)
    assert caught.value.code is ErrorCode.BATCH_ID_REUSED
    assert caught.value.metadata["batch_id"] == "batch-1"
    assert storage.item_count(PARTNER) == 3


def test_a_batch_under_an_older_epoch_names_the_batch(tmp_path: Path, storage: Storage) -> None:
    agreement = _agreement(tmp_path)
    newer = pb.SubmitBatchRequest(batch_id="epoch-2", items=[_item(0, epoch=2)])
    assert _ingest(storage, agreement, newer).accepted == 1
    older = pb.SubmitBatchRequest(batch_id="epoch-1", items=[_item(0, epoch=1)])
    with pytest.raises(CounterflowError) as caught:
        _ingest(storage, agreement, older)
    assert caught.value.code is ErrorCode.STALE_KEY_EPOCH
    assert caught.value.metadata["batch_id"] == "epoch-1"
    assert caught.value.metadata["key_epoch"] == "1"
    assert caught.value.metadata["active_epoch"] == "2"
    assert storage.item_count(PARTNER) == 1


def test_one_malformed_item_refuses_the_whole_batch(tmp_path: Path, storage: Storage) -> None:
    request = _mixed_batch()
    request.items[2].token = b"short"
    with pytest.raises(InputError) as caught:
        _ingest(storage, _agreement(tmp_path), request)
    assert caught.value.code is ErrorCode.INVALID_ITEM
    assert caught.value.violations == [("items[2]", "token must be 32 bytes, got 5")]
    assert storage.item_count() == 0
    assert storage.summary().batches == 0


def test_items_of_two_epochs_refuse_the_batch(tmp_path: Path, storage: Storage) -> None:
    request = pb.SubmitBatchRequest(batch_id="b", items=[_item(0, epoch=1), _item(1, epoch=2)])
    with pytest.raises(InputError) as caught:
        _ingest(storage, _agreement(tmp_path), request)
    assert caught.value.violations[0][0] == "items.key_epoch"
    assert storage.item_count() == 0


def test_a_week_beyond_the_future_limit_is_malformed(tmp_path: Path, storage: Storage) -> None:
    agreement = _agreement(tmp_path)
    near = pb.SubmitBatchRequest(batch_id="near", items=[_item(0, week="2026-W48")])
    assert _ingest(storage, agreement, near).accepted == 1
    far = pb.SubmitBatchRequest(batch_id="far", items=[_item(0, week="2026-W49")])
    with pytest.raises(InputError, match="week 2026-W49 is in the future"):
        _ingest(storage, agreement, far)
    strict = IngestLimits(max_batch_items=10, max_future_weeks=0)
    with pytest.raises(InputError, match="week 2026-W48 is in the future"):
        _ingest(storage, agreement, near, limits=strict)


def test_an_envelope_problem_comes_before_the_items(tmp_path: Path, storage: Storage) -> None:
    agreement = _agreement(tmp_path)
    big = pb.SubmitBatchRequest(batch_id="big", items=[_item(i) for i in range(11)])
    with pytest.raises(InputError) as caught:
        _ingest(storage, agreement, big)
    assert caught.value.code is ErrorCode.BATCH_TOO_LARGE
    with pytest.raises(InputError) as empty:
        _ingest(storage, agreement, pb.SubmitBatchRequest(batch_id="empty"))
    assert empty.value.code is ErrorCode.BATCH_EMPTY


@pytest.mark.parametrize(
    ("policy", "code"),
    [
        ({"status": "suspended"}, ErrorCode.AGREEMENT_NOT_ACTIVE),
        ({"valid_until": "2026-11-17"}, ErrorCode.AGREEMENT_EXPIRED),
        ({"valid_from": "2026-11-19"}, ErrorCode.AGREEMENT_NOT_YET_VALID),
    ],
)
def test_an_agreement_not_in_force_refuses_before_reading(
    tmp_path: Path, storage: Storage, policy: dict[str, str], code: ErrorCode
) -> None:
    agreement = _agreement(tmp_path, **policy)
    # Even a malformed batch is refused for the agreement, not for its items.
    request = pb.SubmitBatchRequest(batch_id="b", items=[_item(5)])
    with pytest.raises(CounterflowError) as caught:
        _ingest(storage, agreement, request)
    assert caught.value.code is code
    assert storage.summary().batches == 0


def test_the_agreement_is_read_on_the_day_of_now(tmp_path: Path, storage: Storage) -> None:
    agreement = _agreement(tmp_path, valid_until="2026-11-18")
    last_day = dt.datetime(2026, 11, 18, 23, 59, tzinfo=dt.UTC)
    request = pb.SubmitBatchRequest(batch_id="b", items=[_item(0)])
    assert _ingest(storage, agreement, request, now=last_day).accepted == 1


def test_a_batch_with_every_item_refused_is_still_stored_once(
    tmp_path: Path, storage: Storage
) -> None:
    agreement = _agreement(tmp_path)
    request = pb.SubmitBatchRequest(batch_id="all-out", items=[_item(0, country="US")])
    outcome = _ingest(storage, agreement, request)
    assert outcome.accepted == 0
    assert [r.reason for r in outcome.rejections] == ["COUNTRY_NOT_ALLOWED"]
    assert _ingest(storage, agreement, request).duplicate
    assert storage.summary().batches == 1
    assert storage.item_count() == 0


@pytest.mark.parametrize(
    "tags",
    [["a,b"], ["money-mule", "a,b"], ["x", "y", "z", "w"], ["dup", "dup"], ["UPPER"]],
)
def test_tags_are_checked_before_they_are_joined(
    tmp_path: Path, storage: Storage, tags: list[str]
) -> None:
    # The column path joins tags with ","; a tag holding "," must not pass as two.
    request = pb.SubmitBatchRequest(
        batch_id="tags-1", items=[_item(0), _item(1, typology_tags=tags)]
    )
    with pytest.raises(InputError) as caught:
        _ingest(storage, _agreement(tmp_path), request)
    assert caught.value.code is ErrorCode.INVALID_ITEM
    assert caught.value.violations[0][0] == "items[1]"
    assert storage.item_count() == 0


def test_well_formed_batches_take_the_column_path_and_count_every_tag(
    tmp_path: Path, storage: Storage
) -> None:
    request = pb.SubmitBatchRequest(
        batch_id="cols-1",
        items=[_item(0, typology_tags=["a", "b"]), _item(1), _item(2, typology_tags=["b"])],
    )
    outcome = _ingest(storage, _agreement(tmp_path), request)
    assert (outcome.accepted, outcome.rejections) == (3, ())
    assert storage.item_count(PARTNER) == 3
    assert storage.summary().total_items == 3
