"""Logging: a field named like a secret never reaches the output, whatever the caller passed."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import pytest
import structlog

from counterflow import logs


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    out = io.StringIO()
    try:
        yield out
    finally:
        structlog.reset_defaults()


@pytest.mark.parametrize(
    "key", ["token", "value", "raw", "key", "secret", "password", "passphrase"]
)
def test_secret_named_fields_are_masked(key: str) -> None:
    event = {"event": "x", key: "+447911123456", "partner_id": "bank-alpha", "count": 3}
    assert logs._drop_secrets(None, "info", event) == {
        "event": "x",
        key: "<redacted>",
        "partner_id": "bank-alpha",
        "count": 3,
    }


def test_other_fields_pass_untouched() -> None:
    event = {"event": "x", "batch_id": "b1", "key_epoch": 2, "tokens": 5}
    assert logs._drop_secrets(None, "info", dict(event)) == event


def test_json_lines_carry_level_and_time_and_never_the_secret(stream: io.StringIO) -> None:
    logs.configure("INFO", json=True, stream=stream)
    logs.get("test").info("ingested", token=b"\x01" * 32, value="+447911123456", count=2)
    [line] = stream.getvalue().splitlines()
    record = json.loads(line)
    assert record["event"] == "ingested"
    assert record["level"] == "info"
    assert record["token"] == "<redacted>"
    assert record["value"] == "<redacted>"
    assert record["count"] == 2
    assert "timestamp" in record
    assert "+447911123456" not in line


def test_a_stream_that_is_not_a_terminal_gets_json(stream: io.StringIO) -> None:
    logs.configure("INFO", stream=stream)
    logs.get("test").info("hello", n=1)
    assert json.loads(stream.getvalue())["event"] == "hello"


def test_the_level_filters(stream: io.StringIO) -> None:
    logs.configure("warning", json=True, stream=stream)
    log = logs.get("test")
    log.info("quiet")
    log.warning("loud", key="k")
    [line] = stream.getvalue().splitlines()
    assert json.loads(line) == {**json.loads(line), "event": "loud", "key": "<redacted>"}


def test_the_console_renderer_masks_too(stream: io.StringIO) -> None:
    logs.configure("INFO", json=False, stream=stream)
    logs.get("test").info("hello", raw="+447911123456")
    text = stream.getvalue()
    assert "hello" in text
    assert "<redacted>" in text
    assert "+447911123456" not in text
