"""Options every hub command shares, so flags mean the same thing everywhere."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from counterflow import logs
from hub.settings import HubSettings, load_hub_settings

CONFIG_OPTION = typer.Option(None, "--config", help="hub TOML settings file")
DATABASE_OPTION = typer.Option(
    None, "--database-url", help="SQLAlchemy URL (default sqlite:///hub.db)"
)
POLICIES_OPTION = typer.Option(
    None, "--policies", help="directory of agreements (default policies)"
)


def settings_from_flags(config: Path | None, **overrides: Any) -> HubSettings:
    settings = load_hub_settings(config, **overrides)
    logs.configure(settings.log_level, settings.log_json)
    return settings
