"""Tables and sessions: the system of record (SQLite by default, PostgreSQL when configured).

The tables follow SQLModel's own style. Two indexed instants make the sweep's cost follow
change rather than caseload: `Case.replan_at` (when the case next needs planning: set to
the epoch when something is recorded, else the next instant time alone changes its plan)
and `Task.next_alert_at` (the next reminder or escalation). Closed rows carry NULL there,
so they drop out of both indexes' hot ranges.

No survivor names, addresses or contacts exist anywhere in this schema: a case is a
pseudonymous reference, the facts its journey declares, dates and task states.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import UTC, date, datetime
from functools import cache, lru_cache
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import JSON, Column, Field, Session, SQLModel, create_engine

from engine.core.errors import UserError
from engine.core.lifecycle import TaskStatus
from engine.core.messages import MessageKind, MessageStatus, Precision

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class UTCDateTime(sa.TypeDecorator):
    """Aware UTC datetimes in and out, on SQLite (which has no time zones) and PostgreSQL."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; instants are aware UTC")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def bind_processor(self, dialect: Any) -> Any:
        """On SQLite, the text SQLAlchemy's DATETIME would store, in one cached step.

        A sweep planning a national caseload binds millions of instants, most of them one
        of a few thousand deadlines: converting each through `process_bind_param` and then
        SQLAlchemy's `%`-formatting cost a tenth of the plan. PostgreSQL takes the
        instant itself.
        """
        if dialect.name == "sqlite":
            return _sqlite_text
        return super().bind_processor(dialect)

    def result_processor(self, dialect: Any, coltype: Any) -> Any:
        """On SQLite, the stored text to an aware UTC instant in one cached step.

        Reading a batch of cases' tasks (the sweep, the impact preview, the web pages)
        turns some twenty instants a case from text; SQLAlchemy's own chain (its parse,
        then `process_result_value`, then `replace`) was three Python calls a value and
        a third of the preview's loading. Most are one of a few thousand deadlines, so a
        cache hit is a single C call. PostgreSQL returns the instant itself.
        """
        if dialect.name == "sqlite":
            return _sqlite_instant
        return super().result_processor(dialect, coltype)


