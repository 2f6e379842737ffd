"""Options every hub command shares, so flags mean the same thing everywhere."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pydantic
import pydantic_settings
import typer

from counterflow import logs
from counterflow.cli_support import exits_on_error
from counterflow.errors import ConfigError
from hub.settings import HubSettings, load_hub_settings

CONFIG_OPTION = typer.Option(None, "--config", help="hub TOML settings file")
DATABASE_OPTION = typer.Option(
    None, "--database-url", help="SQLAlchemy URL (default sqlite:///hub.db)"
)
POLICIES_OPTION = typer.Option(
    None, "--policies", help="directory of agreements (default policies)"
)


def settings_from_flags(config: Path | None, **overrides: Any) -> HubSettings:
    """Settings, with every invalid field named in one error and exit 1 (never a traceback)."""
    with exits_on_error():
        try:
            settings = load_hub_settings(config, **overrides)
        except (tomllib.TOMLDecodeError, pydantic_settings.SettingsError) as exc:
            raise ConfigError(f"hub settings could not be read: {exc}") from None
        except pydantic.ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()
            )
            raise ConfigError(f"hub settings are invalid: {problems}") from None
    logs.configure(settings.log_level, settings.log_json)
    return settings
