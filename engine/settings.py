"""Settings from the environment (ALONGSIDE_*) or `alongside.toml` in the home directory.

Loaded once per entry point (a CLI invocation, a flow run, the demo) and passed down: the
library below takes the pieces it needs (a database URL, a `Catalog`, a transport's
settings) as arguments and never builds `Settings()` itself.
"""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from engine.catalog import Catalog, seed
from engine.core.escalation import WorkingHours
from engine.store import with_timeouts

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
    timezone: str = "Europe/London"  # how `--now` and `--at` without an offset are read
    # when escalation and overdue emails may arrive (local, on the organisation's working
    # days); `urgent` ladder steps ignore it
    working_hours: str = "08:00-18:00"
    # the web app, for the link every email carries (task id and case reference only)
    base_url: str = "http://127.0.0.1:8000"
    # signs the web app's CSRF cookie and keys its sign-in rate limits; every worker of one
    # installation needs the same (default: one made at random, kept in <home>/web-secret)
    web_secret: str | None = None

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

    # Database timeouts in seconds; None keeps the store's safe default (engine.store:
    # connect 10 s, statement 120 s, SQLite busy 30 s).
    db_connect_timeout: float | None = None
    db_statement_timeout: float | None = None
    db_busy_timeout: float | None = None
    # Overdue open tasks an organisation may have before a tick reports it as not healthy:
    # one number for every organisation, and per-organisation overrides
    # (ALONGSIDE_OVERDUE_THRESHOLDS='{"kent": 500}'). None: no threshold.
    overdue_threshold: int | None = None
    overdue_thresholds: dict[str, int] = Field(default_factory=dict)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The TOML file lives in the home: the one given to the constructor (`--home`), or
        # the environment's.
        home = Path(getattr(init_settings, "init_kwargs", {}).get("home") or home_dir())
        toml = TomlConfigSettingsSource(settings_cls, toml_file=home / "alongside.toml")
        return (init_settings, env_settings, toml)

    @cached_property
    def url(self) -> str:
        """The database URL: the environment's, or SQLite in the home directory."""
        url = self.database_url or f"sqlite:///{self.home / 'alongside.db'}"
        return with_timeouts(
            url, self.db_connect_timeout, self.db_statement_timeout, self.db_busy_timeout
        )

    def overdue_limit(self, organisation: str) -> int | None:
        """The overdue threshold for one organisation, or None when it has none."""
        return self.overdue_thresholds.get(organisation, self.overdue_threshold)

    @property
    def outbox_dir(self) -> Path:
        return self.home / "outbox"

    @cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @cached_property
    def hours(self) -> WorkingHours:
        return WorkingHours.parse(self.working_hours)

    @cached_property
    def catalog(self) -> Catalog:
        """The installation's journeys; the home's own folder is seeded on first use."""
        if self.journeys_dir is None:
            seed(self.journeys, SHIPPED_JOURNEYS)
        return Catalog(self.journeys)

    @property
    def journeys(self) -> Path:
        """Where journeys live: ALONGSIDE_JOURNEYS_DIR, else `<home>/journeys`; never the
        current directory."""
        return self.journeys_dir if self.journeys_dir is not None else self.home / "journeys"