@lru_cache(maxsize=65536)
def _sqlite_text(value: datetime | None) -> str | None:
    """`2027-03-01 10:00:00.000000` in UTC, exactly SQLAlchemy's SQLite DATETIME storage
    format; equal instants give the same text whatever their zone, so caching is safe."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("naive datetime given to the store; instants are aware UTC")
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


@lru_cache(maxsize=65536)
def _sqlite_instant(value: str | None) -> datetime | None:
    """What SQLAlchemy's SQLite DATETIME then `process_result_value` make of stored text
    (its parse is `datetime.fromisoformat` too), as one function; datetimes are immutable,
    so one cached instant may be handed to every row that holds the same text."""
    if value is None:
        return None
    instant = datetime.fromisoformat(value)
    return instant.replace(tzinfo=UTC) if instant.tzinfo is None else instant.astimezone(UTC)


def _instant(*, nullable: bool = False, index: bool = False) -> Any:
    return Field(default=None, sa_type=UTCDateTime, nullable=nullable, index=index)


class Organisation(SQLModel, table=True):
    id: str = Field(primary_key=True)
    name: str
    calendar: str
    timezone: str
    # A case reference must match this whole, so a name cannot be typed as a reference.
    reference_pattern: str = Field(default=r"^[A-Z]{2,6}-[0-9]{1,7}$")


class Staff(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(unique=True)
    name: str
    role: str  # navigator | team_lead | programme_lead | programme_admin | operations
    organisation_id: str = Field(foreign_key="organisation.id", index=True)
    lead_id: int | None = Field(default=None, foreign_key="staff.id")
    # Leavers are kept (cases and the audit name them) but get no messages and cannot act.
    active: bool = True
    left_on: date | None = None
    # Further organisations a programme lead answers for, beyond their own.
    organisations: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # per-kind email preferences from the staff file ({"tasks": "digest"}); absent = each
    email_prefs: dict = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False, server_default="{}")
    )


class Case(SQLModel, table=True):
    # The sweep asks each journey whether an open case is planned on another version of it
    # (`reconcile.mark_changed_journeys`): two seeks in this index instead of a scan of the
    # whole table, so a sweep with nothing changed costs milliseconds at any caseload.
    # A lead's open cases, by navigator, from the index alone (the Team page's counts, and
    # its cases without contact, `out_of_touch`); on PostgreSQL the index holds the id too,
    # which SQLite's holds anyway (the rowid).
    __table_args__ = (
        sa.Index("ix_case_journey_status_version", "journey_id", "status", "journey_version"),
        sa.Index(
            "ix_case_navigator_status",
            *("navigator_id", "status", "last_contact_at", "opened_at"),
            postgresql_include=["id"],
        ),
    )
    id: int | None = Field(default=None, primary_key=True)
    ref: str = Field(unique=True)
    journey_id: str
    journey_version: str
    organisation_id: str = Field(foreign_key="organisation.id", index=True)
    navigator_id: int = Field(foreign_key="staff.id")
    facts: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    status: Literal["open", "closed"] = Field(default="open", sa_type=sa.String)
    closed_reason: str | None = None
    opened_at: datetime = _instant()
    closed_at: datetime | None = _instant(nullable=True)
    replan_at: datetime | None = _instant(nullable=True, index=True)
    # When contact with the survivor was last done (the latest reached contact task's
    # `closed_at`), kept by the service as contact tasks close and reopen: the web pages
    # flag cases without contact from the case row, not from each case's tasks.
    last_contact_at: datetime | None = _instant(nullable=True)


def out_of_touch(cutoff: Any) -> sa.ColumnElement[bool]:
    """The case's last reached contact (its opening, if never) is before `cutoff`: the one
    rule for a case without contact, used by the web pages and the daily digest. Read from
    the case row alone, so flagging a lead's 1,300 cases costs no task reads (it was two
    seeks in the task index and a task row per case, most of the Team page's SQL)."""
    case_t = Case.__table__
    return sa.func.coalesce(case_t.c.last_contact_at, case_t.c.opened_at) < cutoff


class CaseEvent(SQLModel, table=True):
    """A recorded event; history is kept and the latest recording of a name wins.

    A repeating event's recordings carry their occurrence number (1, 2, ...); the latest
    recording of a number wins, so a correction is one more row. A removal is kept too:
    `removed_at` is set, and the row no longer counts, but its number is never given to
    another occurrence, whose tasks would otherwise inherit the removed one's.
    """

    __tablename__ = "case_event"
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case.id", index=True)
    name: str
    occurrence: int | None = None  # repeating events only
    instant: datetime = _instant()
    date_only: bool
    recorded_at: datetime = _instant()
    recorded_by: str
    removed_at: datetime | None = _instant(nullable=True)


class Task(SQLModel, table=True):
    """One obligation (or one occurrence of a recurring one) on one case."""

    __table_args__ = (
        sa.UniqueConstraint("case_id", "obligation", "occurrence"),
        # the reports: tasks due in a period; each case's done contacts, in order
        sa.Index("ix_task_due", "due"),
        sa.Index("ix_task_contact", "category", "status", "case_id", "closed_at"),
        # A case's open tasks without visiting its history: a case open for years holds a
        # hundred tasks, a handful of them open (the web pages: My work, Team). With due
        # and escalation_level, Team counts a lead's 5,000 open tasks from the index alone.
        sa.Index(
            "ix_task_case_status_due", "case_id", "status", "category", "due", "escalation_level"
        ),
    )
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case.id")
    obligation: str
    occurrence: int
    stage: str
    title: str
    category: str
    due: datetime = _instant()
    precision: Precision = Field(sa_type=sa.String)
    status: TaskStatus = Field(default="open", sa_type=sa.String)
    reason: str | None = None  # why waived or cancelled
    note: str | None = None
    outcome: str | None = None  # a done contact task: reached | not_reached
    closed_at: datetime | None = _instant(nullable=True)
    sequence: int = 0  # bumped on every re-date: the iCalendar SEQUENCE
    alerts_handled: int = 0
    escalation_level: int = 0
    next_alert_at: datetime | None = _instant(nullable=True, index=True)
    ladder_from: datetime | None = _instant(nullable=True)  # a late task's ladder restart
    calendar_due: datetime | None = _instant(nullable=True)  # on calendars as; None: not
    calendar_seq: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    # set by every change of status or due; the alert pass sends what the calendar is owed
    calendar_pending: bool = Field(
        default=False, index=True, sa_column_kwargs={"server_default": sa.false()}
    )


