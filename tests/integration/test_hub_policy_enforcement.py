"""The agreement decides what the hub stores: per item, per batch, and as its file changes.

Items the agreement does not cover are refused one by one and the rest stored;
an agreement not in force refuses the whole batch and stores nothing. The hub's
clock is fixed at TEST_NOW (2026-11-18).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import grpc
import pytest
from support.federation import TEST_WEEK
from support.pki import TestPki

from counterflow.errors import ErrorCode
from counterflow.indicators import IndicatorType
from counterflow.rpc_status import from_rpc_error
from counterflow.v1 import submission_pb2 as pb

if TYPE_CHECKING:
    from conftest import Federation, Wire

PHONE, EMAIL, IBAN, URL = (
    IndicatorType.PHONE,
    IndicatorType.EMAIL,
    IndicatorType.IBAN,
    IndicatorType.URL,
)
STRICT = {"countries": ("GB",)}


@pytest.fixture(scope="module")
def federation_policies(
    federation_policies: Mapping[str, Mapping[str, Any]],
) -> Mapping[str, Mapping[str, Any]]:
    return {
        **federation_policies,
        "bank-lapsed": {"valid_from": "2025-01-01", "valid_until": "2026-06-30"},
        "bank-future": {"valid_from": "2027-01-01", "valid_until": "2027-12-31"},
        "bank-suspended": {"status": "suspended"},
        "bank-editable": {},
        "bank-strict": STRICT,
    }


def _rejections(response: pb.SubmitBatchResponse) -> list[tuple[int, str]]:
    return [(r.index, r.reason) for r in response.rejections]


def _refused(federation: Federation, partner: str, request: pb.SubmitBatchRequest) -> Any:
    with pytest.raises(grpc.RpcError) as caught:
        federation.submit(partner, request)
    return from_rpc_error(caught.value)


# -- per item ---------------------------------------------------------------------------


def test_items_the_agreement_does_not_cover_are_refused_one_by_one(
    federation: Federation, wire: type[Wire]
) -> None:
    # ngo-harbour may send phone, email and url from GB and NG.
    cells_before = federation.cell_counts()
    request = wire.batch(
        "mixed-1",
        [
            wire.item(0, seed="mixed", indicator_type=PHONE, country="GB"),
            wire.item(1, seed="mixed", indicator_type=IBAN, country="GB"),
            wire.item(2, seed="mixed", indicator_type=EMAIL, country="NG"),
            wire.item(3, seed="mixed", indicator_type=PHONE, country="FR"),
            wire.item(4, seed="mixed", indicator_type=URL, country="GB"),
            wire.item(5, seed="mixed", indicator_type=EMAIL, country="RO"),
            wire.item(6, seed="mixed", indicator_type=PHONE, country="NG"),
        ],
    )
    [response] = federation.submit("ngo-harbour", request)

    assert (response.batch_id, response.accepted, response.duplicate) == ("mixed-1", 4, False)
    assert _rejections(response) == [
        (1, "TYPE_NOT_ALLOWED"),
        (3, "COUNTRY_NOT_ALLOWED"),
        (5, "COUNTRY_NOT_ALLOWED"),
    ]
    assert "'iban'" in response.rejections[0].message
    assert "'FR'" in response.rejections[1].message
    assert federation.storage.item_count("ngo-harbour") == 4
    added = {
        key: count - cells_before.get(key, 0)
        for key, count in federation.cell_counts().items()
        if count != cells_before.get(key, 0)
    }
    assert added == {
        (PHONE.wire, "GB", "ngo", TEST_WEEK): 1,
        (EMAIL.wire, "NG", "ngo", TEST_WEEK): 1,
        (URL.wire, "GB", "ngo", TEST_WEEK): 1,
        (PHONE.wire, "NG", "ngo", TEST_WEEK): 1,
    }


def test_a_batch_the_agreement_refuses_entirely_is_still_answered_and_stored_once(
    federation: Federation, wire: type[Wire]
) -> None:
    # Every item refused is an answer, not an error: the node must not resend it forever.
    before = federation.storage.summary().batches
    request = wire.good_batch("all-refused-1", 2, indicator_type=IBAN)
    [response] = federation.submit("ngo-harbour", request)
    assert response.accepted == 0
    assert _rejections(response) == [(0, "TYPE_NOT_ALLOWED"), (1, "TYPE_NOT_ALLOWED")]
    assert federation.storage.summary().batches == before + 1


# -- the agreement must be in force --------------------------------------------------------


@pytest.mark.parametrize(
    ("partner", "reason"),
    [
        ("bank-lapsed", ErrorCode.AGREEMENT_EXPIRED),
        ("bank-future", ErrorCode.AGREEMENT_NOT_YET_VALID),
        ("bank-suspended", ErrorCode.AGREEMENT_NOT_ACTIVE),
    ],
)
def test_an_agreement_not_in_force_refuses_the_whole_batch_and_stores_nothing(
    federation: Federation, wire: type[Wire], partner: str, reason: ErrorCode
) -> None:
    summary_before = federation.storage.summary()
    error = _refused(federation, partner, wire.good_batch(f"{partner}-1", 5))
    assert (error.status, error.code) == (grpc.StatusCode.FAILED_PRECONDITION, reason)
    assert error.metadata["agreement_id"] == f"CF-TEST-{partner.upper()}"
    assert federation.storage.item_count(partner) == 0
    summary_after = federation.storage.summary()
    assert (summary_after.batches, summary_after.cells) == (
        summary_before.batches,
        summary_before.cells,
    )


def test_an_expired_agreement_names_its_dates(federation: Federation, wire: type[Wire]) -> None:
    error = _refused(federation, "bank-lapsed", wire.good_batch("bank-lapsed-2"))
    assert error.code is ErrorCode.AGREEMENT_EXPIRED
    assert "2026-06-30" in error.message
    assert "2026-11-18" in error.message


def test_a_suspended_partner_can_still_read_its_agreement(federation: Federation) -> None:
    agreement = federation.get_agreement("bank-suspended")
    assert (agreement.partner_id, agreement.status) == ("bank-suspended", "suspended")


def test_the_same_agreement_lapses_when_the_hubs_clock_passes_its_end(
    federation_factory: Callable[..., Federation], wire: type[Wire]
) -> None:
    later = federation_factory(
        policies={"bank-alpha": {}}, now=dt.datetime(2028, 1, 1, 0, 0, tzinfo=dt.UTC)
    )
    error = _refused(later, "bank-alpha", wire.good_batch("lapse-1", week="2027-W52"))
    assert (error.status, error.code) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        ErrorCode.AGREEMENT_EXPIRED,
    )
    assert later.storage.item_count() == 0
    # The last day is still inside the agreement (valid_until is inclusive).
    last_day = federation_factory(
        policies={"bank-alpha": {}}, now=dt.datetime(2027, 12, 31, 23, 59, tzinfo=dt.UTC)
    )
    [response] = last_day.submit("bank-alpha", wire.good_batch("lapse-2", week="2027-W52"))
    assert response.accepted == 3


# -- the policy file changes while the hub runs -------------------------------------------


def test_narrowing_the_countries_takes_effect_on_the_next_call(
    federation: Federation, wire: type[Wire]
) -> None:
    def batch(batch_id: str) -> pb.SubmitBatchRequest:
        return wire.batch(
            batch_id,
            [wire.item(0, seed=batch_id, country="GB"), wire.item(1, seed=batch_id, country="NL")],
        )

    [before] = federation.submit("bank-editable", batch("edit-1"))
    assert (before.accepted, _rejections(before)) == (2, [])

    federation.write_policy("bank-editable", countries=("GB",), version=2)

    [after] = federation.submit("bank-editable", batch("edit-2"))
    assert (after.accepted, _rejections(after)) == (1, [(1, "COUNTRY_NOT_ALLOWED")])
    agreement = federation.get_agreement("bank-editable")
    assert (agreement.version, list(agreement.countries)) == (2, ["GB"])
    assert federation.storage.item_count("bank-editable") == 3


@pytest.mark.parametrize(
    "broken",
    [
        # Would widen the agreement if it were read: NL plus a code that does not exist.
        "countries_with_a_bad_code",
        "not_yaml",
        "wrong_partner_id_type",
    ],
)
def test_an_invalid_policy_edit_keeps_the_previous_agreement_in_force(
    federation: Federation, wire: type[Wire], broken: str
) -> None:
    path = federation.write_policy("bank-strict", **STRICT)
    good_text = path.read_text()
    assert list(federation.get_agreement("bank-strict").countries) == ["GB"]
    broken_text = {
        "countries_with_a_bad_code": good_text.replace("- GB", "- GB\n  - NL\n  - XX"),
        "not_yaml": good_text + "submit: [unclosed\n",
        "wrong_partner_id_type": good_text.replace("partner_id: bank-strict", "partner_id: 17"),
    }[broken]
    assert broken_text != good_text
    try:
        federation.write_policy_text("bank-strict", broken_text)

        request = wire.batch(
            f"strict-{broken}",
            [
                wire.item(0, seed=broken, country="GB"),
                wire.item(1, seed=broken, country="NL"),
            ],
        )
        [response] = federation.submit("bank-strict", request)
        assert (response.accepted, _rejections(response)) == (1, [(1, "COUNTRY_NOT_ALLOWED")])
        assert list(federation.get_agreement("bank-strict").countries) == ["GB"]
        # Other partners keep theirs too: the whole directory stays as it was.
        assert federation.get_agreement("bank-alpha").partner_id == "bank-alpha"
    finally:
        # Leave the directory valid for the rest of the module.
        federation.write_policy("bank-strict", **STRICT)
    # A valid edit after a broken one is read again.
    federation.write_policy("bank-strict", countries=("GB", "NL"), version=2)
    assert list(federation.get_agreement("bank-strict").countries) == ["GB", "NL"]
    federation.write_policy("bank-strict", **STRICT)
    assert list(federation.get_agreement("bank-strict").countries) == ["GB"]


# -- idempotency ----------------------------------------------------------------------------


def test_the_same_batch_twice_is_stored_once_and_answered_the_same(
    federation: Federation, wire: type[Wire]
) -> None:
    request = wire.batch(
        "idem-1",
        [
            wire.item(0, seed="idem", country="GB"),
            wire.item(1, seed="idem", country="FR"),
            wire.item(2, seed="idem", country="NG", indicator_type=EMAIL),
        ],
    )
    count_before = federation.storage.item_count("bank-beta")
    batches_before = federation.storage.summary().batches

    [first] = federation.submit("bank-beta", request)
    [second] = federation.submit("bank-beta", request)
    # Also twice on one stream, as a node resending after a lost acknowledgement would.
    third, fourth = federation.submit("bank-beta", request, request)

    assert (first.accepted, _rejections(first), first.duplicate) == (
        2,
        [(1, "COUNTRY_NOT_ALLOWED")],
        False,
    )
    for replay in (second, third, fourth):
        assert replay.duplicate is True
        assert (replay.batch_id, replay.accepted, list(replay.rejections)) == (
            first.batch_id,
            first.accepted,
            list(first.rejections),
        )
    assert federation.storage.item_count("bank-beta") == count_before + 2
    assert federation.storage.summary().batches == batches_before + 1


def test_a_batch_id_reused_with_other_content_is_refused_and_changes_nothing(
    federation: Federation, wire: type[Wire]
) -> None:
    [first] = federation.submit("bank-beta", wire.good_batch("reuse-1", 2))
    assert (first.accepted, first.duplicate) == (2, False)
    count_before = federation.storage.item_count("bank-beta")
    summary_before = federation.storage.summary()

    other = wire.good_batch("reuse-1", 3, seed="something else")
    error = _refused(federation, "bank-beta", other)

    assert (error.status, error.code) == (
        grpc.StatusCode.ALREADY_EXISTS,
        ErrorCode.BATCH_ID_REUSED,
    )
    assert error.metadata["batch_id"] == "reuse-1"
    assert federation.storage.item_count("bank-beta") == count_before
    assert federation.storage.summary() == summary_before
    # The original is still there, unchanged.
    [replay] = federation.submit("bank-beta", wire.good_batch("reuse-1", 2))
    assert (replay.accepted, replay.duplicate) == (2, True)


def test_batch_ids_belong_to_their_partner(federation: Federation, wire: type[Wire]) -> None:
    # The same id from another partner is another batch, not a reuse.
    request = wire.good_batch("shared-id-1", 2)
    [alpha] = federation.submit("bank-alpha", request)
    [beta] = federation.submit("bank-beta", request)
    assert (alpha.duplicate, beta.duplicate) == (False, False)
    assert (alpha.accepted, beta.accepted) == (2, 2)


def test_a_revoked_partner_with_a_policy_is_still_refused(
    federation: Federation, pki: TestPki, wire: type[Wire]
) -> None:
    # Agreements never override the CRL.
    error = _refused(federation, pki.revoked_id, wire.good_batch("revoked-policy-1"))
    assert (error.status, error.code) == (
        grpc.StatusCode.UNAUTHENTICATED,
        ErrorCode.CERTIFICATE_REVOKED,
    )


def test_a_suspension_reaches_a_stream_that_is_already_open(
    federation_factory: Callable[..., Federation], wire: type[Wire]
) -> None:
    import threading

    hub = federation_factory(policies={"bank-alpha": {}})
    first_answered = threading.Event()

    def requests() -> Any:
        yield wire.good_batch("open-stream-1")
        first_answered.wait(10)
        hub.write_policy("bank-alpha", status="suspended", version=2)
        yield wire.good_batch("open-stream-2")

    stream = hub.stub("bank-alpha").SubmitBatches(requests(), timeout=30)
    first = next(stream)
    assert first.accepted == 3
    first_answered.set()
    with pytest.raises(grpc.RpcError) as caught:
        list(stream)
    error = from_rpc_error(caught.value)
    assert (error.status, error.code) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        ErrorCode.AGREEMENT_NOT_ACTIVE,
    )
    assert hub.storage.item_count("bank-alpha") == 3
