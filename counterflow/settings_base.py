"""What hub and node settings share: flags over environment over a TOML file over defaults."""

from __future__ import annotations

from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, TomlConfigSettingsSource


class LayeredSettings(BaseSettings):
    """Init arguments (the command's flags) win, then the environment, then the TOML file.

    Subclasses set `env_prefix`; the TOML path is given per load with `toml_file`.
    """

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))
