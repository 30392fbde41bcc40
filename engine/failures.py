"""What any error other than a `UserError` may say on a screen, in Prefect or in a log.

A database error's text carries the SQL statement and its parameters (a case's facts as
JSON, an event's date), and a settings error's text carries the rejected value (a
password). Neither may reach a terminal, Prefect or a log a person reads: `explain` turns
any error into one line that names what went wrong by kind, never by content.
"""

from __future__ import annotations

import re

EXIT_USER = 1  # the request cannot be done as asked
EXIT_UNAVAILABLE = 69  # sysexits EX_UNAVAILABLE: the database cannot be reached
EXIT_INTERNAL = 70  # sysexits EX_SOFTWARE: a bug

DEBUG_HINT = "ALONGSIDE_DEBUG=1 shows more"


# Why a connection failed, as fixed words chosen by matching the driver's message: the
# message itself is never shown (it can hold a user name, a host alias, a path).
_CONNECT_REASONS = (
    (r"connection refused", "connection refused"),
    (r"could not translate host name|name or service not known|nodename nor servname",
     "unknown host"),
    (r"timeout expired|timed out", "connection timed out"),
    (r"password authentication failed|no password supplied|authentication failed",
     "the server refused the login"),
    (r"database \".*\" does not exist", "no such database on that server"),
    (r"role \".*\" does not exist", "no such user on that server"),
    (r"no such file or directory", "no server at that socket"),
    (r"unable to open database file", "cannot open the database file"),
    (r"too many connections|remaining connection slots", "the server has no free connections"),
    (r"the database system is (starting up|shutting down)", "the server is not ready"),
    (r"ssl", "TLS negotiation failed"),
)  # fmt: skip


def _database_errors() -> tuple[type[BaseException], ...]:
    """SQLAlchemy's errors and the drivers' own (psycopg, sqlite3), imported lazily."""
    import sqlite3

    from sqlalchemy.exc import SQLAlchemyError

    kinds: list[type[BaseException]] = [SQLAlchemyError, sqlite3.Error]
    try:
        import psycopg

        kinds.append(psycopg.Error)
    except ImportError:  # pragma: no cover - psycopg is a dependency
        pass
    return tuple(kinds)


def _database_error_in(error: BaseException) -> BaseException | None:
    """The first database error in `error`'s chain (it may be wrapped by other code)."""
    kinds = _database_errors()
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, kinds):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _where(url: str | None) -> str:
    """HOST:PORT of a server URL, or the path of a SQLite file; never the password."""
    if not url:
        return "the configured URL"
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except Exception:
        return "the configured URL"
    if parsed.get_backend_name() == "sqlite":
        return parsed.database or "memory"
    default = {"postgresql": 5432, "mysql": 3306}.get(parsed.get_backend_name())
    port = parsed.port or default
    return f"{parsed.host or 'localhost'}{f':{port}' if port else ''}"


def _timed_out(error: BaseException) -> str | None:
    """Why the database is there but not answering, if it is: PostgreSQL cancelled a
    statement past its statement timeout, or SQLite gave up waiting for the write lock."""
    original = getattr(error, "orig", None) or error
    text = str(original).lower()
    if type(original).__name__ == "QueryCanceled" and "statement timeout" in text:
        return "statement timeout"
    if type(original).__name__ == "OperationalError" and "database is locked" in text:
        return "the database is locked by another writer (busy timeout)"
    return None


def _connection_failure(error: BaseException) -> bool:
    """Whether a database error means no connection could be made (or kept)."""
    from sqlalchemy.exc import DBAPIError, OperationalError

    if isinstance(error, DBAPIError):
        if error.connection_invalidated:
            return True
        # A failure to connect carries no statement; a statement that fails carries it.
        return isinstance(error, OperationalError) and error.statement is None
    try:
        import psycopg

        return isinstance(error, psycopg.OperationalError)
    except ImportError:  # pragma: no cover
        return False


def database_message(error: BaseException, url: str | None = None) -> tuple[str, int]:
    """One safe line and an exit status for a database error: its kind, never its text."""
    from sqlalchemy.exc import DBAPIError

    if _connection_failure(error):
        text = str(getattr(error, "orig", None) or error).lower()
        reason = next(
            (words for pattern, words in _CONNECT_REASONS if re.search(pattern, text)),
            type(getattr(error, "orig", None) or error).__name__,
        )
        return f"cannot reach the database at {_where(url)}: {reason}", EXIT_UNAVAILABLE
    if waited := _timed_out(error):
        return f"the database at {_where(url)} did not answer: {waited}", EXIT_UNAVAILABLE
    kind = type(error).__name__
    original = getattr(error, "orig", None) if isinstance(error, DBAPIError) else None
    if original is not None and type(original).__name__ != kind:
        kind = f"{kind} ({type(original).__name__})"
    return f"database error: {kind}", EXIT_USER


def settings_message(error: BaseException) -> str | None:
    """One line naming each bad setting and what is wrong with it, never its value.

    None when `error` is not a validation error of the `Settings` model.
    """
    from pydantic import ValidationError

    if not isinstance(error, ValidationError) or error.title != "Settings":
        return None
    problems = []
    for problem in error.errors(include_url=False, include_input=False, include_context=False):
        name = ".".join(str(part) for part in problem["loc"]) or "settings"
        env = f"ALONGSIDE_{str(problem['loc'][0]).upper()}" if problem["loc"] else name
        # pydantic's messages describe the expected type ("Input should be a valid
        # integer"); they do not quote the input, which was dropped above.
        message = problem["msg"].removeprefix("Value error, ")
        problems.append(f"{env} ({name} in alongside.toml): {message}")
    return "bad setting " + "; ".join(problems)


def explain(error: BaseException, url: str | None = None) -> tuple[str, int]:
    """What the CLI prints for an error that is not a `UserError`, and its exit status.

    Database errors and settings errors get their safe lines; anything else is a bug,
    shown by its type only (its text could hold anything), with the way to see more.
    """
    if (line := settings_message(error)) is not None:
        return f"error: {line}", EXIT_USER
    if (found := _database_error_in(error)) is not None:
        line, status = database_message(found, url)
        return f"error: {line}", status
    return f"internal error: {type(error).__name__} ({DEBUG_HINT})", EXIT_INTERNAL
