"""Hub settings: one pydantic object, built in `main()` and passed down.

Precedence: command-line flags, then COUNTERFLOW_HUB_* environment variables
(nested with ``__``, e.g. COUNTERFLOW_HUB_TLS__CERT), then an optional TOML file,
then these defaults. Nothing here reads the environment at import.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic_settings import SettingsConfigDict

from counterflow.errors import ConfigError
from counterflow.settings_base import LayeredSettings
from counterflow.tls import TlsFiles


class HubTls(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cert: Path = Path("tls/hub.crt")
    key: Path = Path("tls/hub.key")
    ca: Path = Path("tls/ca.crt")
    # CRL published by `counterflow ca revoke`; re-read when its file changes.
    crl: Path | None = Path("tls/crl.pem")

    def files(self) -> TlsFiles:
        return TlsFiles(cert=self.cert, key=self.key, ca=self.ca)


class HubSettings(LayeredSettings):
    model_config = SettingsConfigDict(
        env_prefix="COUNTERFLOW_HUB_", env_nested_delimiter="__", extra="forbid"
    )

    listen: str = "127.0.0.1:7443"
    # SQLAlchemy URL; a SQLite file by default, postgresql+psycopg://... for PostgreSQL.
    database_url: str = "sqlite:///hub.db"
    policies_dir: Path = Path("policies")
    tls: HubTls = Field(default_factory=HubTls)
    # Loud, local development only: plaintext, and the partner id comes from metadata.
    insecure: bool = False
    max_batch_items: int = Field(default=5000, ge=1, le=100_000)
    max_message_bytes: int = Field(default=8 * 1024 * 1024, ge=64 * 1024)
    # Weeks a report may lie in the future of the hub's clock (clock skew, time zones).
    max_future_weeks: int = Field(default=1, ge=0, le=4)
    workers: int = Field(default=8, ge=1, le=64)
    log_level: str = "INFO"
    log_json: bool | None = None


def load_hub_settings(config: Path | None, **overrides: Any) -> HubSettings:
    """Build settings from an optional TOML file plus explicit overrides (flags)."""
    clean = {k: v for k, v in overrides.items() if v is not None}
    if config is not None and not config.is_file():
        raise ConfigError(f"settings file not found: {config}")
    if config is not None:

        class _FromFile(HubSettings):
            model_config = SettingsConfigDict(toml_file=config)

        return _FromFile(**clean)
    return HubSettings(**clean)