class Acknowledgement(SQLModel, table=True):
    """A lead has seen a task's escalation: no further steps of its ladder go to them."""

    __table_args__ = (sa.UniqueConstraint("task_id", "staff_email"),)
    id: int | None = Field(default=None, primary_key=True)
    task_id: int = Field(foreign_key="task.id", index=True)
    staff_email: str
    at: datetime = _instant()
    level: int  # the ladder step they acknowledged


class Installation(SQLModel, table=True):
    """One row: this installation's random id, so calendar UIDs never clash across homes."""

    id: int | None = Field(default=None, primary_key=True)
    uid: str


class TaskHistory(SQLModel, table=True):
    """Each time a person closed or reopened a task: kept, so a reopen loses nothing."""

    __tablename__ = "task_history"
    id: int | None = Field(default=None, primary_key=True)
    task_id: int = Field(foreign_key="task.id", index=True)
    action: Literal["done", "waived", "reopened"] = Field(sa_type=sa.String)
    at: datetime = _instant()  # when it happened (a completion may be recorded late)
    recorded_at: datetime = _instant()
    by: str
    note: str | None = None
    reason: str | None = None
    outcome: str | None = None  # a contact task done: reached | not_reached


class OutboxMessage(SQLModel, table=True):
    """A message queued in the same transaction as the change that caused it."""

    __tablename__ = "outbox"
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True)  # idempotency key: the same cause never queues twice
    kind: MessageKind = Field(sa_type=sa.String)
    recipient: str
    case_ref: str | None = None
    payload: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    status: MessageStatus = Field(default="queued", index=True, sa_type=sa.String)
    attempts: int = 0
    created_at: datetime = _instant()
    next_attempt_at: datetime | None = _instant(nullable=True, index=True)
    sent_at: datetime | None = _instant(nullable=True)
    message_id: str | None = None
    last_error: str | None = None


class AuditEntry(SQLModel, table=True):
    __tablename__ = "audit"
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _instant()
    actor: str
    case_ref: str | None = Field(default=None, index=True)
    action: str
    detail: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class Investigation(SQLModel, table=True):
    """A police operation whose survivors' cases are linked: a pseudonymous reference."""

    id: int | None = Field(default=None, primary_key=True)
    ref: str = Field(unique=True)
    organisation_id: str = Field(foreign_key="organisation.id", index=True)
    opened_at: datetime = _instant()
    opened_by: str


class InvestigationCase(SQLModel, table=True):
    """A case linked to an investigation; unlinking keeps the row, dated, for the reports."""

    __tablename__ = "investigation_case"
    __table_args__ = (sa.UniqueConstraint("investigation_id", "case_id"),)
    id: int | None = Field(default=None, primary_key=True)
    investigation_id: int = Field(foreign_key="investigation.id", index=True)
    case_id: int = Field(foreign_key="case.id", index=True)
    linked_at: datetime = _instant()
    linked_by: str
    unlinked_at: datetime | None = _instant(nullable=True)


class InvestigationEvent(SQLModel, table=True):
    """An investigation event, recorded once; `count` is a number of people, never names."""

    __tablename__ = "investigation_event"
    __table_args__ = (
        sa.UniqueConstraint("investigation_id", "name", "instant"),
        sa.Index("ix_investigation_event_name_instant", "name", "instant"),
    )
    id: int | None = Field(default=None, primary_key=True)
    investigation_id: int = Field(foreign_key="investigation.id", index=True)
    name: str
    instant: datetime = _instant()
    date_only: bool
    count: int | None = None
    recorded_at: datetime = _instant()
    recorded_by: str


