"""Settings from the environment (ALONGSIDE_*) or `alongside.toml` in the home directory.

One place, so every command, flow and test sees the same home, database and transport.
"""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

SHIPPED_JOURNEYS = Path(__file__).resolve().parent.parent / "journeys"


def home_dir() -> Path:
    return Path(os.environ.get("ALONGSIDE_HOME", ".alongside"))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ALONGSIDE_", extra="ignore")

    home: Path = Field(default_factory=home_dir)
    database_url: str | None = None
    journeys_dir: Path | None = None
    transport: Literal["file", "smtp"] = "file"
    smtp_host: str = "localhost"
    smtp_port: int = 25
    smtp_tls: Literal["none", "starttls", "tls"] = "none"
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_timeout: float = 30.0
    smtp_concurrency: int = 4
    mail_from: str = "alongside@example.org"

    @field_validator("mail_from")
    @classmethod
    def _sender(cls, value: str) -> str:
        """`Name <address>` or a bare address, on one line: it becomes the From: header."""
        from email.utils import getaddresses

        from engine.addresses import check_address

        if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
            raise ValueError("the sender cannot contain a line break or control character")
        found = getaddresses([value])
        if len(found) != 1:
            raise ValueError("give one sender: an address, or Name <address>")
        check_address(found[0][1])
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml = TomlConfigSettingsSource(settings_cls, toml_file=home_dir() / "alongside.toml")
        return (init_settings, env_settings, toml)

    @cached_property
    def url(self) -> str:
        """The database URL: the environment's, or SQLite in the home directory."""
        return self.database_url or f"sqlite:///{self.home / 'alongside.db'}"

    @property
    def outbox_dir(self) -> Path:
        return self.home / "outbox"

    @property
    def journeys(self) -> Path:
        """Where journey ids are looked up: set explicitly, ./journeys, or the shipped ones."""
        if self.journeys_dir is not None:
            return self.journeys_dir
        local = Path("journeys")
        return local if local.is_dir() else SHIPPED_JOURNEYS
