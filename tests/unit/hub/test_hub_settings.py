"""Hub settings: flags over environment over the TOML file over defaults; nothing unknown."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from pydantic import ValidationError

from counterflow.tls import TlsFiles
from hub.commands._common import settings_from_flags
from hub.settings import HubSettings, HubTls, load_hub_settings


def _toml(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_defaults() -> None:
    settings = load_hub_settings(None)
    assert settings.listen == "127.0.0.1:7443"
    assert settings.database_url == "sqlite:///hub.db"
    assert settings.policies_dir == Path("policies")
    assert settings.insecure is False
    assert settings.max_batch_items == 5000
    assert settings.max_future_weeks == 1
    assert settings.tls.crl == Path("tls/crl.pem")
    assert settings.tls.files() == TlsFiles(
        cert=Path("tls/hub.crt"), key=Path("tls/hub.key"), ca=Path("tls/ca.crt")
    )


def test_the_file_is_read_and_flags_override_it(tmp_path: Path) -> None:
    config = _toml(
        tmp_path / "hub.toml",
        'listen = "0.0.0.0:9443"\n'
        "max_batch_items = 200\n"
        'database_url = "sqlite:///from-file.db"\n'
        "[tls]\n"
        'cert = "/etc/hub/hub.crt"\n',
    )
    settings = load_hub_settings(config, listen="127.0.0.1:0", database_url=None)
    assert settings.listen == "127.0.0.1:0"  # the flag wins
    assert settings.database_url == "sqlite:///from-file.db"  # None means "flag not given"
    assert settings.max_batch_items == 200
    assert settings.tls.cert == Path("/etc/hub/hub.crt")
    assert settings.tls.key == Path("tls/hub.key")  # defaults fill the rest of the block


def test_environment_sits_between_flags_and_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _toml(tmp_path / "hub.toml", 'listen = "0.0.0.0:9443"\nworkers = 3\n')
    monkeypatch.setenv("COUNTERFLOW_HUB_LISTEN", "127.0.0.1:7000")
    monkeypatch.setenv("COUNTERFLOW_HUB_TLS__CRL", "/srv/crl.pem")
    from_env = load_hub_settings(config)
    assert from_env.listen == "127.0.0.1:7000"
    assert from_env.tls.crl == Path("/srv/crl.pem")
    assert from_env.workers == 3
    assert load_hub_settings(config, listen="127.0.0.1:0").listen == "127.0.0.1:0"


def test_environment_is_read_when_settings_are_built_not_at_import(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert HubSettings().listen == "127.0.0.1:7443"
    monkeypatch.setenv("COUNTERFLOW_HUB_LISTEN", "127.0.0.1:7001")
    assert HubSettings().listen == "127.0.0.1:7001"
    monkeypatch.delenv("COUNTERFLOW_HUB_LISTEN")
    assert HubSettings().listen == "127.0.0.1:7443"


def test_an_unknown_key_in_the_file_is_an_error(tmp_path: Path) -> None:
    config = _toml(tmp_path / "hub.toml", 'listen = "127.0.0.1:1"\nlisten_port = 9443\n')
    with pytest.raises(ValidationError) as caught:
        load_hub_settings(config)
    errors = caught.value.errors()
    assert [(e["loc"], e["type"]) for e in errors] == [(("listen_port",), "extra_forbidden")]


def test_an_unknown_key_in_the_tls_block_is_an_error(tmp_path: Path) -> None:
    config = _toml(tmp_path / "hub.toml", '[tls]\ncertificate = "x.crt"\n')
    with pytest.raises(ValidationError) as caught:
        load_hub_settings(config)
    assert [(e["loc"], e["type"]) for e in caught.value.errors()] == [
        (("tls", "certificate"), "extra_forbidden")
    ]


def test_an_unknown_flag_is_an_error() -> None:
    with pytest.raises(ValidationError, match=r"colour\s+Extra inputs are not permitted"):
        load_hub_settings(None, colour="blue")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_batch_items", 0),
        ("max_batch_items", 100_001),
        ("max_future_weeks", 5),
        ("workers", 0),
        ("max_message_bytes", 1024),
    ],
)
def test_bounds_are_enforced(field: str, value: int) -> None:
    with pytest.raises(ValidationError) as caught:
        load_hub_settings(None, **{field: value})
    assert caught.value.errors()[0]["loc"] == (field,)


def test_the_crl_can_be_switched_off() -> None:
    settings = load_hub_settings(None, tls=HubTls(crl=None))
    assert settings.tls.crl is None


def test_the_command_line_names_every_bad_key_in_one_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _toml(tmp_path / "hub.toml", "listen_port = 1\nworkers = 0\n")
    with pytest.raises(typer.Exit) as caught:
        settings_from_flags(config)
    assert caught.value.exit_code == 1
    err = " ".join(capsys.readouterr().err.split())
    assert "hub settings are invalid:" in err
    assert "listen_port: Extra inputs are not permitted" in err
    assert "workers: Input should be greater than or equal to 1" in err
    assert "INVALID_CONFIG" in err
