"""Node settings: one pydantic object, built in `main()` and passed down.

Precedence: command-line flags, COUNTERFLOW_NODE_* environment variables, the
node's TOML file (``<home>/node.toml`` unless --config says otherwise), defaults.
Every path is relative to the node's home folder unless absolute.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic_settings import SettingsConfigDict

from counterflow.errors import ConfigError
from counterflow.settings_base import LayeredSettings
from counterflow.tls import TlsFiles


class NodeTls(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cert: Path = Path("tls/partner.crt")
    key: Path = Path("tls/partner.key")
    ca: Path = Path("tls/ca.crt")


class NodeSettings(LayeredSettings):
    model_config = SettingsConfigDict(
        env_prefix="COUNTERFLOW_NODE_", env_nested_delimiter="__", extra="forbid"
    )

    home: Path = Path(".")
    partner_id: str = ""
    # host:port (a bracketed IPv6 address for host is fine).
    hub: str = Field(
        default="127.0.0.1:7443", pattern=r"^(\[[0-9A-Fa-f:.]+\]|[^\s:\[\]]+):\d{1,5}$"
    )
    # TLS server name the hub's certificate carries (when dialling by IP or alias).
    hub_server_name: str | None = None
    tls: NodeTls = Field(default_factory=NodeTls)
    insecure: bool = False
    database: Path = Path("node.db")
    keyring: Path = Path("keys/consortium.json")
    node_secret: Path = Path("keys/node-secret")
    quarantine_dir: Path = Path("quarantine")
    batch_items: int = Field(default=1000, ge=1, le=100_000)
    retention_days: int = Field(default=365, ge=1)
    # Bounded retry budget for transient failures, then "hub unreachable".
    retry_attempts: int = Field(default=5, ge=1, le=20)
    retry_initial_seconds: float = Field(default=0.5, gt=0)
    retry_max_seconds: float = Field(default=8.0, gt=0)
    rpc_timeout_seconds: float = Field(default=60.0, gt=0)
    log_level: str = "INFO"
    log_json: bool | None = None

    def path(self, relative: Path) -> Path:
        return relative if relative.is_absolute() else self.home / relative

    def tls_files(self) -> TlsFiles:
        return TlsFiles(
            cert=self.path(self.tls.cert), key=self.path(self.tls.key), ca=self.path(self.tls.ca)
        )


def load_node_settings(home: Path, config: Path | None = None, **overrides: Any) -> NodeSettings:
    """Settings for the node whose home folder is `home`; reads home/node.toml if present."""
    clean = {k: v for k, v in overrides.items() if v is not None}
    clean["home"] = home
    if config is not None and not config.is_file():
        raise ConfigError(f"settings file not found: {config}")
    toml = config if config is not None else home / "node.toml"
    if toml.exists():

        class _FromFile(NodeSettings):
            model_config = SettingsConfigDict(toml_file=toml)

        return _FromFile(**clean)
    return NodeSettings(**clean)
