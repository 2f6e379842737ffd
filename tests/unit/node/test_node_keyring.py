"""The consortium keyring: create, rotate, export to and import from other partners."""

from __future__ import annotations

import base64
import json
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

import node.commands.key  # noqa: F401  (registers the commands)
from counterflow.errors import ConfigError
from node.commands._apps import key_app
from node.keyring import EXPORT_FORMAT, KEYRING_FORMAT, Keyring, node_secret

NOW = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
PASSPHRASE = b"shared out of band"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_create_writes_a_private_keyring_with_epoch_one(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "consortium.json"
    keyring = Keyring.create(path, now=NOW)
    assert keyring.current_epoch == 1
    assert len(keyring.key(1)) == 32
    assert _mode(path) == 0o600
    data = json.loads(path.read_text())
    assert data["format"] == KEYRING_FORMAT
    assert data["current"] == 1
    assert base64.b64decode(data["epochs"]["1"]["key"]) == keyring.key(1)
    assert datetime.fromisoformat(data["epochs"]["1"]["created"]) == NOW
    assert base64.b64encode(keyring.key(1)).decode() not in repr(keyring)


def test_create_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "consortium.json"
    first = Keyring.create(path)
    with pytest.raises(ConfigError, match="already exists"):
        Keyring.create(path)
    assert Keyring.load(path).key(1) == first.key(1)


def test_load_round_trips_and_rotate_adds_a_current_epoch(tmp_path: Path) -> None:
    path = tmp_path / "consortium.json"
    keyring = Keyring.create(path, now=NOW)
    assert keyring.rotate(now=NOW) == 2
    loaded = Keyring.load(path)
    assert loaded.current_epoch == 2
    assert [e.number for e in loaded.epochs()] == [1, 2]
    assert loaded.key(1) == keyring.key(1)
    assert loaded.key(2) == keyring.key(2)
    assert loaded.key(1) != loaded.key(2)
    assert _mode(path) == 0o600


def test_unknown_epoch_is_an_error(tmp_path: Path) -> None:
    keyring = Keyring.create(tmp_path / "k.json")
    with pytest.raises(ConfigError, match="no key for epoch 7"):
        keyring.key(7)


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660])
def test_load_refuses_a_keyring_others_can_read(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "k.json"
    Keyring.create(path)
    path.chmod(mode)
    with pytest.raises(ConfigError, match=f"chmod 600 {path}"):
        Keyring.load(path)


def test_load_refuses_another_format(tmp_path: Path) -> None:
    path = tmp_path / "k.json"
    path.write_text(json.dumps({"format": "something-else", "epochs": {}, "current": 1}))
    path.chmod(0o600)
    with pytest.raises(ConfigError, match=KEYRING_FORMAT):
        Keyring.load(path)


def test_export_import_round_trip_creates_the_other_keyring(tmp_path: Path) -> None:
    mine = Keyring.create(tmp_path / "a.json", now=NOW)
    mine.rotate(now=NOW)
    export = tmp_path / "consortium.export"
    mine.export(export, PASSPHRASE)
    envelope = json.loads(export.read_text())
    assert envelope["format"] == EXPORT_FORMAT
    assert envelope["kdf"]["n"] == 2**15
    assert base64.b64encode(mine.key(1)).decode() not in export.read_text()
    assert _mode(export) == 0o600

    theirs = Keyring.import_export(export, PASSPHRASE, tmp_path / "b.json")
    assert theirs.current_epoch == 2
    assert theirs.key(1) == mine.key(1)
    assert theirs.key(2) == mine.key(2)
    assert _mode(tmp_path / "b.json") == 0o600


def test_import_merges_new_epochs_and_moves_to_the_newest(tmp_path: Path) -> None:
    mine = Keyring.create(tmp_path / "a.json", now=NOW)
    first = tmp_path / "first.export"
    mine.export(first, PASSPHRASE)
    theirs = Keyring.import_export(first, PASSPHRASE, tmp_path / "b.json")
    mine.rotate(now=NOW)
    second = tmp_path / "second.export"
    mine.export(second, PASSPHRASE, epochs=[2])

    merged = Keyring.import_export(second, PASSPHRASE, theirs.path)
    assert [e.number for e in merged.epochs()] == [1, 2]
    assert merged.current_epoch == 2
    assert Keyring.load(theirs.path).key(2) == mine.key(2)


def test_import_refuses_a_conflicting_key_for_an_epoch(tmp_path: Path) -> None:
    mine = Keyring.create(tmp_path / "a.json")
    theirs = Keyring.create(tmp_path / "b.json")
    export = tmp_path / "mine.export"
    mine.export(export, PASSPHRASE)
    with pytest.raises(ConfigError, match="epoch 1 in the export holds a different key"):
        Keyring.import_export(export, PASSPHRASE, theirs.path)
    assert Keyring.load(theirs.path).key(1) == theirs.key(1)


def test_import_with_a_wrong_passphrase_is_refused(tmp_path: Path) -> None:
    export = tmp_path / "mine.export"
    Keyring.create(tmp_path / "a.json").export(export, PASSPHRASE)
    with pytest.raises(ConfigError, match="wrong passphrase or corrupted export"):
        Keyring.import_export(export, b"guess", tmp_path / "b.json")
    assert not (tmp_path / "b.json").exists()


def test_import_of_a_tampered_export_is_refused(tmp_path: Path) -> None:
    export = tmp_path / "mine.export"
    Keyring.create(tmp_path / "a.json").export(export, PASSPHRASE)
    envelope = json.loads(export.read_text())
    ciphertext = bytearray(base64.b64decode(envelope["ciphertext"]))
    ciphertext[0] ^= 1
    envelope["ciphertext"] = base64.b64encode(bytes(ciphertext)).decode()
    export.write_text(json.dumps(envelope))
    with pytest.raises(ConfigError, match="wrong passphrase or corrupted export"):
        Keyring.import_export(export, PASSPHRASE, tmp_path / "b.json")


def test_import_refuses_an_export_demanding_huge_scrypt_memory(tmp_path: Path) -> None:
    export = tmp_path / "mine.export"
    Keyring.create(tmp_path / "a.json").export(export, PASSPHRASE)
    envelope = json.loads(export.read_text())
    envelope["kdf"]["n"] = 2**30
    export.write_text(json.dumps(envelope))
    with pytest.raises(ConfigError, match="wrong passphrase or corrupted export"):
        Keyring.import_export(export, PASSPHRASE, tmp_path / "b.json")


def test_export_of_an_unknown_epoch_is_refused(tmp_path: Path) -> None:
    keyring = Keyring.create(tmp_path / "a.json")
    with pytest.raises(ConfigError, match="epoch 3"):
        keyring.export(tmp_path / "x.export", PASSPHRASE, epochs=[3])
    with pytest.raises(ConfigError, match="must not be empty"):
        keyring.export(tmp_path / "x.export", b"")


def test_node_secret_is_created_once_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "node-secret"
    secret = node_secret(path)
    assert len(secret) == 32
    assert _mode(path) == 0o600
    assert node_secret(path) == secret
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        node_secret(path)


# -- the commands -------------------------------------------------------------


def _app() -> typer.Typer:
    app = typer.Typer()
    app.add_typer(key_app, name="key")
    return app


def _run(args: list[str], env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(_app(), args, env=env)
    return result.exit_code, result.stdout


def test_key_commands_share_a_key_between_two_nodes(tmp_path: Path) -> None:
    alpha, beta = tmp_path / "alpha", tmp_path / "beta"
    env = {"CF_TEST_EXPORT_PASSPHRASE": "shared out of band"}
    assert _run(["key", "create", "--home", str(alpha)])[0] == 0
    code, out = _run(["key", "rotate", "--home", str(alpha), "--format", "json"])
    assert code == 0, out
    assert json.loads(out)["current"] == 2
    export = tmp_path / "consortium.export"
    code, out = _run(
        [
            "key",
            "export",
            str(export),
            "--home",
            str(alpha),
            "--passphrase-env",
            "CF_TEST_EXPORT_PASSPHRASE",
            "--format",
            "json",
        ],
        env,
    )
    assert code == 0, out
    assert json.loads(out)["epochs"] == [1, 2]
    code, out = _run(
        [
            "key",
            "import",
            str(export),
            "--home",
            str(beta),
            "--passphrase-env",
            "CF_TEST_EXPORT_PASSPHRASE",
            "--format",
            "json",
        ],
        env,
    )
    assert code == 0, out
    shown = json.loads(out)
    assert shown["current"] == 2
    assert [e["epoch"] for e in shown["epochs"]] == [1, 2]
    keyring_a = Keyring.load(alpha / "keys" / "consortium.json")
    keyring_b = Keyring.load(beta / "keys" / "consortium.json")
    assert keyring_a.key(2) == keyring_b.key(2)


def test_key_show_never_prints_key_bytes(tmp_path: Path) -> None:
    _run(["key", "create", "--home", str(tmp_path)])
    keyring = Keyring.load(tmp_path / "keys" / "consortium.json")
    for fmt in ("text", "json"):
        code, out = _run(["key", "show", "--home", str(tmp_path), "--format", fmt])
        assert code == 0
        assert base64.b64encode(keyring.key(1)).decode() not in out
        assert keyring.key(1).hex() not in out
    assert "current" in out


def test_key_import_with_a_wrong_passphrase_exits_1(tmp_path: Path) -> None:
    Keyring.create(tmp_path / "a.json").export(tmp_path / "x.export", PASSPHRASE)
    code, out = _run(
        [
            "key",
            "import",
            str(tmp_path / "x.export"),
            "--home",
            str(tmp_path / "beta"),
            "--passphrase-env",
            "CF_TEST_WRONG",
            "--format",
            "json",
        ],
        {"CF_TEST_WRONG": "not it"},
    )
    assert code == 1
    assert json.loads(out)["error"]["message"] == "wrong passphrase or corrupted export"


def test_key_export_prompts_with_confirmation(tmp_path: Path) -> None:
    Keyring.create(tmp_path / "keys" / "consortium.json")
    result = CliRunner().invoke(
        _app(),
        ["key", "export", str(tmp_path / "x.export"), "--home", str(tmp_path)],
        input="a passphrase\na passphrase\n",
    )
    assert result.exit_code == 0, result.output
    imported = Keyring.import_export(tmp_path / "x.export", b"a passphrase", tmp_path / "b.json")
    assert imported.current_epoch == 1
