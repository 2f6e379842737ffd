"""The registry swaps in a changed policies/ whole, and never swaps in a broken one."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from counterflow.errors import PolicyError
from hub.policy.registry import PolicyRegistry

EXAMPLES = Path(__file__).resolve().parents[4] / "policies"
BASE_NS = 1_800_000_000_000_000_000


class Files:
    """Writes policy files with explicit, increasing mtimes so changes never hide."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._tick = 0

    def copy(self, partner_id: str) -> None:
        shutil.copy(EXAMPLES / f"{partner_id}.yaml", self.directory / f"{partner_id}.yaml")
        self._touch(partner_id)

    def edit(self, partner_id: str, old: str, new: str) -> None:
        path = self.directory / f"{partner_id}.yaml"
        text = path.read_text(encoding="utf-8")
        assert old in text
        path.write_text(text.replace(old, new), encoding="utf-8")
        self._touch(partner_id)

    def _touch(self, partner_id: str) -> None:
        self._tick += 1
        stamp = BASE_NS + self._tick * 1_000_000_000
        os.utime(self.directory / f"{partner_id}.yaml", ns=(stamp, stamp))


@pytest.fixture
def files(tmp_path: Path) -> Files:
    out = Files(tmp_path)
    out.copy("bank-alpha")
    out.copy("ngo-harbour")
    return out


def test_loads_at_construction(files: Files) -> None:
    registry = PolicyRegistry(files.directory)
    assert registry.current().partner_ids == ("bank-alpha", "ngo-harbour")


def test_refuses_to_start_on_a_broken_directory(files: Files) -> None:
    files.edit("bank-alpha", "sector: bank", "sector: banc")
    with pytest.raises(PolicyError) as info:
        PolicyRegistry(files.directory)
    assert len(info.value.problems) == 1


def test_unchanged_directory_is_not_reloaded(files: Files) -> None:
    registry = PolicyRegistry(files.directory)
    before = registry.current()
    assert registry.reload_if_changed() is False
    assert registry.current() is before


def test_a_changed_file_is_reloaded(files: Files) -> None:
    registry = PolicyRegistry(files.directory)
    files.edit("bank-alpha", "status: active", "status: suspended")
    assert registry.reload_if_changed() is True
    alpha = registry.current().get("bank-alpha")
    assert alpha is not None and alpha.status.value == "suspended"
    assert registry.reload_if_changed() is False


def test_an_added_or_removed_file_is_reloaded(files: Files) -> None:
    registry = PolicyRegistry(files.directory)
    files.copy("platform-social")
    assert registry.reload_if_changed() is True
    assert len(registry.current()) == 3
    (files.directory / "ngo-harbour.yaml").unlink()
    assert registry.reload_if_changed() is True
    assert registry.current().partner_ids == ("bank-alpha", "platform-social")


def test_a_broken_change_keeps_the_old_set_in_force(files: Files) -> None:
    registry = PolicyRegistry(files.directory)
    before = registry.current()
    files.edit("bank-alpha", "retention_days: 365", "retention_days: 0\nsecret_note: x")
    with capture_logs() as logs:
        assert registry.reload_if_changed() is False
        assert registry.reload_if_changed() is False  # reported once, not on every poll
    assert registry.current() is before
    warnings = [e for e in logs if e["log_level"] == "warning"]
    assert len(warnings) == 1
    assert warnings[0]["problems"] == 2
    assert "secret_note" not in repr(logs) and "Alpha Bank" not in repr(logs)
    files.edit("bank-alpha", "retention_days: 0\nsecret_note: x", "retention_days: 30")
    assert registry.reload_if_changed() is True
    alpha = registry.current().get("bank-alpha")
    assert alpha is not None and alpha.retention_days == 30


def test_reload_raises_and_keeps_the_old_set(files: Files) -> None:
    registry = PolicyRegistry(files.directory)
    before = registry.current()
    files.edit("ngo-harbour", "k: 3", "k: 1")
    with pytest.raises(PolicyError):
        registry.reload()
    assert registry.current() is before
    files.edit("ngo-harbour", "k: 1", "k: 4")
    harbour = registry.reload().get("ngo-harbour")
    assert harbour is not None and harbour.receive.trend_feeds.k == 4


def test_a_vanished_directory_keeps_the_old_set(files: Files) -> None:
    registry = PolicyRegistry(files.directory)
    before = registry.current()
    shutil.rmtree(files.directory)
    assert registry.reload_if_changed() is False
    assert registry.current() is before
