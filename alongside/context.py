"""One command-line invocation: its settings, loaded once, and the helpers every command uses.

The root callback makes an `Invocation` from `--home` and `--as`; commands reach it with
`current(ctx)` and pass what the library needs (a database URL, a `Catalog`, the settings)
down explicitly. Nothing here writes to `os.environ`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer

from engine.clock import utcnow

if TYPE_CHECKING:  # each command loads only what it uses: `--help` stays instant
    from sqlmodel import Session

    from engine.catalog import Catalog
    from engine.core.actors import Actor
    from engine.settings import Settings

T = TypeVar("T")


class Invocation:
    """The settings of one command, read the first time a command asks for them, and who
    it acts as (`--as EMAIL`; the home's operator account when not given)."""

    def __init__(self, home: Path | None = None, acting_as: str | None = None) -> None:
        self.home = home
        self.acting_as = acting_as

    @cached_property
    def settings(self) -> Settings:
        from engine.core.errors import UserError
        from engine.settings import Settings

        settings = Settings(home=self.home) if self.home is not None else Settings()
        if settings.home.exists() and not settings.home.is_dir():
            raise UserError(f"the home {settings.home} is a file, not a directory")
        return settings

    @property
    def url(self) -> str:
        return self.settings.url

    @property
    def catalog(self) -> Catalog:
        return self.settings.catalog

    def instant(self, text: str | None) -> datetime:
        """`--now`/`--at` text as a UTC instant (local to the settings' time zone); the
        wall clock when not given."""
        from engine.core.values import parse_instant

        return utcnow() if text is None else parse_instant(text, self.settings.zone)

    def act(
        self, use_case: Callable[..., T], *args: Any, now: str | None = None, **options: Any
    ) -> T:
        """Run one service use case in a unit of work, at `--now`, as the acting person:
        `use_case(session, catalog, *args, now, actor, **options)`."""
        moment = self.instant(now)
        with self.unit_of_work() as session:
            actor = self.actor(session)
            return use_case(session, self.catalog, *args, moment, actor, **options)

    def actor(self, session: Session) -> Actor:
        """Who this command acts as, checked against the staff table (a leaver cannot act)."""
        from engine import service

        return service.resolve_actor(session, self.acting_as)

    @contextmanager
    def unit_of_work(self) -> Iterator[Session]:
        """A session on the configured database that commits only if the command succeeds."""
        from engine.store import session_scope

        with session_scope(self.url) as session:
            yield session


def current(ctx: typer.Context) -> Invocation:
    """The running command's invocation (a fresh one when a sub-app runs on its own)."""
    root = ctx.find_root()
    if not isinstance(root.obj, Invocation):
        root.obj = Invocation()
    return root.obj


def pairs(items: list[str] | None, what: str) -> dict[str, str]:
    """`NAME=VALUE` arguments as a mapping, in order (a name given twice: the last wins)."""
    return dict(assignments(items, what))


def assignments(items: list[str] | None, what: str) -> list[tuple[str, str]]:
    """`NAME=VALUE` arguments in order, each kept: `arrest=A arrest=B` is two occurrences."""
    from engine.core.values import split_assignment

    return [split_assignment(item, what) for item in items or []]