class CaseMove(SQLModel, table=True):
    """A case moved to another journey (triage to a pathway, a child turning 18): kept, so
    the reports can tell which journey a case was on at any instant."""

    __tablename__ = "case_move"
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case.id", index=True)
    from_journey: str
    to_journey: str
    at: datetime = _instant()
    by: str


# The reports find events by name and period (referrals, engagement) over every case.
sa.Index("ix_case_event_name_instant", CaseEvent.__table__.c.name, CaseEvent.__table__.c.instant)


class SignInLink(SQLModel, table=True):
    """One request for an emailed sign-in link (web app), known address or not.

    Only the token's SHA-256 is kept, so the table cannot sign anyone in. A request for an
    unknown address is a row too (no token, no person), so the rate limits count it the same
    and nothing about the answer tells whether an address belongs to someone. The address
    and the client are kept as keyed hashes, only to count requests.
    """

    __tablename__ = "signin_link"
    id: int | None = Field(default=None, primary_key=True)
    token_hash: str | None = Field(default=None, unique=True)
    staff_id: int | None = Field(default=None, foreign_key="staff.id")
    address_key: str = Field(index=True)
    client_key: str = Field(index=True)
    created_at: datetime = _instant(index=True)
    expires_at: datetime = _instant()
    used_at: datetime | None = _instant(nullable=True)


class WebSession(SQLModel, table=True):
    """A signed-in browser: server-side, so signing out (everywhere) ends it at once."""

    __tablename__ = "web_session"
    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(unique=True)  # SHA-256 of the cookie's value
    staff_id: int = Field(foreign_key="staff.id", index=True)
    created_at: datetime = _instant()
    last_seen_at: datetime = _instant()
    expires_at: datetime = _instant()  # the absolute limit; idleness is from last_seen_at
    ended_at: datetime | None = _instant(nullable=True)


class WebDraft(SQLModel, table=True):
    """Text typed into a form and not yet saved when its session timed out (web app): kept
    for the person, not the browser, until they sign in again and their page takes it back
    (at most `web.signin.ABSOLUTE`). Case data like a task's note, so kept with it."""

    __tablename__ = "web_draft"
    __table_args__ = (sa.UniqueConstraint("staff_id", "key"),)
    id: int | None = Field(default=None, primary_key=True)
    staff_id: int = Field(foreign_key="staff.id", index=True)
    key: str  # the page's path, the form's action and the field's name (`web/static/app.js`)
    text: str
    saved_at: datetime = _instant()


MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def _alembic_config(url: str):
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def _sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL (None for other databases and in-memory SQLite)."""
    if not url.startswith("sqlite"):
        return None
    path = url.partition(":///")[2]
    return Path(path) if path and path != ":memory:" else None


def _prepare_sqlite(url: str) -> None:
    """Before SQLite or Alembic open the file: it exists 0600 in a private directory.

    The database holds facts and notes; SQLite gives its -wal and -shm files the
    database file's mode, so creating it 0600 here keeps all three private.
    """
    path = _sqlite_file(url)
    if path is not None:
        from engine.files import private_sqlite

        private_sqlite(path)


def upgrade(url: str) -> str:
    """Bring the schema to the newest migration; returns the revision."""
    from alembic import command

    _prepare_sqlite(url)
    config = _alembic_config(url)
    command.upgrade(config, "head")
    return _head(url)


@cache
def _head(url: str) -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config(url)).get_current_head()


def _current(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


MMAP_SIZE = 1 << 30  # bytes of the file SQLite reads as memory, not a read() per page
CACHE_KIB = 65_536  # each connection's page cache


def _sqlite_pragmas(busy_timeout: float) -> Any:
    def apply(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
        cursor.execute(f"PRAGMA mmap_size={MMAP_SIZE}")
        cursor.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
        cursor.close()

    return apply


# --- timeouts ---------------------------------------------------------------------------------

# Safe defaults: a sweep waits this long at most for a connection, a statement, a lock.
CONNECT_TIMEOUT = 10.0  # seconds to connect (PostgreSQL's connect_timeout)
STATEMENT_TIMEOUT = 120.0  # seconds one statement may run (PostgreSQL's statement_timeout)
BUSY_TIMEOUT = 30.0  # seconds SQLite waits for another writer's lock

# Query parameters of a database URL that set them (Settings.url writes them from the
# ALONGSIDE_DB_* settings); engine_for turns them into the driver's connect arguments.
TIMEOUT_PARAMS = ("connect_timeout", "statement_timeout", "busy_timeout")


def with_timeouts(
    url: str,
    connect: float | None = None,
    statement: float | None = None,
    busy: float | None = None,
) -> str:
    """`url` with the timeouts given (seconds) as query parameters; None keeps the default."""
    values = {"connect_timeout": connect, "statement_timeout": statement, "busy_timeout": busy}
    given = {k: f"{v:g}" for k, v in values.items() if v is not None}
    if not given:
        return url
    return sa.engine.make_url(url).update_query_dict(given).render_as_string(hide_password=False)


def timeouts(url: str) -> tuple[str, dict[str, Any]]:
    """The URL without Alongside's timeout parameters, and the driver's connect arguments."""
    parsed = sa.engine.make_url(url)
    given = {k: float(parsed.query[k]) for k in TIMEOUT_PARAMS if k in parsed.query}
    if given:
        url = parsed.difference_update_query(TIMEOUT_PARAMS).render_as_string(hide_password=False)
    if parsed.get_backend_name() == "sqlite":
        return url, {"timeout": given.get("busy_timeout", BUSY_TIMEOUT)}
    statement = given.get("statement_timeout", STATEMENT_TIMEOUT)
    return url, {
        "connect_timeout": max(1, round(given.get("connect_timeout", CONNECT_TIMEOUT))),
        "options": f"-c statement_timeout={int(statement * 1000)}",
    }


READING = "alongside_reading"  # the execution option that marks a reading unit's engine


def _sqlite_begin(connection: Any) -> None:
    # Take the write lock at BEGIN, so two sweeps serialise instead of failing to upgrade
    # a read lock half-way through a transaction. A reading unit (`read_scope`) never
    # writes, so it begins deferred: a snapshot under WAL, no lock that anyone waits for.
    reading = connection.get_execution_options().get(READING)
    connection.exec_driver_sql("BEGIN" if reading else "BEGIN IMMEDIATE")


def _postgres_begin(connection: Any) -> None:
    # A reading unit is a page's few queries of a few ms each: a parallel worker costs more
    # to start than it saves, and takes a core from the other requests (Team's counts were
    # planned with one). SET LOCAL ends with the transaction; other units keep the default.
    if connection.get_execution_options().get(READING):
        connection.exec_driver_sql("SET LOCAL max_parallel_workers_per_gather = 0")


@cache
def engine_for(url: str) -> Engine:
    """One engine per URL per process; the embedded SQLite default upgrades itself.

    Every connection has timeouts (`timeouts`): a database that accepts connections and
    never answers fails a statement instead of hanging a sweep.
    """
    url, connect_args = timeouts(url)
    if url.startswith("sqlite"):
        _prepare_sqlite(url)
        engine = create_engine(url, connect_args={"isolation_level": None, **connect_args})
        sa.event.listen(engine, "connect", _sqlite_pragmas(connect_args["timeout"]))
        sa.event.listen(engine, "begin", _sqlite_begin)
        if _current(engine) != _head(url):
            upgrade(url)
        return engine
    engine = create_engine(url, pool_pre_ping=True, connect_args=connect_args)
    sa.event.listen(engine, "begin", _postgres_begin)
    current = _current(engine)
    if current != _head(url):
        raise UserError(
            f"database schema is at {current or 'nothing'}, not {_head(url)}: "
            "run `alongside db upgrade`"
        )
    return engine


@contextmanager
def session_scope(url: str) -> Iterator[Session]:
    """A unit of work: commit on success, roll back on any error, so nothing half-changes."""
    with Session(engine_for(url), expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


class WriteInReadingUnit(RuntimeError):
    """Code in a reading unit changed a row it had read, or flushed: a programming error."""


@contextmanager
def read_scope(url: str) -> Iterator[Session]:
    """A unit of work that reads, and may add a few rows (an audit entry of the read) or
    queue a few statements (`write_later`): the reads run in a transaction that takes no
    write lock on SQLite, and the rows and statements are written after it, in one short
    write transaction, before the block's caller goes on (on PostgreSQL, at the end of the
    same transaction).

    Why: pages that many people read at once would otherwise queue behind SQLite's write
    lock for the whole request, rendering included. What a reading unit writes cannot
    depend on the snapshot it read (an INSERT of a new row, or a statement whose WHERE
    says when it applies), so writing it a moment later changes nothing. Changing a
    loaded row, or flushing, in a reading unit raises `WriteInReadingUnit`.
    """
    engine = engine_for(url).execution_options(**{READING: True})
    with Session(engine, autoflush=False, expire_on_commit=False) as session:
        session.info[READING] = later = []
        try:
            yield session
        except BaseException:
            session.rollback()
            raise
        if session.dirty or session.deleted:
            raise WriteInReadingUnit("a reading unit changed rows it had read")
        if not url.startswith("sqlite"):
            # PostgreSQL locks rows, not the database: the writes end the same transaction,
            # three round trips fewer than a unit of their own (a connection's check, its
            # BEGIN, the reading one's ROLLBACK) on a page that is a dozen
            del session.info[READING]
            session.flush()
            for statement in later:
                session.execute(statement)
            session.commit()
            return
        added = list(session.new)
        for row in added:
            session.expunge(row)
    if added or later:
        with _one_writer(url), session_scope(url) as writing:
            writing.add_all(added)
            for statement in later:
                writing.execute(statement)


class _OneWriter:
    """One reading unit of all the processes on a SQLite file writes at a time: a lock
    between this process's threads, then an exclusive `flock` on a file beside the
    database between processes (the web's uvicorn workers). Both wake a waiter as soon as
    the holder lets go; SQLite's own busy handler sleeps in steps of up to 100 ms, and
    pages read by ten people at once each write an audit entry."""

    def __init__(self, database: Path | None) -> None:
        self.threads = threading.Lock()
        self.fd = None
        if database is not None:
            self.fd = os.open(f"{database}.writer", os.O_RDWR | os.O_CREAT, 0o600)

    def __enter__(self) -> None:
        self.threads.acquire()
        if self.fd is not None:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX)
            except BaseException:
                self.threads.release()
                raise

    def __exit__(self, *_exc: object) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
        self.threads.release()


@cache
def _writer_lock(url: str, pid: int) -> _OneWriter:
    """Per process (`pid`): a forked child must open its own file, as a `flock` held
    through a shared descriptor would let parent and child in together."""
    return _OneWriter(_sqlite_file(url))


def _one_writer(url: str) -> AbstractContextManager:
    """The reading units' writes one at a time on SQLite (`_OneWriter`); PostgreSQL takes
    them all at once."""
    return _writer_lock(url, os.getpid()) if url.startswith("sqlite") else nullcontext()


def write_later(session: Session, statement: sa.Executable) -> None:
    """Run a write statement now, or in a reading unit, in its short write at the end."""
    later = session.info.get(READING)
    if later is None:
        session.execute(statement)
    else:
        later.append(statement)


@sa.event.listens_for(Session, "before_flush")
def _no_flush_while_reading(session: Session, _context: Any, _instances: Any) -> None:
    if READING in session.info:
        raise WriteInReadingUnit("a reading unit flushed: it writes only at its end")
