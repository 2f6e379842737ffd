"""The wire allow-list: nothing leaves a node unless its message and field are named."""

from __future__ import annotations

from typing import Any

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import Message

from counterflow.errors import CounterflowError, ErrorCode
from counterflow.v1 import submission_pb2 as pb
from counterflow.wire import ALLOWED_FIELDS, check_outbound, disallowed_fields

_F = descriptor_pb2.FieldDescriptorProto


def _future_protocol() -> tuple[type[Message], type[Message]]:
    """counterflow.v1 as it might look after someone adds a field without allow-listing it."""
    proto = descriptor_pb2.FileDescriptorProto(
        name="future/submission.proto", package="counterflow.v1", syntax="proto3"
    )
    item = proto.message_type.add(name="TokenItem")
    item.field.add(name="index", number=1, type=_F.TYPE_UINT32, label=_F.LABEL_OPTIONAL)
    item.field.add(name="raw_value", number=99, type=_F.TYPE_STRING, label=_F.LABEL_OPTIONAL)
    batch = proto.message_type.add(name="SubmitBatchRequest")
    batch.field.add(name="batch_id", number=1, type=_F.TYPE_STRING, label=_F.LABEL_OPTIONAL)
    batch.field.add(
        name="items",
        number=2,
        type=_F.TYPE_MESSAGE,
        type_name=".counterflow.v1.TokenItem",
        label=_F.LABEL_REPEATED,
    )
    batch.field.add(name="operator_note", number=3, type=_F.TYPE_STRING, label=_F.LABEL_OPTIONAL)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)  # type: ignore[no-untyped-call]
    classes = [
        message_factory.GetMessageClass(
            pool.FindMessageTypeByName(f"counterflow.v1.{name}")  # type: ignore[no-untyped-call]
        )
        for name in ("SubmitBatchRequest", "TokenItem")
    ]
    return classes[0], classes[1]


def _full_item(**fields: Any) -> pb.TokenItem:
    return pb.TokenItem(
        index=0,
        scheme_version=1,
        key_epoch=1,
        token=bytes(32),
        indicator_type=pb.INDICATOR_TYPE_PHONE,
        group_id=bytes(16),
        country="GB",
        week="2026-W47",
        h3_cell="85195da7fffffff",
        typology_tags=["money-mule"],
        **fields,
    )


@pytest.mark.parametrize(
    "message",
    [
        pb.SubmitBatchRequest(batch_id="b", items=[_full_item(), _full_item()]),
        pb.SubmitBatchRequest(),
        pb.GetAgreementRequest(),
        pb.ActivateEpochRequest(key_epoch=2),
    ],
)
def test_what_a_node_sends_is_allowed(message: Message) -> None:
    assert disallowed_fields(message) == []
    check_outbound(message)


@pytest.mark.parametrize(
    "message",
    [
        pb.GetAgreementResponse(partner_id="bank-alpha"),
        pb.GetAgreementResponse(),
        pb.SubmitBatchResponse(batch_id="b"),
        pb.ItemRejection(),
    ],
)
def test_a_message_type_off_the_list_is_refused_whole(message: Message) -> None:
    name = message.DESCRIPTOR.full_name
    assert disallowed_fields(message) == [name]
    with pytest.raises(CounterflowError) as caught:
        check_outbound(message)
    assert caught.value.code is ErrorCode.INVALID_REQUEST
    assert caught.value.message == f"refusing to send fields outside the wire allow-list: {name}"


def test_a_token_item_alone_is_allowed() -> None:
    assert disallowed_fields(_full_item()) == []


def test_a_new_field_does_not_leave_until_it_is_named() -> None:
    future_batch, future_item = _future_protocol()
    clean = future_batch(batch_id="b", items=[future_item(index=0)])
    assert disallowed_fields(clean) == []  # unset fields are not sent
    leaking = future_batch(
        batch_id="b",
        items=[future_item(index=0), future_item(index=1, raw_value="+447911123456")],
        operator_note="ok",
    )
    # Fields in field-number order, items' fields where the items are.
    assert disallowed_fields(leaking) == [
        "counterflow.v1.TokenItem.raw_value",
        "counterflow.v1.SubmitBatchRequest.operator_note",
    ]
    with pytest.raises(CounterflowError) as caught:
        check_outbound(leaking)
    assert caught.value.message == (
        "refusing to send fields outside the wire allow-list: "
        "counterflow.v1.SubmitBatchRequest.operator_note, counterflow.v1.TokenItem.raw_value"
    )
    assert "+447911123456" not in str(caught.value)


def test_every_allowed_name_exists_in_the_protocol() -> None:
    """A typo in the allow-list would silently block a field or name a ghost."""
    for full_name, fields in ALLOWED_FIELDS.items():
        package, _, name = full_name.rpartition(".")
        assert package == "counterflow.v1"
        descriptor = pb.DESCRIPTOR.message_types_by_name[name]
        assert fields <= set(descriptor.fields_by_name), full_name


def test_the_token_item_allow_list_is_exactly_its_fields() -> None:
    assert ALLOWED_FIELDS["counterflow.v1.TokenItem"] == set(pb.TokenItem.DESCRIPTOR.fields_by_name)
    assert "counterflow.v1.GetAgreementResponse" not in ALLOWED_FIELDS
