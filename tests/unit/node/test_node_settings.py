"""Node settings: flags over environment over home/node.toml over defaults; paths from home."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from counterflow.tls import TlsFiles
from node.settings import NodeSettings, load_node_settings


def test_defaults_live_under_home(tmp_path: Path) -> None:
    settings = load_node_settings(tmp_path)
    assert settings.home == tmp_path
    assert settings.hub == "127.0.0.1:7443"
    assert settings.insecure is False
    assert settings.batch_items == 1000
    assert settings.retry_attempts == 5
    assert settings.path(settings.database) == tmp_path / "node.db"
    assert settings.path(Path("/abs/node.db")) == Path("/abs/node.db")
    assert settings.tls_files() == TlsFiles(
        cert=tmp_path / "tls/partner.crt",
        key=tmp_path / "tls/partner.key",
        ca=tmp_path / "tls/ca.crt",
    )


def test_home_node_toml_is_read_and_flags_win(tmp_path: Path) -> None:
    (tmp_path / "node.toml").write_text(
        'partner_id = "bank-alpha"\n'
        'hub = "hub.example.org:7443"\n'
        "batch_items = 250\n"
        "[tls]\n"
        'cert = "/etc/node/partner.crt"\n'
    )
    settings = load_node_settings(tmp_path, hub="127.0.0.1:9000", batch_items=None)
    assert settings.partner_id == "bank-alpha"
    assert settings.hub == "127.0.0.1:9000"
    assert settings.batch_items == 250
    assert settings.tls_files().cert == Path("/etc/node/partner.crt")
    assert settings.tls_files().key == tmp_path / "tls/partner.key"


def test_an_explicit_config_replaces_home_node_toml(tmp_path: Path) -> None:
    (tmp_path / "node.toml").write_text('partner_id = "from-home"\n')
    other = tmp_path / "other.toml"
    other.write_text('partner_id = "from-other"\n')
    assert load_node_settings(tmp_path, other).partner_id == "from-other"
    assert load_node_settings(tmp_path).partner_id == "from-home"


def test_environment_sits_between_flags_and_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "node.toml").write_text('partner_id = "bank-alpha"\nretry_attempts = 2\n')
    monkeypatch.setenv("COUNTERFLOW_NODE_RETRY_ATTEMPTS", "7")
    monkeypatch.setenv("COUNTERFLOW_NODE_TLS__CA", "/srv/ca.crt")
    settings = load_node_settings(tmp_path)
    assert settings.retry_attempts == 7
    assert settings.tls_files().ca == Path("/srv/ca.crt")
    assert load_node_settings(tmp_path, retry_attempts=3).retry_attempts == 3


def test_environment_is_read_when_settings_are_built(monkeypatch: pytest.MonkeyPatch) -> None:
    assert NodeSettings().hub == "127.0.0.1:7443"
    monkeypatch.setenv("COUNTERFLOW_NODE_HUB", "10.0.0.1:7443")
    assert NodeSettings().hub == "10.0.0.1:7443"


def test_home_always_comes_from_the_caller(tmp_path: Path) -> None:
    (tmp_path / "node.toml").write_text('home = "/somewhere/else"\n')
    assert load_node_settings(tmp_path).home == tmp_path


def test_unknown_keys_are_errors(tmp_path: Path) -> None:
    (tmp_path / "node.toml").write_text('partner = "bank-alpha"\n[tls]\ncertificate = "x"\n')
    with pytest.raises(ValidationError) as caught:
        load_node_settings(tmp_path)
    assert sorted((e["loc"], e["type"]) for e in caught.value.errors()) == [
        (("partner",), "extra_forbidden"),
        (("tls", "certificate"), "extra_forbidden"),
    ]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("batch_items", 0),
        ("retry_attempts", 0),
        ("retry_attempts", 21),
        ("retry_initial_seconds", 0),
        ("retention_days", 0),
    ],
)
def test_bounds_are_enforced(tmp_path: Path, field: str, value: float) -> None:
    with pytest.raises(ValidationError) as caught:
        load_node_settings(tmp_path, None, **{field: value})
    assert caught.value.errors()[0]["loc"] == (field,)
